// The takeover planner, without sockets: who claims, keeps and releases each service address.
// The property tests run it inside a model of kernels with address leases, killed and stopped
// processes, lost links and late, lossy heartbeats (test/lib/takeover-sim.ts), and check the
// promise at every 10 ms instant: never two hosts holding one address.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mayRenew, successorOrder, TakeoverPlanner } from '../../../src/pool/takeover.ts';
import { type SimEvent, type SimParams, simulate } from '../../lib/takeover-sim.ts';

const peers = [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 1 }];
const addresses = [{ address: '10.0.0.1', home: 'a' }, { address: '10.0.0.2', home: 'b' }, { address: '10.0.0.3', home: 'c' }];
const planner = (self: string) => new TakeoverPlanner({ self, peers, addresses, stableMs: 3000, handoffMaxMs: 10_000, graceMs: 2000, pauseMs: 1500, holdDownMs: 3000, leaseWaitMs: 3500 });
const claims = (p: ReturnType<TakeoverPlanner['plan']>) => p.actions.filter((a) => a.type === 'claim').map((a) => a.address);
const all = new Set(['a', 'b', 'c']);
type Input = Parameters<TakeoverPlanner['plan']>[0];
const heardAt = new Map<string, number>();
/** Plans every heartbeat (500 ms) from `from` to `to` with the same input; the last plan. */
function runTo(p: TakeoverPlanner, from: number, to: number, input: Omit<Input, 'now' | 'heardAt'> & { heardAt?: Input['heardAt'] }): ReturnType<TakeoverPlanner['plan']> {
  let last = p.plan({ heardAt, ...input, now: from });
  for (let t = from + 500; t <= to; t += 500) last = p.plan({ heardAt, ...input, now: t });
  return last;
}

test('successor order: home first, the same on every peer, and the survivors of a peer spread', () => {
  const o = successorOrder('10.0.0.1', 'a', peers);
  assert.equal(o[0], 'a');
  assert.deepEqual([...o].sort(), ['a', 'b', 'c']);
  assert.deepEqual(successorOrder('10.0.0.1', 'a', [...peers].reverse()), o);
  const many = Array.from({ length: 200 }, (_, i) => successorOrder(`10.1.${i >> 8}.${i & 255}`, 'a', peers)[1]);
  const b = many.filter((n) => n === 'b').length;
  assert.ok(b > 70 && b < 130, `b is first successor for ${b} of 200`);
});

test('nothing is claimed in the grace period; then each peer claims its home, and only that', () => {
  const p = planner('a');
  const none = { live: all, heldBy: new Map(), mine: new Set<string>() };
  assert.deepEqual(claims(runTo(p, 0, 1500, none)), []);
  assert.deepEqual(claims(runTo(p, 2000, 2000, none)), ['10.0.0.1']);
});

test('a dead peer\'s address goes to the first live peer in its order, no one else, once its lease must have run out', () => {
  const order = successorOrder('10.0.0.3', 'c', peers);
  const first = order[1]!;
  const second = order[2]!;
  const live = new Set(['a', 'b']);
  for (const self of ['a', 'b']) {
    const p = planner(self);
    // c is heard holding its address, then goes silent at 2000.
    runTo(p, 0, 2000, { live: all, heldBy: new Map([['c', ['10.0.0.3']]]), mine: new Set() });
    const heard = new Map([['c', 2000]]);
    const early = claims(runTo(p, 2500, 5000, { live, heldBy: new Map(), mine: new Set(), heardAt: heard }));
    assert.ok(!early.includes('10.0.0.3'), `${self} claimed inside c's lease`);
    const got = claims(runTo(p, 5500, 5500, { live, heldBy: new Map(), mine: new Set(), heardAt: heard }));
    assert.equal(got.includes('10.0.0.3'), self === first, `${self}: ${got}`);
  }
  // The second successor stays out while the first lists it.
  const p = planner(second);
  runTo(p, 0, 2000, { live: all, heldBy: new Map(), mine: new Set() });
  assert.ok(!claims(runTo(p, 2500, 8000, { live, heldBy: new Map([[first, ['10.0.0.3']]]), mine: new Set() })).includes('10.0.0.3'));
});

test('wakeAt: a claim that waits only for a clock says when; planned then, it claims', () => {
  const order = successorOrder('10.0.0.3', 'c', peers);
  const p = planner(order[1]!);
  // In the grace period the wake-up is its end.
  assert.equal(p.plan({ now: 0, live: all, heldBy: new Map(), heardAt, mine: new Set() }).wakeAt, 2000);
  runTo(p, 500, 2000, { live: all, heldBy: new Map([['c', ['10.0.0.3']]]), mine: new Set() });
  // c falls silent, last heard at 1800: the lease wait ends at 1800 + 3500.
  const heard = new Map([['c', 1800]]);
  const live = new Set(['a', 'b']);
  const waiting = runTo(p, 2500, 5000, { live, heldBy: new Map(), heardAt: heard, mine: new Set() });
  assert.ok(!claims(waiting).includes('10.0.0.3'));
  assert.equal(waiting.wakeAt, 5300);
  const woke = p.plan({ now: 5300, live, heldBy: new Map(), heardAt: heard, mine: new Set() });
  assert.ok(claims(woke).includes('10.0.0.3'));
  assert.equal(woke.wakeAt, undefined);
});

