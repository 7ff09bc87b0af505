import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { encodeData, encodeOack, parsePacket } from '../../../src/tftp/packet.ts';
import { memorySource } from '../../../src/tftp/source.ts';
import {
  nextOnFullAck,
  startTransfer,
  step,
  type BlockSource,
  type StepResult,
  type TransferAction,
  type TransferParams,
  type TransferState,
} from '../../../src/tftp/transfer.ts';

type Sent = { kind: 'data'; block: number; data: Uint8Array } | { kind: 'oack' } | { kind: 'error'; code: number };

/** the datagram a send or data action puts on the wire */
function wire(a: Extract<TransferAction, { type: 'send' | 'data' }>): Buffer {
  const bytes = a.type === 'send' ? a.datagram : encodeData(a.block, a.payload);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function sends(actions: readonly TransferAction[]): Sent[] {
  const out: Sent[] = [];
  for (const a of actions) {
    if (a.type !== 'send' && a.type !== 'data') continue;
    const buf = wire(a);
    const p = parsePacket(buf);
    assert.ok(p.ok);
    if (p.value.op === 'DATA') out.push({ kind: 'data', block: p.value.block, data: Uint8Array.from(p.value.data) });
    else if (p.value.op === 'OACK') out.push({ kind: 'oack' });
    else if (p.value.op === 'ERROR') out.push({ kind: 'error', code: p.value.code });
    else assert.fail(`unexpected ${p.value.op}`);
  }
  return out;
}
const dataBlocks = (r: StepResult) => sends(r.actions).flatMap((s) => (s.kind === 'data' ? [s.block] : []));
const doneOf = (r: StepResult) => r.actions.find((a) => a.type === 'done');

function fileOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const base: TransferParams = { blksize: 512, windowsize: 1, oack: null, maxRtoMs: 4000, minRtoMs: 1 };

test('lock-step without options: one block per ACK, short last block ends it', () => {
  const file = fileOf(1300);
  const src = memorySource(file);
  let r = startTransfer(base, 0, src);
  assert.deepEqual(dataBlocks(r), [1]);
  r = step(r.state, { type: 'ack', block: 1 }, 1, src);
  assert.deepEqual(dataBlocks(r), [2]);
  r = step(r.state, { type: 'ack', block: 2 }, 2, src);
  const last = sends(r.actions)[0]!;
  assert.ok(last.kind === 'data' && last.block === 3 && last.data.length === 276);
  r = step(r.state, { type: 'ack', block: 3 }, 3, src);
  assert.deepEqual(doneOf(r), { type: 'done', ok: true, bytes: 1300 });
  assert.equal(r.state.phase, 'done');
});

test('a file that is a multiple of blksize ends with an empty block; an empty file is one empty block', () => {
  const src = memorySource(fileOf(1024));
  let r = startTransfer(base, 0, src);
  r = step(r.state, { type: 'ack', block: 1 }, 1, src);
  r = step(r.state, { type: 'ack', block: 2 }, 2, src);
  const s = sends(r.actions)[0]!;
  assert.ok(s.kind === 'data' && s.block === 3 && s.data.length === 0);
  r = step(r.state, { type: 'ack', block: 3 }, 3, src);
  assert.deepEqual(doneOf(r), { type: 'done', ok: true, bytes: 1024 });

  const empty = memorySource(new Uint8Array(0));
  let e = startTransfer(base, 0, empty);
  assert.deepEqual(dataBlocks(e), [1]);
  e = step(e.state, { type: 'ack', block: 1 }, 1, empty);
  assert.deepEqual(doneOf(e), { type: 'done', ok: true, bytes: 0 });
});

test("duplicate ACKs never cause a resend (no Sorcerer's Apprentice)", () => {
  const src = memorySource(fileOf(5000));
  let r = startTransfer(base, 0, src);
  r = step(r.state, { type: 'ack', block: 1 }, 10, src);
  assert.deepEqual(dataBlocks(r), [2]);
  // Block 2 is slow to be acknowledged: our timer fires and retransmits it once.
  r = step(r.state, { type: 'tick' }, 10 + r.state.rto, src);
  assert.deepEqual(dataBlocks(r), [2]);
  // Both copies get acknowledged: the first ACK moves on, the duplicate does nothing at all.
  r = step(r.state, { type: 'ack', block: 2 }, 2000, src);
  assert.deepEqual(dataBlocks(r), [3]);
  const dup = step(r.state, { type: 'ack', block: 2 }, 2001, src);
  assert.deepEqual(dup.actions, []);
  assert.equal(dup.state.duplicateAcks, 1);
  // An old ACK and an ACK of a block never sent are ignored too.
  assert.deepEqual(step(dup.state, { type: 'ack', block: 1 }, 2002, src).actions, []);
  assert.deepEqual(step(dup.state, { type: 'ack', block: 9 }, 2002, src).actions, []);
});

test('OACK: nothing but the OACK before ACK 0, then exactly one window', () => {
  const src = memorySource(fileOf(100_000));
  const oack = encodeOack([['blksize', '1024'], ['windowsize', '8']]);
  let r = startTransfer({ ...base, blksize: 1024, windowsize: 8, oack }, 0, src);
  assert.deepEqual(sends(r.actions), [{ kind: 'oack' }]);
  // Timeouts before ACK 0 resend only the OACK.
  for (let i = 1; i <= 3; i++) {
    r = step(r.state, { type: 'tick' }, r.state.deadline, src);
    assert.deepEqual(sends(r.actions), [{ kind: 'oack' }]);
  }
  // A client that ignores the OACK and ACKs a data block it never got changes nothing.
  const stray = step(r.state, { type: 'ack', block: 1 }, r.state.deadline - 1, src);
  assert.deepEqual(stray.actions, []);
  assert.equal(stray.state.phase, 'oack');
  r = step(r.state, { type: 'ack', block: 0 }, r.state.deadline - 1, src);
  assert.deepEqual(dataBlocks(r), [1, 2, 3, 4, 5, 6, 7, 8]);
  // A duplicate ACK 0 (the client also got a retransmitted OACK) sends nothing.
  assert.deepEqual(step(r.state, { type: 'ack', block: 0 }, r.state.deadline - 1, src).actions, []);
});

test('ERROR 8 after the OACK (EDK2 size probe) ends the transfer as aborted-after-oack', () => {
  const src = memorySource(fileOf(10));
  const r = startTransfer({ ...base, oack: encodeOack([['tsize', '10']]) }, 0, src);
  const e = step(r.state, { type: 'error', code: 8, message: 'User aborted the transfer' }, 5, src);
  const d = doneOf(e);
  assert.ok(d && d.type === 'done' && !d.ok && d.reason === 'aborted-after-oack');
  assert.equal(dataBlocks(e).length, 0);
  // Once done, nothing moves.
  assert.deepEqual(step(e.state, { type: 'ack', block: 0 }, 6, src).actions, []);
});

test('an ERROR mid-transfer is a client error', () => {
  const src = memorySource(fileOf(5000));
  let r = startTransfer(base, 0, src);
  r = step(r.state, { type: 'error', code: 0, message: 'disk full' }, 5, src);
  const d = doneOf(r);
  assert.ok(d && d.type === 'done' && !d.ok && d.reason === 'client-error');
});

test('a gap in a window restarts the window at once from the first missing block', () => {
  const src = memorySource(fileOf(100_000));
  let r = startTransfer({ ...base, windowsize: 4, oack: encodeOack([['windowsize', '4']]) }, 0, src);
  r = step(r.state, { type: 'ack', block: 0 }, 1, src);
  assert.deepEqual(dataBlocks(r), [1, 2, 3, 4]);
  r = step(r.state, { type: 'ack', block: 2 }, 2, src);
  assert.deepEqual(dataBlocks(r), [3, 4, 5, 6]);
  assert.equal(r.state.retransmits, 2);
  r = step(r.state, { type: 'ack', block: 6 }, 3, src);
  assert.deepEqual(dataBlocks(r), [7, 8, 9, 10]);
});

test('timeout goes back to the last ACKed block, backs off exponentially, then gives up', () => {
  const src = memorySource(fileOf(100_000));
  let r = startTransfer({ ...base, windowsize: 4, maxRetries: 3, maxRtoMs: 3000, initialRtoMs: 500 }, 0, src);
  r = step(r.state, { type: 'ack', block: 1 }, 0, src); // sends 2..5
  const rto0 = r.state.rto;
  r = step(r.state, { type: 'ack', block: 3 }, 0, src); // gap: resend 4..7
  // Early tick: no resend, just the same deadline again.
  const early = step(r.state, { type: 'tick' }, r.state.deadline - 1, src);
  assert.deepEqual(early.actions, [{ type: 'setTimer', at: r.state.deadline }]);
  const rtos: number[] = [];
  for (let i = 0; i < 3; i++) {
    r = step(r.state, { type: 'tick' }, r.state.deadline, src);
    assert.deepEqual(dataBlocks(r), [4, 5, 6, 7]);
    rtos.push(r.state.rto);
  }
  assert.deepEqual(rtos, [Math.min(rto0 * 2, 3000), Math.min(rto0 * 4, 3000), Math.min(rto0 * 8, 3000)]);
  r = step(r.state, { type: 'tick' }, r.state.deadline, src);
  const d = doneOf(r);
  assert.ok(d && d.type === 'done' && !d.ok && d.reason === 'timeout');
  assert.equal(dataBlocks(r).length, 0);
});

test('retransmission timer adapts to the RTT of this transfer, with Karn and the timeout option as bounds', () => {
  const src = memorySource(fileOf(100_000));
  let r = startTransfer({ ...base, initialRtoMs: 1000 }, 0, src);
  assert.equal(r.state.rto, 1000);
  let now = 0;
  for (let b = 1; b <= 20; b++) {
    now += 10;
    r = step(r.state, { type: 'ack', block: b }, now, src);
  }
  assert.ok(r.state.srtt !== null && Math.abs(r.state.srtt - 10) < 1e-9);
  assert.ok(r.state.rto >= 10 && r.state.rto < 40, `rto ${r.state.rto}`);
  // Karn: a block that was retransmitted yields no sample, however late its ACK arrives.
  const srtt = r.state.srtt;
  r = step(r.state, { type: 'tick' }, r.state.deadline, src);
  r = step(r.state, { type: 'ack', block: 21 }, r.state.deadline + 5000, src);
  assert.equal(r.state.srtt, srtt);
  // The negotiated `timeout` caps the timer however slow the samples are.
  let c = startTransfer({ ...base, maxRtoMs: 2000 }, 0, src);
  c = step(c.state, { type: 'ack', block: 1 }, 1900, src);
  c = step(c.state, { type: 'ack', block: 2 }, 5000, src);
  assert.equal(c.state.rto, 2000);
});

test('a source that is not ready asks for data and resumes on data-ready', () => {
  const file = fileOf(3000);
  let ready = 1024; // bytes "prefetched" so far
  const src: BlockSource = {
    read: (o, l) => (o + Math.min(l, file.length - o) <= ready ? file.subarray(o, Math.min(o + l, file.length)) : null),
  };
  let r = startTransfer({ ...base, windowsize: 4, oack: encodeOack([['windowsize', '4']]) }, 0, src);
  r = step(r.state, { type: 'ack', block: 0 }, 1, src);
  assert.deepEqual(dataBlocks(r), [1, 2]);
  assert.deepEqual(
    r.actions.find((a) => a.type === 'need'),
    { type: 'need', offset: 1024, length: 512 },
  );
  ready = file.length;
  r = step(r.state, { type: 'data-ready' }, 2, src);
  assert.deepEqual(dataBlocks(r), [3, 4]);
  r = step(r.state, { type: 'ack', block: 4 }, 3, src);
  assert.deepEqual(dataBlocks(r), [5, 6]);
  r = step(r.state, { type: 'ack', block: 6 }, 4, src);
  assert.deepEqual(doneOf(r), { type: 'done', ok: true, bytes: 3000 });
});

// ---------------------------------------------------------------------------------------------
// A simulated client (RFC 1350 / RFC 7440 receiver) over a lossy, duplicating, reordering channel.

type SimOptions = {
  size: number;
  blksize: number;
  windowsize: number;
  oack: boolean;
  loss: number;
  dup: number;
  jitterMs: number;
  seed: number;
  /** the client ACKs the last in-order block as soon as it sees an out-of-order one */
  ackOnGap: boolean;
  source?: BlockSource;
  file?: Uint8Array;
  hashOnly?: boolean;
  maxEvents?: number;
};

type SimResult = {
  ok: boolean;
  reason?: string;
  received: Uint8Array | null;
  hash: string;
  dataPackets: number;
  blocks: number;
  state: TransferState;
  maxBeforeFirstAck: number;
  // Whether any client packet reached the server (its address was confirmed).
  heardClient: boolean;
  wireBlocksSeen: Set<number>;
  /** ACKs on which nextOnFullAck's armed window was compared with what step sent */
  predictionsChecked: number;
};

function simulate(o: SimOptions): SimResult {
  let rnd = o.seed >>> 0 || 1;
  const rand = () => {
    rnd ^= rnd << 13;
    rnd >>>= 0;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    rnd >>>= 0;
    return rnd / 2 ** 32;
  };
  const file = o.file ?? (o.source ? null : fileOf(o.size, o.seed));
  const src = o.source ?? memorySource(file!);
  type Ev = { at: number; seq: number; to: 'client' | 'server'; pkt: Uint8Array | { ack: number } };
  const queue: Ev[] = [];
  let seq = 0;
  // Kept sorted by (at, seq): binary insertion, so long transfers stay fast.
  const push = (e: Omit<Ev, 'seq'>) => {
    const ev = { ...e, seq: seq++ };
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (queue[mid]!.at <= ev.at) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, ev);
  };
  const channel = (to: Ev['to'], pkt: Ev['pkt'], now: number) => {
    if (rand() < o.loss) return;
    const copies = rand() < o.dup ? 2 : 1;
    for (let i = 0; i < copies; i++) push({ at: now + 0.5 + rand() * o.jitterMs, to, pkt });
  };
  const params: TransferParams = {
    blksize: o.blksize,
    windowsize: o.windowsize,
    oack: o.oack ? encodeOack([['blksize', String(o.blksize)]]) : null,
    maxRtoMs: 2000,
    minRtoMs: 5,
    initialRtoMs: 200,
    maxRetries: 12,
  };
  const hasher = createHash('sha256');
  const chunks: Uint8Array[] = [];
  let now = 0;
  let dataPackets = 0;
  let serverTimer = Infinity;
  // Distinct blocks sent before the first ACK: retransmitting the same window on timeouts is fine.
  const sentBeforeFirstAck = new Set<number>();
  let firstAckSeen = false;
  const wireBlocksSeen = new Set<number>();
  // client state
  let expected = o.oack ? 0 : 1; // 0 = waiting for the OACK
  let inWindow = 0;
  let clientLast = 0; // last in-order block (absolute)
  let clientDone = false;
  let finished = false;
  let clientTimer = now + 300;
  let result: StepResult;
  let predictionsChecked = 0;

  const clientAck = (abs: number) => channel('server', { ack: abs & 0xffff }, now);
  const apply = (r: StepResult) => {
    for (const a of r.actions) {
      if (a.type === 'send' || a.type === 'data') {
        const buf = wire(a);
        if (buf[1] === 3) {
          dataPackets++;
          if (!firstAckSeen) sentBeforeFirstAck.add((buf[2]! << 8) | buf[3]!);
        }
        channel('client', Uint8Array.from(buf), now);
      } else if (a.type === 'setTimer') serverTimer = a.at;
      else if (a.type === 'done') serverTimer = Infinity;
    }
    result = r;
  };
  apply(startTransfer(params, now, src));
  let events = 0;
  const maxEvents = o.maxEvents ?? 2_000_000;
  while (result!.state.phase !== 'done' && events++ < maxEvents) {
    const nextPkt = queue[0]?.at ?? Infinity;
    const t = Math.min(nextPkt, serverTimer, clientDone ? Infinity : clientTimer);
    if (t === Infinity) break;
    now = t;
    if (t === serverTimer) {
      apply(step(result!.state, { type: 'tick' }, now, src));
      continue;
    }
    if (t === clientTimer && t !== nextPkt) {
      // Client timeout: re-ACK what it has, as RFC 7440 receivers do. Before the OACK it would
      // resend its RRQ instead, which the server drops as a duplicate: nothing reaches the machine.
      if (expected !== 0) clientAck(clientLast);
      inWindow = 0;
      clientTimer = now + 300;
      continue;
    }
    const ev = queue.shift()!;
    if (ev.to === 'server') {
      firstAckSeen = true;
      const ack = (ev.pkt as { ack: number }).ack;
      const before = result!.state;
      const predicted = nextOnFullAck(before, src, 64);
      const r = step(before, { type: 'ack', block: ack }, now, src);
      // The native socket sends the armed window on this ACK before the machine sees it: what
      // nextOnFullAck promised must be exactly what the machine then sends, byte for byte.
      if (predicted !== null && ack === predicted.ack) {
        const sent = sends(r.actions).flatMap((x) => (x.kind === 'data' ? [x] : []));
        assert.deepEqual(sent.map((x) => x.block), predicted.blocks, `armed window for ACK ${ack}`);
        sent.forEach((x, i) => assert.ok(Buffer.from(x.data).equals(predicted.payloads[i]!), `payload of block ${x.block}`));
        predictionsChecked++;
      } else if (predicted === null && before.phase === 'data' && before.sent > before.acked && ack === (before.sent & 0xffff)) {
        assert.deepEqual(dataBlocks(r), [], 'no window was armed, yet the full ACK sent one');
      }
      apply(r);
      continue;
    }
    const p = parsePacket(ev.pkt as Uint8Array);
    assert.ok(p.ok);
    if (p.value.op === 'OACK') {
      if (expected === 0) expected = 1;
      clientAck(0); // duplicates of the OACK get duplicate ACK 0s: must be harmless
      clientTimer = now + 300;
      continue;
    }
    if (p.value.op !== 'DATA' || expected === 0) continue;
    wireBlocksSeen.add(p.value.block);
    if (finished) {
      // Dallying after the final block: its ACK may have been lost, so ACK a repeat again.
      if (p.value.block === (clientLast & 0xffff)) clientAck(clientLast);
      continue;
    }
    clientTimer = now + 300;
    if (p.value.block !== (expected & 0xffff)) {
      if (o.ackOnGap && p.value.block !== (clientLast & 0xffff)) {
        clientAck(clientLast);
        inWindow = 0;
      }
      continue;
    }
    if (o.hashOnly) hasher.update(p.value.data);
    else chunks.push(Uint8Array.from(p.value.data));
    clientLast = expected;
    expected++;
    inWindow++;
    if (p.value.data.length < o.blksize) {
      finished = true;
      clientDone = true;
      clientAck(clientLast);
      continue;
    }
    if (inWindow >= o.windowsize) {
      clientAck(clientLast);
      inWindow = 0;
    }
  }
  const received = o.hashOnly ? null : Buffer.concat(chunks);
  const d = result!.actions.find((a) => a.type === 'done');
  return {
    ok: !!d && d.type === 'done' && d.ok,
    ...(d && d.type === 'done' && !d.ok ? { reason: d.reason } : {}),
    received,
    hash: o.hashOnly ? hasher.digest('hex') : createHash('sha256').update(received!).digest('hex'),
    dataPackets,
    blocks: result!.state.lastBlock ?? 0,
    state: result!.state,
    maxBeforeFirstAck: sentBeforeFirstAck.size,
    heardClient: firstAckSeen,
    wireBlocksSeen,
    predictionsChecked,
  };
}

