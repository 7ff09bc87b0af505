// ARM64 UEFI through pxepool in proxy mode beside Kea, on real firmware: QEMU's `virt` machine
// (qemu-system-aarch64, TCG, Cortex-A57) with Debian's AAVMF (EDK2 for ARM64).
//   (a) PXE, arch 11: Kea gives the address, pxepool's ProxyDHCP the boot file (BINL offer, then
//       4011) → grubaa64.efi over TFTP → this machine's GRUB config (/boot.grub) → the arm64
//       kernel and busybox initramfs over HTTP → the marker.
//   (b) HTTP boot, arch 19 (AAVMF's PXE turned off by the fw_cfg knobs): pxepool's offer names
//       http://<server>/grubaa64.efi, and the same chain follows.
// The boot file is GRUB made by `pxepool media --format nbp --arch arm64` from Debian's
// grub-efi-arm64-bin: Debian 12 ships no arm64 iPXE, and its signed network GRUB
// (grubnetaa64.efi) reads its server only from the site DHCP server's ACK, so in proxy mode it
// stops at `grub>` as on x86 (docs/firmware.md, ARM64).
//   (c) That signed GRUB once Kea's ACK names the server (next-server, the one key docs/dhcp-server.md
//       adds beside ProxyDHCP): pxepool's 4011 answer names grubnetaa64.efi, GRUB asks pxepool for
//       grub/grub.cfg, gets the handover to this machine's config, and the kernel comes by TFTP.
//   (d) Secure Boot (AAVMF with Microsoft's keys, AAVMF_VARS.ms.fd), the same DHCP: Debian's signed
//       shimaa64.efi → signed GRUB → handover → Debian's signed kernel; the initramfs reads
//       SecureBoot=1. Negative control: the same firmware refuses the unsigned GRUB of (a).
// The arm64 packages are fetched at run time into the artifacts' cache (arm64-artifacts.ts).
// One VM at a time.
// Set PXEPOOL_E2E_OUT=<dir> to keep the pcap and the serial logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startKea, startRadvd } from '../lib/services.ts';
import { MAIN, startServe } from '../lib/serve-proc.ts';
import { AAVMF, ARM64_CMDLINE, ensureArm64Artifacts } from './arm64-artifacts.ts';
import { startClient, type QemuClient } from './qemu.ts';
import { dhcpRecords, httpRequests, tftpReadRequests } from './lab-pcap.ts';
import { bin, needs, root } from '../lib/require.ts';

const skip = needs(
  root(),
  bin('/usr/bin/qemu-system-aarch64', 'qemu-system-arm'),
  bin(AAVMF.code, 'qemu-efi-aarch64'),
  bin(AAVMF.vars, 'qemu-efi-aarch64'),
  bin('/usr/bin/grub-mkimage', 'grub-common'),
  bin('/usr/bin/apt-get', 'apt'),
  bin('/usr/bin/dpkg-deb', 'dpkg'),
  bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'),
  bin('/usr/sbin/radvd', 'radvd'),
  bin('/usr/bin/tcpdump', 'tcpdump'),
  bin('/usr/bin/tshark', 'tshark'),
);

const NET = '10.77.92';
const SERVER = `${NET}.11`;
const SIGNED_MAC = '52:54:00:92:00:03';
const SB_MAC = '52:54:00:92:00:04';
/** AAVMF's own PXE off: HTTP boot is then its first network boot option (as on OVMF). */
const PXE_OFF = ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'];

