// Real firmware against a pool whose serving peer dies AFTER it answered (issue 12): two
// pxepool peers beside Kea on one segment, each with a service address; the owner of the client
// is SIGKILLed at a chosen moment, its namespace, address and kernel staying up as on a host
// whose daemon crashed. The survivor takes the dead peer's service address over and the
// firmware's own retransmissions reach it.
//   (a) BIOS, iPXE ROM: the owner dies right after its ProxyDHCP offer (the iPXE ROM's TFTP
//       RRQ for pxelinux.0 then goes to the dead peer's service address).
//   (b) BIOS, pxelinux: the owner dies during the kernel download over TFTP; the survivor takes
//       its address and goes on with the transfer from pxelinux's next ACK.
//   (c) UEFI, EDK2: the owner dies during the NBP (snponly.efi) download that follows its 4011
//       ACK (its sending side slowed to 2 Mbit/s so the kill lands inside the download); the
//       survivor goes on with the transfer from EDK2's next ACK.
//   (e) BIOS, pxelinux: the owner SIGSTOPped during the kernel download and SIGCONTed 10 s
//       later; afterwards each service address is held by exactly one namespace.
//   (f) as (b), the owner's whole host lost (its link set down, no process killed).
//   (d) UEFI, OVMF → snponly.efi (iPXE) → the pool's per-client script over HTTP: the owner dies
//       as iPXE starts fetching the kernel from it; the script names every live peer for each
//       fetch (`kernel A/… || kernel B/…`), and A's service address moves to B.
// Each scenario boots the same firmware undisturbed first and prints the extra seconds.
// Set PXEPOOL_E2E_OUT=<dir> to keep the pcaps and the serial logs.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Lab, runOk } from '../lib/netns.ts';
import { startKea, startRadvd } from '../lib/services.ts';
import { type Firmware, startClient, type BootResult } from './qemu.ts';
import { arpFrom, dhcpRecords, httpRequests, tftpReadRequests } from './lab-pcap.ts';
import { A, B, logTail, macOwnedBy, outDir, type Peer, seq, startPeers, type StartPeersOptions } from './pool-peers.ts';
import { bin, E2E } from '../lib/require.ts';

