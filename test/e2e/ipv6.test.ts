// PXE over IPv6 on real firmware through pxepool, beside Kea DHCPv6 that knows nothing of PXE:
// OVMF with its IPv4 PXE off (the fw_cfg knob), so "PXE over IPv6" is its first option, gets its
// address from Kea and its boot file from pxepool's ProxyDHCPv6 (an Advertise without IA_NA,
// then the 4011 Request over IPv6), and fetches snponly.efi by TFTP over IPv6 from pxepool.
// The iPXE it starts (Debian's 2019 build) then configures IPv4, where pxepool's ProxyDHCP gives
// it the script and kernel: the firmware's part of the boot is IPv6 end to end, the rest is not
// yet (docs/firmware.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { addAddress6, Lab, runOk } from '../lib/netns.ts';
import { startKea, startKea6, startRadvd } from '../lib/services.ts';
import { startServe } from '../lib/serve-proc.ts';
import { makeBootRoot } from './artifacts.ts';
import { startClient } from './qemu.ts';
import { A, B, logTail, macOwnedBy, startPeers } from './pool-peers.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/kea-dhcp6', 'kea-dhcp6-server'),
  bin('/usr/bin/arping', 'iputils-arping'), bin('/usr/bin/ndisc6', 'ndisc6'), bin('/usr/sbin/nft', 'nftables'));
const V6 = 'fd77:0:0:3';

test('OVMF PXE over IPv6 beside Kea DHCPv6: the address from Kea, snponly.efi from pxepool by ProxyDHCPv6 and TFTP over IPv6', { skip, timeout: 600_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.68.1/24' });
  const bs = await lab.addHost('bs', { address: '10.77.68.11/24' });
  await addAddress6(dhcp, `${V6}::1/64`);
  await addAddress6(bs, `${V6}::11/64`);
  await startRadvd(lab, dhcp, { prefix: `${V6}::/64` });
  await startKea6(lab, dhcp, `${V6}::/64`, `${V6}::100 - ${V6}::1ff`);
  await startKea(lab, dhcp, { subnet: '10.77.68.0/24', rangeStart: '10.77.68.100', rangeEnd: '10.77.68.199', router: '10.77.68.1' });
  const root = makeBootRoot(join(lab.tmpDir, 'root'), { serverName: 'bs' });
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `server: { name: bs, address6: ${V6}::11 }\nroot: ${root}\nhttp: { port: 8080 }
profiles:
  uefi: { efiX64: snponly.efi, ipxe: "http://\${server}/boot.ipxe" }
default: uefi
`);
  const pcap = join(lab.tmpDir, 'v6.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'ip6' });
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());
  const out = join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });
  const vm = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name: 'uefi-pxe6', extraArgs: ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n'] });
  try {
    const r = await vm.waitForMarker(300_000);
    t.diagnostic(`booted in ${r.seconds.toFixed(1)} s: ${r.line}`);
    const lines = vm.lines.map((l) => l.line);
    assert.ok(lines.some((l) => /Start PXE over IPv6/.test(l)), 'the firmware booted by PXE over IPv6');
    assert.ok(lines.some((l) => new RegExp(`Station IP address is ${V6.toUpperCase()}`, 'i').test(l)), 'its address came from Kea DHCPv6');
    assert.ok(lines.some((l) => /NBP file downloaded successfully/.test(l)));
    const six = srv.logs.filter((l) => l.event === 'answer' && (l.port === 547 || l.port === 4011) && l.mac === vm.mac).map((l) => l.port);
    assert.deepEqual([...new Set(six)].sort((x, y) => Number(x) - Number(y)), [547, 4011], 'pxepool answered its Solicit and its 4011 Request');
    assert.ok(srv.logs.some((l) => l.event === 'tftp-transfer' && l.file === 'snponly.efi' && l.result === 'ok' && String(l.client).startsWith(V6)), 'snponly.efi went by TFTP over IPv6');
  } catch (e) {
    await cap.stop();
    if (process.env.PXEPOOL_V6_PCAP) (await import('node:fs')).copyFileSync(pcap, process.env.PXEPOOL_V6_PCAP);
    console.error(vm.tail(40));
    t.diagnostic(srv.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n'));
    throw e;
  } finally {
    await vm.stop();
  }
});

