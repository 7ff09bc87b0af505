// Proves the lab and the real-firmware harness with a reference ProxyDHCP that exists today:
// Debian's dnsmasq in proxy mode beside a plain Kea (no PXE options) and radvd.
//   BIOS: SeaBIOS + iPXE ROM → pxelinux.0 → kernel + initrd over TFTP
//   UEFI: OVMF (EDK2 PXE) → snponly.efi → boot.ipxe → kernel + initrd over TFTP
// Each boot must print the marker with the VM's MAC and the boot server's name.
// Set PXEPOOL_E2E_OUT=<dir> to keep the pcap and the serial logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startDnsmasqProxy, startKea, startRadvd } from '../lib/services.ts';
import { makeBootRoot } from './artifacts.ts';
import { startClient, type Firmware } from './qemu.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/dnsmasq', 'dnsmasq-base'));

async function bootWithDnsmasq(firmware: Firmware, t: { diagnostic(msg: string): void; after(fn: () => Promise<void>): void }): Promise<void> {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, `dnsmasq-${firmware}`) : join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });

  const dhcp = await lab.addHost('dhcp', { address: '10.77.1.1/24' });
  const bs = await lab.addHost('bs1', { address: '10.77.1.11/24' });
  const cap = await lab.captureSegment('lan', join(out, 'lan.pcap'), { filter: 'not ip6' });
  await startKea(lab, dhcp, { subnet: '10.77.1.0/24', rangeStart: '10.77.1.100', rangeEnd: '10.77.1.199', router: '10.77.1.1' });
  await startRadvd(lab, dhcp);
  const root = makeBootRoot(join(lab.tmpDir, 'root-bs1'), { serverName: 'bs1' });
  const dnsmasq = await startDnsmasqProxy(lab, bs, {
    subnetAddress: '10.77.1.0',
    tftpRoot: root,
    extra: [
      // iPXE (the BIOS ROM and snponly.efi) sends user class "iPXE".
      '--dhcp-userclass=set:ipxe,iPXE',
      // BIOS: dnsmasq appends ".0" → pxelinux.0 (sent as a one-item PXE menu, option 43).
      '--pxe-service=x86PC,"pxelinux",pxelinux',
      // UEFI: EDK2 gets snponly.efi; the chainloaded iPXE gets the script.
      '--pxe-service=tag:!ipxe,X86-64_EFI,"snponly",snponly.efi',
      '--pxe-service=tag:ipxe,X86-64_EFI,"script",boot.ipxe',
    ],
  });
  const tap = await lab.addTap();
  const vm = startClient(lab, { firmware, tap, workDir: out });
  try {
    const r = await vm.waitForMarker(firmware === 'bios' ? 120_000 : 180_000);
    t.diagnostic(`${firmware}: marker after ${r.seconds.toFixed(1)} s: ${r.line}`);
    assert.equal(r.mac, vm.mac);
    assert.equal(r.server, 'bs1');
  } catch (e) {
    t.diagnostic(`serial:\n${vm.transcript()}\ndnsmasq:\n${dnsmasq.tail(40)}`);
    throw e;
  } finally {
    await vm.stop();
    await cap.stop();
  }
}

test('reference dnsmasq ProxyDHCP: BIOS iPXE ROM → pxelinux → kernel', { skip, timeout: 180_000 }, async (t) => {
  await bootWithDnsmasq('bios', t);
});

test('reference dnsmasq ProxyDHCP: UEFI OVMF → snponly.efi → iPXE script → kernel', { skip, timeout: 240_000 }, async (t) => {
  await bootWithDnsmasq('uefi', t);
});
