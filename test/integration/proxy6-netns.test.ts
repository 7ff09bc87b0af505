// ProxyDHCPv6 over real sockets in network namespaces: EDK2's captured Solicit, sent to
// ff02::1:2 from a client whose link-local address carries its MAC, gets pxepool's Advertise
// (no IA_NA, a TFTP URL naming server.address6); EDK2's captured 4011 Request, naming that
// Advertise's server id, gets a Reply. A malformed datagram first changes nothing; a MAC the
// policy ignores gets no answer at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Lab, runOk } from '../lib/netns.ts';
import { startServe } from '../lib/serve-proc.ts';
import { bin, needs, root } from '../lib/require.ts';

const skip = needs(root(), bin('/usr/bin/tftp', 'tftp-hpa'), bin('/usr/bin/curl', 'curl'));
const PROBE = join(import.meta.dirname, '../lib/dhcp6-probe.ts');

test('ProxyDHCPv6: Advertise without IA_NA to a Solicit, Reply to the 4011 Request; an ignored MAC gets nothing', { skip, timeout: 90_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const bs = await lab.addHost('bs', { address: '10.77.67.11/24' });
  const cli = await lab.addHost('cli', { address: '10.77.67.100/24' });
  const ignored = await lab.addHost('ign', { address: '10.77.67.101/24' });
  for (const h of [bs, cli, ignored]) await runOk('sysctl', ['-q', '-w', `net.ipv6.conf.${h.iface.name}.disable_ipv6=0`], { ns: h.ns });
  await runOk('ip', ['-6', 'addr', 'add', 'fd77:0:0:2::11/64', 'dev', bs.iface.name, 'nodad'], { ns: bs.ns });
  await runOk('ip', ['-6', 'addr', 'add', 'fd77:0:0:2::100/64', 'dev', cli.iface.name, 'nodad'], { ns: cli.ns });
  // Link-local addresses (EUI-64, from the MAC) must be through DAD before anyone sends from them.
  for (const h of [bs, cli, ignored]) {
    for (let i = 0; i < 50; i++) {
      const out = await runOk('ip', ['-6', 'addr', 'show', 'dev', h.iface.name, 'scope', 'link'], { ns: h.ns });
      if (/inet6 fe80/.test(out) && !/tentative/.test(out)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const macOf = async (ns: string, ifname: string) => (await runOk('cat', [`/sys/class/net/${ifname}/address`], { ns })).trim();
  const ignoredMac = await macOf(ignored.ns, ignored.iface.name);
  const dir = join(lab.tmpDir, 'root');
  mkdirSync(dir);
  const nbp = randomBytes(300_000);
  writeFileSync(join(dir, 'snponly.efi'), nbp);
  const cfg = join(lab.tmpDir, 'p.yaml');
  writeFileSync(cfg, `server: { name: bs, address6: fd77:0:0:2::11 }\nroot: ${dir}\nprofiles:\n  lab: { efiX64: snponly.efi }\nrules:\n  - { match: { mac: "${ignoredMac}" }, action: ignore }\ndefault: lab\n`);
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());
  await srv.waitForLog((l) => l.event === 'listen' && l.service === 'proxydhcp6', 5000);

  const probe = async (ns: string, ifname: string, extra: string[]) => JSON.parse((await runOk(process.execPath, [PROBE, '--iface', ifname, '--ms', '3000', ...extra], { ns })).trim()) as { advertise?: { type: number; url: string; hasIaNa: boolean; vendor: string }; reply?: { type: number; url: string } };
  const r = await probe(cli.ns, cli.iface.name, ['--request', '--garbage']);
  assert.ok(r.advertise !== undefined, 'an Advertise came');
  assert.equal(r.advertise.type, 2);
  assert.equal(r.advertise.hasIaNa, false, 'no IA_NA: the site DHCPv6 server gives the address');
  assert.equal(r.advertise.url, 'tftp://[fd77:0:0:2::11]/snponly.efi');
  assert.equal(r.advertise.vendor, 'PXEClient');
  assert.ok(r.reply !== undefined, 'the 4011 Request got a Reply');
  assert.equal(r.reply.type, 7);
  assert.equal(r.reply.url, r.advertise.url);
  const cliMac = await macOf(cli.ns, cli.iface.name);
  assert.ok(srv.logs.some((l) => l.event === 'answer' && l.port === 547 && l.mac === cliMac), 'logged the answer with the MAC from the EUI-64 address');
  assert.ok(srv.logs.some((l) => l.event === 'answer' && l.port === 4011 && l.mac === cliMac));

  // The URL works: the same tree over TFTP and HTTP on address6 (tftp-hpa and curl, IPv6).
  const got = join(lab.tmpDir, 'got.efi');
  await runOk('tftp', ['-6', 'fd77:0:0:2::11', '-m', 'binary', '-c', 'get', 'snponly.efi', got], { ns: cli.ns });
  assert.ok(readFileSync(got).equals(nbp), 'TFTP over IPv6 gave the file');
  const got2 = join(lab.tmpDir, 'got2.efi');
  await runOk('curl', ['-sf', '-g', '-o', got2, 'http://[fd77:0:0:2::11]:8080/snponly.efi'], { ns: cli.ns });
  assert.ok(readFileSync(got2).equals(nbp), 'HTTP over IPv6 gave the file');

  const none = await probe(ignored.ns, ignored.iface.name, []);
  assert.equal(none.advertise, undefined, 'the policy ignores this MAC: no Advertise');
  assert.ok(srv.logs.some((l) => l.event === 'ignore' && l.mac === ignoredMac));

  // Every answer and every drop is counted by reason in /metrics, malformed ones by parse failure.
  const metrics = await runOk('curl', ['-sf', '-g', 'http://[fd77:0:0:2::11]:8080/metrics'], { ns: cli.ns });
  const count = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? 0);
  assert.ok(count(/^pxepool_dhcp6_replies_total\{port="547"\} (\d+)/m) >= 1, metrics.split('\n').filter((l) => l.includes('dhcp6')).join('\n'));
  assert.ok(count(/^pxepool_dhcp6_replies_total\{port="4011"\} (\d+)/m) >= 1);
  assert.ok(count(/^pxepool_dhcp6_dropped_total\{port="547",reason="policy"\} (\d+)/m) >= 1, 'the ignored MAC is counted');
  assert.ok(count(/^pxepool_dhcp6_dropped_total\{port="\d+",reason="malformed:[a-z-]+"\} (\d+)/m) >= 1, 'the garbage is counted as malformed');
});