test('lossless windowed transfer sends each block exactly once', () => {
  const r = simulate({
    size: 200_000,
    blksize: 1468,
    windowsize: 16,
    oack: true,
    loss: 0,
    dup: 0,
    jitterMs: 0,
    seed: 7,
    ackOnGap: false,
  });
  assert.ok(r.ok);
  assert.equal(r.dataPackets, Math.floor(200_000 / 1468) + 1);
  assert.equal(r.state.retransmits, 0);
  assert.equal(r.maxBeforeFirstAck, 0, 'with an OACK no DATA may precede ACK 0');
  // every window after the first was armed and checked
  assert.equal(r.predictionsChecked, Math.ceil((Math.floor(200_000 / 1468) + 1) / 16) - 1);
});

test('property: loss, duplication and reordering never corrupt the file and never amplify', () => {
  fc.assert(
    fc.property(
      fc.record({
        size: fc.integer({ min: 0, max: 60_000 }),
        blksize: fc.constantFrom(8, 512, 1024, 1468),
        windowsize: fc.constantFrom(1, 2, 4, 16),
        loss: fc.constantFrom(0, 0.05, 0.2),
        dup: fc.constantFrom(0, 0.1, 0.3),
        jitterMs: fc.constantFrom(0, 2, 20),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        ackOnGap: fc.boolean(),
      }),
      (p) => {
        const oack = p.windowsize > 1 || p.blksize !== 512;
        const file = fileOf(p.size, p.seed);
        const r = simulate({ ...p, oack, file });
        // A client never heard from may be a forged address, so the first packet is retried only
        // maxFirstRetries times: under heavy loss every copy (or every ACK back) can be lost.
        // That is the only failure allowed, and only if no client packet ever arrived.
        if (!r.ok && r.reason === 'unconfirmed' && p.loss > 0 && !r.heardClient) return;
        assert.ok(r.ok, `transfer failed: ${r.reason} (heard the client: ${r.heardClient})`);
        assert.equal(r.hash, createHash('sha256').update(file).digest('hex'));
        assert.ok(r.maxBeforeFirstAck <= p.windowsize, 'more than one window before the first ACK');
        // Every datagram we send answers a timeout or an ACK with progress; duplicates add nothing.
        const blocks = Math.floor(p.size / p.blksize) + 1;
        if (p.loss === 0 && p.dup > 0 && p.jitterMs === 0) assert.equal(r.dataPackets, blocks);
      },
    ),
    { numRuns: 150 },
  );
});

