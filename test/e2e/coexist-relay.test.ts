// Real firmware through pxepool in two harder topologies:
//   5. Coexistence (seed 004): one segment with Kea (addresses only), pxepool answering ONLY
//      client A (`default: ignore` + a MAC rule), and Debian's dnsmasq in proxy mode answering
//      ONLY client B. Two BIOS clients (iPXE ROM) boot at once; each must reach its own boot
//      server, and neither proxy may answer the other's client.
//   6. Relayed: the clients sit on their own subnet behind a router running Debian's dhcrelay
//      with two IP helpers (Kea and pxepool). BIOS (iPXE ROM → pxelinux → TFTP across the
//      router) and UEFI (OVMF → 4011 routed → snponly.efi → HTTP across the router).
// Each boot must print the marker with its MAC and the boot server's name; the chain is checked
// from captures. Set PXEPOOL_E2E_OUT=<dir> to keep the pcaps and the serial logs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../lib/netns.ts';
import { startDnsmasqProxy, startKea, startRadvd } from '../lib/services.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { makeBootRoot } from './artifacts.ts';
import { startClient, type Firmware, type QemuClient } from './qemu.ts';
import { dhcpRecords, httpRequests, tftpReadRequests, type DhcpRecord } from './lab-pcap.ts';
import { bin, E2E, needs } from '../lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/dnsmasq', 'dnsmasq-base'), bin('/usr/sbin/dhcrelay', 'isc-dhcp-relay'), bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'));

function outDir(lab: Lab, name: string): string {
  const d = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, name) : join(lab.tmpDir, 'out');
  mkdirSync(d, { recursive: true });
  return d;
}

function seq(pkts: readonly DhcpRecord[]): string {
  return pkts.map((p) => `${p.t.toFixed(2)}s ${p.src}:${p.srcPort}→${p.dst}:${p.dstPort} type ${p.type}${p.yiaddr !== '' && p.yiaddr !== '0.0.0.0' ? ` yiaddr ${p.yiaddr}` : ''}${p.file ? ` file ${p.file}` : ''}`).join(' | ');
}

/** The leased address of a MAC: yiaddr of the site server's ACK (src may be the relay). */
function leasedAddress(pkts: readonly DhcpRecord[], mac: string): string {
  const ack = pkts.find((p) => p.mac === mac && p.type === 5 && p.yiaddr !== '' && p.yiaddr !== '0.0.0.0');
  assert.ok(ack, `an address ACK for ${mac}`);
  return ack.yiaddr;
}

/** Relay-related fields the shared helper does not read: giaddr, broadcast flag, hops. */
interface RelayRecord { t: number; src: string; dst: string; srcPort: number; dstPort: number; type: number; mac: string; giaddr: string; broadcast: boolean; hops: number; yiaddr: string; vendorClass: string; ethDst: string }

function relayRecords(pcap: string): RelayRecord[] {
  const names = ['frame.time_relative', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'dhcp.option.dhcp', 'dhcp.hw.mac_addr', 'dhcp.ip.relay', 'dhcp.flags.bc', 'dhcp.hops', 'dhcp.ip.your', 'dhcp.option.vendor_class_id', 'eth.dst'];
  const out = execFileSync('tshark', ['-r', pcap, '-Y', 'dhcp', '-T', 'fields', '-E', 'separator=|', ...names.flatMap((n) => ['-e', n])], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('|')).map((f) => ({
    t: Number(f[0]), src: f[1] ?? '', dst: f[2] ?? '', srcPort: Number(f[3]), dstPort: Number(f[4]), type: Number(f[5]),
    mac: (f[6] ?? '').split(',')[0]!.toLowerCase(), giaddr: f[7] ?? '', broadcast: f[8] === '1' || f[8] === 'True', hops: Number(f[9]), yiaddr: f[10] ?? '', vendorClass: f[11] ?? '', ethDst: (f[12] ?? '').toLowerCase(),
  }));
}

