// Deployments on real firmware (issue 18): two pxepool peers beside Kea share one PostgreSQL
// (started by the test; its unix socket is a file, so the peers reach it from their network
// namespaces). The policy ignores every client; only assignments make one boot.
//   round 1: a BIOS client (SeaBIOS + iPXE ROM → pxelinux) assigned `once` with the CLI, and a
//            UEFI client (OVMF → snponly.efi → iPXE) assigned persistently, boot at once. The
//            BIOS client's once is used up when pxelinux.0 reaches it.
//   then PostgreSQL is stopped.
//   round 2: both power on again. No peer answers the BIOS client: SeaBIOS goes on to its next
//            boot device (asserted from the serial log) and neither peer's log has an answer for
//            it; the UEFI client boots again from the peers' last-known copy.
// Set PXEPOOL_E2E_OUT=<dir> to keep the pcap and the serial logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, runOk } from '../lib/netns.ts';
import { startKea, startRadvd } from '../lib/services.ts';
import { MAIN } from '../lib/serve-proc.ts';
import { startClient } from './qemu.ts';
import { MARKER_RE } from './artifacts.ts';
import { dhcpRecords } from './lab-pcap.ts';
import { A, B, logTail, outDir, startPeers } from './pool-peers.ts';
import { bin, E2E, needs } from '../lib/require.ts';
import { POSTGRES_NEEDS, startPostgres } from '../lib/postgres.ts';