test('under heavy loss a transfer may end unconfirmed, but only if no client packet ever arrived (found by the property test)', () => {
  const p = { size: 0, blksize: 8, windowsize: 1, loss: 0.2, dup: 0, jitterMs: 0, seed: 79210601, ackOnGap: false };
  const r = simulate({ ...p, oack: true, file: fileOf(0, p.seed) });
  assert.equal(r.ok, false);
  assert.equal(r.reason, 'unconfirmed');
  assert.equal(r.heardClient, false);
});

test('block numbers roll over past 65535 (32 MiB + 1000 bytes at blksize 512)', () => {
  const size = 32 * 1024 * 1024 + 1000;
  const file = fileOf(size, 3);
  const r = simulate({
    size,
    file,
    hashOnly: true,
    blksize: 512,
    windowsize: 1,
    oack: false,
    loss: 0.001,
    dup: 0.001,
    jitterMs: 0,
    seed: 11,
    ackOnGap: false,
  });
  assert.ok(r.ok, r.reason);
  assert.equal(r.blocks, Math.floor(size / 512) + 1);
  assert.ok(r.blocks > 65536);
  assert.equal(r.hash, createHash('sha256').update(file).digest('hex'));
  // Wire numbers wrapped: after 65535 came 0, then 1 again.
  assert.ok(r.wireBlocksSeen.has(65535) && r.wireBlocksSeen.has(0));
});