// A missing privilege or tool fails the run with its name, whatever PXEPOOL_REQUIRE_ALL says:
// these scenarios are the pool's promise.
function requireTools(): void {
  const missing = [...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/bin/arping', 'iputils-arping'), bin('/usr/sbin/nft', 'nftables')].filter((n) => !n.ok);
  assert.deepEqual(missing.map((n) => n.what), [], `pool-failover e2e needs ${missing.map((n) => n.what).join(', ')}`);
}

const KEA = '10.77.80.1';
const ADDRS = { [A]: '10.77.80.11', [B]: '10.77.80.12' } as const;
const SERVICE = { [A]: '10.77.80.21', [B]: '10.77.80.22' } as const;

async function lab2(t: { after(fn: () => Promise<void>): void }, name: string, o: StartPeersOptions = {}) {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, name);
  const dhcp = await lab.addHost('dhcp', { address: `${KEA}/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  await startKea(lab, dhcp, { subnet: '10.77.80.0/24', rangeStart: '10.77.80.100', rangeEnd: '10.77.80.199', router: KEA });
  // With a router advertisement iPXE goes to TFTP at once after DHCP; without one it waits ~16 s
  // for IPv6 first, which would leave the survivor all the time in the world.
  await startRadvd(lab, dhcp);
  const peers = await startPeers(lab, 'lan', ADDRS, 24, undefined, { service: SERVICE, ...o });
  t.after(async () => { await Promise.all(Object.values(peers).map((p) => p.srv.stop())); });
  // Each peer holds its own service address before any client starts.
  await Promise.all(([A, B] as const).map((n) => peers[n]!.srv.waitForLog((l) => l.event === 'pool-address-added' && l.address === SERVICE[n], 15_000)));
  return { lab, out, pcap, cap, peers };
}

async function bootOne(lab: Lab, out: string, name: string, mac: string, peers: Record<string, Peer>, t: { diagnostic(m: string): void }, during?: () => Promise<void>, firmware: Firmware = 'bios'): Promise<BootResult> {
  const vm = startClient(lab, { firmware, tap: await lab.addTap(), workDir: out, name, mac });
  try {
    const [r] = await Promise.all([vm.waitForMarker(firmware === 'bios' ? 240_000 : 300_000), during?.()]);
    return r;
  } catch (e) {
    t.diagnostic(`${name} serial:\n${vm.tail(40)}\n${Object.values(peers).map((p) => `${p.name} log:\n${logTail(p.srv, 40)}`).join('\n')}`);
    throw e;
  } finally {
    await vm.stop();
  }
}

test('failover (a): BIOS iPXE ROM, the owner SIGKILLed right after its proxy offer: the client boots from the survivor', { timeout: 600_000 }, async (t) => {
  requireTools();
  const { lab, out, pcap, cap, peers } = await lab2(t, 'failover-a');
  const [pa, pb] = [peers[A]!, peers[B]!];
  const base = macOwnedBy('52:54:00:80:0a', A);
  const victim = macOwnedBy('52:54:00:80:0b', A);

  // Undisturbed boot of the same firmware, same owner, same pool.
  const r0 = await bootOne(lab, out, 'bios-base', base, peers, t);
  t.diagnostic(`undisturbed BIOS boot: ${r0.seconds.toFixed(1)} s from ${r0.server}`);
  assert.equal(r0.server, A);

  let killedAt = 0;
  const killOnOffer = async (): Promise<void> => {
    await pa.srv.waitForLog((l) => l.event === 'answer' && l.port === 67 && String(l.mac).toLowerCase() === victim, 120_000);
    // The answer is logged as its datagram is handed to the kernel, not once it left: killing at
    // once sometimes killed the offer too (seen once in CI). The ROM asks for its file ~0.4 s
    // after the offer, so 50 ms later is still "right after the offer".
    await new Promise((r) => setTimeout(r, 50));
    pa.srv.proc.kill('SIGKILL');
    killedAt = Date.now();
  };
  const r1 = await bootOne(lab, out, 'bios-victim', victim, peers, t, killOnOffer);
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  t.diagnostic(`BIOS boot with the owner killed after its offer: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s), booted from ${r1.server}`);
  console.log(`# failover (a): ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.ok(killedAt > 0);
  assert.equal(r1.mac, victim);
  assert.equal(r1.server, B, 'the survivor served the boot');

  const taken = pb.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE[A]);
  assert.ok(taken, `${B} took ${A}'s service address over`);
  assert.equal(taken.reason, 'successor');
  // What the client did: its TFTP read requests went to the dead peer's service address, and were
  // answered from it by the survivor.
  const pkts = dhcpRecords(pcap);
  const mine = pkts.filter((p) => p.mac === victim);
  t.diagnostic(`DHCP: ${seq(mine)}`);
  const offer = mine.find((p) => p.type === 2 && p.src === SERVICE[A] || (p.type === 2 && p.siaddr === SERVICE[A]));
  assert.ok(offer, `the owner's offer named its service address ${SERVICE[A]}`);
  const ip = mine.find((p) => p.type === 5 && p.yiaddr !== '' && p.yiaddr !== '0.0.0.0')?.yiaddr;
  const rrq = tftpReadRequests(pcap).filter((x) => x.src === ip);
  t.diagnostic(`TFTP RRQs: ${rrq.map((x) => `${x.t.toFixed(2)}s →${x.dst} ${x.file}`).join(' | ')}`);
  assert.ok(rrq.some((x) => x.dst === SERVICE[A] && x.file === 'pxelinux.0'), 'the iPXE ROM asked the dead peer\'s service address for pxelinux.0');
  assert.ok(rrq.some((x) => x.file === 'vmlinuz'), 'and went on to the kernel');
  const offerAt = mine.find((p) => p.type === 2 && p.siaddr === SERVICE[A])!.t;
  const firstRrq = rrq.find((x) => x.file === 'pxelinux.0')!.t;
  t.diagnostic(`first RRQ for pxelinux.0 ${(firstRrq - offerAt).toFixed(2)} s after the offer; RRQs for it: ${rrq.filter((x) => x.file === 'pxelinux.0').length}`);
});

