// UEFI HTTP boot (EDK2 HttpBootDxe, vendor class HTTPClient, arch 16) through a pxepool pool in
// proxy mode beside Kea: EDK2 takes the boot URL from the peer's offer and its address from
// Kea, fetches iPXE over HTTP, and iPXE fetches the pool's script and kernel. The firmware's
// PXE is switched off (OVMF's fw_cfg knobs, the setting an admin changes in firmware setup), so
// HTTP boot is its first network option instead of the fourth (132 s in, docs/firmware.md).
// Then the same with the client's owner SIGKILLed before the client starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startKea, startRadvd } from '../lib/services.ts';
import { startClient } from './qemu.ts';
import { dhcpRecords, httpRequests } from './lab-pcap.ts';
import { A, B, killPeer, logTail, macOwnedBy, outDir, startPeers } from './pool-peers.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'));

const NET = '10.77.63';
const ADDRS = { [A]: `${NET}.11`, [B]: `${NET}.12` } as const;
const PROFILES = `
profiles:
  http-boot:
    efiX64Http: "http://\${server}/snponly.efi"
    ipxe: "http://\${server}/boot.ipxe?mac=\${mac}&platform=\${platform}&buildarch=\${buildarch}"
    kernel: vmlinuz
    initrd: initrd.gz
    cmdline: "initrd=initrd.gz console=ttyS0 quiet panic=-1 pxepool.server=pool"
default: http-boot
`;
const NO_PXE = ['-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n'];

test('UEFI HTTP boot through the pool in proxy mode beside Kea; again with the owner dead', { skip, timeout: 900_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'http-boot');
  const dhcp = await lab.addHost('dhcp', { address: `${NET}.1/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  await startKea(lab, dhcp, { subnet: `${NET}.0/24`, rangeStart: `${NET}.100`, rangeEnd: `${NET}.199`, router: `${NET}.1` });
  await startRadvd(lab, dhcp);
  const peers = await startPeers(lab, 'lan', ADDRS, 24, undefined, { profiles: PROFILES });
  t.after(() => Promise.all(Object.values(peers).map((p) => p.srv.stop())));
  const boot = async (name: string, mac: string) => {
    const vm = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name, mac, extraArgs: NO_PXE });
    try {
      const r = await vm.waitForMarker(300_000);
      assert.equal(r.mac, mac);
      assert.ok(vm.lines.some((l) => /Start HTTP Boot over IPv4/.test(l.line)), 'the firmware booted by HTTP boot');
      assert.ok(!vm.lines.some((l) => /Start PXE over/.test(l.line)), 'and never tried PXE');
      return r.seconds;
    } catch (e) {
      console.error(`--- ${name}:\n${vm.tail(40)}`);
      throw e;
    } finally {
      await vm.stop();
    }
  };

  const macA = macOwnedBy('52:54:00:63:00', A);
  const live = await boot('http-live', macA);
  t.diagnostic(`(c) HTTP boot, both peers live: ${live.toFixed(1)} s to the kernel's marker`);

  const macA2 = macOwnedBy('52:54:00:63:01', A);
  await killPeer(peers[A]!, peers[B]!);
  let dead: number;
  try {
    dead = await boot('http-owner-dead', macA2);
  } catch (e) {
    t.diagnostic(`peer-b:\n${logTail(peers[B]!.srv)}`);
    throw e;
  }
  t.diagnostic(`(d) HTTP boot, its owner ${A} SIGKILLed before it started: ${dead.toFixed(1)} s`);
  await cap.stop();

  // From the wire: EDK2's HTTPClient DISCOVER got pxepool's URL offer (no address) next to Kea's.
  const pkts = dhcpRecords(pcap);
  for (const [mac, server] of [[macA, ADDRS[A]], [macA2, ADDRS[B]]] as const) {
    const mine = pkts.filter((p) => p.mac === mac);
    const offer = mine.find((p) => p.src === server && p.type === 2 && p.vendorClass === 'HTTPClient');
    assert.ok(offer !== undefined, `${mac}: ${server} made an HTTPClient offer`);
    assert.equal(offer.yiaddr, '0.0.0.0');
    assert.equal(offer.file, `http://${server}:8080/snponly.efi`);
    assert.ok(mine.some((p) => p.src === `${NET}.1` && p.type === 5 && p.yiaddr !== '0.0.0.0'), `${mac}: Kea gave the address`);
  }
  const http = httpRequests(pcap);
  assert.ok(http.filter((r) => r.uri === '/snponly.efi').length >= 2, 'EDK2 fetched iPXE by HTTP, twice');
});