test('rollover with windows straddling the wrap', () => {
  const size = 65540 * 64 + 17;
  const file = fileOf(size, 5);
  const r = simulate({
    size,
    file,
    hashOnly: true,
    blksize: 64,
    windowsize: 16,
    oack: true,
    loss: 0.02,
    dup: 0.02,
    jitterMs: 3,
    seed: 99,
    ackOnGap: true,
  });
  assert.ok(r.ok, r.reason);
  assert.equal(r.hash, createHash('sha256').update(file).digest('hex'));
});

// Retransmission timer at loss: what a lost block costs once the round trip is known.
const timerOf = (r: StepResult) => r.actions.flatMap((a) => (a.type === 'setTimer' ? [a.at] : []));

test('the adaptive timer floor defaults to 10 ms: a lost block on a fast LAN costs milliseconds, not a second', () => {
  const src = memorySource(fileOf(20 * 512));
  let r = startTransfer({ blksize: 512, windowsize: 1, oack: null, maxRtoMs: 4000 }, 0, src);
  assert.equal(r.state.minRto, 10);
  assert.equal(r.state.rto, 1000, 'no sample yet: the initial timer');
  r = step(r.state, { type: 'ack', block: 1 }, 0.2, src); // a 0.2 ms round trip
  assert.equal(r.state.rto, 10, 'floor, not srtt + 4·rttvar = 0.6 ms');
  // Block 2 is lost: the timer resends it 10 ms later, and backs off if that is lost too.
  const t = step(r.state, { type: 'tick' }, 0.2 + 10, src);
  assert.deepEqual(dataBlocks(t), [2]);
  assert.equal(t.state.rto, 20);
  // An explicit floor and the negotiated timeout ceiling still bound it.
  const slow = startTransfer({ blksize: 512, windowsize: 1, oack: null, maxRtoMs: 5, minRtoMs: 50 }, 0, src);
  assert.equal(slow.state.minRto, 5);
  assert.ok(slow.state.rto <= 5);
});

