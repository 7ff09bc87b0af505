import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Heartbeat } from '../../../src/pool/heartbeat.ts';
import { Membership } from '../../../src/pool/membership.ts';

const HASH = 'ab'.repeat(16);
const members = [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 2 }];
const mk = () => new Membership({ self: 'a', members, heartbeatMs: 500, deadAfter: 3, configHash: HASH });
let seq = 0;
const hb = (peer: string, over: Partial<Heartbeat> = {}): Heartbeat => ({
  version: 3, peer, instance: '1'.repeat(32), epoch: 0, echo: '0'.repeat(32), seq: ++seq, ts: 0, health: 'ok', tftp: 0, http: 0, weight: 1, configHash: HASH, held: [], ...over,
});

test('only self is live before any heartbeat', () => {
  const m = mk();
  assert.deepEqual([...m.live()], ['a']);
});

test('a heartbeat brings a peer up once; silence > deadAfter × heartbeatMs takes it down', () => {
  const m = mk();
  assert.deepEqual(m.observe(hb('b'), 1000).map((e) => e.type), ['up']);
  assert.deepEqual(m.observe(hb('b'), 1500), []);
  assert.deepEqual(m.tick(3000), [], 'silent exactly 1500 ms: still live');
  const down = m.tick(3001);
  assert.equal(down.length, 1);
  assert.deepEqual({ ...down[0], at: 0 }, { type: 'down', peer: 'b', at: 0, silentMs: 1501, reason: 'silent' });
  assert.equal(m.isLive('b'), false);
  assert.deepEqual(m.tick(5000), [], 'down is reported once');
  assert.deepEqual(m.observe(hb('b'), 5100).map((e) => e.type), ['up']);
});

test('a goodbye takes a peer down at once', () => {
  const m = mk();
  m.observe(hb('c'), 0);
  const ev = m.observe(hb('c', { health: 'leaving' }), 100);
  assert.deepEqual(ev.map((e) => e.type), ['health', 'down']);
  assert.equal(m.isLive('c'), false);
});

test('restart, health and load are tracked; version bumps on ranking-relevant changes', () => {
  const m = mk();
  m.observe(hb('b'), 0);
  const v0 = m.version;
  const ev = m.observe(hb('b', { instance: '2'.repeat(32), health: 'busy', tftp: 70, http: 3 }), 500);
  assert.deepEqual(ev.map((e) => e.type), ['restart', 'health']);
  const b = m.get('b')!;
  assert.equal(b.steppedBack, true);
  assert.equal(b.tftp + b.http, 73);
  assert.ok(m.version > v0);
});

test('config hash disagreement is reported once, and agreement again', () => {
  const m = mk();
  const other = 'cd'.repeat(16);
  assert.deepEqual(m.observe(hb('b', { configHash: other }), 0).map((e) => e.type), ['config-mismatch', 'up']);
  assert.deepEqual(m.observe(hb('b', { configHash: other }), 500), []);
  assert.deepEqual(m.configMismatches(), [{ peer: 'b', theirs: other }]);
  assert.deepEqual(m.observe(hb('b'), 1000).map((e) => e.type), ['config-agree']);
  assert.deepEqual(m.configMismatches(), []);
});

test('self load and stepping back', () => {
  const m = mk();
  const v0 = m.version;
  m.setSelf({ health: 'busy', tftp: 100, http: 0 }, 0);
  assert.equal(m.get('a')!.steppedBack, true);
  assert.ok(m.version > v0);
  assert.equal(m.isLive('a'), true);
  assert.deepEqual(m.tick(1e9), [], 'self never goes down');
});

test('heartbeats naming unknown peers or self are ignored', () => {
  const m = mk();
  assert.deepEqual(m.observe(hb('zzz'), 0), []);
  assert.deepEqual(m.observe(hb('a'), 0), []);
  assert.deepEqual([...m.live()], ['a']);
});