// The pool's own per-client script (a profile with a kernel): every fetch names both peers.
const UEFI_SCRIPT = `
profiles:
  uefi-script:
    efiX64: snponly.efi
    ipxe: "http://\${server}/boot.ipxe?mac=\${mac}&platform=\${platform}&buildarch=\${buildarch}"
    kernel: vmlinuz
    initrd: initrd.gz
    cmdline: "initrd=initrd.gz console=ttyS0 quiet panic=-1 pxepool.server=pool"
default: uefi-script
`;

test('failover (d): UEFI chainloaded iPXE, the owner SIGKILLed as the kernel fetch starts: the script\'s fallback and the moved address finish the boot', { timeout: 900_000 }, async (t) => {
  requireTools();
  const { lab, out, pcap, cap, peers } = await lab2(t, 'failover-d', { profiles: UEFI_SCRIPT, configExtra: 'log: { level: debug }' });
  const [pa, pb] = [peers[A]!, peers[B]!];
  const base = macOwnedBy('52:54:00:80:0d', A);
  const victim = macOwnedBy('52:54:00:80:0e', A);

  const r0 = await bootOne(lab, out, 'uefi-base', base, peers, t, undefined, 'uefi');
  t.diagnostic(`undisturbed UEFI boot: ${r0.seconds.toFixed(1)} s`);
  const before = pa.srv.logs.length;

  let killedAt = 0;
  const killOnKernel = async (): Promise<void> => {
    await pa.srv.waitForLog((l) => pa.srv.logs.indexOf(l) >= before && l.event === 'http-request' && l.path === '/vmlinuz', 240_000);
    pa.srv.proc.kill('SIGKILL');
    killedAt = Date.now();
  };
  const r1 = await bootOne(lab, out, 'uefi-victim', victim, peers, t, killOnKernel, 'uefi');
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  t.diagnostic(`UEFI boot with the owner killed as the kernel fetch started: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s)`);
  console.log(`# failover (d): ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.ok(killedAt > 0);
  assert.equal(r1.mac, victim);

  const pkts = dhcpRecords(pcap);
  const ip = pkts.find((p) => p.mac === victim && p.type === 5 && p.yiaddr !== '' && p.yiaddr !== '0.0.0.0')?.yiaddr;
  const http = httpRequests(pcap).filter((x) => x.src === ip);
  t.diagnostic(`HTTP requests: ${http.map((x) => `${x.t.toFixed(2)}s →${x.dst} ${x.uri}`).join(' | ')}`);
  assert.ok(http.some((x) => x.dst === SERVICE[A] && x.uri.startsWith('/boot.ipxe')), 'the script came from the owner\'s service address');
  assert.ok(http.some((x) => x.uri === '/vmlinuz'), 'the kernel was fetched');
  assert.ok(pb.srv.logs.some((l) => l.event === 'pool-address-added' && l.address === SERVICE[A]), `${B} took ${A}'s service address over`);
});

test('failover (b): BIOS pxelinux, the owner SIGKILLed during the kernel download: the survivor goes on with the transfer', { timeout: 600_000 }, async (t) => {
  requireTools();
  const { lab, out, pcap, cap, peers } = await lab2(t, 'failover-b', { configExtra: 'log: { level: debug }' });
  const [pa, pb] = [peers[A]!, peers[B]!];
  const base = macOwnedBy('52:54:00:80:1a', A);
  const victim = macOwnedBy('52:54:00:80:1b', A);

  const r0 = await bootOne(lab, out, 'bios-base', base, peers, t);
  t.diagnostic(`undisturbed BIOS boot: ${r0.seconds.toFixed(1)} s from ${r0.server}`);
  const before = pa.srv.logs.length;

  let killedAt = 0;
  const killInKernel = async (): Promise<void> => {
    await pa.srv.waitForLog((l) => pa.srv.logs.indexOf(l) >= before && l.msg === 'tftp transfer start' && l.file === 'vmlinuz', 240_000);
    // Well inside the download (it takes seconds), after at least one announcement.
    await new Promise((r) => setTimeout(r, 1_200));
    pa.srv.proc.kill('SIGKILL');
    killedAt = Date.now();
  };
  const r1 = await bootOne(lab, out, 'bios-victim', victim, peers, t, killInKernel);
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  t.diagnostic(`BIOS boot with the owner killed during the kernel download: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s)`);
  console.log(`# failover (b): ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.ok(killedAt > 0);
  assert.equal(r1.mac, victim);
  // pxelinux.cfg came from A before it died: the marker names A; what matters is that it booted.
  const resumed = pb.srv.logs.find((l) => l.event === 'tftp-resumed' && l.file === 'vmlinuz');
  assert.ok(resumed, `${B} went on with the kernel transfer`);
  t.diagnostic(`${B}: resumed vmlinuz from block ${String(resumed.fromBlock)}`);
  const at = (l: Record<string, unknown> | undefined) => (l === undefined ? '–' : `+${((Date.parse(String(l.time)) - killedAt) / 1000).toFixed(2)} s`);
  const added = pb.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE[A]);
  const down = pb.srv.logs.find((l) => l.event === 'pool-down' && l.peer === A);
  const done = pb.srv.logs.find((l) => l.msg === 'tftp transfer done' && l.file === 'vmlinuz');
  t.diagnostic(`after the kill: ${A} down ${at(down)} (${String(down?.reason)}), address taken ${at(added)}, transfer resumed ${at(resumed)}, kernel done ${at(done)}`);
  const pkts = dhcpRecords(pcap);
  const ip = pkts.find((p) => p.mac === victim && p.type === 5 && p.yiaddr !== '' && p.yiaddr !== '0.0.0.0')?.yiaddr;
  const kernels = tftpReadRequests(pcap).filter((x) => x.src === ip && x.file === 'vmlinuz');
  assert.equal(kernels.length, 1, 'one RRQ for the kernel: the transfer went on, it did not start over');
});

test('failover (c): UEFI EDK2, the owner SIGKILLed during the NBP download after its 4011 ACK: the survivor goes on with it', { timeout: 900_000 }, async (t) => {
  requireTools();
  const { lab, out, pcap, cap, peers } = await lab2(t, 'failover-c', { configExtra: 'log: { level: debug }' });
  const [pa, pb] = [peers[A]!, peers[B]!];
  const base = macOwnedBy('52:54:00:80:1c', A);
  const victim = macOwnedBy('52:54:00:80:1d', A);

  const r0 = await bootOne(lab, out, 'uefi-base', base, peers, t, undefined, 'uefi');
  t.diagnostic(`undisturbed UEFI boot: ${r0.seconds.toFixed(1)} s from ${r0.server}`);
  const before = pa.srv.logs.length;
  // The NBP download takes a tenth of a second in this lab: slow the owner's sending side so the
  // kill lands inside it every time (the survivor is not slowed).
  await runOk('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '2mbit', 'burst', '16kb', 'latency', '400ms'], { ns: pa.host.ns });

  let killedAt = 0;
  const killInNbp = async (): Promise<void> => {
    // EDK2 asks twice: a size probe it aborts after the OACK, then the download.
    const starts = () => pa.srv.logs.filter((l, i) => i >= before && l.msg === 'tftp transfer start' && l.file === 'snponly.efi').length;
    await pa.srv.waitForLog(() => starts() >= 2, 240_000);
    await new Promise((r) => setTimeout(r, 300));
    pa.srv.proc.kill('SIGKILL');
    killedAt = Date.now();
  };
  const r1 = await bootOne(lab, out, 'uefi-victim', victim, peers, t, killInNbp, 'uefi');
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  t.diagnostic(`UEFI boot with the owner killed during the NBP download: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s), booted from ${r1.server}`);
  console.log(`# failover (c): ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.ok(killedAt > 0);
  assert.equal(r1.mac, victim);
  const at = (l: Record<string, unknown> | undefined) => (l === undefined ? '–' : `+${((Date.parse(String(l.time)) - killedAt) / 1000).toFixed(2)} s`);
  const resumed = pb.srv.logs.find((l) => l.event === 'tftp-resumed' && l.file === 'snponly.efi');
  const added = pb.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE[A]);
  t.diagnostic(`after the kill: address taken ${at(added)}, NBP transfer resumed ${at(resumed)} from block ${String(resumed?.fromBlock)}`);
  assert.ok(resumed, `${B} went on with the NBP transfer`);
  const pkts = dhcpRecords(pcap);
  const ip = pkts.find((p) => p.mac === victim && p.type === 5 && p.yiaddr !== '' && p.yiaddr !== '0.0.0.0')?.yiaddr;
  const rrq = tftpReadRequests(pcap).filter((x) => x.src === ip);
  t.diagnostic(`TFTP RRQs: ${rrq.map((x) => `${x.t.toFixed(2)}s →${x.dst} ${x.file}`).join(' | ')}`);
});

