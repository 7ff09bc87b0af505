// Pure read-transfer state machine: (state, event, now, source) → (state, actions).
// Lock-step (RFC 1350) and windowed (RFC 7440) sending, 16-bit block rollover, an RTT-adaptive
// retransmission timer (RFC 6298 estimator, Karn's rule), exponential backoff, bounded retries.
// No sockets, no timers, no clock: the edge feeds events and performs the actions.

import { encodeError } from './packet.ts';

/**
 * Bytes of the transfer, already in wire form (netascii converted). `read` is synchronous: it
 * returns what the edge has buffered, or null when that range is not in memory yet — the machine
 * then asks for it with a `need` action and resumes on `data-ready`. A result shorter than
 * `length` means end of file.
 */
export type BlockSource = { read(offset: number, length: number): Uint8Array | null };

export type TransferParams = {
  blksize: number;
  windowsize: number;
  /** the OACK datagram to send first, or null to start with DATA 1 */
  oack: Uint8Array | null;
  /** ceiling of the retransmission timer; the negotiated `timeout` option when there is one */
  maxRtoMs: number;
  /** timer before any RTT sample of this transfer; default min(1000, maxRtoMs) */
  initialRtoMs?: number;
  /**
   * floor of the adaptive timer; default 10. Each block lost at the end of a window (and every lost
   * block in lock-step) costs one timer, so on a LAN whose round trip is well under a millisecond a
   * high floor dominates the transfer time at loss; the estimator, Karn's rule and backoff keep a
   * slow or jittery client from being flooded.
   */
  minRtoMs?: number;
  /** timeouts in a row without progress before giving up; default 8 */
  maxRetries?: number;
  /**
   * retransmissions of the first packet before the client has acknowledged anything; default 3.
   * Until then the client's address is only what its RRQ claimed (TFTP has no handshake), and
   * every retransmission is traffic aimed at someone who may never have asked.
   */
  maxFirstRetries?: number;
};

export type TransferFailure = 'timeout' | 'unconfirmed' | 'client-error' | 'aborted-after-oack' | 'server-abort';

export type TransferState = Readonly<{
  phase: 'oack' | 'data' | 'done';
  blksize: number;
  windowsize: number;
  oack: Uint8Array | null;
  minRto: number;
  maxRto: number;
  initialRto: number;
  maxRetries: number;
  maxFirstRetries: number;
  /** the client acknowledged something (OACK or a block): its address is real */
  confirmed: boolean;
  /** highest block (absolute, 1-based, never wraps) the client acknowledged */
  acked: number;
  /** highest block sent so far */
  sent: number;
  /** absolute number of the final (short) block, once the source has shown the end */
  lastBlock: number | null;
  lastLength: number;
  /** a send that stopped because the source had not buffered the bytes yet */
  pending: Readonly<{ next: number; end: number }> | null;
  retries: number;
  rto: number;
  srtt: number | null;
  rttvar: number;
  deadline: number;
  /** when the current window (or lone block) was last sent */
  windowAt: number;
  /** whether a duplicate ACK already pulled the deadline of the current window in */
  dupHastened: boolean;
  /** one outstanding RTT measurement: first transmission of `block` at `at` */
  sample: Readonly<{ block: number; at: number }> | null;
  startedAt: number;
  packetsSent: number;
  payloadBytesSent: number;
  retransmits: number;
  duplicateAcks: number;
}>;

export type TransferEvent =
  | { type: 'ack'; block: number }
  | { type: 'error'; code: number; message: string }
  | { type: 'tick' }
  | { type: 'data-ready' }
  | { type: 'abort'; code: number; message: string };

export type TransferAction =
  /** one datagram (OACK, ERROR) */
  | { type: 'send'; datagram: Uint8Array }
  /**
   * DATA `block` (16-bit, as on the wire) carrying `payload`: the edge builds the header, so a
   * window can leave in one batched call and no header is made only to be taken apart again
   */
  | { type: 'data'; block: number; payload: Uint8Array }
  | { type: 'setTimer'; at: number }
  | { type: 'need'; offset: number; length: number }
  | { type: 'done'; ok: true; bytes: number }
  | { type: 'done'; ok: false; reason: TransferFailure; detail: string };

export type StepResult = { state: TransferState; actions: TransferAction[] };

type Draft = { -readonly [K in keyof TransferState]: TransferState[K] };

