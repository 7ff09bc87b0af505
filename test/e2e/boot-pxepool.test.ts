// Real firmware boots through pxepool, end to end, beside a site DHCP server (Kea) that knows
// nothing of PXE:
//   1. BIOS (SeaBIOS + iPXE ROM) → pxelinux.0 → kernel + initrd over TFTP
//   2. UEFI (OVMF, EDK2's own PXE) → snponly.efi → iPXE script → kernel + initrd over HTTP
// Both clients boot at the same time. Each must print the marker with its MAC and the boot
// server's name; the capture must show the whole chain.
// Set PXEPOOL_E2E_OUT=<dir> to keep the pcap and the serial logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startDhcpd, startKea, startRadvd } from '../lib/services.ts';
import { startServe } from '../lib/serve-proc.ts';
import { makeBootRoot } from './artifacts.ts';
import { startClient } from './qemu.ts';
import { dhcpRecords, httpRequests, tftpReadRequests } from './lab-pcap.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/dhcpd', 'isc-dhcp-server'));

const SERVER = '10.77.30.11';

function pxepoolConfig(root: string, biosRoot?: string): string {
  return `
server: { name: bs1 }
root: ${root}
http: { port: 8080 }
profiles:
  bios-lab:
    bios: pxelinux.0                     # iPXE ROM → pxelinux → kernel over TFTP${biosRoot !== undefined ? `
    root: ${biosRoot}                    # a tree of its own, served as bios-lab/…` : ''}
  uefi-lab:
    efiX64: snponly.efi                  # EDK2 → iPXE for UEFI
    ipxe: http://\${server}/boot.ipxe    # iPXE → script and kernel over HTTP
rules:
  - { match: { arch: bios }, profile: bios-lab }
default: uefi-lab
`;
}

type SiteDhcp = 'kea' | 'dhcpd';

for (const site of ['kea', 'dhcpd'] as const satisfies readonly SiteDhcp[]) {
  const title = site === 'kea'
    ? 'BIOS and UEFI firmware boot a kernel through pxepool beside Kea'
    : 'BIOS and UEFI firmware boot through pxepool beside ISC dhcpd; the BIOS profile has a root of its own';
  test(title, { skip, timeout: 420_000 }, (t) => bootBoth(t, site));
}

async function bootBoth(t: import('node:test').TestContext, site: SiteDhcp): Promise<void> {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, `pxepool-bios-uefi-${site}`) : join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });

  const dhcp = await lab.addHost('dhcp', { address: '10.77.30.1/24' });
  const bs = await lab.addHost('bs1', { address: `${SERVER}/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  const pool = { subnet: '10.77.30.0/24', rangeStart: '10.77.30.100', rangeEnd: '10.77.30.199', router: '10.77.30.1' };
  // dhcpd as shipped: ping check on, so its offers come about a second after Kea's would.
  if (site === 'kea') await startKea(lab, dhcp, pool);
  else await startDhcpd(lab, dhcp, pool);
  await startRadvd(lab, dhcp);
  const root = makeBootRoot(join(lab.tmpDir, 'root-bs1'), { serverName: 'bs1' });
  // dhcpd variant: the BIOS client's whole pxelinux tree lives in the profile's own root, so
  // real pxelinux must find bios-lab/pxelinux.cfg and the kernel relative to its own path.
  const biosRoot = site === 'dhcpd' ? makeBootRoot(join(lab.tmpDir, 'root-bios'), { serverName: 'bs1' }) : undefined;
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, pxepoolConfig(root, biosRoot));
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());

  const bios = startClient(lab, { firmware: 'bios', tap: await lab.addTap(), workDir: out, name: 'bios' });
  const uefi = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name: 'uefi' });
  try {
    const [rb, ru] = await Promise.all([bios.waitForMarker(240_000), uefi.waitForMarker(300_000)]);
    t.diagnostic(`BIOS booted in ${rb.seconds.toFixed(1)} s: ${rb.line}`);
    t.diagnostic(`UEFI booted in ${ru.seconds.toFixed(1)} s: ${ru.line}`);
    assert.equal(rb.mac, bios.mac);
    assert.equal(ru.mac, uefi.mac);
    assert.equal(rb.server, 'bs1');
    assert.equal(ru.server, 'bs1');
  } catch (e) {
    t.diagnostic(`BIOS serial:\n${bios.tail(30)}\nUEFI serial:\n${uefi.tail(30)}\npxepool log:\n${srv.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
    throw e;
  } finally {
    await Promise.all([bios.stop(), uefi.stop()]);
    await cap.stop();
  }

  // The chain, from the wire.
  const dhcpPkts = dhcpRecords(pcap);
  for (const [vm, label] of [[bios, 'BIOS'], [uefi, 'UEFI']] as const) {
    const mine = dhcpPkts.filter((p) => p.mac === vm.mac);
    const keaOffers = mine.filter((p) => p.src === '10.77.30.1' && p.type === 2);
    assert.ok(keaOffers.length >= 1, `${label}: ${site} offered an address`);
    for (const o of keaOffers) {
      assert.notEqual(o.yiaddr, '0.0.0.0');
      assert.ok(!o.options.includes(43) && !o.options.includes(60), `${label}: the site DHCP server sent no PXE options`);
    }
    const proxyOffers = mine.filter((p) => p.src === SERVER && p.type === 2);
    assert.ok(proxyOffers.length >= 1, `${label}: pxepool made a proxy offer`);
    for (const o of proxyOffers) {
      assert.equal(o.yiaddr, '0.0.0.0', 'pxepool never assigns an address');
      // Firmware tolerates a wrong server identifier (EDK2 asks 4011 at the source address), but
      // a relay or a client that goes by option 54 would ask the wrong host.
      assert.equal(o.serverId, SERVER, `${label}: option 54 names the boot server`);
    }
    // EDK2 asks the BINL server on 4011; the iPXE ROM takes the file from the offer (option 43
    // says "use the boot file") and goes straight to TFTP (docs/firmware.md).
    const acks4011 = mine.filter((p) => p.src === SERVER && p.type === 5 && p.srcPort === 4011);
    if (vm === uefi) assert.ok(acks4011.length >= 1, `${label}: the 4011 exchange happened`);
    t.diagnostic(`${label} DHCP sequence: ${mine.map((p) => `${p.t.toFixed(2)}s ${p.src}:${p.srcPort}→${p.dst}:${p.dstPort} type ${p.type}${p.file ? ' ' + p.file : ''}`).join(' | ')}`);
  }
  const uefiOffer = dhcpPkts.find((p) => p.mac === uefi.mac && p.src === SERVER && p.type === 2 && p.vendorClass === 'PXEClient' && p.file === '');
  assert.ok(uefiOffer && !uefiOffer.options.includes(43), 'EDK2 got a BINL offer without option 43');
  const tftp = tftpReadRequests(pcap);
  const b = biosRoot !== undefined ? 'bios-lab/' : '';
  assert.ok(tftp.some((r) => r.file === `${b}pxelinux.0` && r.dst === SERVER), `BIOS fetched ${b}pxelinux.0 over TFTP`);
  assert.ok(tftp.some((r) => r.file === `${b}vmlinuz` && r.dst === SERVER), `pxelinux fetched ${b}vmlinuz over TFTP: ${tftp.map((r) => r.file).join(', ')}`);
  assert.ok(tftp.some((r) => r.file === 'snponly.efi' && r.dst === SERVER), 'EDK2 fetched snponly.efi over TFTP');
  const http = httpRequests(pcap);
  assert.ok(http.some((r) => r.uri.endsWith('/boot.ipxe') || r.uri.startsWith('/boot.ipxe')), 'iPXE fetched its script over HTTP');
  assert.ok(http.some((r) => r.uri.includes('vmlinuz')), 'iPXE fetched the kernel over HTTP');
}