/** Which peer namespaces hold `address` now, from their kernels. */
async function holdersOf(peers: Record<string, Peer>, address: string): Promise<string[]> {
  const out: string[] = [];
  for (const p of Object.values(peers)) {
    if ((await runOk('ip', ['-j', '-4', 'addr', 'show'], { ns: p.host.ns })).includes(`"${address}"`)) out.push(p.name);
  }
  return out;
}

/** BIOS pxelinux boot with something done to the owner 1.2 s into its kernel download. */
async function pxelinuxDisturbed(t: TestContext, name: string, mac: [string, string], disturb: (pa: Peer) => Promise<void>, onPeers?: (p: Record<string, Peer>) => void) {
  const { lab, out, pcap, cap, peers } = await lab2(t, name, { configExtra: 'log: { level: debug }' });
  onPeers?.(peers);
  const [pa, pb] = [peers[A]!, peers[B]!];
  const r0 = await bootOne(lab, out, 'bios-base', mac[0], peers, t);
  const before = pa.srv.logs.length;
  let at = 0;
  const trigger = async (): Promise<void> => {
    await pa.srv.waitForLog((l) => pa.srv.logs.indexOf(l) >= before && l.msg === 'tftp transfer start' && l.file === 'vmlinuz', 240_000);
    await new Promise((r) => setTimeout(r, 1_200));
    at = Date.now();
    await disturb(pa);
  };
  const r1 = await bootOne(lab, out, 'bios-victim', mac[1], peers, t, trigger);
  await cap.stop();
  const extra = r1.seconds - r0.seconds;
  t.diagnostic(`${name}: ${r1.seconds.toFixed(1)} s (undisturbed ${r0.seconds.toFixed(1)} s, +${extra.toFixed(1)} s)`);
  console.log(`# ${name}: ${r1.seconds.toFixed(1)} s, +${extra.toFixed(1)} s against an undisturbed boot`);
  assert.equal(r1.mac, mac[1]);
  const rel = (l: Record<string, unknown> | undefined) => (l === undefined ? '–' : `+${((Date.parse(String(l.time)) - at) / 1000).toFixed(2)} s`);
  const resumed = pb.srv.logs.find((l) => l.event === 'tftp-resumed' && l.file === 'vmlinuz');
  const added = pb.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE[A]);
  t.diagnostic(`after the fault: address taken ${rel(added)}, kernel transfer resumed ${rel(resumed)} from block ${String(resumed?.fromBlock)}`);
  assert.ok(resumed, `${B} went on with the kernel transfer`);
  return { lab, pcap, peers, pa, pb };
}

