import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poolSchema } from '../../../src/pool/config.ts';
import { describeFailover } from '../../../src/pool/describe.ts';

const base = { name: 'a', secret: 'sixteen-chars-at-least' };

test('without service addresses: says what fails over and what does not', () => {
  const t = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1' }, { name: 'b', address: '10.1.0.1' }] })).join('\n');
  assert.match(t, /2 peers; a peer silent 1\.5 s is down/);
  assert.match(t, /EDK2\) asks the next offer's boot server after ~10 s/);
  assert.match(t, /BIOS iPXE ROM or pxelinux whose server dies after its offer fails its boot/);
});

test('with service addresses: the takeover, its needs, and a warning when the peers look routed apart', () => {
  const one = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1', serviceAddress: '10.0.0.101' }, { name: 'b', address: '10.0.0.2', serviceAddress: '10.0.0.102' }] })).join('\n');
  assert.match(one, /service addresses\. A dead peer's address moves to a survivor/);
  assert.match(one, /CAP_NET_ADMIN/);
  assert.doesNotMatch(one, /warning/);
  const apart = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1', serviceAddress: '10.0.0.101' }, { name: 'b', address: '10.9.0.2', serviceAddress: '10.9.0.102' }] })).join('\n');
  assert.match(apart, /warning: the peers' addresses span 2 \/24 networks \(10\.0\.0\.0\/24, 10\.9\.0\.0\/24\)/);
  assert.deepEqual(describeFailover(undefined), []);
});

test('IPv6 service addresses: which clients are covered and what that needs', () => {
  const both = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1', serviceAddress: '10.0.0.101', serviceAddress6: 'fd00::101' }, { name: 'b', address: '10.0.0.2', serviceAddress: '10.0.0.102', serviceAddress6: 'fd00::102' }] })).join('\n');
  assert.match(both, /covers: IPv4 and IPv6 clients/);
  assert.match(both, /arping \(iputils-arping\), ndisc6 \(ndisc6\) and the native helper with CAP_NET_RAW/);
  const six = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1', serviceAddress6: 'fd00::101' }, { name: 'b', address: '10.0.0.2', serviceAddress6: 'fd00::102' }] })).join('\n');
  assert.match(six, /covers: IPv6 clients only \(IPv4 clients: give every peer a serviceAddress too\)/);
  assert.doesNotMatch(six, /arping/);
  const four = describeFailover(poolSchema.parse({ ...base, peers: [{ name: 'a', address: '10.0.0.1', serviceAddress: '10.0.0.101' }, { name: 'b', address: '10.0.0.2', serviceAddress: '10.0.0.102' }] })).join('\n');
  assert.match(four, /covers: IPv4 clients only/);
  assert.doesNotMatch(four, /ndisc6/);
});