function windowAfterAck(src: BlockSource) {
  // Window 1-4 acknowledged after 2 ms: srtt = 2 ms. Window 5-8 leaves at t = 2.
  let r = startTransfer({ blksize: 512, windowsize: 4, oack: null, maxRtoMs: 4000 }, 0, src);
  r = step(r.state, { type: 'ack', block: 4 }, 2, src);
  assert.deepEqual(dataBlocks(r), [5, 6, 7, 8]);
  assert.equal(r.state.srtt, 2);
  return r;
}

test('windowed: a duplicate ACK (first block of the window lost) pulls the timer in to one round trip', () => {
  const src = memorySource(fileOf(64 * 512));
  const r = windowAfterAck(src);
  const normal = r.state.deadline;
  // Block 5 lost; the client saw 6 and re-ACKs 4.
  const d = step(r.state, { type: 'ack', block: 4 }, 2.5, src);
  assert.deepEqual(dataBlocks(d), [], 'no data sent on a duplicate: no Sorcerer\'s Apprentice');
  const at = 2 + 1.5 * 2 + 1;
  assert.deepEqual(timerOf(d), [at]);
  assert.ok(at < normal);
  // A second duplicate of the same window changes nothing.
  assert.deepEqual(step(d.state, { type: 'ack', block: 4 }, 2.6, src).actions, []);
  // The timer then resends the window from the gap.
  const t = step(d.state, { type: 'tick' }, at, src);
  assert.deepEqual(dataBlocks(t), [5, 6, 7, 8]);
});

