// `pxepool storm` on a segment in a network-namespace lab against boot servers we did not write:
// dnsmasq as ProxyDHCP + TFTP (1 MiB NBPs) beside Kea as the site DHCP server. Every client must
// boot, and the storm's own counts must agree with what dnsmasq logged per client.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../lib/netns.ts';
import { startDnsmasqProxy, startKea } from '../lib/services.ts';
import type { StormResult } from '../../src/storm/run.ts';
import { bin, needs, root } from '../lib/require.ts';

const STORM_CLI = fileURLToPath(new URL('../../src/cli/storm.ts', import.meta.url));
const isRoot = process.getuid?.() === 0;
const skip = needs(root(), bin('/usr/sbin/dnsmasq', 'dnsmasq-base'), bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'));
const MiB = 1 << 20;
const N = 20;

/** Runs the storm CLI as a process inside a namespace (a process cannot enter one itself). */
export async function stormIn(lab: Lab, ns: string, args: string[], timeoutMs: number): Promise<{ code: number | null; result: StormResult; stderr: string }> {
  const code = `const { stormCommand } = await import(${JSON.stringify(STORM_CLI)}); await stormCommand.parseAsync(process.argv.slice(1), { from: 'user' });`;
  const r = await lab.exec(ns, process.execPath, ['--input-type=module', '-e', code, '--', ...args, '--json', '--per-client'], timeoutMs);
  let result: StormResult;
  try {
    result = JSON.parse(r.stdout) as StormResult;
  } catch {
    throw new Error(`storm printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, result, stderr: r.stderr };
}

test(`storm: ${N} clients (iPXE BIOS, EDK2, iPXE EFI) boot from dnsmasq beside Kea; counts match dnsmasq's log`, { skip, timeout: 120_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.31.1/24' });
  const pxe = await lab.addHost('pxe', { address: '10.77.31.2/24' });
  // the default route lets a 255.255.255.255 broadcast leave without SO_BINDTODEVICE
  const client = await lab.addHost('client', { address: '10.77.31.50/24', gateway: '10.77.31.254' });
  const root = join(lab.tmpDir, 'tftp');
  mkdirSync(root);
  const nbp = Buffer.alloc(MiB);
  for (let i = 0; i < nbp.length; i++) nbp[i] = (i * 31) & 255;
  writeFileSync(join(root, 'pxelinux.0'), nbp);
  writeFileSync(join(root, 'bootx64.efi'), nbp);
  await startKea(lab, dhcp, { subnet: '10.77.31.0/24', rangeStart: '10.77.31.100', rangeEnd: '10.77.31.199' });
  const dnsmasq = await startDnsmasqProxy(lab, pxe, {
    subnetAddress: '10.77.31.0',
    tftpRoot: root,
    extra: ['--pxe-service=x86PC,"pxelinux",pxelinux', '--pxe-service=X86-64_EFI,"efi",bootx64.efi', '--pxe-prompt="boot",0'],
  });

  const { code, result, stderr } = await stormIn(lab, client.ns, [
    '--interface', 'eth0', '--clients', String(N), '--mix', 'bios=50,efi=30,ipxe=20',
    '--edk2-collect-ms', '1000', '--time-limit', '60', '--seed', '7',
  ], 90_000);
  const s = result.summary;
  t.diagnostic(`storm: booted ${s.booted}/${s.clients} in ${s.timeToAllBootedMs} ms; NBP p50 ${s.nbpMs.p50} p99 ${s.nbpMs.p99}; ${s.mbPerSec} MB/s`);
  if (s.failed > 0) t.diagnostic(`failures: ${JSON.stringify(s.failures)}\n${stderr}\n${dnsmasq.tail(40)}`);
  assert.equal(code, 0, stderr);
  assert.equal(s.booted, N);
  assert.equal(s.mix.bios! + s.mix.efi! + s.mix.ipxe!, N);
  assert.equal(s.bytes, N * MiB);
  assert.deepEqual(s.servers.offer, { '10.77.31.2': N });
  assert.deepEqual(s.servers.files, { '10.77.31.2': N });
  for (const c of result.clients) {
    assert.ok(c.dhcpOffers >= 1, `${c.mac}: Kea offered`);
    assert.match(c.dhcpAddress ?? '', /^10\.77\.31\.1\d\d$/);
    assert.ok(c.proxyOffers >= 1);
    assert.ok(c.nbpMs !== undefined && c.firstOfferMs !== undefined && c.nbpMs >= c.firstOfferMs);
    assert.equal(c.bootFile, c.family === 'bios' ? 'pxelinux.0' : 'bootx64.efi');
  }

  // dnsmasq's own account, per client MAC: proxy offers on 67, boot-server answers on 4011,
  // and whole files sent over TFTP (EDK2's aborted size probes are not "sent").
  await new Promise((r) => setTimeout(r, 300));
  const lines = dnsmasq.lines;
  for (const c of result.clients) {
    // dnsmasq logs one "PXE(eth0) …" line per answer: "<mac> proxy" for a DISCOVER or a 4011
    // request without a boot item, "<ip> <mac> <file>" for a menu item asked on 4011
    const pxeLines = lines.filter((l) => l.includes(`PXE(eth0) ${c.mac} `) || l.includes(`PXE(eth0) 10.77.31.50 ${c.mac} `));
    const asked4011 = c.bootServer === undefined ? 0 : 1 + c.retransmits.request;
    assert.equal(pxeLines.length, c.proxyOffers + asked4011, `${c.mac} (${c.family}): dnsmasq answers vs storm\n${pxeLines.join('\n')}\n${JSON.stringify(c)}`);
  }
  const sent = lines.filter((l) => /dnsmasq-tftp.*sent .*(pxelinux\.0|bootx64\.efi) to 10\.77\.31\.50/.test(l)).length;
  // dnsmasq also logs "sent" for the size probe it answered with an OACK before EDK2 aborted it
  assert.equal(sent, N + (s.mix.efi ?? 0), `one NBP per client plus one probe per EDK2 client\n${lines.filter((l) => /dnsmasq-tftp/.test(l)).slice(0, 12).join('\n')}`);
  const aborted = lines.filter((l) => /User aborted the transfer/.test(l)).length;
  assert.equal(aborted, s.mix.efi, 'one EDK2 size probe per EDK2 client');
  assert.equal(s.restarts, 0);
});