// Issue 17 (d) and issue 12 over IPv6: two pool peers, each with an IPv6 service address. The
// client's owner answers its Solicit alone, and is SIGKILLed during the NBP download over TFTP
// over IPv6 that follows its 4011 Reply: the survivor takes the IPv6 service address, tells the
// segment with neighbour advertisements, goes on with the transfer from the client's next ACK,
// and (the owner being dead) answers the iPXE stage over IPv4 too.
test('pool over IPv6: the owner SIGKILLed during the NBP download over TFTP6 — the survivor takes its IPv6 service address and the transfer, and the machine boots', { skip, timeout: 900_000 }, async (t) => {
  const P6 = 'fd77:0:0:4';
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.69.1/24' });
  await addAddress6(dhcp, `${P6}::1/64`);
  await startRadvd(lab, dhcp, { prefix: `${P6}::/64` });
  await startKea6(lab, dhcp, `${P6}::/64`, `${P6}::100 - ${P6}::1ff`);
  await startKea(lab, dhcp, { subnet: '10.77.69.0/24', rangeStart: '10.77.69.100', rangeEnd: '10.77.69.199', router: '10.77.69.1' });
  const SERVICE6 = { [A]: `${P6}::21`, [B]: `${P6}::22` } as const;
  const peers = await startPeers(lab, 'lan', { [A]: '10.77.69.11', [B]: '10.77.69.12' }, 24, undefined, {
    address6: { [A]: `${P6}::11`, [B]: `${P6}::12` }, service6: SERVICE6, configExtra: 'log: { level: debug }',
    profiles: 'profiles:\n  uefi: { efiX64: snponly.efi, ipxe: "http://${server}/boot.ipxe" }\ndefault: uefi\n',
  });
  t.after(async () => { await Promise.all(Object.values(peers).map((p) => p.srv.stop())); });
  const [pa, pb] = [peers[A]!, peers[B]!];
  await Promise.all(([A, B] as const).map((n) => peers[n]!.srv.waitForLog((l) => l.event === 'pool-address-added' && l.address === SERVICE6[n], 15_000)));
  const out = join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });
  const boot = async (name: string, mac: string, during?: () => Promise<void>) => {
    const vm = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name, mac, extraArgs: ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n'] });
    try {
      const [r] = await Promise.all([vm.waitForMarker(300_000), during?.()]);
      return r;
    } catch (e) {
      t.diagnostic(`${name} serial:\n${vm.tail(40)}\n${[pa, pb].map((p) => `${p.name} log:\n${logTail(p.srv, 40)}`).join('\n')}`);
      throw e;
    } finally {
      await vm.stop();
    }
  };

  const base = macOwnedBy('52:54:00:69:1a', A);
  const r0 = await boot('pxe6-base', base);
  t.diagnostic(`undisturbed: ${r0.seconds.toFixed(1)} s from ${r0.server}`);
  const solicitAnswers = (p: typeof pa, mac: string) => p.srv.logs.filter((l) => l.event === 'answer' && l.port === 547 && l.mac === mac).length;
  assert.ok(solicitAnswers(pa, base) >= 1, 'the owner answered the Solicit');
  assert.equal(solicitAnswers(pb, base), 0, 'the backup held back: one Advertise per Solicit');
  assert.ok(pb.srv.logs.some((l) => l.event === 'hold' && l.port === 547 && l.mac === base));
  assert.ok(pa.srv.logs.some((l) => l.event === 'answer' && l.mac === base && String(l.file).includes(`[${SERVICE6[A]}]`)), 'its boot file URL names the owner\'s IPv6 service address');

  // The NBP download takes a tenth of a second here: slow the owner's sending side so the kill
  // lands inside it every time (the survivor is not slowed) — from its 4011 Reply on, so that the
  // DHCPv6 exchange itself runs at full speed.
  let killedAt = 0;
  const killInNbp = (mac: string) => async (): Promise<void> => {
    const before = pa.srv.logs.length;
    await pa.srv.waitForLog((l) => l.event === 'answer' && l.port === 4011 && l.mac === mac, 240_000);
    await runOk('tc', ['qdisc', 'replace', 'dev', pa.host.iface.name, 'root', 'tbf', 'rate', '2mbit', 'burst', '16kb', 'latency', '400ms'], { ns: pa.host.ns });
    // EDK2 asks twice: a size probe it aborts after the OACK, then the download.
    const starts = () => pa.srv.logs.filter((l, i) => i >= before && l.msg === 'tftp transfer start' && l.file === 'snponly.efi').length;
    await pa.srv.waitForLog(() => starts() >= 2, 240_000);
    await new Promise((r) => setTimeout(r, 300));
    pa.srv.proc.kill('SIGKILL');
    killedAt = Date.now();
  };
  const pcap = join(lab.tmpDir, 'victim6.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'ip6' });
  let victim = macOwnedBy('52:54:00:69:1b', A);
  let r1;
  try {
    r1 = await boot('pxe6-victim', victim, killInNbp(victim));
  } catch (e) {
    // Once in a loaded CI run EDK2 gave up its 4011 exchange with the live owner (PXE-E16) before
    // anything was killed: the moment under test never came. Say so loudly and boot once more;
    // a failure after the kill, or a second one, fails the test.
    if (killedAt !== 0) throw e;
    await cap.stop();
    if (process.env.PXEPOOL_V6_PCAP) (await import('node:fs')).copyFileSync(pcap, process.env.PXEPOOL_V6_PCAP);
    console.log(`# RETRIED: the first victim boot failed before the owner was killed (${(e as Error).message.split('\n')[0]}); capture ${pcap}`);
    victim = macOwnedBy('52:54:00:69:1c', A);
    r1 = await boot('pxe6-victim-2', victim, killInNbp(victim));
  }
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  const at = (l: Record<string, unknown> | undefined) => (l === undefined ? '–' : `+${((Date.parse(String(l.time)) - killedAt) / 1000).toFixed(2)} s`);
  const added = pb.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE6[A]);
  const resumed = pb.srv.logs.find((l) => l.event === 'tftp-resumed' && l.file === 'snponly.efi');
  t.diagnostic(`owner killed in the NBP download: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s) from ${r1.server}; address taken ${at(added)}, transfer resumed ${at(resumed)} from block ${String(resumed?.fromBlock)}`);
  console.log(`# pool over IPv6, owner killed in the NBP download: ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.ok(killedAt > 0, 'the owner was killed inside the download');
  assert.equal(r1.mac, victim);
  assert.equal(r1.server, B, 'booted from the survivor');
  assert.ok(added, `${B} took ${SERVICE6[A]}`);
  assert.ok(resumed && String(resumed.client).startsWith(P6), `${B} went on with the IPv6 NBP transfer`);
});

// Issue 17 (b): UEFI HTTP boot over IPv6. OVMF's PXE is off and the segment has no DHCPv4
// server, so HTTP boot over IPv4 finds no address and gives up, and HTTP boot over IPv6 runs:
// its address from Kea DHCPv6, its URL from pxepool's Advertise (vendor class HTTPClient, no
// IA_NA), and the URL names a unified kernel image (kernel, initramfs and command line in one
// EFI file), so the boot is IPv6 from the first packet to the kernel.
test('OVMF HTTP boot over IPv6 beside Kea DHCPv6: the URL from pxepool\'s Advertise, the kernel image over HTTP over IPv6', { skip: skip || needs(bin('/usr/lib/systemd/boot/efi/linuxx64.efi.stub', 'systemd-boot-efi'), bin('/usr/bin/objcopy', 'binutils')), timeout: 900_000 }, async (t) => {
  const P6 = 'fd77:0:0:5';
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.70.1/24' });
  const bs = await lab.addHost('bs', { address: '10.77.70.11/24' });
  await addAddress6(dhcp, `${P6}::1/64`);
  await addAddress6(bs, `${P6}::11/64`);
  await startRadvd(lab, dhcp, { prefix: `${P6}::/64` });
  await startKea6(lab, dhcp, `${P6}::/64`, `${P6}::100 - ${P6}::1ff`);
  const root = makeBootRoot(join(lab.tmpDir, 'root'), { serverName: 'bs', uki: true });
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `server: { name: bs, address6: "${P6}::11" }\nroot: ${root}\nhttp: { port: 8080 }
profiles:
  uefi-http: { efiX64Http: "http://\${server}/linux.efi" }
default: uefi-http
`);
  const pcap = join(lab.tmpDir, 'http6.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'ip6' });
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());
  const out = join(lab.tmpDir, 'out');
  mkdirSync(out, { recursive: true });
  const vm = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name: 'uefi-http6', extraArgs: ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'] });
  try {
    const r = await vm.waitForMarker(600_000);
    t.diagnostic(`booted in ${r.seconds.toFixed(1)} s: ${r.line}`);
    console.log(`# OVMF HTTP boot over IPv6 to the kernel: ${r.seconds.toFixed(1)} s (the IPv4 HTTP boot attempt before it included)`);
    const lines = vm.lines.map((l) => l.line);
    const v6At = vm.lines.find((l) => /HTTP Boot over IPv6|HTTPv6/i.test(l.line));
    t.diagnostic(`serial: ${lines.filter((l) => /HTTP|IPv6|IPv4/i.test(l)).slice(0, 12).join(' | ')}`);
    assert.ok(v6At !== undefined, 'the firmware started HTTP boot over IPv6');
    const answer = srv.logs.find((l) => l.event === 'answer' && l.port === 547 && l.mac === vm.mac);
    assert.ok(answer, 'pxepool answered its Solicit');
    assert.equal(answer.file, `http://[${P6}::11]:8080/linux.efi`);
    assert.equal(answer.firmware, 'efi-x64-http');
    const got = srv.logs.find((l) => l.event === 'http-transfer' && l.file === '/linux.efi' && l.result === 'ok');
    assert.ok(got && String(got.client).startsWith(P6), `the kernel image went by HTTP over IPv6: ${JSON.stringify(srv.logs.filter((l) => String(l.event).startsWith('http')).slice(-4))}`);
    assert.equal(r.server, 'bs');
  } catch (e) {
    console.error(vm.tail(40));
    t.diagnostic(srv.logs.slice(-20).map((l) => JSON.stringify(l)).join('\n'));
    throw e;
  } finally {
    await vm.stop();
    // The capture docs/firmware.md quotes: kept on request, pass or fail.
    await cap.stop();
    if (process.env.PXEPOOL_V6_PCAP) (await import('node:fs')).copyFileSync(pcap, process.env.PXEPOOL_V6_PCAP);
  }
});