test('windowed: a duplicate ACK from duplicated DATA is followed by the real ACK, nothing is resent', () => {
  const src = memorySource(fileOf(64 * 512));
  const r = windowAfterAck(src);
  const d = step(r.state, { type: 'ack', block: 4 }, 2.1, src);
  // The window's own ACK arrives within the round trip: next window, timer back to normal.
  const a = step(d.state, { type: 'ack', block: 8 }, 4, src);
  assert.deepEqual(dataBlocks(a), [9, 10, 11, 12]);
  assert.equal(a.state.retransmits, 0);
  assert.ok(a.state.deadline >= 4 + a.state.minRto);
  // Lock-step ignores duplicates entirely, as before.
  let l = startTransfer({ blksize: 512, windowsize: 1, oack: null, maxRtoMs: 4000 }, 0, src);
  l = step(l.state, { type: 'ack', block: 1 }, 2, src);
  assert.deepEqual(step(l.state, { type: 'ack', block: 1 }, 2.5, src).actions, []);
});

test('Karn: after a timeout the backed-off timer stays until a fresh round-trip sample', () => {
  const src = memorySource(fileOf(20 * 512));
  let r = startTransfer({ blksize: 512, windowsize: 1, oack: null, maxRtoMs: 4000 }, 0, src);
  r = step(r.state, { type: 'ack', block: 1 }, 0.2, src);
  assert.equal(r.state.rto, 10);
  // Block 2 times out twice: 10 → 20 → 40 ms.
  r = step(r.state, { type: 'tick' }, 10.2, src);
  r = step(r.state, { type: 'tick' }, 30.2, src);
  assert.equal(r.state.rto, 40);
  // Its ACK is ambiguous (which copy?): progress, but the timer keeps its backoff.
  r = step(r.state, { type: 'ack', block: 2 }, 31, src);
  assert.deepEqual(dataBlocks(r), [3]);
  assert.equal(r.state.retries, 0);
  assert.equal(r.state.rto, 40);
  // Block 3 went out once: its ACK is a real sample and the estimate takes over again.
  r = step(r.state, { type: 'ack', block: 3 }, 31.3, src);
  assert.equal(r.state.rto, 10);
});

