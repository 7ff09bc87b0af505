// Secure Boot, enforced (OVMF's secboot build, Microsoft keys enrolled, SMM), beside Kea:
//   (a) boot media made with --secure-boot: Debian's signed shim → Debian's signed GRUB, whose
//       config is on the media, → GRUB's own DHCP → this machine's config from the pool over
//       TFTP → Debian's signed kernel; the initramfs prints the firmware's SecureBoot variable.
//   (b) negative controls, so (a) proves enforcement: the same firmware refuses the unsigned
//       snponly.efi a pool peer offers by PXE, and the media's unsigned GRUB (made without
//       --secure-boot).
//   (c) (a) again with the first listed peer SIGKILLed.
// Why media and not PXE for Debian 12's chain: docs/firmware.md, "Secure Boot in proxy mode" —
// its signed GRUB 2.06 reads its server only from the site DHCP server's ACK, and finds none
// beside ProxyDHCP. Further down: PXE with Kea's next-server (mode 1, and proxy + one key), the
// same through a pool with the owner dead, and Debian 13's signed chain (GRUB 2.12 reads the
// proxy offer) in pure proxy mode by PXE, by UEFI HTTP boot, and with the owner dead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startKea, startRadvd } from '../lib/services.ts';
import { MAIN, startServe } from '../lib/serve-proc.ts';
import { makeBootRoot, signedKernel } from './artifacts.ts';
import { debian13SecureBoot } from './debian13-artifacts.ts';
import { startClient, type QemuClient } from './qemu.ts';
import { A, B, killPeer, logTail, macOwnedBy, outDir, startPeers } from './pool-peers.ts';
import { bin, E2E, needs } from '../lib/require.ts';
import { MEDIA_INPUTS, SECURE_BOOT_INPUTS } from '../../src/media/build.ts';

const skip = needs(
  ...E2E,
  bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'),
  bin('/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', 'ovmf'),
  ...[...Object.values(MEDIA_INPUTS), ...Object.values(SECURE_BOOT_INPUTS)].map((i) => bin(i.path, i.pkg)),
);

const NET = '10.77.61';
const ADDRS = { [A]: `${NET}.11`, [B]: `${NET}.12` } as const;
// One profile for both ways in: PXE gets the unsigned iPXE (to be refused), media get the kernel.
const PROFILES = `
profiles:
  lab:
    efiX64: snponly.efi
    kernel: vmlinuz-signed
    initrd: initrd.gz
    cmdline: "console=ttyS0 quiet panic=-1 pxepool.server=pool"
default: lab
`;
const REFUSED = /Security Violation|Access Denied/;
/** The whole marker line (the marker's regex stops at server=). */
const markerLine = (v: QemuClient): string => v.lines.find((l) => l.line.includes('PXEPOOL-BOOTED'))?.line ?? '';