export function startTransfer(params: TransferParams, now: number, source: BlockSource): StepResult {
  const maxRto = Math.max(1, params.maxRtoMs);
  const minRto = Math.min(params.minRtoMs ?? 10, maxRto);
  const initialRto = Math.min(Math.max(params.initialRtoMs ?? 1000, minRto), maxRto);
  const s: Draft = {
    phase: params.oack ? 'oack' : 'data',
    blksize: params.blksize,
    windowsize: Math.max(1, params.windowsize),
    oack: params.oack,
    minRto,
    maxRto,
    initialRto,
    maxRetries: params.maxRetries ?? 8,
    maxFirstRetries: Math.min(params.maxFirstRetries ?? 3, params.maxRetries ?? 8),
    confirmed: false,
    acked: 0,
    sent: 0,
    lastBlock: null,
    lastLength: 0,
    pending: null,
    retries: 0,
    rto: initialRto,
    srtt: null,
    rttvar: 0,
    deadline: now + initialRto,
    windowAt: now,
    dupHastened: false,
    sample: null,
    startedAt: now,
    packetsSent: 0,
    payloadBytesSent: 0,
    retransmits: 0,
    duplicateAcks: 0,
  };
  const actions: TransferAction[] = [];
  if (s.oack) {
    s.sample = { block: 0, at: now };
    s.packetsSent++;
    actions.push({ type: 'send', datagram: s.oack }, { type: 'setTimer', at: s.deadline });
  } else {
    sendRange(s, 1, s.windowsize, now, source, actions);
  }
  return { state: s, actions };
}

export function step(state: TransferState, event: TransferEvent, now: number, source: BlockSource): StepResult {
  if (state.phase === 'done') return { state, actions: [] };
  switch (event.type) {
    case 'ack':
      return onAck(state, event.block & 0xffff, now, source);
    case 'error': {
      // After an OACK, any error is the client declining our options; EDK2 does this on purpose
      // as a size probe (ERROR 8 "User aborted the transfer") and then asks again.
      const reason: TransferFailure = state.phase === 'oack' ? 'aborted-after-oack' : 'client-error';
      return finish(state, { type: 'done', ok: false, reason, detail: `client error ${event.code}: ${event.message}` });
    }
    case 'abort': {
      const s: Draft = { ...state, phase: 'done' };
      return {
        state: s,
        actions: [
          { type: 'send', datagram: encodeError(event.code, event.message) },
          { type: 'done', ok: false, reason: 'server-abort', detail: event.message },
        ],
      };
    }
    case 'tick':
      return onTick(state, now, source);
    case 'data-ready': {
      if (!state.pending || state.phase !== 'data') return { state, actions: [] };
      const s: Draft = { ...state, pending: null };
      const actions: TransferAction[] = [];
      sendRange(s, state.pending.next, state.pending.end, now, source, actions);
      return { state: s, actions };
    }
  }
}

function finish(state: TransferState, done: TransferAction): StepResult {
  return { state: { ...state, phase: 'done' }, actions: [done] };
}