function logTail(srv: ServeProc, n = 30): string {
  return srv.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Scenario 5: pxepool and dnsmasq on one segment, each serving its own client.

const MAC_A = '52:54:00:05:0a:01';
const MAC_B = '52:54:00:05:0b:01';
const KEA5 = '10.77.50.1';
const PXEPOOL5 = '10.77.50.11';
const DNSMASQ5 = '10.77.50.12';

test('coexistence: pxepool serves only A, dnsmasq only B, beside Kea (two BIOS boots)', { skip, timeout: 420_000 }, async (t) => {
  const lab = await Lab.create();
  t.after(() => lab.destroy());
  const out = outDir(lab, 'coexist');

  const dhcp = await lab.addHost('dhcp', { address: `${KEA5}/24` });
  const bs = await lab.addHost('pxepool', { address: `${PXEPOOL5}/24` });
  const dm = await lab.addHost('dnsmasq', { address: `${DNSMASQ5}/24` });
  const pcap = join(out, 'lan.pcap');
  const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
  await startKea(lab, dhcp, { subnet: '10.77.50.0/24', rangeStart: '10.77.50.100', rangeEnd: '10.77.50.199', router: KEA5 });
  await startRadvd(lab, dhcp);

  const root = makeBootRoot(join(lab.tmpDir, 'root-pxepool'), { serverName: 'pxepool1' });
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `
server: { name: pxepool1 }
root: ${root}
http: { port: 8080 }
profiles:
  bios-lab: { bios: pxelinux.0 }
rules:
  - name: client A
    match: { mac: "${MAC_A}" }
    profile: bios-lab
default: ignore                     # everybody else belongs to another PXE server
`);
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());

  const dmRoot = makeBootRoot(join(lab.tmpDir, 'root-dnsmasq'), { serverName: 'dnsmasq' });
  const dnsmasq = await startDnsmasqProxy(lab, dm, {
    subnetAddress: '10.77.50.0',
    tftpRoot: dmRoot,
    extra: [
      // Only B is dnsmasq's: tag it, ignore everybody else, and offer the menu only to the tag.
      `--dhcp-host=${MAC_B},set:mine`,
      '--dhcp-ignore=tag:!mine',
      '--pxe-service=tag:mine,x86PC,"pxelinux",pxelinux',
    ],
  });

  const a = startClient(lab, { firmware: 'bios', tap: await lab.addTap(), workDir: out, name: 'a-bios', mac: MAC_A });
  const b = startClient(lab, { firmware: 'bios', tap: await lab.addTap(), workDir: out, name: 'b-bios', mac: MAC_B });
  try {
    const [ra, rb] = await Promise.all([a.waitForMarker(240_000), b.waitForMarker(240_000)]);
    t.diagnostic(`A (pxepool) booted in ${ra.seconds.toFixed(1)} s: ${ra.line}`);
    t.diagnostic(`B (dnsmasq) booted in ${rb.seconds.toFixed(1)} s: ${rb.line}`);
    assert.equal(ra.mac, MAC_A);
    assert.equal(rb.mac, MAC_B);
    assert.equal(ra.server, 'pxepool1', 'A booted from pxepool');
    assert.equal(rb.server, 'dnsmasq', 'B booted from dnsmasq');
  } catch (e) {
    t.diagnostic(`A serial:\n${a.tail(30)}\nB serial:\n${b.tail(30)}\npxepool log:\n${logTail(srv)}\ndnsmasq:\n${dnsmasq.tail(40)}`);
    throw e;
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    await cap.stop();
  }

  // pxepool logged its decision not to answer B.
  const ignored = srv.logs.filter((l) => l.event === 'ignore' && String(l.mac).toLowerCase() === MAC_B);
  assert.ok(ignored.length >= 1, `pxepool logged an ignore event for B:\n${logTail(srv)}`);
  assert.ok(!srv.logs.some((l) => l.event === 'answer' && String(l.mac).toLowerCase() === MAC_B), 'pxepool answered nothing for B');
  t.diagnostic(`pxepool ignore event for B: ${JSON.stringify(ignored[0])}`);

  // The chain, from the wire.
  const pkts = dhcpRecords(pcap);
  const forA = pkts.filter((p) => p.mac === MAC_A);
  const forB = pkts.filter((p) => p.mac === MAC_B);
  t.diagnostic(`A DHCP sequence: ${seq(forA)}`);
  t.diagnostic(`B DHCP sequence: ${seq(forB)}`);

  assert.deepEqual(forB.filter((p) => p.src === PXEPOOL5), [], 'pxepool sent no DHCP packet for B');
  assert.deepEqual(forA.filter((p) => p.src === DNSMASQ5), [], 'dnsmasq sent no DHCP packet for A');

  for (const [label, mine] of [['A', forA], ['B', forB]] as const) {
    const keaOffers = mine.filter((p) => p.src === KEA5 && p.type === 2);
    assert.ok(keaOffers.length >= 1, `${label}: Kea offered an address`);
    for (const o of keaOffers) assert.ok(!o.options.includes(43) && !o.options.includes(60), `${label}: Kea sent no PXE options`);
  }

  // A: pxepool's offer carries option 43 (6 = 8: use the boot file) and the file; the iPXE ROM
  // goes straight to TFTP, with no 4011 request.
  const offerA = forA.find((p) => p.src === PXEPOOL5 && p.type === 2);
  assert.ok(offerA, 'pxepool offered A');
  assert.equal(offerA.yiaddr, '0.0.0.0');
  assert.equal(offerA.file, 'pxelinux.0');
  assert.ok(offerA.options.includes(43), 'pxepool offer to A carries option 43');
  assert.ok(!forA.some((p) => p.dstPort === 4011), 'A sent no 4011 request');
  // B: dnsmasq's menu offer (43), boot-server discovery on 4011, the ACK's file.
  const offerB = forB.find((p) => p.src === DNSMASQ5 && p.type === 2);
  assert.ok(offerB && offerB.options.includes(43), 'dnsmasq offered B a menu');
  assert.ok(forB.some((p) => p.dst === DNSMASQ5 && p.dstPort === 4011 && p.type === 3), 'B asked dnsmasq on 4011');
  assert.ok(forB.some((p) => p.src === DNSMASQ5 && p.srcPort === 4011 && p.type === 5 && p.file === 'pxelinux.0'), 'dnsmasq ACKed pxelinux.0 on 4011');

  const ipA = leasedAddress(pkts, MAC_A);
  const ipB = leasedAddress(pkts, MAC_B);
  const tftp = tftpReadRequests(pcap);
  for (const f of ['pxelinux.0', 'ldlinux.c32', 'vmlinuz', 'initrd.gz']) {
    assert.ok(tftp.some((r) => r.src === ipA && r.dst === PXEPOOL5 && r.file === f), `A fetched ${f} from pxepool`);
    assert.ok(tftp.some((r) => r.src === ipB && r.dst === DNSMASQ5 && r.file === f), `B fetched ${f} from dnsmasq`);
  }
  assert.ok(!tftp.some((r) => r.src === ipA && r.dst !== PXEPOOL5), 'A used no other TFTP server');
  assert.ok(!tftp.some((r) => r.src === ipB && r.dst !== DNSMASQ5), 'B used no other TFTP server');
  for (const [label, mine, ip] of [['A', forA, ipA], ['B', forB, ipB]] as const) {
    const d0 = mine.find((p) => p.type === 1)?.t ?? 0;
    const rrq = tftp.find((r) => r.src === ip && r.file === 'pxelinux.0')?.t ?? NaN;
    const kern = tftp.find((r) => r.src === ip && r.file === 'vmlinuz')?.t ?? NaN;
    t.diagnostic(`${label}: first DISCOVER at ${d0.toFixed(2)} s (capture time), RRQ pxelinux.0 +${(rrq - d0).toFixed(2)} s, RRQ vmlinuz +${(kern - d0).toFixed(2)} s`);
  }
});

