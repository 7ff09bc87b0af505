// The gate: who answers a DISCOVER, when, and with what 175.1 priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AttemptTracker, gateDecision, type GateInput, ipxePriorityForRank, isTakeover, liveRank } from '../../../src/pool/gate.ts';

const P = { staggerMs: 40, evidenceSecs: 4, fallbackOffers: 1, fallbackStaggerMs: 300 };
const ORDER = ['a', 'b', 'c'];
const ALL = new Set(ORDER);
const first = { firstSeen: 0, lastSeen: 0, count: 1, maxSecs: 0 };
const input = (over: Partial<GateInput>): GateInput => ({ order: ORDER, self: 'a', live: ALL, kind: 'ipxe', discover: true, attempt: first, ...over });

test('owner answers at once', () => {
  assert.deepEqual(gateDecision(input({}), P), { action: 'now', delayMs: 0, rank: 0, reason: 'owner' });
});

test('backups hold back on a first DISCOVER while the owner is live', () => {
  for (const kind of ['ipxe', 'other'] as const) {
    assert.deepEqual(gateDecision(input({ self: 'b', kind }), P), { action: 'hold', delayMs: 0, rank: 1, reason: 'backup' });
    assert.deepEqual(gateDecision(input({ self: 'c', kind }), P), { action: 'hold', delayMs: 0, rank: 2, reason: 'backup' });
  }
});

test('owner known dead: the next live peer answers at once, as owner-dead (a takeover)', () => {
  const live = new Set(['b', 'c']);
  const v = gateDecision(input({ self: 'b', live }), P);
  assert.deepEqual(v, { action: 'now', delayMs: 0, rank: 0, reason: 'owner-dead' });
  assert.ok(isTakeover(v));
  assert.deepEqual(gateDecision(input({ self: 'c', live }), P), { action: 'hold', delayMs: 0, rank: 1, reason: 'backup' });
  // Both better-ranked peers dead: the third answers at once.
  assert.equal(gateDecision(input({ self: 'c', live: new Set(['c']) }), P).action, 'now');
});

test('retransmitted xid: backups answer after rank × staggerMs', () => {
  const attempt = { firstSeen: 0, lastSeen: 1000, count: 2, maxSecs: 0 };
  assert.deepEqual(gateDecision(input({ self: 'b', attempt }), P), { action: 'after', delayMs: 40, rank: 1, reason: 'retransmit' });
  assert.deepEqual(gateDecision(input({ self: 'c', attempt }), P), { action: 'after', delayMs: 80, rank: 2, reason: 'retransmit' });
  assert.deepEqual(gateDecision(input({ self: 'a', attempt }), P).action, 'now', 'the owner answers retransmissions at once too');
});

test('secs at or above the threshold is evidence too', () => {
  assert.equal(gateDecision(input({ self: 'b', attempt: { ...first, maxSecs: 3 } }), P).action, 'hold');
  assert.deepEqual(gateDecision(input({ self: 'b', attempt: { ...first, maxSecs: 4 } }), P), { action: 'after', delayMs: 40, rank: 1, reason: 'secs' });
});

test('EDK2: the first fallbackOffers backups send a late ordered fallback offer; others hold', () => {
  assert.deepEqual(gateDecision(input({ self: 'b', kind: 'edk2' }), P), { action: 'after', delayMs: 300, rank: 1, reason: 'fallback' });
  assert.equal(gateDecision(input({ self: 'c', kind: 'edk2' }), P).action, 'hold');
  assert.equal(gateDecision(input({ self: 'c', kind: 'edk2' }), { ...P, fallbackOffers: 2 }).delayMs, 600);
  assert.equal(gateDecision(input({ self: 'b', kind: 'edk2' }), { ...P, fallbackOffers: 0 }).action, 'hold');
  assert.equal(isTakeover(gateDecision(input({ self: 'b', kind: 'edk2' }), P)), false);
});

test('requests addressed to us (4011, REQUEST naming us) are always answered at once', () => {
  assert.deepEqual(gateDecision(input({ self: 'c', discover: false, attempt: undefined }), P).action, 'now');
});

test('a peer not in the order holds back', () => {
  assert.equal(gateDecision(input({ self: 'zz' }), P).reason, 'not-member');
});