test('nextOnFullAck: the window to arm, and nothing to arm in the OACK phase, at the end, or while the source loads', () => {
  const file = fileOf(10 * 512 + 100);
  const src = memorySource(file);
  const params: TransferParams = { ...base, windowsize: 4, oack: encodeOack([['windowsize', '4']]) };
  let r = startTransfer(params, 0, src);
  assert.equal(nextOnFullAck(r.state, src, 64), null, 'OACK phase: ACK 0 is handled by the machine alone');
  r = step(r.state, { type: 'ack', block: 0 }, 1, src);
  assert.deepEqual(dataBlocks(r), [1, 2, 3, 4]);
  let next = nextOnFullAck(r.state, src, 64)!;
  assert.deepEqual([next.ack, next.blocks], [4, [5, 6, 7, 8]]);
  assert.ok(Buffer.from(next.payloads[0]!).equals(file.subarray(4 * 512, 5 * 512)));
  assert.deepEqual(nextOnFullAck(r.state, src, 2)!.blocks, [5, 6], 'capped at the batch size');
  r = step(r.state, { type: 'ack', block: 4 }, 2, src);
  next = nextOnFullAck(r.state, src, 64)!;
  // The file's end is not known yet; the short block 11 ends the window as it would in step().
  assert.deepEqual([next.ack, next.blocks, next.payloads.at(-1)!.length], [8, [9, 10, 11], 100]);
  r = step(r.state, { type: 'ack', block: 8 }, 3, src);
  assert.equal(nextOnFullAck(r.state, src, 64), null, 'the ACK of block 11 ends the transfer');

  // A streamed source without the bytes in memory: nothing can be armed, the machine will ask.
  let ready = false;
  const lazy: BlockSource = { read: (o, l) => (ready ? file.subarray(o, Math.min(o + l, file.length)) : null) };
  ready = true;
  const s = startTransfer({ ...base, windowsize: 2 }, 0, lazy);
  ready = false;
  assert.equal(nextOnFullAck(s.state, lazy, 64), null);
});