test('two holders: the later in the order releases at once', () => {
  const order = successorOrder('10.0.0.3', 'c', peers);
  const p = planner(order[2]!);
  const plan = p.plan({ heardAt, now: 5000, live: new Set(['a', 'b']), heldBy: new Map([[order[1]!, ['10.0.0.3']]]), mine: new Set(['10.0.0.3']) });
  assert.deepEqual(plan.actions, [{ type: 'release', address: '10.0.0.3', reason: 'conflict', to: order[1] }]);
  assert.deepEqual(plan.keep, []);
});

test('handoff: the holder gives the home its address back once the home is stably live and the address idle', () => {
  const holder = successorOrder('10.0.0.3', 'c', peers)[1]!;
  const p = planner(holder);
  let busy = true;
  const input = { live: all, heldBy: new Map(), mine: new Set(['10.0.0.3']), busy: () => busy };
  assert.deepEqual(runTo(p, 0, 2500, input).keep, ['10.0.0.3'], 'home not yet stable');
  assert.deepEqual(runTo(p, 3000, 3000, input).keep, ['10.0.0.3'], 'stable, but a transfer is still running');
  busy = false;
  const only3 = (plan: ReturnType<TakeoverPlanner['plan']>) => plan.actions.filter((a) => a.address === '10.0.0.3');
  assert.deepEqual(only3(runTo(p, 3500, 3500, input)), [{ type: 'release', address: '10.0.0.3', reason: 'handoff', to: 'c' }]);
  // And a transfer that never ends does not keep it forever.
  const q = planner(holder);
  const stuck = (now: number) => q.plan({ heardAt, now, live: all, heldBy: new Map(), mine: new Set(['10.0.0.3']), busy: () => true });
  for (let t = 0; t < 13_000; t += 500) assert.deepEqual(only3(stuck(t)), []);
  assert.equal(only3(stuck(13_000))[0]?.reason, 'handoff');
});

test('an address that is not in the config is released', () => {
  const plan = planner('a').plan({ heardAt, now: 0, live: all, heldBy: new Map(), mine: new Set(['10.0.0.99']) });
  assert.deepEqual(plan.actions, [{ type: 'release', address: '10.0.0.99', reason: 'not-ours' }]);
});

test('after a pause the planner starts over: no claim until the grace period has passed again', () => {
  const p = planner('a');
  assert.deepEqual(claims(runTo(p, 0, 2500, { live: all, heldBy: new Map(), mine: new Set() })), ['10.0.0.1']);
  const alone = { live: new Set(['a']), heldBy: new Map(), mine: new Set<string>() };
  assert.deepEqual(claims(runTo(p, 12_500, 14_000, alone)), [], 'woke from a 10 s stop');
  assert.deepEqual(claims(runTo(p, 14_500, 14_500, alone)), ['10.0.0.1'], 'its home first');
  assert.deepEqual(claims(runTo(p, 15_000, 16_500, alone)).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'peers unheard since the pause wait twice the grace');
});

test('mayRenew: only while the last renewal is recent on our own clock', () => {
  assert.equal(mayRenew(undefined, 0, 3000, 1000), false);
  assert.equal(mayRenew(0, 1999, 3000, 1000), true);
  assert.equal(mayRenew(0, 2000, 3000, 1000), false);
  assert.equal(mayRenew(100, 50, 3000, 1000), false, 'a clock that went back is not trusted');
});

const P: SimParams = {
  peers: ['a', 'b', 'c'], hbMs: 500, deadAfter: 3, leaseMs: 2000, marginMs: 500, probeMs: 500,
  stableMs: 3000, handoffMaxMs: 10_000, graceMs: 2000, delayMs: 50, loss: 0,
};

const eventArb = (n: number): fc.Arbitrary<SimEvent> => fc.oneof(
  fc.record({ at: fc.integer({ min: 0, max: 30_000 }), peer: fc.nat(n - 1), kind: fc.constant('kill' as const) }),
  fc.record({ at: fc.integer({ min: 0, max: 30_000 }), peer: fc.nat(n - 1), kind: fc.constant('restart' as const) }),
  fc.record({ at: fc.integer({ min: 0, max: 30_000 }), peer: fc.nat(n - 1), kind: fc.constant('stop' as const), forMs: fc.integer({ min: 100, max: 15_000 }) }),
  fc.record({ at: fc.integer({ min: 0, max: 30_000 }), peer: fc.nat(n - 1), kind: fc.constant('link-down' as const), forMs: fc.integer({ min: 100, max: 15_000 }) }),
);