// ---------------------------------------------------------------------------------------------
// Scenario 6: clients behind a router with dhcrelay (IP helpers: Kea and pxepool).

const ROUTER_SRV = '10.77.61.254';
const ROUTER_CLI = '10.77.62.1';
const KEA6 = '10.77.61.1';
const PXEPOOL6 = '10.77.61.11';

async function relayedBoot(firmware: Firmware, t: { diagnostic(msg: string): void; after(fn: () => Promise<void>): void }): Promise<void> {
  const lab = await Lab.create({ segments: ['servers', 'clients'] });
  t.after(() => lab.destroy());
  const out = outDir(lab, `relay-${firmware}`);

  const router = await lab.addRouter('router', [{ segment: 'servers', address: `${ROUTER_SRV}/24` }, { segment: 'clients', address: `${ROUTER_CLI}/24` }]);
  const dhcp = await lab.addHost('dhcp', { segment: 'servers', address: `${KEA6}/24`, gateway: ROUTER_SRV });
  const bs = await lab.addHost('pxepool', { segment: 'servers', address: `${PXEPOOL6}/24`, gateway: ROUTER_SRV });
  // Router advertisements on the client segment, so iPXE does not wait for IPv6 autoconf.
  const ra = await lab.addHost('ra', { segment: 'clients', address: '10.77.62.2/24', gateway: ROUTER_CLI });
  const cliPcap = join(out, 'clients.pcap');
  const srvPcap = join(out, 'servers.pcap');
  const capC = await lab.captureSegment('clients', cliPcap, { filter: 'not ip6' });
  const capS = await lab.captureSegment('servers', srvPcap, { filter: 'not ip6' });
  await startKea(lab, dhcp, { subnet: '10.77.62.0/24', rangeStart: '10.77.62.100', rangeEnd: '10.77.62.199', router: ROUTER_CLI });
  await startRadvd(lab, ra, { prefix: 'fd77:0:0:62::/64' });

  const root = makeBootRoot(join(lab.tmpDir, 'root-pxepool'), { serverName: 'pxepool-relayed' });
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `
server: { name: pxepool-relayed }
root: ${root}
http: { port: 8080 }
profiles:
  bios-lab:
    bios: pxelinux.0                     # no ipxe: the iPXE ROM gets pxelinux.0, not the script
  uefi-lab:
    efiX64: snponly.efi
    ipxe: http://\${server}/boot.ipxe
rules:
  - { match: { arch: bios }, profile: bios-lab }
default: uefi-lab
`);
  const srv = await startServe(['--config', cfg], { ns: bs.ns });
  t.after(() => srv.stop());
  // The router's IP helpers (seed 004): the site DHCP server and the boot server.
  const relay = lab.spawn(router.ns, 'dhcrelay', ['-d', '-4', '-id', 'eth1', '-iu', 'eth0', KEA6, PXEPOOL6], { name: 'dhcrelay' });
  await relay.waitForLine(/Sending on|Listening on/, 10_000);
  await new Promise((r) => setTimeout(r, 500));

  const vm: QemuClient = startClient(lab, { firmware, tap: await lab.addTap('clients'), workDir: out, name: `relayed-${firmware}` });
  try {
    const r = await vm.waitForMarker(firmware === 'bios' ? 240_000 : 300_000);
    t.diagnostic(`${firmware} across the relay booted in ${r.seconds.toFixed(1)} s: ${r.line}`);
    assert.equal(r.mac, vm.mac);
    assert.equal(r.server, 'pxepool-relayed');
  } catch (e) {
    t.diagnostic(`serial:\n${vm.tail(40)}\npxepool log:\n${logTail(srv)}\ndhcrelay:\n${relay.tail(30)}`);
    throw e;
  } finally {
    await vm.stop();
    await Promise.all([capC.stop(), capS.stop()]);
  }

  // pxepool answered the relay agent, never the client directly.
  const answers = srv.logs.filter((l) => l.event === 'answer' && String(l.mac).toLowerCase() === vm.mac);
  assert.ok(answers.length >= 1, `pxepool answered:\n${logTail(srv)}`);
  // To the relay agent that sent the request (dhcrelay's upstream address), not to the giaddr it
  // carries: a reply goes only where its request came from (docs/proxydhcp.md).
  for (const l of answers.filter((x) => x.port === 67)) assert.equal(l.to, `${ROUTER_SRV}:67`, 'port-67 answers go to the relay agent that sent them');

  // Server side: relayed requests in, proxy replies to the relay agent with the broadcast bit.
  const srvSide = relayRecords(srvPcap).filter((p) => p.mac === vm.mac);
  t.diagnostic(`servers segment: ${srvSide.map((p) => `${p.t.toFixed(2)}s ${p.src}:${p.srcPort}→${p.dst}:${p.dstPort} type ${p.type} giaddr ${p.giaddr} hops ${p.hops} bc ${p.broadcast ? 1 : 0}`).join(' | ')}`);
  const toPxepool = srvSide.filter((p) => p.dst === PXEPOOL6 && p.dstPort === 67 && p.type === 1);
  assert.ok(toPxepool.length >= 1, 'dhcrelay forwarded the DISCOVER to pxepool');
  for (const p of toPxepool) assert.equal(p.giaddr, ROUTER_CLI);
  const proxyOut = srvSide.filter((p) => p.src === PXEPOOL6 && p.srcPort === 67 && p.type === 2);
  assert.ok(proxyOut.length >= 1, 'pxepool sent its offer to the relay');
  for (const p of proxyOut) {
    assert.equal(p.dst, ROUTER_SRV);
    assert.equal(p.dstPort, 67);
    assert.equal(p.giaddr, ROUTER_CLI);
    assert.ok(p.broadcast, 'relayed proxy offer has the broadcast bit');
  }

  // Client side.
  const cliPkts = dhcpRecords(cliPcap);
  const mine = cliPkts.filter((p) => p.mac === vm.mac);
  const cliRelay = relayRecords(cliPcap).filter((p) => p.mac === vm.mac);
  t.diagnostic(`${firmware} DHCP sequence (client segment): ${seq(mine)}`);
  t.diagnostic(`client segment, relayed replies: ${cliRelay.filter((p) => p.src === ROUTER_CLI).map((p) => `${p.t.toFixed(2)}s type ${p.type} ${p.vendorClass === '' ? 'Kea' : 'proxy'} → ${p.dst} (eth ${p.ethDst}) bc ${p.broadcast ? 1 : 0}`).join(' | ')}`);
  const keaOffers = mine.filter((p) => p.type === 2 && p.yiaddr !== '0.0.0.0');
  assert.ok(keaOffers.length >= 1, 'Kea offered an address through the relay');
  for (const o of keaOffers) assert.ok(!o.options.includes(43) && !o.options.includes(60), 'Kea sent no PXE options');
  const proxyOffers = mine.filter((p) => p.type === 2 && p.yiaddr === '0.0.0.0' && p.siaddr === PXEPOOL6);
  assert.ok(proxyOffers.length >= 1, 'the proxy offer reached the client segment');
  for (const o of proxyOffers) {
    assert.equal(o.src, ROUTER_CLI, 'relayed by the router');
    assert.equal(o.dst, '255.255.255.255', 'dhcrelay broadcast the proxy offer on the client segment');
  }
  const ip = leasedAddress(cliPkts, vm.mac);
  const tftp = tftpReadRequests(cliPcap);
  const d0 = mine.find((p) => p.type === 1)?.t ?? 0;
  if (firmware === 'bios') {
    assert.ok(proxyOffers.some((o) => o.file === 'pxelinux.0' && o.options.includes(43)), 'BIOS offer: 43 + pxelinux.0');
    assert.ok(!mine.some((p) => p.dstPort === 4011), 'the iPXE ROM sent no 4011 request');
    for (const f of ['pxelinux.0', 'ldlinux.c32', 'vmlinuz', 'initrd.gz']) {
      assert.ok(tftp.some((r) => r.src === ip && r.dst === PXEPOOL6 && r.file === f), `${f} over TFTP across the router`);
    }
    const rrq = tftp.find((r) => r.src === ip && r.file === 'pxelinux.0')!.t;
    const kern = tftp.find((r) => r.src === ip && r.file === 'vmlinuz')!.t;
    t.diagnostic(`bios: first DISCOVER at ${d0.toFixed(2)} s, RRQ pxelinux.0 +${(rrq - d0).toFixed(2)} s, RRQ vmlinuz +${(kern - d0).toFixed(2)} s`);
  } else {
    // EDK2: BINL offer → REQUEST to siaddr:4011, unicast and routed → ACK with the file.
    assert.ok(proxyOffers.some((o) => o.vendorClass === 'PXEClient' && o.file === '' && !o.options.includes(43)), 'EDK2 got a BINL offer');
    const req4011 = mine.find((p) => p.type === 3 && p.dst === PXEPOOL6 && p.dstPort === 4011);
    assert.ok(req4011, 'EDK2 asked pxepool on 4011 across the router');
    const ack4011 = mine.find((p) => p.type === 5 && p.src === PXEPOOL6 && p.srcPort === 4011);
    assert.ok(ack4011 && ack4011.file === 'snponly.efi', '4011 ACK with snponly.efi');
    assert.ok(tftp.some((r) => r.src === ip && r.dst === PXEPOOL6 && r.file === 'snponly.efi'), 'snponly.efi over TFTP across the router');
    // snponly.efi DHCPs again through the relay; the iPXE offer carries the script URL.
    const ipxeOffer = mine.find((p) => p.type === 2 && p.yiaddr === '0.0.0.0' && p.file.startsWith('http://'));
    assert.ok(ipxeOffer, 'iPXE got the script URL in a relayed offer');
    assert.equal(ipxeOffer.file, `http://${PXEPOOL6}:8080/boot.ipxe`);
    const http = httpRequests(cliPcap).filter((r) => r.src === ip && r.dst === PXEPOOL6);
    assert.ok(http.some((r) => r.uri.includes('boot.ipxe')), 'script over HTTP across the router');
    assert.ok(http.some((r) => r.uri.includes('vmlinuz')), 'kernel over HTTP across the router');
    assert.ok(http.some((r) => r.uri.includes('initrd.gz')), 'initrd over HTTP across the router');
    const snp = tftp.find((r) => r.src === ip && r.file === 'snponly.efi')!.t;
    t.diagnostic(`uefi: first DISCOVER at ${d0.toFixed(2)} s, 4011 REQUEST +${(req4011.t - d0).toFixed(2)} s, RRQ snponly.efi +${(snp - d0).toFixed(2)} s, iPXE offer +${(ipxeOffer.t - d0).toFixed(2)} s, GET script +${((http.find((r) => r.uri.includes('boot.ipxe'))?.t ?? NaN) - d0).toFixed(2)} s`);
  }
}

test('relayed: BIOS (iPXE ROM → pxelinux) boots through dhcrelay, TFTP across the router', { skip, timeout: 360_000 }, async (t) => {
  await relayedBoot('bios', t);
});

test('relayed: UEFI (OVMF → 4011 → snponly.efi → HTTP) boots through dhcrelay', { skip, timeout: 420_000 }, async (t) => {
  await relayedBoot('uefi', t);
});