test('Secure Boot: signed shim → signed GRUB → signed kernel from --secure-boot media beside Kea; unsigned loaders refused; again with the first peer dead', { skip, timeout: 900_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'secure-boot');
  const dhcp = await lab.addHost('dhcp', { address: `${NET}.1/24` });
  await startKea(lab, dhcp, { subnet: `${NET}.0/24`, rangeStart: `${NET}.100`, rangeEnd: `${NET}.199`, router: `${NET}.1` });
  await startRadvd(lab, dhcp);
  const peers = await startPeers(lab, 'lan', ADDRS, 24, undefined, { profiles: PROFILES });
  t.after(() => Promise.all(Object.values(peers).map((p) => p.srv.stop())));
  const kernel = signedKernel();
  for (const name of [A, B]) copyFileSync(kernel, join(lab.tmpDir, `root-${name}`, 'vmlinuz-signed'));

  const media = (file: string, extra: string[]) => {
    const r = spawnSync(process.execPath, [MAIN, 'media', '--config', peers[A]!.config, '--out', join(out, file), ...extra], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    t.diagnostic(r.stdout.trim());
    return join(out, file);
  };
  const sbIso = media('secure-boot.iso', ['--secure-boot']);
  const plainIso = media('plain.iso', []);
  // Secure Boot firmware with SMM needs more than the 256 MiB the other scenarios give.
  const vm = async (name: string, bootImage?: string) => startClient(lab, {
    firmware: 'uefi', secureBoot: true, memoryMb: 512, tap: await lab.addTap(), workDir: out, name,
    ...(bootImage !== undefined ? { bootImage: { path: bootImage, as: 'cdrom' as const } } : {}),
  });
  const stopAll = (vms: QemuClient[]) => Promise.all(vms.map((v) => v.stop()));
  const fetchedBy = (mac: string, peer: string) => peers[peer]!.srv.logs.filter((l) => l.event === 'tftp-transfer' && typeof l.file === 'string' && l.file.includes(`mac=${mac}`)).length;

  // Round 1: (a) and both negative controls at once.
  const good1 = await vm('sb-media', sbIso);
  const pxe = await vm('sb-pxe-unsigned');
  const unsigned = await vm('sb-media-unsigned', plainIso);
  const vms = [good1, pxe, unsigned];
  try {
    const [booted, pxeRefused, mediaRefused] = await Promise.all([
      good1.waitForMarker(300_000),
      pxe.waitForSerial(REFUSED, 240_000),
      unsigned.waitForSerial(REFUSED, 240_000),
    ]);
    t.diagnostic(`(a) booted in ${booted.seconds.toFixed(1)} s: ${markerLine(good1)}`);
    assert.match(markerLine(good1), /secureboot=1\b/, 'the firmware says Secure Boot is on');
    assert.ok(fetchedBy(good1.mac, A) === 1, 'its GRUB config came from the first listed peer, by TFTP');
    t.diagnostic(`(b) PXE, unsigned snponly.efi: "${pxeRefused.match[0]}" at ${(pxeRefused.t / 1000).toFixed(1)} s; media with unsigned GRUB: "${mediaRefused.match[0]}" at ${(mediaRefused.t / 1000).toFixed(1)} s`);
    const snpFetched = Object.values(peers).some((p) => p.srv.logs.some((l) => l.event === 'tftp-transfer' && l.file === 'snponly.efi' && typeof l.client === 'string'));
    assert.ok(snpFetched, 'the firmware did fetch snponly.efi, then refused to run it');
    assert.ok(!Object.values(peers).some((p) => p.srv.logs.some((l) => l.event === 'http-transfer' && typeof l.file === 'string' && l.file.startsWith('/boot.ipxe'))), 'no iPXE ever ran');
    assert.ok(!unsigned.lines.some((l) => /pxepool media/.test(l.line)), 'the unsigned GRUB never ran');
  } catch (e) {
    for (const v of vms) console.error(`--- ${v.name}:\n${v.tail(30)}`);
    t.diagnostic(`peer-a:\n${logTail(peers[A]!.srv)}`);
    throw e;
  } finally {
    await stopAll(vms);
  }

  // (c): the first listed peer SIGKILLed; the media's config goes on to the next.
  await killPeer(peers[A]!, peers[B]!);
  const again = await vm('sb-media-dead', sbIso);
  try {
    const r = await again.waitForMarker(300_000);
    t.diagnostic(`(c) first peer dead: booted in ${r.seconds.toFixed(1)} s: ${markerLine(again)}`);
    assert.match(markerLine(again), /secureboot=1\b/);
    assert.equal(fetchedBy(again.mac, B), 1, 'the second listed peer gave its GRUB config');
  } catch (e) {
    console.error(again.tail(40));
    t.diagnostic(`peer-b:\n${logTail(peers[B]!.srv)}`);
    throw e;
  } finally {
    await again.stop();
  }
});