test('failover (e): BIOS pxelinux, the owner SIGSTOPped during the kernel download, SIGCONTed 10 s later: the client boots, and one namespace holds each address', { timeout: 600_000 }, async (t) => {
  requireTools();
  let cont: Promise<void> | undefined;
  let peersRef: Record<string, Peer> | undefined;
  // From SIGCONT on, sample both namespaces' kernels every ~100 ms for 10 s: never two holders.
  const samples: { t: number; a: string[]; b: string[] }[] = [];
  const { pcap, peers, pa, pb } = await pxelinuxDisturbed(t, 'failover-e', [macOwnedBy('52:54:00:80:2a', A), macOwnedBy('52:54:00:80:2b', A)], async (p) => {
    p.srv.proc.kill('SIGSTOP');
    cont = new Promise((r) => setTimeout(async () => {
      p.srv.proc.kill('SIGCONT');
      const t0 = Date.now();
      while (Date.now() - t0 < 10_000) {
        samples.push({ t: Date.now() - t0, a: await holdersOf(peersRef!, SERVICE[A]), b: await holdersOf(peersRef!, SERVICE[B]) });
        await new Promise((rr) => setTimeout(rr, 100));
      }
      r();
    }, 10_000));
  }, (ps) => { peersRef = ps; });
  await cont;
  t.diagnostic(`holders of ${SERVICE[A]} after SIGCONT: ${samples.filter((x, i) => i === 0 || x.a.join() !== samples[i - 1]!.a.join()).map((x) => `+${(x.t / 1000).toFixed(1)} s ${x.a.join(',') || 'none'}`).join(' → ')}`);
  for (const x of samples) {
    assert.ok(x.a.length <= 1 && x.b.length <= 1, `two holders at +${x.t} ms after SIGCONT: ${JSON.stringify(x)}`);
  }
  assert.deepEqual(samples[0]!.a, [B], `${A} woke without its lease: the survivor still holds its address`);
  for (const addr of Object.values(SERVICE)) assert.equal((await holdersOf(peers, addr)).length, 1, `${addr} held by exactly one namespace in the end`);
  // If the address went home, it went by a handoff: released by B before A added it.
  const back = pa.srv.logs.find((l) => l.event === 'pool-address-added' && l.address === SERVICE[A] && Date.parse(String(l.time)) > Date.parse(String(pa.srv.logs.find((x) => x.event === 'pool-address-added')!.time)));
  if (back !== undefined) {
    const rel = pb.srv.logs.find((l) => l.event === 'pool-address-released' && l.address === SERVICE[A] && l.reason === 'handoff');
    assert.ok(rel !== undefined && Date.parse(String(rel.time)) <= Date.parse(String(back.time)), 'handed back by an explicit handoff');
  }
  // The wire: who answered ARP for A's address, in order. Each change of holder is a clean cut.
  const arp = arpFrom(pcap, SERVICE[A]);
  const macA = pa.host.iface.mac.toLowerCase();
  const macB = pb.host.iface.mac.toLowerCase();
  const runs: { mac: string; from: number; to: number }[] = [];
  for (const a of arp) {
    const last = runs.at(-1);
    if (last !== undefined && last.mac === a.senderMac) last.to = a.t;
    else runs.push({ mac: a.senderMac, from: a.t, to: a.t });
  }
  t.diagnostic(`ARP for ${SERVICE[A]}: ${runs.map((r) => `${r.mac === macA ? A : r.mac === macB ? B : r.mac} ${r.from.toFixed(2)}–${r.to.toFixed(2)} s`).join(' | ')}`);
  for (const r of runs) assert.ok([macA, macB].includes(r.mac), `only pool peers answer for ${SERVICE[A]}`);
  for (let i = 1; i < runs.length; i++) assert.ok(runs[i]!.from - runs[i - 1]!.to > 0.5, `ARP answers for ${SERVICE[A]} from ${A} and ${B} interleave: ${JSON.stringify(runs)}`);
});

test('failover (f): BIOS pxelinux, the owner\'s whole host lost (link down) during the kernel download: the survivor goes on with it', { timeout: 600_000 }, async (t) => {
  requireTools();
  const { peers, pa } = await pxelinuxDisturbed(t, 'failover-f', [macOwnedBy('52:54:00:80:3a', A), macOwnedBy('52:54:00:80:3b', A)], async (p) => {
    await runOk('ip', ['link', 'set', 'eth0', 'down'], { ns: p.host.ns });
  });
  // The host comes back: its daemon dropped the address when the carrier went; one holder.
  await runOk('ip', ['link', 'set', 'eth0', 'up'], { ns: pa.host.ns });
  await new Promise((r) => setTimeout(r, 3_000));
  for (const addr of Object.values(SERVICE)) assert.equal((await holdersOf(peers, addr)).length, 1, `${addr} held by exactly one namespace after the host came back`);
});
