import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poolConfigHash, poolMembers, poolSchema } from '../../../src/pool/config.ts';

const base = { name: 'pxe-a', secret: 'sixteen-chars-at-least', peers: [{ name: 'pxe-a', address: '10.0.0.1' }, { name: 'pxe-b', address: '10.0.0.2', weight: 2 }] };

test('defaults', () => {
  const c = poolSchema.parse(base);
  assert.equal(c.heartbeatMs, 500);
  assert.equal(c.deadAfter, 3);
  assert.equal(c.staggerMs, 40);
  assert.equal(c.bind, '0.0.0.0');
  assert.equal(c.peers[0]!.port, 4012);
  assert.equal(c.peers[0]!.weight, 1);
  assert.equal(c.peers[1]!.weight, 2);
});

test('secret: at least 16 characters, exactly one of secret / secretFile', () => {
  assert.equal(poolSchema.safeParse({ ...base, secret: 'short' }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, secret: undefined }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, secretFile: '/etc/pxepool/secret' }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, secret: undefined, secretFile: '/etc/pxepool/secret' }).success, true);
});

test('rejects bad addresses, duplicate names and endpoints, unknown keys', () => {
  assert.equal(poolSchema.safeParse({ ...base, peers: [{ name: 'x', address: '10.0.0.300' }] }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, peers: [{ name: 'x', address: '10.0.0.1' }, { name: 'x', address: '10.0.0.2' }] }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, peers: [{ name: 'x', address: '10.0.0.1' }, { name: 'y', address: '10.0.0.1' }] }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, heartbeat: 500 }).success, false);
  assert.equal(poolSchema.safeParse({ ...base, peers: [{ name: 'x', address: '10.0.0.1', weight: 0 }] }).success, false);
});

test('this peer joins the member list when it is not listed', () => {
  const c = poolSchema.parse({ ...base, name: 'pxe-c' });
  assert.deepEqual(poolMembers(c).map((p) => p.name), ['pxe-a', 'pxe-b', 'pxe-c']);
  assert.equal(poolMembers(poolSchema.parse(base)).length, 2);
});

test('config hash: same for every peer (name, bind, secret, peer order do not matter), differs on what ranking depends on', () => {
  const a = poolSchema.parse(base);
  const b = poolSchema.parse({ ...base, name: 'pxe-b', bind: '10.0.0.2', secret: 'another-secret-value', peers: [...base.peers].reverse() });
  assert.deepEqual(poolConfigHash(a), poolConfigHash(b));
  assert.notDeepEqual(poolConfigHash(a), poolConfigHash(poolSchema.parse({ ...base, staggerMs: 50 })));
  assert.notDeepEqual(poolConfigHash(a), poolConfigHash(poolSchema.parse({ ...base, peers: [base.peers[0], { ...base.peers[1], weight: 3 }] })));
  assert.notDeepEqual(poolConfigHash(a, 'policy-1'), poolConfigHash(a, 'policy-2'));
  assert.equal(poolConfigHash(a).length, 16);
});