test('at most one peer answers a first DISCOVER at once, whatever the live set (iPXE)', () => {
  const names = ['a', 'b', 'c', 'd', 'e'];
  fc.assert(fc.property(fc.subarray(names, { minLength: 1 }), (liveNames) => {
    const live = new Set(liveNames);
    const now = liveNames.filter((self) => gateDecision({ order: names, self, live, kind: 'ipxe', discover: true, attempt: first }, P).action !== 'hold');
    assert.deepEqual(now, [names.find((n) => live.has(n))]);
  }));
});

test('175.1 priority: owner highest, decreasing by rank, never negative', () => {
  assert.equal(ipxePriorityForRank(0), 100);
  for (let r = 0; r < 300; r++) {
    assert.ok(ipxePriorityForRank(r) >= 0 && ipxePriorityForRank(r) <= 127);
    if (r > 0) assert.ok(ipxePriorityForRank(r) <= ipxePriorityForRank(r - 1));
    if (r > 0 && r <= 100) assert.ok(ipxePriorityForRank(r) < ipxePriorityForRank(0));
  }
  assert.equal(ipxePriorityForRank(-1), 0);
});

test('liveRank skips dead peers', () => {
  assert.deepEqual(liveRank(['a', 'b', 'c'], 'c', new Set(['b', 'c'])), { rank: 1, skipped: 1 });
  assert.deepEqual(liveRank(['a', 'b'], 'x', new Set(['a'])), { rank: -1, skipped: 1 });
});

test('attempts: a retransmission a second later counts; duplicate copies within the gap do not', () => {
  const t = new AttemptTracker({ minGapMs: 300 });
  assert.equal(t.record('m1', 7, 0, 0).count, 1);
  assert.equal(t.record('m1', 7, 0, 50).count, 1, 'second relay copy');
  const a = t.record('m1', 7, 1, 1000);
  assert.equal(a.count, 2);
  assert.equal(a.maxSecs, 1);
  assert.equal(t.record('m1', 8, 0, 1000).count, 1, 'a new xid is a new attempt');
  assert.equal(t.record('m2', 7, 0, 1000).count, 1, 'another client');
});

test('attempts expire after the TTL', () => {
  const t = new AttemptTracker({ ttlMs: 60_000 });
  t.record('m', 1, 0, 0);
  t.record('m', 1, 0, 1000);
  assert.equal(t.record('m', 1, 0, 62_000).count, 1);
});

test('the attempt table is bounded (LRU)', () => {
  const t = new AttemptTracker({ max: 1000 });
  for (let i = 0; i < 5000; i++) t.record(`m${i}`, i, 0, i);
  assert.equal(t.size, 1000);
  assert.equal(t.peek('m0', 0), undefined, 'oldest evicted');
  assert.ok(t.peek('m4999', 4999) !== undefined);
  // Touching an entry keeps it.
  t.record('m4000', 4000, 0, 6000);
  for (let i = 5000; i < 5999; i++) t.record(`m${i}`, i, 0, 6000);
  assert.ok(t.peek('m4000', 4000) !== undefined);
});

test('expired entries are swept even when below the bound', () => {
  const t = new AttemptTracker({ ttlMs: 1000 });
  for (let i = 0; i < 50; i++) t.record(`m${i}`, 1, 0, 0);
  for (let i = 0; i < 10; i++) t.record(`n${i}`, 1, 0, 5000);
  assert.equal(t.size, 10);
});

test('EDK2 retransmissions never bring a backup in before its ordered fallback offer', () => {
  // A starved OVMF re-sends its DISCOVER while holding the owner's offer (docs/firmware.md);
  // answering at 40 ms would let the backup's offer crowd in ahead of the owner's.
  const attempt = { firstSeen: 0, lastSeen: 1000, count: 2, maxSecs: 0 };
  assert.deepEqual(gateDecision(input({ self: 'b', kind: 'edk2', attempt }), P), { action: 'after', delayMs: 300, rank: 1, reason: 'retransmit' });
  assert.deepEqual(gateDecision(input({ self: 'c', kind: 'edk2', attempt }), P), { action: 'after', delayMs: 600, rank: 2, reason: 'retransmit' });
});
