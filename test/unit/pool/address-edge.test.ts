// The address edge's pure parts and its lease rules, over fake kernel commands (no root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AddressCommands, AddressEdge, hasNetAdmin, type Iface, inSubnet, placeAddresses, type ProbeResult } from '../../../src/pool/address-edge.ts';

test('inSubnet and placeAddresses: the longest matching subnet of a non-service address', () => {
  assert.ok(inSubnet('10.78.2.11', { address: '10.78.1.11', prefixlen: 16 }));
  assert.ok(!inSubnet('10.79.2.11', { address: '10.78.1.11', prefixlen: 16 }));
  assert.ok(inSubnet('192.168.1.200', { address: '192.168.1.5', prefixlen: 24 }));
  assert.ok(!inSubnet('192.168.2.200', { address: '192.168.1.5', prefixlen: 24 }));
  assert.ok(inSubnet('10.0.0.1', { address: '10.0.0.1', prefixlen: 32 }));
  const ifaces: Iface[] = [
    { name: 'lo', up: true, addrs: [{ address: '127.0.0.1', prefixlen: 8 }] },
    { name: 'eth0', up: true, addrs: [{ address: '10.0.0.5', prefixlen: 8 }] },
    { name: 'eth1', up: true, addrs: [{ address: '10.1.2.5', prefixlen: 24 }, { address: '10.1.2.9', prefixlen: 24 }] },
  ];
  const w = placeAddresses(['10.1.2.50', '10.9.9.9', '10.1.2.9'], ifaces);
  assert.deepEqual(w.get('10.1.2.50'), { dev: 'eth1', prefixlen: 24 });
  assert.deepEqual(w.get('10.9.9.9'), { dev: 'eth0', prefixlen: 8 });
  assert.throws(() => placeAddresses(['192.168.1.1'], ifaces), /serviceAddress 192\.168\.1\.1 is outside every subnet of this host's interfaces \(lo 127\.0\.0\.1\/8, eth0 10\.0\.0\.5\/8, eth1 10\.1\.2\.5\/24, eth1 10\.1\.2\.9\/24\)/);
  // A service address already on the interface (ours, leftover) does not make its own subnet.
  assert.throws(() => placeAddresses(['172.16.0.9'], [{ name: 'eth0', up: true, addrs: [{ address: '172.16.0.9', prefixlen: 24 }] }]), /outside every subnet/);
});

test('hasNetAdmin reads bit 12 of CapEff', () => {
  assert.equal(hasNetAdmin(() => 'Name:\tnode\nCapEff:\t000001ffffffffff\n'), true);
  assert.equal(hasNetAdmin(() => 'CapEff:\t0000000000000000\n'), false);
  assert.equal(hasNetAdmin(() => 'CapEff:\t0000000000001000\n'), true);
  assert.equal(hasNetAdmin(() => { throw new Error('no proc'); }), false);
});

/** A fake kernel: addresses with lifetimes on the fake clock, re-created by `change` as the real one is. */
function fakeKernel(clock: { now: number }, probe: (a: string) => ProbeResult = () => ({ result: 'free' })) {
  const addrs = new Map<string, number>();
  const log: string[] = [];
  let up = true;
  const cmds: AddressCommands = {
    async interfaces() {
      for (const [a, end] of addrs) if (end <= clock.now) addrs.delete(a);
      return [{ name: 'eth0', up, addrs: [{ address: '10.0.0.5', prefixlen: 24 }, ...[...addrs.keys()].map((a) => ({ address: a, prefixlen: 24 }))] }];
    },
    async add(_d, a, s) { log.push(`add ${a.address}`); addrs.set(a.address, clock.now + s * 1000); },
    async change(_d, a, s) { log.push(`change ${a.address}`); addrs.set(a.address, clock.now + s * 1000); },
    async del(_d, a) { log.push(`del ${a.address}`); addrs.delete(a.address); },
    async probe(_d, a) { return probe(a); },
    async announce(_d, a) { log.push(`announce ${a}`); },
  };
  return { cmds, addrs, log, setUp: (v: boolean) => { up = v; } };
}

const flush = () => new Promise((r) => setImmediate(r));

async function edgeWith(clock: { now: number }, k: ReturnType<typeof fakeKernel>, events: unknown[] = []) {
  return AddressEdge.open({
    self: 'a', peers: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }],
    addresses: [{ address: '10.0.0.100', home: 'a' }, { address: '10.0.0.101', home: 'b' }],
    leaseMs: 3000, heartbeatMs: 500, deadAfter: 3, mono: () => clock.now, commands: k.cmds, checkCapability: false,
    onEvent: (e) => events.push(e),
  });
}
const alone = { live: new Set(['a']), heldBy: new Map(), heardAt: new Map() };

test('a leftover of our earlier run is deleted at start; the home address is probed, added and announced', async () => {
  const clock = { now: 0 };
  const k = fakeKernel(clock);
  k.addrs.set('10.0.0.100', 99_999);
  const events: { type: string }[] = [];
  const e = await edgeWith(clock, k, events);
  assert.equal(events[0]?.type, 'address-leftover');
  assert.ok(!k.addrs.has('10.0.0.100'));
  for (; clock.now <= 3000; clock.now += 500) { await e.tick(alone); await flush(); await flush(); }
  assert.ok(e.held().includes('10.0.0.100'), k.log.join(', '));
  assert.ok(k.log.includes('announce 10.0.0.100'));
});

test('after a stop longer than the lease, the edge neither renews nor re-creates: it drops the address', async () => {
  const clock = { now: 0 };
  const k = fakeKernel(clock);
  const e = await edgeWith(clock, k);
  for (; clock.now <= 9000; clock.now += 500) { await e.tick(alone); await flush(); await flush(); }
  assert.ok(e.held().includes('10.0.0.100'));
  clock.now += 10_000; // SIGSTOP
  k.log.length = 0;
  await e.tick(alone);
  assert.ok(!e.held().includes('10.0.0.100'));
  assert.ok(!k.log.some((l) => l.startsWith('change')), `renewed after the pause: ${k.log.join(', ')}`);
});

test('link down releases everything; a probe that answers "held" is not taken', async () => {
  const clock = { now: 0 };
  const k = fakeKernel(clock, (a) => (a === '10.0.0.101' ? { result: 'held', mac: '02:00:00:00:00:99' } : { result: 'free' }));
  const events: { type: string; address?: string }[] = [];
  const e = await edgeWith(clock, k, events);
  for (; clock.now <= 12_000; clock.now += 500) { await e.tick(alone); await flush(); await flush(); }
  assert.deepEqual(e.held(), ['10.0.0.100'], 'b\'s address answered by someone: not taken');
  assert.ok(events.some((x) => x.type === 'address-foreign' && x.address === '10.0.0.101'));
  k.setUp(false);
  await e.tick(alone);
  assert.deepEqual(e.held(), []);
  assert.ok(!k.addrs.has('10.0.0.100'));
});
