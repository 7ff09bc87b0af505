// Relayed DHCPv6 (issue 17): a PXE client on one segment, Debian's dhcrelay -6 on a router
// between it and the servers' segment, pxepool there. The client's Solicit reaches pxepool as a
// Relay-Forward; pxepool answers with a Relay-Reply that the relay unwraps and sends back to the
// client: an Advertise with the boot file URL and no address; the 4011 Request is routed
// straight to pxepool and answered too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAddress6, Lab, runOk } from '../lib/netns.ts';
import { startServe } from '../lib/serve-proc.ts';
import { bin, needs, root } from '../lib/require.ts';

const skip = needs(root(), bin('/usr/sbin/dhcrelay', 'isc-dhcp-relay'));
const PROBE = join(import.meta.dirname, '../lib/dhcp6-probe.ts');

test('dhcrelay -6 between the client and pxepool: the Relay-Forward is answered with a Relay-Reply the relay delivers, and the 4011 Request is routed straight to pxepool', { skip, timeout: 120_000 }, async (t) => {
  const lab = await Lab.create({ segments: ['clients', 'servers'] });
  t.after(() => lab.destroy());
  const router = await lab.addRouter('router', [{ segment: 'clients', address: '10.77.9.1/24' }, { segment: 'servers', address: '10.77.8.1/24' }]);
  await addAddress6(router, 'fd77:0:0:9::1/64', 'eth0');
  await addAddress6(router, 'fd77:0:0:8::1/64', 'eth1');
  await runOk('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1'], { ns: router.ns });
  const bs = await lab.addHost('bs', { segment: 'servers', address: '10.77.8.11/24' });
  await addAddress6(bs, 'fd77:0:0:8::11/64');
  await runOk('ip', ['-6', 'route', 'add', 'fd77:0:0:9::/64', 'via', 'fd77:0:0:8::1'], { ns: bs.ns });
  const cli = await lab.addHost('cli', { segment: 'clients', mac: '52:54:00:65:00:09' });
  await addAddress6(cli, 'fd77:0:0:9::50/64');
  await runOk('ip', ['-6', 'route', 'add', 'fd77:0:0:8::/64', 'via', 'fd77:0:0:9::1'], { ns: cli.ns });

  const dir = join(lab.tmpDir, 'root');
  mkdirSync(dir);
  writeFileSync(join(dir, 'snponly.efi'), Buffer.alloc(4096, 1));
  const cfg = join(lab.tmpDir, 'p.yaml');
  writeFileSync(cfg, `server: { name: bs, address6: "fd77:0:0:8::11" }\nroot: ${dir}\nprofiles:\n  lab: { efiX64: snponly.efi }\ndefault: lab\n`);
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());
  await srv.waitForLog((l) => l.event === 'listen' && l.service === 'proxydhcp6', 5000);
  // Debian's relay: client side eth0, upstream pxepool by its address over eth1.
  const relay = lab.spawn(router.ns, 'dhcrelay', ['-6', '-d', '-pf', join(lab.tmpDir, 'dhcrelay6.pid'), '-l', 'eth0', '-u', 'fd77:0:0:8::11%eth1'], { name: 'dhcrelay6' });
  t.after(() => relay.stop());
  await new Promise((r) => setTimeout(r, 1500));

  const out = JSON.parse((await runOk(process.execPath, [PROBE, '--iface', cli.iface.name, '--ms', '5000', '--request'], { ns: cli.ns })).trim()) as { advertise?: { type: number; url: string; hasIaNa: boolean; from: string }; reply?: { type: number; url: string } };
  assert.ok(out.advertise !== undefined, `an Advertise came back through the relay; dhcrelay:\n${relay.tail()}\npxepool:\n${srv.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
  assert.equal(out.advertise.type, 2);
  assert.equal(out.advertise.hasIaNa, false);
  assert.equal(out.advertise.url, 'tftp://[fd77:0:0:8::11]/snponly.efi');
  assert.match(out.advertise.from, /^fe80::/, 'delivered by the relay (from its link-local address), not by pxepool directly');
  assert.ok(out.reply !== undefined && out.reply.type === 7, 'the 4011 Request, routed to pxepool, got its Reply');
  const answer = srv.logs.find((l) => l.event === 'answer' && l.port === 547);
  assert.ok(answer, 'pxepool logged the relayed answer');
  assert.equal(answer.mac, '52:54:00:65:00:09', 'the MAC from the relay\'s peer-address (the client\'s link-local EUI-64)');
  assert.equal(answer.relayed, true);
});