function onAck(state: TransferState, wire: number, now: number, source: BlockSource): StepResult {
  if (state.phase === 'oack') {
    // Only ACK 0 confirms an OACK; anything else is noise from a confused client and the OACK
    // timer keeps running until it answers properly or we give up.
    if (wire !== 0) return { state, actions: [] };
    const s: Draft = { ...state, phase: 'data', confirmed: true };
    progress(s, takeSample(s, 0, now));
    const actions: TransferAction[] = [];
    sendRange(s, 1, s.windowsize, now, source, actions);
    return { state: s, actions };
  }
  // Map the 16-bit number onto the absolute block just above the last acknowledged one; a window
  // never exceeds 65535 blocks, so the mapping is unique.
  const delta = (wire - (state.acked & 0xffff)) & 0xffff;
  if (delta === 0) {
    // Duplicate ACK: never resend on it. Answering duplicates with data is what turns one delayed
    // packet into the Sorcerer's Apprentice's doubled stream; our own timer covers real loss.
    // In a window it may also mean the first block of the window was lost (the client re-ACKs
    // the last in-order block at a gap): then the window's own ACK will not come, so pull the
    // timer in to one measured round trip after the window left. A duplicate caused by a
    // duplicated DATA instead is followed by the real ACK within that round trip, and the timer
    // path keeps backoff and retry limits, so this never adds traffic on its own.
    const s: Draft = { ...state, duplicateAcks: state.duplicateAcks + 1 };
    if (s.phase === 'data' && s.windowsize > 1 && s.sent > s.acked && s.srtt !== null && !s.dupHastened) {
      const at = s.windowAt + 1.5 * s.srtt + 1;
      s.dupHastened = true;
      if (at < s.deadline) {
        s.deadline = at;
        return { state: s, actions: [{ type: 'setTimer', at }] };
      }
    }
    return { state: s, actions: [] };
  }
  const n = state.acked + delta;
  if (n > state.sent) return { state, actions: [] }; // a block we never sent: stale or bogus
  const s: Draft = { ...state, acked: n, confirmed: true };
  progress(s, takeSample(s, n, now));
  if (s.lastBlock !== null && n >= s.lastBlock) {
    s.phase = 'done';
    return { state: s, actions: [{ type: 'done', ok: true, bytes: (s.lastBlock - 1) * s.blksize + s.lastLength }] };
  }
  // Whether the whole window arrived (n == sent) or the ACK shows a gap (n < sent), the next
  // window starts right after n: a gap restarts at once instead of waiting for a timeout.
  const actions: TransferAction[] = [];
  s.pending = null;
  sendRange(s, n + 1, n + s.windowsize, now, source, actions);
  return { state: s, actions };
}

function onTick(state: TransferState, now: number, source: BlockSource): StepResult {
  if (now < state.deadline) return { state, actions: [{ type: 'setTimer', at: state.deadline }] };
  const s: Draft = { ...state, retries: state.retries + 1 };
  const limit = s.confirmed ? s.maxRetries : s.maxFirstRetries;
  if (s.retries > limit) {
    s.phase = 'done';
    return {
      state: s,
      actions: [{ type: 'done', ok: false, reason: s.confirmed ? 'timeout' : 'unconfirmed', detail: s.confirmed ? `no ACK after ${limit} retransmissions` : `the client never answered (${limit} retransmissions of the first packet)` }],
    };
  }
  s.rto = Math.min(s.rto * 2, s.maxRto);
  s.sample = null; // Karn: an ACK after a retransmission says nothing about the RTT
  const actions: TransferAction[] = [];
  if (s.phase === 'oack') {
    s.packetsSent++;
    s.retransmits++;
    s.deadline = now + s.rto;
    actions.push({ type: 'send', datagram: s.oack! }, { type: 'setTimer', at: s.deadline });
  } else {
    // Go back to the last acknowledged block and resend one window from there.
    s.pending = null;
    sendRange(s, s.acked + 1, s.acked + s.windowsize, now, source, actions);
  }
  return { state: s, actions };
}

function takeSample(s: Draft, ackedBlock: number, now: number): boolean {
  if (!s.sample || ackedBlock < s.sample.block) return false;
  const r = Math.max(0, now - s.sample.at);
  if (s.srtt === null) {
    s.srtt = r;
    s.rttvar = r / 2;
  } else {
    s.rttvar = 0.75 * s.rttvar + 0.25 * Math.abs(s.srtt - r);
    s.srtt = 0.875 * s.srtt + 0.125 * r;
  }
  s.sample = null;
  return true;
}

/**
 * Progress resets the retry count. The timer goes back to what the measurements say only with a
 * fresh sample (Karn): an ACK of a retransmitted block says nothing about the round trip, and
 * dropping the backed-off timer on it makes a server whose clients all slowed down at once (a
 * storm on a busy host) time out again on the very next block.
 */
function progress(s: Draft, sampled: boolean): void {
  s.retries = 0;
  const estimate =
    s.srtt === null ? s.initialRto : Math.min(s.maxRto, Math.max(s.minRto, s.srtt + Math.max(1, 4 * s.rttvar)));
  s.rto = sampled || s.srtt === null ? estimate : Math.max(estimate, s.rto);
}

