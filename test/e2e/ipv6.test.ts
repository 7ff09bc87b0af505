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
import { Lab, runOk } from '../lib/netns.ts';
import { startKea, startKea6, startRadvd } from '../lib/services.ts';
import { startServe } from '../lib/serve-proc.ts';
import { makeBootRoot } from './artifacts.ts';
import { startClient } from './qemu.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/kea-dhcp6', 'kea-dhcp6-server'));
const V6 = 'fd77:0:0:3';

test('OVMF PXE over IPv6 beside Kea DHCPv6: the address from Kea, snponly.efi from pxepool by ProxyDHCPv6 and TFTP over IPv6', { skip, timeout: 600_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const dhcp = await lab.addHost('dhcp', { address: '10.77.68.1/24' });
  const bs = await lab.addHost('bs', { address: '10.77.68.11/24' });
  for (const [h, a] of [[dhcp, `${V6}::1/64`], [bs, `${V6}::11/64`]] as const) {
    await runOk('sysctl', ['-q', '-w', `net.ipv6.conf.${h.iface.name}.disable_ipv6=0`], { ns: h.ns });
    await runOk('ip', ['-6', 'addr', 'add', a, 'dev', h.iface.name, 'nodad'], { ns: h.ns });
  }
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
