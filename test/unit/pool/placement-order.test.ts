// A backup's offer must not send the client back to the peer it is backing up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { place, placementOrder, type PlacementPeer } from '../../../src/pool/placement.ts';

const order = ['a', 'b', 'c'];
const all = new Set(order);
const idle = (names: string[]): Map<string, PlacementPeer> =>
  new Map(names.map((n) => [n, { name: n, live: true, steppedBack: false, ceiling: 64, active: 0 }]));

test('the owner places over the whole order', () => {
  assert.deepEqual(placementOrder(order, 'a', all), order);
  assert.equal(place(placementOrder(order, 'a', all), idle(order)), 'a');
});

test('a backup with a live better-ranked peer names only itself', () => {
  // seen in the pool lab: pxe-b's EDK2 fallback offer named the owner pxe-a as next-server, so
  // EDK2's 4011 request to the fallback went to the same peer whose silence it was meant to
  // cover; and a peer placed by load may itself have died a moment ago (still "live" for 1.75 s)
  assert.deepEqual(placementOrder(order, 'b', all), ['b']);
  assert.deepEqual(placementOrder(order, 'c', all), ['c']);
  const peers = idle(order);
  peers.set('b', { ...peers.get('b')!, active: 60 });
  assert.equal(place(placementOrder(order, 'b', all), peers), 'b', 'even when busier than the others');
  assert.deepEqual(placementOrder(order, 'c', new Set(['b', 'c'])), ['c'], 'b is live and ranked before c');
});

test('a peer that owns because the better-ranked are down keeps the whole order (they are not placed anyway)', () => {
  const live = new Set(['b', 'c']);
  assert.deepEqual(placementOrder(order, 'b', live), order);
  assert.equal(place(placementOrder(order, 'b', live), new Map([...idle(order)].map(([k, v]) => [k, { ...v, live: live.has(k) }]))), 'b');
});

test('a name not in the order changes nothing', () => {
  assert.deepEqual(placementOrder(order, 'z', all), order);
});