test('serviceAddress: every peer or none, each its own, not a peer address; leaseMs at least 4 heartbeats; in the hash', () => {
  const sa = (a?: string, b?: string) => ({ ...base, peers: [{ name: 'pxe-a', address: '10.0.0.1', ...(a ? { serviceAddress: a } : {}) }, { name: 'pxe-b', address: '10.0.0.2', ...(b ? { serviceAddress: b } : {}) }] });
  const ok = poolSchema.parse(sa('10.0.0.101', '10.0.0.102'));
  assert.equal(ok.leaseMs, 2000);
  const msgs = (input: unknown) => { const r = poolSchema.safeParse(input); return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`); };
  assert.deepEqual(msgs(sa('10.0.0.101')), ['peers.1: give every peer a serviceAddress, or none (1 of 2 have one)']);
  assert.deepEqual(msgs(sa('10.0.0.101', '10.0.0.101')), ["peers.1.serviceAddress: serviceAddress 10.0.0.101 is also peer 0's: each peer needs its own"]);
  assert.match(msgs(sa('10.0.0.2', '10.0.0.102'))[0]!, /is a peer's own address/);
  assert.match(msgs({ ...sa('10.0.0.101', '10.0.0.102'), heartbeatMs: 1000 })[0]!, /leaseMs must be at least 4 heartbeats \(4000\)/);
  assert.equal(poolSchema.safeParse({ ...base, heartbeatMs: 1000 }).success, true, 'no lease rule without service addresses');
  assert.equal(poolSchema.safeParse({ ...sa('10.0.0.101', '10.0.0.102'), leaseMs: 1000 }).success, false);
  assert.notDeepEqual(poolConfigHash(ok), poolConfigHash(poolSchema.parse(sa('10.0.0.101', '10.0.0.103'))));
  assert.notDeepEqual(poolConfigHash(ok), poolConfigHash(poolSchema.parse({ ...sa('10.0.0.101', '10.0.0.102'), leaseMs: 4000 })));
});

test('an IPv6 serviceAddress is refused, pointing to serviceAddress6', () => {
  const r = poolSchema.safeParse({ ...base, peers: [{ name: 'pxe-a', address: '10.0.0.1', serviceAddress: 'fd00::1' }, { name: 'pxe-b', address: '10.0.0.2', serviceAddress: '10.0.0.102' }] });
  assert.equal(r.success, false);
  assert.match(r.success ? '' : r.error.issues[0]!.message, /an IPv6 one goes in serviceAddress6/);
});

test('serviceAddress6: canonical spelling, every peer or none, each its own, no link-local or multicast', () => {
  const msgs = (input: unknown) => { const r = poolSchema.safeParse(input); return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`); };
  const sa6 = (a?: string, b?: string) => ({ ...base, peers: [{ name: 'pxe-a', address: '10.0.0.1', ...(a !== undefined ? { serviceAddress6: a } : {}) }, { name: 'pxe-b', address: '10.0.0.2', ...(b !== undefined ? { serviceAddress6: b } : {}) }] });
  const ok = poolSchema.parse(sa6('FD77:0:0:3:0:0:0:21', 'fd77:0:0:3::22'));
  assert.deepEqual(ok.peers.map((p) => p.serviceAddress6), ['fd77:0:0:3::21', 'fd77:0:0:3::22'], 'one spelling, as heartbeats compare them');
  assert.deepEqual(msgs(sa6('fd77::21')), ['peers.1: give every peer a serviceAddress6, or none (1 of 2 have one)']);
  assert.deepEqual(msgs(sa6('fd77::21', 'fd77:0::21')), ["peers.1.serviceAddress6: serviceAddress6 fd77::21 is also peer 0's: each peer needs its own"]);
  for (const bad of ['fe80::1', 'ff02::1', '::1', '10.0.0.9', 'fd77::zz']) assert.match(msgs(sa6(bad, 'fd77::22'))[0]!, /global or ULA IPv6 address/, bad);
  assert.match(msgs({ ...sa6('fd77::21', 'fd77::22'), heartbeatMs: 1000 })[0]!, /leaseMs must be at least 4 heartbeats/);
  assert.notDeepEqual(poolConfigHash(ok), poolConfigHash(poolSchema.parse(sa6('fd77::21', 'fd77::23'))), 'in the config hash');
});

test('peers known by IPv6 addresses (IPv6-only networks): one family for all, bind defaults to ::, an IPv4 bind refused', () => {
  const msgs = (input: unknown) => { const r = poolSchema.safeParse(input); return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`); };
  const six = poolSchema.parse({ ...base, peers: [{ name: 'pxe-a', address: 'FD79::11' }, { name: 'pxe-b', address: 'fd79:0::12' }] });
  assert.deepEqual(six.peers.map((p) => p.address), ['fd79::11', 'fd79::12'], 'one spelling');
  assert.equal(six.bind, '::');
  assert.equal(poolSchema.parse(base).bind, '0.0.0.0', 'IPv4 peers: as before');
  assert.deepEqual(msgs({ ...base, peers: [{ name: 'pxe-a', address: 'fd79::11' }, { name: 'pxe-b', address: '10.0.0.2' }] }), ['peers: give every peer an address of one family (all IPv4 or all IPv6): heartbeats go out of one socket']);
  assert.deepEqual(msgs({ ...base, bind: '10.0.0.1', peers: [{ name: 'pxe-a', address: 'fd79::11' }, { name: 'pxe-b', address: 'fd79::12' }] }), ['bind: bind 10.0.0.1 is not of the peers\' family (IPv6)']);
  assert.match(msgs({ ...base, peers: [{ name: 'pxe-a', address: 'fe80::1' }, { name: 'pxe-b', address: 'fd79::12' }] })[0]!, /global or ULA IPv6 address/);
});