function sendRange(
  s: Draft,
  from: number,
  to: number,
  now: number,
  source: BlockSource,
  actions: TransferAction[],
): void {
  let end = s.lastBlock !== null ? Math.min(to, s.lastBlock) : to;
  for (let b = from; b <= end; b++) {
    const offset = (b - 1) * s.blksize;
    let data = source.read(offset, s.blksize);
    if (data === null) {
      s.pending = { next: b, end };
      actions.push({ type: 'need', offset, length: s.blksize });
      break;
    }
    if (data.length > s.blksize) data = data.subarray(0, s.blksize);
    if (data.length < s.blksize) {
      s.lastBlock = b;
      s.lastLength = data.length;
      end = b;
    }
    if (b <= s.sent) {
      s.retransmits++;
      s.sample = null; // Karn: no sample may straddle a retransmission
    } else {
      if (!s.sample) s.sample = { block: b, at: now };
      s.sent = b;
    }
    s.packetsSent++;
    s.payloadBytesSent += data.length;
    actions.push({ type: 'data', block: b & 0xffff, payload: data });
  }
  s.deadline = now + s.rto;
  s.windowAt = now;
  s.dupHastened = false;
  actions.push({ type: 'setTimer', at: s.deadline });
}

/**
 * What `step` will send when the ACK that acknowledges everything sent so far arrives: that ACK's
 * wire number and the window's first `max` DATA blocks, read from `source` by the same rules as
 * `sendRange` (a short block ends the file; a range not in memory yet ends the window early, as
 * `step` would stop there and ask for it). null when that ACK would end the transfer, or when the
 * machine is not sending DATA (OACK phase, waiting for the source, nothing in flight). The edge
 * arms this window in the native socket so it leaves the moment its ACK does; `onAck`
 * (n === sent) is the rule this mirrors, and a test holds the two together.
 */
export function nextOnFullAck(
  s: TransferState,
  source: BlockSource,
  max: number,
): { ack: number; blocks: number[]; payloads: Uint8Array[] } | null {
  if (s.phase !== 'data' || s.pending !== null || s.sent <= s.acked) return null;
  if (s.lastBlock !== null && s.sent >= s.lastBlock) return null;
  const last = Math.min(s.sent + Math.min(s.windowsize, max), s.lastBlock ?? Infinity);
  const blocks: number[] = [];
  const payloads: Uint8Array[] = [];
  for (let b = s.sent + 1; b <= last; b++) {
    const data = s.blksize > 0 ? source.read((b - 1) * s.blksize, s.blksize) : null;
    if (data === null) break;
    blocks.push(b & 0xffff);
    payloads.push(data.length > s.blksize ? data.subarray(0, s.blksize) : data);
    if (data.length < s.blksize) break;
  }
  return blocks.length > 0 ? { ack: s.sent & 0xffff, blocks, payloads } : null;
}

/**
 * A transfer taken over from another server (a pool peer that died): the client has ACKed
 * absolute block `acked` to it, so we go on from `acked + 1` with the options it negotiated
 * there. No OACK: the client already has one. The first window leaves at once; the client
 * accepts it as the answer to its retransmitted ACK.
 */
export function resumeTransfer(params: Omit<TransferParams, 'oack'>, acked: number, now: number, source: BlockSource): StepResult {
  const r = startTransfer({ ...params, oack: null }, now, { read: () => new Uint8Array(0) });
  const s: Draft = { ...r.state, acked, sent: acked, confirmed: true, packetsSent: 0, payloadBytesSent: 0, lastBlock: null, lastLength: 0 };
  const actions: TransferAction[] = [];
  sendRange(s, acked + 1, acked + s.windowsize, now, source, actions);
  return { state: s, actions };
}

/**
 * The absolute block a 16-bit ACK number `wire` stands for, given roughly where the transfer
 * was (`hint`, absolute, from the last announcement) and how many blocks the file has: the
 * candidate n ≡ wire (mod 65536), 0 ≤ n ≤ lastBlock, nearest to the hint, and null when even that
 * one is half a wrap or more away (the hint is too old to tell). A file of more than
 * 65535 blocks wraps the wire number (RFC 1350 leaves it open; every common client rolls over
 * to 0), which is why the announcements carry progress.
 */
export function absoluteBlock(wire: number, hint: number, lastBlock: number): number | null {
  const w = wire & 0xffff;
  let best: number | null = null;
  const base = hint - (hint & 0xffff);
  for (const n of [base - 0x10000 + w, base + w, base + 0x10000 + w]) {
    if (n < 0 || n > lastBlock) continue;
    if (best === null || Math.abs(n - hint) < Math.abs(best - hint)) best = n;
  }
  return best !== null && Math.abs(best - hint) < 0x8000 ? best : null;
}