test('AAVMF (ARM64 UEFI) boots an arm64 kernel through pxepool in proxy mode beside Kea: PXE (arch 11), HTTP boot (arch 19); Debian\'s signed GRUB once Kea gives next-server, and with Secure Boot enforced', { skip, timeout: 900_000 }, async (t) => {
  const a = ensureArm64Artifacts();
  t.diagnostic(`arm64 packages: ${Object.entries(a.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, 'arm64') : join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });
  const dhcp = await lab.addHost('dhcp', { address: `${NET}.1/24` });
  const bs = await lab.addHost('bs1', { address: `${SERVER}/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  const pool = { subnet: `${NET}.0/24`, rangeStart: `${NET}.100`, rangeEnd: `${NET}.199`, router: `${NET}.1` };
  const kea = await startKea(lab, dhcp, pool);
  await startRadvd(lab, dhcp);

  const bootRoot = join(lab.tmpDir, 'root');
  mkdirSync(bootRoot, { recursive: true });
  copyFileSync(a.kernel, join(bootRoot, 'vmlinuz'));
  copyFileSync(a.initrd, join(bootRoot, 'initrd.gz'));
  copyFileSync(a.signedGrub, join(bootRoot, 'grubnetaa64.efi'));
  // shim starts grubaa64.efi from its own directory: the Secure Boot chain in a directory of its
  // own, beside the unsigned grubaa64.efi of (a).
  mkdirSync(join(bootRoot, 'sb'));
  copyFileSync(a.shim, join(bootRoot, 'sb', 'shimaa64.efi'));
  copyFileSync(a.signedGrub, join(bootRoot, 'sb', 'grubaa64.efi'));
  copyFileSync(a.signedKernel, join(bootRoot, 'vmlinuz-signed'));
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `server: { name: bs1, address: ${SERVER} }
root: ${bootRoot}
http: { port: 8080 }
profiles:
  arm64:
    efiArm64: grubaa64.efi                         # EDK2 PXE → GRUB (pxepool media --format nbp)
    efiArm64Http: http://\${server}/grubaa64.efi   # EDK2 HTTP boot → the same GRUB
    kernel: vmlinuz
    initrd: initrd.gz
    cmdline: "${ARM64_CMDLINE} pxepool.server=bs1"
  arm64-signed:                                    # Debian's signed network GRUB, for (c)
    efiArm64: grubnetaa64.efi
    kernel: vmlinuz
    initrd: initrd.gz
    cmdline: "${ARM64_CMDLINE} pxepool.server=bs1"
  arm64-sb:                                        # Secure Boot, for (d)
    efiArm64: sb/shimaa64.efi
    kernel: vmlinuz-signed
    initrd: initrd.gz
    cmdline: "${ARM64_CMDLINE} pxepool.server=bs1"
    secureBoot: true
rules:
  - { match: { mac: "${SIGNED_MAC}" }, profile: arm64-signed }
  - { match: { mac: "${SB_MAC}" }, profile: arm64-sb }
  - { match: { arch: [efi-arm64, efi-arm64-http] }, profile: arm64 }
default: ignore
`);
  // The boot file, made the way an operator would.
  const nbp = spawnSync(process.execPath, [MAIN, 'media', '--config', cfg, '--format', 'nbp', '--arch', 'arm64', '--grub-modules', a.grubModules, '--out', join(bootRoot, 'grubaa64.efi')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(nbp.status, 0, nbp.stderr);
  t.diagnostic(nbp.stdout.trim());
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());

  const boot = async (name: string, extraArgs: string[], mac?: string, secureBoot = false): Promise<QemuClient> => {
    const vm = startClient(lab, { firmware: 'aavmf', secureBoot, memoryMb: secureBoot ? 1024 : 512, tap: await lab.addTap(), workDir: out, name, extraArgs, ...(mac !== undefined ? { mac } : {}) });
    try {
      const r = await vm.waitForMarker(300_000);
      t.diagnostic(`${name}: booted in ${r.seconds.toFixed(1)} s (power-on to the kernel's marker): ${r.line}`);
      assert.equal(r.mac, vm.mac);
      assert.equal(r.server, 'bs1');
      assert.ok(vm.lines.some((l) => /Welcome to GRUB/.test(l.line)), 'GRUB ran');
      return vm;
    } catch (e) {
      console.error(`--- ${name} serial:\n${vm.tail(40)}`);
      t.diagnostic(`pxepool log:\n${srv.logs.slice(-30).map((l) => JSON.stringify(l)).join('\n')}`);
      throw e;
    } finally {
      await vm.stop();
    }
  };
  const answers = (mac: string) => srv.logs.filter((l) => l.event === 'answer' && l.mac === mac);

  // (a) PXE, arch 11.
  const pxe = await boot('aavmf-pxe', []);
  const pa = answers(pxe.mac);
  assert.ok(pa.some((l) => l.port === 67 && l.arch === 11 && l.firmware === 'efi-arm64'), 'pxepool answered the DISCOVER of an arch 11 client');
  assert.ok(pa.some((l) => l.port === 4011 && l.file === 'grubaa64.efi'), 'and named grubaa64.efi on 4011');
  assert.ok(pxe.lines.some((l) => /Start PXE over IPv4/.test(l.line)), 'the firmware booted by PXE');

  // (b) HTTP boot, arch 19.
  const http = await boot('aavmf-http', PXE_OFF);
  const ha = answers(http.mac);
  assert.ok(ha.some((l) => l.port === 67 && l.arch === 19 && l.firmware === 'efi-arm64-http' && l.file === `http://${SERVER}:8080/grubaa64.efi`), `pxepool offered the boot file's URL to the arch 19 client: ${JSON.stringify(ha)}`);
  assert.ok(http.lines.some((l) => /Start HTTP Boot over IPv4/.test(l.line)), 'the firmware booted by HTTP');
  await cap.stop();

  // The chain, from the wire.
  const dhcpPkts = dhcpRecords(pcap);
  for (const [vm, label] of [[pxe, 'PXE'], [http, 'HTTP boot']] as const) {
    const mine = dhcpPkts.filter((p) => p.mac === vm.mac);
    const kea = mine.filter((p) => p.src === `${NET}.1` && p.type === 2);
    assert.ok(kea.length >= 1 && kea.every((o) => o.yiaddr !== '0.0.0.0' && !o.options.includes(43) && !o.options.includes(60)), `${label}: Kea offered an address and no PXE options`);
    const proxy = mine.filter((p) => p.src === SERVER && p.type === 2);
    assert.ok(proxy.length >= 1 && proxy.every((o) => o.yiaddr === '0.0.0.0' && o.serverId === SERVER), `${label}: pxepool's offer has no address and names itself`);
    t.diagnostic(`${label} DHCP: ${mine.map((p) => `${p.t.toFixed(2)}s ${p.src}:${p.srcPort}→${p.dst}:${p.dstPort} type ${p.type}${p.vendorClass ? ` "${p.vendorClass}"` : ''}${p.file ? ` file ${p.file}` : ''}`).join(' | ')}`);
  }
  const pxeDiscover = dhcpPkts.find((p) => p.mac === pxe.mac && p.type === 1);
  assert.match(pxeDiscover?.vendorClass ?? '', /^PXEClient:Arch:00011:UNDI:003000$/, 'AAVMF says arch 11 in its vendor class');
  const httpDiscover = dhcpPkts.find((p) => p.mac === http.mac && p.type === 1);
  assert.match(httpDiscover?.vendorClass ?? '', /^HTTPClient:Arch:00019/, 'and arch 19 when it HTTP boots');
  assert.ok(dhcpPkts.some((p) => p.mac === pxe.mac && p.src === SERVER && p.srcPort === 4011 && p.type === 5 && p.file === 'grubaa64.efi'), 'the 4011 ACK named the boot file');
  const tftp = tftpReadRequests(pcap);
  assert.ok(tftp.some((r) => r.file === 'grubaa64.efi' && r.dst === SERVER), 'EDK2 fetched grubaa64.efi over TFTP');
  const gets = httpRequests(pcap);
  t.diagnostic(`TFTP: ${tftp.map((r) => `${r.t.toFixed(2)}s ${r.file}`).join(', ')}; HTTP: ${gets.map((r) => `${r.t.toFixed(2)}s ${r.src} ${r.uri}`).join(', ')}`);
  for (const vm of [pxe, http]) {
    const ip = dhcpPkts.find((p) => p.mac === vm.mac && p.src === `${NET}.1` && p.type === 5)?.yiaddr;
    assert.ok(gets.some((r) => r.src === ip && r.uri.startsWith(`/boot.grub?mac=${vm.mac}`)), `GRUB at ${ip} asked for its own config`);
    assert.ok(gets.some((r) => r.src === ip && r.uri === '/vmlinuz') && gets.some((r) => r.src === ip && r.uri === '/initrd.gz'), `GRUB at ${ip} fetched the kernel and initrd over HTTP`);
  }
  assert.ok(gets.some((r) => r.uri === '/grubaa64.efi'), 'the HTTP boot client fetched GRUB by HTTP');
  assert.ok(srv.logs.some((l) => l.event === 'http-transfer' && l.file === '/grubaa64.efi' && l.result === 'ok'), 'pxepool served it');

  // (c) Debian's signed GRUB, with next-server in Kea's ACK.
  await kea.stop();
  await startKea(lab, dhcp, pool, { extra: { 'next-server': SERVER } });
  const signed = await boot('aavmf-signed-grub', [], SIGNED_MAC);
  const files = srv.logs.filter((l) => l.event === 'tftp-transfer' && l.result === 'ok' && String(l.client).startsWith(`${NET}.`)).map((l) => String(l.file).replace(/^\//, ''));
  t.diagnostic(`(c) TFTP: ${files.filter((f) => !f.startsWith('grubaa64')).join(', ')}`);
  assert.ok(answers(signed.mac).some((l) => l.port === 4011 && l.file === 'grubnetaa64.efi'), 'pxepool\'s 4011 answer named the signed GRUB');
  for (const f of ['grubnetaa64.efi', 'grub/grub.cfg', 'vmlinuz', 'initrd.gz']) assert.ok(files.includes(f), `(c) fetched ${f} by TFTP`);
  assert.ok(files.some((f) => f.startsWith(`boot.grub?mac=${signed.mac}&platform=efi&buildarch=arm64&proto=tftp`)), '(c) the handover fetched this machine\'s own config');

  // (d) Secure Boot enforced, Kea still giving next-server.
  const before = srv.logs.length;
  const sb = await boot('aavmf-secure-boot', [], SB_MAC, true);
  const marker = sb.lines.find((l) => l.line.includes('PXEPOOL-BOOTED'))?.line ?? '';
  assert.match(marker, /secureboot=1\b/, 'the firmware says Secure Boot is on');
  const sbFiles = srv.logs.slice(before).filter((l) => l.event === 'tftp-transfer' && l.result === 'ok').map((l) => String(l.file).replace(/^\//, ''));
  t.diagnostic(`(d) TFTP: ${sbFiles.join(', ')}`);
  for (const f of ['sb/shimaa64.efi', 'sb/grubaa64.efi', 'grub/grub.cfg', 'vmlinuz-signed', 'initrd.gz']) assert.ok(sbFiles.includes(f), `(d) fetched ${f}`);
  const refused = startClient(lab, { firmware: 'aavmf', secureBoot: true, memoryMb: 1024, tap: await lab.addTap(), workDir: out, name: 'aavmf-secure-boot-unsigned' });
  try {
    const r = await refused.waitForSerial(/Access Denied|Security Violation/, 240_000);
    t.diagnostic(`(d) the unsigned grubaa64.efi of (a): "${r.match[0]}" at ${(r.t / 1000).toFixed(1)} s`);
    assert.ok(!refused.lines.some((l) => /Welcome to GRUB/.test(l.line)), 'the unsigned GRUB never ran');
  } catch (e) {
    console.error(refused.tail(30));
    throw e;
  } finally {
    await refused.stop();
  }
});
