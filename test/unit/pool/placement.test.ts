import { test } from 'node:test';
import assert from 'node:assert/strict';
import { place, type PlacementPeer, RecentPlacements } from '../../../src/pool/placement.ts';

const peer = (name: string, active: number, over: Partial<PlacementPeer> = {}): PlacementPeer => ({ name, live: true, steppedBack: false, ceiling: 64, active, ...over });
const map = (...ps: PlacementPeer[]) => new Map(ps.map((p) => [p.name, p]));

test('near-equal load: the first in rank order (usually the answering owner) serves the files', () => {
  assert.equal(place(['a', 'b', 'c'], map(peer('a', 5), peer('b', 4), peer('c', 3))), 'a');
});

test('clearly more spare capacity elsewhere: files go there', () => {
  assert.equal(place(['a', 'b', 'c'], map(peer('a', 40), peer('b', 10), peer('c', 20))), 'b');
});

test('capacity counts: a heavier peer with more transfers can still have more room', () => {
  assert.equal(place(['a', 'b'], map(peer('a', 30), peer('b', 60, { ceiling: 128 }))), 'b');
});

test('down and stepped-back peers are not named unless nothing else is live', () => {
  assert.equal(place(['a', 'b', 'c'], map(peer('a', 60), peer('b', 0, { live: false }), peer('c', 0, { steppedBack: true }))), 'a');
  assert.equal(place(['a', 'b'], map(peer('a', 90, { steppedBack: true }), peer('b', 70, { steppedBack: true }))), 'b');
  assert.equal(place(['a'], map(peer('a', 0, { live: false }))), undefined);
  assert.equal(place(['x'], map(peer('a', 0))), undefined);
});

test('recent placements decay after the window', () => {
  const r = new RecentPlacements(1000);
  r.add('b', 0);
  r.add('b', 500);
  assert.equal(r.count('b', 900), 2);
  assert.equal(r.count('b', 1200), 1);
  assert.equal(r.count('b', 5000), 0);
  assert.equal(r.count('zz', 0), 0);
});

test('recent placements are bounded per peer', () => {
  const r = new RecentPlacements(1e9, 100);
  for (let i = 0; i < 1000; i++) r.add('a', i);
  assert.equal(r.count('a', 1000), 100);
});
