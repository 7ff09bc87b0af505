// Weighted rendezvous ranking: same answer everywhere, spread by weight, minimal movement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { expectedShares, rankPeers, type RankPeer, unitHash } from '../../../src/pool/ranking.ts';

const macArb = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));

/** Deterministic MACs: a counter in the low bytes, like a rack of machines bought together. */
function macs(n: number, prefix = '52:54:00'): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`${prefix}:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  return out;
}

const peersArb = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), { minLength: 1, maxLength: 6 })
  .chain((names) => fc.tuple(...names.map((name) => fc.record({ name: fc.constant(name), weight: fc.integer({ min: 1, max: 5 }), steppedBack: fc.boolean() }))));

test('unitHash is in (0,1) and case-insensitive in the MAC', () => {
  fc.assert(fc.property(macArb, fc.string({ minLength: 1 }), (mac, peer) => {
    const u = unitHash(mac, peer);
    assert.ok(u > 0 && u < 1);
    assert.equal(unitHash(mac.toUpperCase(), peer), u);
  }));
});

test('deterministic and independent of the order peers are listed in (same on every peer)', () => {
  fc.assert(fc.property(macArb, peersArb, fc.integer({ min: 0, max: 1000 }), (mac, peers, seed) => {
    const a = rankPeers(mac, peers);
    const shuffled = [...peers].sort((x, y) => ((x.name.charCodeAt(0) * 31 + seed) % 7) - ((y.name.charCodeAt(0) * 31 + seed) % 7));
    assert.deepEqual(rankPeers(mac, shuffled), a);
    assert.deepEqual(rankPeers(mac, peers.map((p) => ({ ...p }))), a);
    assert.deepEqual([...a].sort(), peers.map((p) => p.name).sort(), 'a permutation of the peers');
  }), { numRuns: 300 });
});

test('stepped-back peers come after all others; pins lead among the rest', () => {
  fc.assert(fc.property(macArb, peersArb, (mac, peers) => {
    const pins = peers.slice().reverse().slice(0, 2).map((p) => p.name);
    const order = rankPeers(mac, peers, [...pins, 'not-a-peer']);
    const stepped = new Set(peers.filter((p) => p.steppedBack).map((p) => p.name));
    const firstStepped = order.findIndex((n) => stepped.has(n));
    if (firstStepped >= 0) assert.ok(order.slice(firstStepped).every((n) => stepped.has(n)));
    const activePins = pins.filter((n) => !stepped.has(n));
    assert.deepEqual(order.slice(0, activePins.length), activePins);
  }), { numRuns: 300 });
});

test('3 equal peers: each owns 33% ± 3% of 30,000 MACs', () => {
  const peers: RankPeer[] = [{ name: 'pxe-a', weight: 1 }, { name: 'pxe-b', weight: 1 }, { name: 'pxe-c', weight: 1 }];
  const n = 30_000;
  const owned = new Map<string, number>();
  for (const m of macs(n)) {
    const o = rankPeers(m, peers)[0]!;
    owned.set(o, (owned.get(o) ?? 0) + 1);
  }
  for (const p of peers) {
    const share = (owned.get(p.name) ?? 0) / n;
    assert.ok(Math.abs(share - 1 / 3) < 0.03, `${p.name}: ${share}`);
  }
});

test('weights 1:2:3: ownership follows weight (± 3%), matching expectedShares', () => {
  const peers: RankPeer[] = [{ name: 'small', weight: 1 }, { name: 'mid', weight: 2 }, { name: 'big', weight: 3 }];
  const n = 30_000;
  const owned = new Map<string, number>();
  for (const m of macs(n, 'a4:bb:6d')) {
    const o = rankPeers(m, peers)[0]!;
    owned.set(o, (owned.get(o) ?? 0) + 1);
  }
  const expected = expectedShares(peers);
  for (const p of peers) {
    const share = (owned.get(p.name) ?? 0) / n;
    assert.ok(Math.abs(share - expected.get(p.name)!) < 0.03, `${p.name}: ${share} vs ${expected.get(p.name)}`);
  }
});

test('minimal disruption: when a peer leaves only its clients move; the rest keep their order', () => {
  const peers: RankPeer[] = ['a', 'b', 'c', 'd'].map((name) => ({ name, weight: name === 'd' ? 2 : 1 }));
  const without = peers.filter((p) => p.name !== 'b');
  let moved = 0;
  for (const m of macs(5000, '00:16:3e')) {
    const before = rankPeers(m, peers);
    const after = rankPeers(m, without);
    assert.deepEqual(after, before.filter((n) => n !== 'b'), m);
    if (before[0] === 'b') moved++;
    else assert.equal(after[0], before[0]);
  }
  assert.ok(moved > 0);
});

test('minimal disruption on random MACs and peer sets: removing a peer is filtering it out', () => {
  fc.assert(fc.property(macArb, peersArb, fc.nat(), (mac, peers, k) => {
    const gone = peers[k % peers.length]!.name;
    assert.deepEqual(rankPeers(mac, peers.filter((p) => p.name !== gone)), rankPeers(mac, peers).filter((n) => n !== gone));
  }), { numRuns: 300 });
});

test('expectedShares ignores stepped-back peers unless all are', () => {
  const s = expectedShares([{ name: 'a', weight: 1 }, { name: 'b', weight: 3, steppedBack: true }, { name: 'c', weight: 1 }]);
  assert.deepEqual([...s], [['a', 0.5], ['b', 0], ['c', 0.5]]);
  const all = expectedShares([{ name: 'a', weight: 1, steppedBack: true }, { name: 'b', weight: 3, steppedBack: true }]);
  assert.deepEqual([...all], [['a', 0.25], ['b', 0.75]]);
});
