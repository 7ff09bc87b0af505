// A peer's own health (stepping back with hysteresis) and the freshness of a peer's last word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { freshWindowMs, isFresh, nextHealth } from '../../../src/pool/health.ts';

test('busy above the ceiling, ok again only below 80 % of it; draining when told', () => {
  const seq = [50, 101, 95, 81, 80, 90, 100, 101].map((a) => ({ active: a }));
  let h: Parameters<typeof nextHealth>[0] = 'ok';
  const got = seq.map((l) => (h = nextHealth(h, l, 100)));
  assert.deepEqual(got, ['ok', 'busy', 'busy', 'busy', 'ok', 'ok', 'ok', 'busy']);
  assert.equal(nextHealth('busy', { active: 0, draining: true }, 100), 'draining');
  assert.equal(nextHealth('draining', { active: 10 }, 100), 'ok');
});

test('property: a load that stays between 80 % and 100 % of the ceiling never changes health', () => {
  fc.assert(fc.property(fc.constantFrom('ok' as const, 'busy' as const), fc.array(fc.integer({ min: 81, max: 100 }), { maxLength: 50 }), (start, loads) => {
    let h: Parameters<typeof nextHealth>[0] = start;
    for (const a of loads) h = nextHealth(h, { active: a }, 100);
    assert.equal(h, start);
  }));
});

test('a peer is fresh for 1.5 heartbeats after its last one; we always are', () => {
  const w = freshWindowMs(500);
  assert.equal(w, 750);
  assert.equal(isFresh({ self: false, lastSeen: 1000 }, 1750, w), true);
  assert.equal(isFresh({ self: false, lastSeen: 1000 }, 1751, w), false);
  assert.equal(isFresh({ self: false }, 0, w), false);
  assert.equal(isFresh({ self: true }, 1e9, w), true);
});