test('before the client answers anything, the first packet is retransmitted only maxFirstRetries times (TFTP has no handshake: its address may be forged)', () => {
  const src = memorySource(fileOf(5000));
  for (const oack of [null, encodeOack([['blksize', '1024']])]) {
    let r = startTransfer({ ...base, oack, ...(oack ? { blksize: 1024 } : {}) }, 0, src);
    let sent = sends(r.actions).length;
    let t = 0;
    while (!doneOf(r) && t < 600_000) {
      t = r.state.deadline;
      r = step(r.state, { type: 'tick' }, t, src);
      sent += sends(r.actions).length;
    }
    assert.deepEqual(doneOf(r), { type: 'done', ok: false, reason: 'unconfirmed', detail: 'the client never answered (3 retransmissions of the first packet)' });
    assert.equal(sent, 4, 'one first packet and three retransmissions');
  }
  // Once the client has answered, the full retry budget applies.
  let r = startTransfer(base, 0, src);
  r = step(r.state, { type: 'ack', block: 1 }, 5, src);
  assert.equal(r.state.confirmed, true);
  let retries = 0;
  while (!doneOf(r)) { r = step(r.state, { type: 'tick' }, r.state.deadline, src); retries++; }
  assert.equal(doneOf(r)!.type === 'done' && (doneOf(r) as { reason?: string }).reason, 'timeout');
  assert.equal(retries, 9);
});
