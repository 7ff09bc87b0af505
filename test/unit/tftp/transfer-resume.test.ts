// A transfer taken over by a pool successor (issue 12, item 2): the client ACKed block n to a
// server that died; the successor goes on from n + 1 with the negotiated options, and the client
// ends up with exactly the file, across the 16-bit block wrap too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { memorySource } from '../../../src/tftp/source.ts';
import { absoluteBlock, resumeTransfer, startTransfer, step, type StepResult, type TransferState } from '../../../src/tftp/transfer.ts';

function fileOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}

/**
 * A lossless client against the machine, taking DATA in order and ACKing each window's last
 * block, until `stopAfter` absolute blocks have been ACKed (the server then dies) or the end.
 */
function runClient(r: StepResult, src: ReturnType<typeof memorySource>, got: Uint8Array[], state: { acked: number; wire: number }, stopAfter = Infinity): { state: TransferState; done: boolean } {
  let cur = r;
  let now = 0;
  for (let guard = 0; guard < 1_000_000; guard++) {
    const data = cur.actions.filter((a) => a.type === 'data');
    if (cur.actions.some((a) => a.type === 'done')) return { state: cur.state, done: true };
    if (data.length === 0) assert.fail(`no DATA and not done: ${JSON.stringify(cur.actions.map((a) => a.type))}`);
    let last = state.wire;
    let short = false;
    for (const d of data) {
      if (d.type !== 'data') continue;
      // In order only: a block is the next one when its wire number follows the last one.
      if (d.block !== ((state.wire + 1) & 0xffff)) break;
      got.push(d.payload);
      state.acked++;
      state.wire = d.block;
      last = d.block;
      if (d.payload.length < cur.state.blksize) { short = true; break; }
      if (state.acked >= stopAfter) break;
    }
    if (state.acked >= stopAfter && !short) return { state: cur.state, done: false };
    now += 1;
    cur = step(cur.state, { type: 'ack', block: last }, now, src);
  }
  assert.fail('did not finish');
}

function takeover(size: number, blksize: number, windowsize: number, dieAt: number, hintLag: number): void {
  const file = fileOf(size, size);
  const src = memorySource(file);
  const got: Uint8Array[] = [];
  const client = { acked: 0, wire: 0 };
  const first = runClient(startTransfer({ blksize, windowsize, oack: null, maxRtoMs: 1000, minRtoMs: 1 }, 0, src), src, got, client, dieAt);
  assert.equal(first.done, false);
  // The successor knows the file size and an announced progress somewhat behind; it gets the
  // client's retransmitted ACK (a 16-bit number) and maps it to an absolute block.
  const lastBlock = Math.floor(size / blksize) + 1;
  const n = absoluteBlock(client.wire, Math.max(0, client.acked - hintLag), lastBlock);
  assert.equal(n, client.acked);
  const r = resumeTransfer({ blksize, windowsize, maxRtoMs: 1000, minRtoMs: 1 }, n!, 0, src);
  const second = runClient(r, src, got, client);
  assert.ok(second.done);
  const all = Buffer.concat(got);
  assert.equal(all.length, size);
  assert.equal(createHash('sha256').update(all).digest('hex'), createHash('sha256').update(file).digest('hex'));
}

test('resumed from block n: the client gets exactly the file (lock-step and windows)', () => {
  takeover(100_000, 512, 1, 50, 10);
  takeover(1_000_000, 1468, 8, 333, 40);
  takeover(1468 * 20, 1468, 4, 19, 0); // the last full block was the last ACKed one
});

test('resumed across the 16-bit block wrap: the ACK says 65530 or 3, the absolute block is right', () => {
  const size = 70_000 * 64 + 5;
  takeover(size, 64, 8, 65_530, 1_000);
  takeover(size, 64, 8, 65_536 + 3, 900);
  takeover(size, 64, 16, 65_536 + 200, 300);
});

test('absoluteBlock: the candidate nearest the hint, never past the end', () => {
  assert.equal(absoluteBlock(10, 0, 100), 10);
  assert.equal(absoluteBlock(3, 65_500, 200_000), 65_539);
  assert.equal(absoluteBlock(65_530, 65_600, 200_000), 65_530);
  assert.equal(absoluteBlock(5, 65_600, 65_000), null, 'a hint past the end cannot be resolved');
  assert.equal(absoluteBlock(70_000 & 0xffff, 69_000, 65_540), null);
  fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 30_000 }), (n, lag) => {
    assert.equal(absoluteBlock(n & 0xffff, Math.max(0, n - lag), n + 5), n);
  }));
});

test('a resumed transfer starts with DATA n + 1, never an OACK', () => {
  const src = memorySource(fileOf(10_000));
  const r = resumeTransfer({ blksize: 512, windowsize: 4, maxRtoMs: 1000 }, 7, 0, src);
  const blocks = r.actions.flatMap((a) => (a.type === 'data' ? [a.block] : []));
  assert.deepEqual(blocks, [8, 9, 10, 11]);
  assert.ok(!r.actions.some((a) => a.type === 'send'));
  assert.equal(r.state.phase, 'data');
});