// (e) PXE with Secure Boot where the site DHCP server helps: Debian 12's signed GRUB learns its
// server only from the site server's ACK (docs/firmware.md). First mode 1 (Kea configured from
// `pxepool dhcp-snippet --format kea --mode 1`: next-server and shim from Kea, no ProxyDHCP);
// then proxy mode with one key added to Kea, `next-server`: pxepool's ProxyDHCP names shim, and
// GRUB finds pxepool in Kea's ACK. Either way GRUB asks pxepool for grub/grub.cfg, pxepool hands
// over to the machine's own config, and the signed kernel boots.
test('Secure Boot by PXE when the site DHCP server names the boot server: mode 1, then ProxyDHCP plus Kea\'s next-server', { skip, timeout: 600_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'secure-boot-next-server');
  const SERVER = '10.77.64.11';
  const dhcp = await lab.addHost('dhcp', { address: '10.77.64.1/24' });
  const bs = await lab.addHost('bs1', { address: `${SERVER}/24` });
  await startRadvd(lab, dhcp);
  const root = makeBootRoot(join(lab.tmpDir, 'root'), { serverName: 'bs1' });
  copyFileSync(SECURE_BOOT_INPUTS.shim.path, join(root, 'shimx64.efi'));
  copyFileSync('/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', join(root, 'grubx64.efi'));
  copyFileSync(signedKernel(), join(root, 'vmlinuz-signed'));
  const config = (mode: 'off' | 'proxy') => {
    const f = join(lab.tmpDir, `pxepool-${mode}.yaml`);
    writeFileSync(f, `server: { name: bs1, proxyDhcp: ${mode} }\nroot: ${root}\nhttp: { port: 8080 }
profiles:
  sb: { efiX64: shimx64.efi, kernel: vmlinuz-signed, initrd: initrd.gz, cmdline: "console=ttyS0 quiet panic=-1 pxepool.server=bs1", secureBoot: true }
default: sb
`);
    return f;
  };
  const pool = { subnet: '10.77.64.0/24', rangeStart: '10.77.64.100', rangeEnd: '10.77.64.199', router: '10.77.64.1' };

  const phase = async (label: string, name: string, keaExtra: Record<string, unknown>, cfg: string) => {
    const kea = await startKea(lab, dhcp, pool, { extra: keaExtra });
    const srv = await startServe(['--config', cfg], { ns: bs.ns });
    const vm = startClient(lab, { firmware: 'uefi', secureBoot: true, memoryMb: 512, tap: await lab.addTap(), workDir: out, name });
    try {
      const r = await vm.waitForMarker(300_000);
      t.diagnostic(`${label}: booted in ${r.seconds.toFixed(1)} s: ${markerLine(vm)}`);
      assert.match(markerLine(vm), /secureboot=1\b/);
      const files = srv.logs.filter((l) => l.event === 'tftp-transfer' && l.result === 'ok').map((l) => String(l.file).replace(/^\//, ''));
      t.diagnostic(`${label} TFTP: ${files.join(', ')}`);
      for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', 'vmlinuz-signed']) assert.ok(files.includes(f), `${label}: fetched ${f}`);
      assert.ok(files.some((x) => x.startsWith(`boot.grub?mac=${vm.mac}`)), `${label}: the handover fetched this machine's own config`);
      return srv;
    } catch (e) {
      console.error(vm.tail(40));
      t.diagnostic(logTail(srv));
      throw e;
    } finally {
      await vm.stop();
      await srv.stop();
      await kea.stop();
    }
  };

  const cfgOff = config('off');
  const snippet = spawnSync(process.execPath, [MAIN, 'dhcp-snippet', '--format', 'kea', '--mode', '1', '--config', cfgOff, '--peers', SERVER], { encoding: 'utf8' });
  assert.equal(snippet.status, 0, snippet.stderr);
  const keys = JSON.parse(`{${snippet.stdout.split('\n').filter((l) => !l.trimStart().startsWith('//')).join('\n')}}`) as Record<string, unknown>;
  await phase('(e) mode 1', 'sb-pxe-mode1', keys, cfgOff);
  const proxied = await phase('(e) ProxyDHCP + next-server', 'sb-pxe-proxy', { 'next-server': SERVER }, config('proxy'));
  assert.ok(proxied.logs.some((l) => l.event === 'answer' && l.port === 4011), 'in the second phase pxepool\'s ProxyDHCP named shim (4011)');
});

// (d) over PXE: Secure Boot through a pool whose peers hold service addresses, the client's owner
// SIGKILLed before the client starts. Kea's one key, next-server, names the owner's service
// address; the survivor has taken it over, so the signed GRUB, which reads its server only from
// that ACK, reaches the survivor for grub/grub.cfg, the machine's own config and the kernel.
test('Secure Boot by PXE through the pool, the owner dead before the client starts: Kea\'s next-server names its service address, the survivor serves the whole signed chain', { skip, timeout: 600_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'secure-boot-pool-dead');
  const NET6 = '10.77.65';
  const SERVICE = { [A]: `${NET6}.21`, [B]: `${NET6}.22` } as const;
  const dhcp = await lab.addHost('dhcp', { address: `${NET6}.1/24` });
  await startRadvd(lab, dhcp);
  const peers = await startPeers(lab, 'lan', { [A]: `${NET6}.11`, [B]: `${NET6}.12` }, 24, undefined, {
    service: SERVICE,
    profiles: 'profiles:\n  sb: { efiX64: shimx64.efi, kernel: vmlinuz-signed, initrd: initrd.gz, cmdline: "console=ttyS0 quiet panic=-1 pxepool.server=pool", secureBoot: true }\ndefault: sb\n',
  });
  t.after(async () => { await Promise.all(Object.values(peers).map((p) => p.srv.stop())); });
  const [pa, pb] = [peers[A]!, peers[B]!];
  // Identical trees on both peers, as a pool must serve: Debian's signed binaries, byte for byte.
  for (const n of [A, B]) {
    const root = join(lab.tmpDir, `root-${n}`);
    copyFileSync(SECURE_BOOT_INPUTS.shim.path, join(root, 'shimx64.efi'));
    copyFileSync('/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', join(root, 'grubx64.efi'));
    copyFileSync(signedKernel(), join(root, 'vmlinuz-signed'));
  }
  await Promise.all(([A, B] as const).map((n) => peers[n]!.srv.waitForLog((l) => l.event === 'pool-address-added' && l.address === SERVICE[n], 15_000)));
  const kea = await startKea(lab, dhcp, { subnet: `${NET6}.0/24`, rangeStart: `${NET6}.100`, rangeEnd: `${NET6}.199`, router: `${NET6}.1` }, { extra: { 'next-server': SERVICE[A] } });
  t.after(() => kea.stop());
  const mac = macOwnedBy('52:54:00:65:5d', A);
  const downMs = await killPeer(pa, pb);
  await pb.srv.waitForLog((l) => l.event === 'pool-address-added' && l.address === SERVICE[A], 15_000);
  t.diagnostic(`${A} SIGKILLed; ${B} saw it down after ${downMs} ms and holds ${SERVICE[A]}`);
  const vm = startClient(lab, { firmware: 'uefi', secureBoot: true, memoryMb: 512, tap: await lab.addTap(), workDir: out, name: 'sb-pool-dead', mac });
  try {
    const r = await vm.waitForMarker(300_000);
    t.diagnostic(`booted in ${r.seconds.toFixed(1)} s: ${markerLine(vm)}`);
    console.log(`# Secure Boot by PXE, the owner dead: ${r.seconds.toFixed(1)} s to the marker`);
    assert.match(markerLine(vm), /secureboot=1\b/);
    const files = pb.srv.logs.filter((l) => l.event === 'tftp-transfer' && l.result === 'ok').map((l) => String(l.file).replace(/^\//, ''));
    t.diagnostic(`${B} TFTP: ${files.join(', ')}`);
    for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', 'vmlinuz-signed']) assert.ok(files.includes(f), `the survivor served ${f}`);
    assert.ok(files.some((x) => x.startsWith(`boot.grub?mac=${mac}`)), 'and this machine\'s own config');
    assert.ok(pb.srv.logs.some((l) => l.event === 'answer' && l.mac === mac), 'the survivor\'s ProxyDHCP answered the owner\'s client');
  } catch (e) {
    console.error(vm.tail(40));
    t.diagnostic(logTail(pb.srv, 40));
    throw e;
  } finally {
    await vm.stop();
  }
});

// Debian 13's signed chain (shim 16 + GRUB 2.12, fetched by test/e2e/debian13-artifacts.ts) in
// PURE proxy mode: Kea gives addresses and nothing else. GRUB 2.12 reads the firmware's cached
// proxy offer, which 2.06 does not, so it finds the pool by itself. Two peers, no service
// addresses: (a) by PXE from the client's owner; (c) by UEFI HTTP boot (PXE knobs off), shim →
// GRUB → config → kernel all over HTTP; (d) by PXE again with the owner SIGKILLed before the
// client starts: the survivor's offer is the one GRUB reads.
test('Secure Boot in pure proxy mode with Debian 13\'s signed shim and GRUB 2.12: by PXE, by UEFI HTTP boot, and by PXE with the owner dead', { skip, timeout: 900_000 }, async (t) => {
  const sb13 = debian13SecureBoot();
  t.diagnostic(`Debian 13: shim-signed ${sb13.versions['shim-signed']}, grub-efi-amd64-signed ${sb13.versions['grub-efi-amd64-signed']}`);
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'secure-boot-debian13');
  const N = '10.77.67';
  const dhcp = await lab.addHost('dhcp', { address: `${N}.1/24` });
  await startRadvd(lab, dhcp);
  const kea = await startKea(lab, dhcp, { subnet: `${N}.0/24`, rangeStart: `${N}.100`, rangeEnd: `${N}.199`, router: `${N}.1` });
  t.after(() => kea.stop());
  const peers = await startPeers(lab, 'lan', { [A]: `${N}.11`, [B]: `${N}.12` }, 24, undefined, {
    profiles: 'profiles:\n  sb: { efiX64: shimx64.efi, efiX64Http: "http://${server}/shimx64.efi", kernel: vmlinuz-signed, initrd: initrd.gz, cmdline: "console=ttyS0 quiet panic=-1 pxepool.server=pool", secureBoot: true }\ndefault: sb\n',
  });
  t.after(async () => { await Promise.all(Object.values(peers).map((p) => p.srv.stop())); });
  const [pa, pb] = [peers[A]!, peers[B]!];
  for (const n of [A, B]) {
    const root = join(lab.tmpDir, `root-${n}`);
    copyFileSync(sb13.shim, join(root, 'shimx64.efi'));
    copyFileSync(sb13.grubnet, join(root, 'grubx64.efi'));
    copyFileSync(signedKernel(), join(root, 'vmlinuz-signed'));
  }
  const NO_PXE = ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'];
  // The capture docs/firmware.md quotes (PXEPOOL_SB_PCAP=file keeps it).
  const pcap = join(out, 'debian13.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  const boot = async (label: string, name: string, mac: string, server: typeof pa, proto: 'tftp' | 'http', extraArgs: string[] = []) => {
    const before = server.srv.logs.length;
    const vm = startClient(lab, { firmware: 'uefi', secureBoot: true, memoryMb: 512, tap: await lab.addTap(), workDir: out, name, mac, extraArgs });
    try {
      const r = await vm.waitForMarker(300_000);
      t.diagnostic(`${label}: ${r.seconds.toFixed(1)} s: ${markerLine(vm)}`);
      console.log(`# Secure Boot, Debian 13 chain, ${label}: ${r.seconds.toFixed(1)} s to the marker`);
      assert.match(markerLine(vm), /secureboot=1\b/, `${label}: the firmware enforced Secure Boot`);
      const event = proto === 'tftp' ? 'tftp-transfer' : 'http-transfer';
      const files = server.srv.logs.slice(before).filter((l) => l.event === event && (l.result === 'ok') && (l.status === undefined || l.status === 200)).map((l) => String(l.file).replace(/^\/+/, ''));
      t.diagnostic(`${label}: ${server.name} ${proto}: ${[...new Set(files)].join(', ')}`);
      for (const f of ['shimx64.efi', 'grubx64.efi', 'grub/grub.cfg', 'vmlinuz-signed', 'initrd.gz']) assert.ok(files.includes(f), `${label}: ${server.name} served ${f} by ${proto}`);
      assert.ok(files.some((x) => x.startsWith('boot.grub')), `${label}: and this machine's own config`);
    } catch (e) {
      console.error(vm.tail(40));
      t.diagnostic(logTail(server.srv, 40));
      throw e;
    } finally {
      await vm.stop();
    }
  };
  try {
    await boot('(a) PXE, pure proxy', 'sb13-pxe', macOwnedBy('52:54:00:67:a0', A), pa, 'tftp');
    await boot('(c) UEFI HTTP boot', 'sb13-http', macOwnedBy('52:54:00:67:c0', A), pa, 'http', NO_PXE);
    const downMs = await killPeer(pa, pb);
    t.diagnostic(`${A} SIGKILLed; ${B} saw it down after ${downMs} ms`);
    await boot('(d) PXE, pure proxy, the owner dead', 'sb13-dead', macOwnedBy('52:54:00:67:d0', A), pb, 'tftp');
  } finally {
    await cap.stop();
    if (process.env.PXEPOOL_SB_PCAP) copyFileSync(pcap, process.env.PXEPOOL_SB_PCAP);
  }
});