test('property: kills, restarts, stops and lost links in any order never leave two hosts holding one address', () => {
  fc.assert(fc.property(fc.array(eventArb(3), { maxLength: 8 }), fc.integer(), (events, seed) => {
    const r = simulate(P, events, 45_000, seed);
    assert.equal(r.doubleHeld, undefined, JSON.stringify(r.doubleHeld));
    assert.equal(r.recreated, 0, 'a renewal re-created an address the kernel had dropped');
  }), { numRuns: 300 });
});

test('a peer whose own link was down starts over: it does not claim on a view that went stale meanwhile', () => {
  // Found by the property below: c's link is down for a second, so it misses a's heartbeats and
  // thinks a dead; a thinks c let go. Both claimed b's address together until wasDeaf().
  const events: SimEvent[] = [
    { at: 0, peer: 1, kind: 'kill' }, { at: 1651, peer: 0, kind: 'stop', forMs: 13_351 }, { at: 21_011, peer: 2, kind: 'link-down', forMs: 1001 },
  ];
  const r = simulate(P, events, 45_000, 0);
  assert.equal(r.doubleHeld, undefined, JSON.stringify(r.doubleHeld));
  const p = planner('a');
  runTo(p, 0, 3000, { live: all, heldBy: new Map(), mine: new Set() });
  p.wasDeaf();
  const after = p.plan({ now: 3500, live: new Set(['a']), heldBy: new Map(), heardAt, mine: new Set() });
  assert.deepEqual(claims(after), [], 'claimed right after being deaf');
  assert.equal(after.wakeAt, 3500 + 2000);
});

test('property: with heartbeats late and lost (10%), two holders are rare and last at most two heartbeats', () => {
  // Lost heartbeats can make a peer look down while it is half-way through a claim (its probe
  // in flight, invisible on the wire); no rule over heartbeats alone can exclude that. What the
  // planner guarantees then: the later peer in the order releases on the first heartbeat heard.
  let runs = 0;
  let doubled = 0;
  fc.assert(fc.property(fc.array(eventArb(3), { maxLength: 6 }), fc.integer(), (events, seed) => {
    const r = simulate({ ...P, loss: 0.1, delayMs: 200 }, events, 40_000, seed);
    runs++;
    if (r.doubleHeld !== undefined) doubled++;
    assert.ok(r.maxDoubleMs <= 2 * P.hbMs + 200 + 10, `two holders for ${r.maxDoubleMs} ms: ${JSON.stringify(r.doubleHeld)}`);
  }), { numRuns: 120 });
  assert.ok(doubled <= runs / 10, `${doubled} of ${runs} runs had two holders at some instant`);
});

test('property: after the last failure, every address ends up held by exactly one running peer, its home if it runs', () => {
  fc.assert(fc.property(fc.array(eventArb(3), { maxLength: 6 }), fc.integer(), (events, seed) => {
    // Whatever happened, every process runs again at 31 s; 20 s later all is settled.
    const heal: SimEvent[] = [0, 1, 2].map((peer) => ({ at: 31_000, peer, kind: 'restart' as const }));
    const r = simulate(P, [...events.map((e) => ({ ...e, ...('forMs' in e ? { forMs: Math.min(e.forMs, 31_000 - e.at) } : {}) })), ...heal], 51_000, seed);
    for (const [addr, hs] of r.holders) assert.equal(hs.length, 1, `${addr} held by ${hs.join(',') || 'no one'}`);
    assert.deepEqual([...r.holders.values()].map((h) => h[0]), ['a', 'b', 'c'], 'each home has its address back');
  }), { numRuns: 100 });
});

test('the model is not vacuous: without the lease check (renew always) or the grace period, two holders happen', () => {
  // A successor that claims as soon as it sees a peer down, with no lease wait in the probe
  // model, must be caught: stop the holder of c's address, then let it wake.
  const events: SimEvent[] = [{ at: 5_000, peer: 2, kind: 'stop', forMs: 8_000 }];
  const ok = simulate(P, events, 30_000, 1);
  assert.equal(ok.doubleHeld, undefined);
  const noMargin = simulate({ ...P, marginMs: -100_000 }, events, 30_000, 1);
  assert.ok(noMargin.doubleHeld !== undefined || noMargin.recreated > 0, 'renewing after a pause must show up as a double holder or a re-created address');
});

test('the model is not vacuous: without the wait for a silent holder\'s lease, random failures find two holders', () => {
  let found = 0;
  for (let seed = 0; seed < 200 && found === 0; seed++) {
    const r = rngEvents(seed);
    if (simulate({ ...P, leaseWaitMs: 0 }, r, 40_000, seed).doubleHeld !== undefined) found++;
  }
  assert.ok(found > 0, 'no double holder without leaseWaitMs: the property above would be vacuous');
});

/** A stopped holder whose link also drops: the case only the lease wait covers. */
function rngEvents(seed: number): SimEvent[] {
  const peer = seed % 3;
  const at = 8_000 + (seed * 137) % 10_000;
  return [{ at, peer, kind: 'link-down', forMs: 1_000 + (seed * 61) % 2_000 }, { at, peer, kind: 'stop', forMs: 2_000 + (seed * 97) % 3_000 }];
}
