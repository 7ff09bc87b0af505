// Proves the namespace lab helpers work: bridge connectivity, a site DHCP server handing out an
// address to a scripted client, captures, and a teardown that leaves nothing behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startKea, startDhcpd, startRadvd, udhcpcOnce } from '../lib/services.ts';
import { bin, needs, root } from '../lib/require.ts';

const isRoot = process.getuid?.() === 0;
const skip = needs(root(), bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/dhcpd', 'isc-dhcp-server'), bin('/usr/sbin/radvd', 'radvd'), bin('/usr/bin/tcpdump', 'tcpdump'));

function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

test('lab: two hosts ping over the bridge; capture sees it; teardown leaves no namespaces', { skip, timeout: 30_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const a = await lab.addHost('a', { address: '10.77.1.1/24' });
  const b = await lab.addHost('b', { address: '10.77.1.2/24' });
  const pcap = join(lab.tmpDir, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'icmp' });
  const r = await lab.exec(a.ns, 'ping', ['-c', '2', '-i', '0.2', '-W', '2', b.iface.address ?? ''], 10_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 received/);
  await cap.stop();
  assert.ok(existsSync(pcap) && statSync(pcap).size > 100, 'pcap written');

  const mine = lab.namespaces;
  assert.equal(mine.length, 3);
  for (const ns of mine) assert.ok(namespaces().includes(ns));
  await lab.destroy();
  for (const ns of mine) assert.ok(!namespaces().includes(ns), `${ns} removed`);
  assert.ok(!existsSync(lab.tmpDir));
});

test('lab: Kea hands out an address to udhcpc (no PXE options)', { skip, timeout: 40_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.2.1/24' });
  const client = await lab.addHost('client');
  await startKea(lab, dhcp, { subnet: '10.77.2.0/24', rangeStart: '10.77.2.100', rangeEnd: '10.77.2.199', router: '10.77.2.1' });
  const ip = await udhcpcOnce(lab, client, 20_000);
  assert.match(ip, /^10\.77\.2\.(1\d\d)$/);
});

test('lab: ISC dhcpd hands out an address to udhcpc', { skip, timeout: 40_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.3.1/24' });
  const client = await lab.addHost('client');
  await startDhcpd(lab, dhcp, { subnet: '10.77.3.0/24', rangeStart: '10.77.3.100', rangeEnd: '10.77.3.199' }, { pingCheck: false });
  const ip = await udhcpcOnce(lab, client, 20_000);
  assert.match(ip, /^10\.77\.3\.(1\d\d)$/);
});

test('lab: radvd announces a prefix another host autoconfigures; router joins two segments', { skip, timeout: 40_000 }, async (t) => {
  const lab = await Lab.create({ segments: ['lan', 'far'] });
  t.after(() => lab.destroy());
  const rtr = await lab.addRouter('rtr', [
    { segment: 'lan', address: '10.77.4.1/24' },
    { segment: 'far', address: '10.77.5.1/24' },
  ]);
  const a = await lab.addHost('a', { address: '10.77.4.2/24', gateway: '10.77.4.1' });
  const b = await lab.addHost('b', { segment: 'far', address: '10.77.5.2/24', gateway: '10.77.5.1' });
  const r = await lab.exec(a.ns, 'ping', ['-c', '1', '-W', '2', b.iface.address ?? ''], 10_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);

  await startRadvd(lab, rtr, { prefix: 'fd77:0:0:4::/64' });
  const deadline = Date.now() + 15_000;
  let out = '';
  while (Date.now() < deadline) {
    out = (await lab.exec(a.ns, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0'])).stdout;
    if (/inet6 fd77::4:/.test(out)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.match(out, /inet6 fd77::4:/);
});