const skip = needs(...E2E, ...POSTGRES_NEEDS, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/bin/curl', 'curl'));
const KEA = '10.77.85.1';
const ADDRS = { [A]: '10.77.85.11', [B]: '10.77.85.12' } as const;
const BIOS_MAC = '52:54:00:85:00:01';
const UEFI_MAC = '52:54:00:85:00:02';
const TOKEN = 'e2e-deployments-token-0123456789';

const PROFILES = `
profiles:
  bios-lab:
    bios: pxelinux.0
  uefi-lab:
    efiX64: snponly.efi
    ipxe: http://\${server}/boot.ipxe
default: ignore
`;

test('2 peers sharing PostgreSQL: a BIOS client assigned once boots, then no peer answers it (next boot device); a UEFI client assigned persistently boots twice, the second time with PostgreSQL stopped', { skip, timeout: 900_000 }, async (t) => {
  const pg = startPostgres();
  t.after(() => pg.stop());
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'deployments');
  const tokenFile = join(lab.tmpDir, 'api-token');
  writeFileSync(tokenFile, TOKEN);
  const dhcp = await lab.addHost('dhcp', { address: `${KEA}/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  t.after(() => cap.stop());
  await startKea(lab, dhcp, { subnet: '10.77.85.0/24', rangeStart: '10.77.85.100', rangeEnd: '10.77.85.199', router: KEA });
  await startRadvd(lab, dhcp);
  const peers = await startPeers(lab, 'lan', ADDRS, 24, undefined, {
    profiles: PROFILES,
    configExtra: `store: { url: "${pg.url}", refreshMs: 500 }\napi: { tokenFile: ${tokenFile} }`,
  });
  t.after(async () => { await Promise.all(Object.values(peers).map((p) => p.srv.stop())); });
  const pa = peers[A]!;
  const pb = peers[B]!;

  // The admin's way: the CLI, from a peer's host, against that peer's API.
  const cli = (...args: string[]) => runOk(process.execPath, [MAIN, 'clients', ...args, '--url', `http://${pa.address}:8080`, '--token-file', tokenFile], { ns: pa.host.ns, timeoutMs: 20_000 });
  await cli('set', BIOS_MAC, '--profile', 'bios-lab', '--once');
  await cli('set', UEFI_MAC, '--profile', 'uefi-lab');
  const explain = async (peer: typeof pa, mac: string) => JSON.parse(await runOk('curl', ['-sf', '--max-time', '5', `http://${peer.address}:8080/api/v1/explain?mac=${mac}`], { ns: peer.host.ns })) as { verdict: string; reason: string; rule: string };
  const answers = (mac: string) => [pa, pb].reduce((n, p) => n + p.srv.logs.filter((l) => l.event === 'answer' && l.mac === mac).length, 0);

  // Round 1.
  const bios1 = startClient(lab, { firmware: 'bios', tap: await lab.addTap(), workDir: out, name: 'bios-1', mac: BIOS_MAC });
  const uefi1 = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name: 'uefi-1', mac: UEFI_MAC });
  try {
    const [rb, ru] = await Promise.all([bios1.waitForMarker(300_000), uefi1.waitForMarker(360_000)]);
    t.diagnostic(`round 1: BIOS booted in ${rb.seconds.toFixed(1)} s from ${rb.server}; UEFI in ${ru.seconds.toFixed(1)} s from ${ru.server}`);
    assert.equal(rb.mac, BIOS_MAC);
    assert.equal(ru.mac, UEFI_MAC);
  } catch (e) {
    t.diagnostic(`BIOS serial:\n${bios1.tail(30)}\nUEFI serial:\n${uefi1.tail(30)}\npeer-a:\n${logTail(pa.srv)}\npeer-b:\n${logTail(pb.srv)}`);
    throw e;
  } finally {
    await Promise.all([bios1.stop(), uefi1.stop()]);
  }
  const shown = JSON.parse(await cli('show', BIOS_MAC, '--json')) as { assignment: { state: string; consumedBy: string } };
  assert.equal(shown.assignment.state, 'consumed', 'the once was used up by the delivery of pxelinux.0');
  t.diagnostic(`BIOS once used up by ${shown.assignment.consumedBy}`);
  // Both peers' copies say so before the store goes away (bounded: 20 × 250 ms).
  for (let i = 0; i < 20; i++) {
    const v = await Promise.all([explain(pa, BIOS_MAC), explain(pb, BIOS_MAC)]);
    if (v.every((x) => x.verdict === 'ignore')) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  for (const p of [pa, pb]) {
    const v = await explain(p, BIOS_MAC);
    assert.equal(v.verdict, 'ignore', `${p.name}: ${v.reason}`);
    assert.equal(v.rule, 'assignment:once');
  }

  pg.halt();
  await Promise.all([pa, pb].map((p) => p.srv.waitForLog((l) => l.event === 'store-unreachable', 15_000)));
  const answeredBefore = answers(BIOS_MAC);
  assert.ok(answeredBefore >= 1, 'round 1 was answered by the pool');

  // Round 2, PostgreSQL stopped.
  const bios2 = startClient(lab, { firmware: 'bios', tap: await lab.addTap(), workDir: out, name: 'bios-2', mac: BIOS_MAC });
  const uefi2 = startClient(lab, { firmware: 'uefi', tap: await lab.addTap(), workDir: out, name: 'uefi-2', mac: UEFI_MAC });
  try {
    const biosDone = (async () => {
      // The iPXE ROM got Kea's address and no boot file from anyone; SeaBIOS then goes on down
      // its boot order (the disks, here none: "No bootable device").
      const gaveUp = await bios2.waitForSerial(/No more network devices/, 240_000);
      const next = await bios2.waitForSerial(/Booting from Hard Disk|No bootable device/, 60_000);
      return { gaveUp, next };
    })();
    const [{ gaveUp, next }, ru2] = await Promise.all([biosDone, uefi2.waitForMarker(360_000)]);
    t.diagnostic(`round 2: BIOS: "${gaveUp.match[0]}" at ${(gaveUp.t / 1000).toFixed(1)} s, then "${next.match[0]}"; UEFI booted again in ${ru2.seconds.toFixed(1)} s from ${ru2.server} with PostgreSQL stopped`);
    assert.ok(next.t >= gaveUp.t, 'the next boot device came after the network gave up');
    assert.equal(ru2.mac, UEFI_MAC);
    assert.ok(bios2.lines.some((l) => /Configuring \(net0 52:54:00:85:00:01\).*ok/.test(l.line)), `the ROM got an address by DHCP:\n${bios2.tail(20)}`);
    assert.ok(!bios2.lines.some((l) => MARKER_RE.test(l.line) || /pxelinux|PXELINUX/.test(l.line)), 'the BIOS client did not boot the profile again');
  } catch (e) {
    t.diagnostic(`BIOS serial:\n${bios2.tail(30)}\nUEFI serial:\n${uefi2.tail(30)}\npeer-a:\n${logTail(pa.srv)}\npeer-b:\n${logTail(pb.srv)}`);
    throw e;
  } finally {
    await Promise.all([bios2.stop(), uefi2.stop()]);
  }
  assert.equal(answers(BIOS_MAC), answeredBefore, 'no peer answered the BIOS client in round 2');
  const ignored = [pa, pb].flatMap((p) => p.srv.logs.filter((l) => l.event === 'ignore' && l.mac === BIOS_MAC && l.rule === 'assignment:once'));
  assert.ok(ignored.length >= 1, 'the peers ignored it by its used-up assignment');
  await cap.stop();
  const offers = dhcpRecords(pcap).filter((p) => p.mac === BIOS_MAC && p.type === 2);
  const fromPeers = offers.filter((p) => p.src === pa.address || p.src === pb.address);
  t.diagnostic(`BIOS offers on the wire: ${offers.length}, ${fromPeers.length} of them from the peers (all in round 1, by their logs)`);
  assert.ok(fromPeers.length >= 1, 'the peers\' round-1 offers are on the wire');
});
