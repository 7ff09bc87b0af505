// Routed segments in network namespaces:
//
//   client ── [clients] ── router (eth0 10.77.1.1 | eth1 10.77.2.1) ── [servers] ── Kea 10.77.2.10
//                                                                              ├─ pxe-a 10.77.2.20
//                                                                              ├─ pxe-b 10.77.2.21
//                                                                              └─ pxe-default 10.77.2.22
//
// The router runs `pxepool relay` (then Debian's dhcrelay, for comparison). The PXE servers are
// small UDP listeners on port 67 that print what reaches them; the client is busybox udhcpc
// (a full lease from Kea through the relay) and a scripted sender of codec-built DISCOVERs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type Host, type Proc, runOk } from '../lib/netns.ts';
import { startKea, udhcpcOnce } from '../lib/services.ts';
import { discover, encode } from '../../src/dhcp/pxe-client.ts';
import { bin, needs, root } from '../lib/require.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const canRun = needs(root(), bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/dhcrelay', 'isc-dhcp-relay'));

// Prints one JSON line per datagram that reaches port 67.
const LISTENER = `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => {
  if (m.length < 240) return;
  const mac = [...m.subarray(28, 34)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  console.log(JSON.stringify({ from: r.address, op: m[0], hops: m[3], xid: m.readUInt32BE(4), giaddr: [...m.subarray(24, 28)].join('.'), mac }));
});
s.bind(67, '0.0.0.0', () => console.log('LISTENING'));
setTimeout(() => process.exit(0), 120000);
`;

// Broadcasts the hex-encoded packets given as arguments from port 68 and prints every reply.
const SENDER = `
const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => {
  if (m.length < 240) return;
  console.log(JSON.stringify({ from: r.address, op: m[0], xid: m.readUInt32BE(4), yiaddr: [...m.subarray(16, 20)].join('.'), giaddr: [...m.subarray(24, 28)].join('.') }));
});
s.bind(68, '0.0.0.0', () => {
  s.setBroadcast(true);
  for (const hex of process.argv.slice(1)) s.send(Buffer.from(hex, 'hex'), 67, '255.255.255.255');
  console.log('SENT');
});
setTimeout(() => process.exit(0), 4000);
`;

interface Seen { from: string; op: number; hops?: number; xid: number; giaddr: string; mac?: string; yiaddr?: string }

function seen(p: Proc): Seen[] {
  return p.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Seen);
}

async function waitSeen(p: Proc, pred: (s: Seen) => boolean, ms: number): Promise<Seen | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const hit = seen(p).find(pred);
    if (hit !== undefined || Date.now() > end) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const MAC_A = '02:10:00:00:00:0a';   // exact line → pxe-a
const MAC_W = '02:99:00:00:00:01';   // wildcard 02:99:* → pxe-b
const MAC_C = '02:10:00:00:00:0c';   // not listed → default
const MAC_P = '02:10:00:00:00:0d';   // not a PXE client → Kea only

function packets(): { hex: string[]; xid: Record<string, number> } {
  const xid: Record<string, number> = { [MAC_A]: 0xa0000001, [MAC_W]: 0xa0000002, [MAC_C]: 0xa0000003, [MAC_P]: 0xa0000004 };
  const hex = [MAC_A, MAC_W, MAC_C].map((mac) => Buffer.from(encode(discover({ kind: 'ovmf', mac }, { xid: xid[mac]! }))).toString('hex'));
  hex.push(Buffer.from(encode(discover({ kind: 'plain', mac: MAC_P }, { xid: xid[MAC_P]! }))).toString('hex'));
  return { hex, xid };
}

async function topology(lab: Lab) {
  const router = await lab.addRouter('router', [{ segment: 'clients', address: '10.77.1.1/24' }, { segment: 'servers', address: '10.77.2.1/24' }]);
  const kea = await lab.addHost('kea', { segment: 'servers', address: '10.77.2.10/24', gateway: '10.77.2.1' });
  const servers: Record<string, Host> = {};
  for (const [name, ip] of [['pxe-a', '10.77.2.20'], ['pxe-b', '10.77.2.21'], ['pxe-default', '10.77.2.22']] as const) {
    servers[name] = await lab.addHost(name, { segment: 'servers', address: `${ip}/24`, gateway: '10.77.2.1' });
  }
  const client = await lab.addHost('client', { segment: 'clients', mac: '02:10:00:00:00:01' });
  const keaProc = await startKea(lab, kea, { subnet: '10.77.1.0/24', rangeStart: '10.77.1.100', rangeEnd: '10.77.1.150', router: '10.77.1.1' });
  const listeners: Record<string, Proc> = {};
  for (const [name, host] of Object.entries(servers)) {
    listeners[name] = lab.spawn(host.ns, process.execPath, ['-e', LISTENER], { name: `listen@${name}` });
    await listeners[name].waitForLine(/LISTENING/, 5000);
  }
  return { router, kea, keaProc, client, listeners };
}

/** Give the client an address so a plain UDP socket can broadcast (udhcpc needs none). */
async function clientCanSend(client: Host): Promise<void> {
  await runOk('ip', ['addr', 'add', '169.254.77.2/16', 'dev', client.iface.name], { ns: client.ns });
  await runOk('ip', ['route', 'add', 'default', 'dev', client.iface.name], { ns: client.ns });
}

async function sendDiscovers(lab: Lab, client: Host, hex: string[]): Promise<Proc> {
  const p = lab.spawn(client.ns, process.execPath, ['-e', SENDER, ...hex], { name: 'sender' });
  await p.waitForLine(/SENT/, 5000);
  return p;
}

test('pxepool relay steers PXE clients by MAC and relays Kea\'s offers back', { skip: canRun, timeout: 90_000 }, async () => {
  const lab = await Lab.create({ segments: ['clients', 'servers'] });
  try {
    const t = await topology(lab);
    const hosts = join(lab.tmpDir, 'relay.hosts');
    writeFileSync(hosts, `${MAC_A}   10.77.2.20   # exact\n02:99:*   10.77.2.21   # wildcard\n`);
    const relay = lab.spawn(t.router.ns, process.execPath, [join(ROOT, 'src/cli/main.ts'), 'relay', '-d', '--interface', 'eth0', '--dhcp-server', '10.77.2.10', '--hosts', hosts, '--default', '10.77.2.22'], { name: 'pxepool-relay' });
    await relay.waitForLine(/relaying eth0 \(10\.77\.1\.1\)/, 10_000);

    // A whole lease from Kea through the relay (DISCOVER/OFFER/REQUEST/ACK, all broadcast).
    const lease = await udhcpcOnce(lab, t.client, 20_000);
    assert.match(lease, /^10\.77\.1\.(1[0-4][0-9]|150)$/, `lease ${lease} from Kea's pool`);

    await clientCanSend(t.client);
    const { hex, xid } = packets();
    const sender = await sendDiscovers(lab, t.client, hex);
    const L = t.listeners;
    const a = await waitSeen(L['pxe-a']!, (s) => s.xid === xid[MAC_A], 5000);
    const w = await waitSeen(L['pxe-b']!, (s) => s.xid === xid[MAC_W], 5000);
    const c = await waitSeen(L['pxe-default']!, (s) => s.xid === xid[MAC_C], 5000);
    assert.ok(a, `exact host-file MAC reached pxe-a; relay log:\n${relay.tail()}`);
    assert.ok(w, 'wildcard MAC reached pxe-b');
    assert.ok(c, 'unlisted MAC reached the default');
    for (const s of [a, w, c]) {
      assert.equal(s.giaddr, '10.77.1.1');
      assert.equal(s.hops, 1);
      assert.equal(s.from, '10.77.1.1');
    }
    // Kea offers every client, PXE or not, through the relay (yiaddr from the relayed subnet).
    for (const mac of [MAC_A, MAC_W, MAC_C, MAC_P]) {
      const offer = await waitSeen(sender, (s) => s.xid === xid[mac] && s.op === 2, 5000);
      assert.ok(offer, `Kea's offer for ${mac} came back through the relay`);
      assert.match(offer.yiaddr ?? '', /^10\.77\.1\./);
    }
    await new Promise((r) => setTimeout(r, 300));
    // Each PXE target got only its own clients; the non-PXE client went to Kea only.
    assert.deepEqual(seen(L['pxe-a']!).map((s) => s.mac), [MAC_A]);
    assert.deepEqual(seen(L['pxe-b']!).map((s) => s.mac), [MAC_W]);
    assert.deepEqual(seen(L['pxe-default']!).map((s) => s.mac), [MAC_C]);
    assert.ok(relay.lines.some((l) => l.includes(`${MAC_A} PXE; host ${hosts}:1`)), 'debug log explains the decision');
  } finally {
    await lab.destroy();
  }
});

test('Debian dhcrelay in the same topology: relayed requests reach the servers, offers come back', { skip: canRun, timeout: 90_000 }, async () => {
  const lab = await Lab.create({ segments: ['clients', 'servers'] });
  try {
    const t = await topology(lab);
    const relay = lab.spawn(t.router.ns, 'dhcrelay', ['-4', '-d', '-pf', join(lab.tmpDir, 'dhcrelay.pid'), '-id', 'eth0', '-iu', 'eth1', '10.77.2.10', '10.77.2.20'], { name: 'dhcrelay' });
    await relay.waitForLine(/Listening on|Sending on/, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await clientCanSend(t.client);
    const { hex, xid } = packets();
    const sender = await sendDiscovers(lab, t.client, hex);
    const a = await waitSeen(t.listeners['pxe-a']!, (s) => s.xid === xid[MAC_A], 5000);
    assert.ok(a, `dhcrelay forwarded to the PXE server; dhcrelay:\n${relay.tail()}`);
    assert.equal(a.giaddr, '10.77.1.1');
    const offer = await waitSeen(sender, (s) => s.xid === xid[MAC_A] && s.op === 2, 5000);
    assert.ok(offer, 'Kea\'s offer came back through dhcrelay');
    // Without a host file every client goes to every server: the reason for MAC steering.
    await waitSeen(t.listeners['pxe-a']!, (s) => s.xid === xid[MAC_C], 3000);
    assert.ok(seen(t.listeners['pxe-a']!).some((s) => s.mac === MAC_C));
  } finally {
    await lab.destroy();
  }
});

test('one pxepool relay serves two client segments: each request carries its own giaddr, each reply leaves by its own interface', { skip: canRun, timeout: 90_000 }, async () => {
  const lab = await Lab.create({ segments: ['clients', 'servers', 'clients2'] });
  try {
    const router = await lab.addRouter('router', [
      { segment: 'clients', address: '10.77.1.1/24' },
      { segment: 'servers', address: '10.77.2.1/24' },
      { segment: 'clients2', address: '10.77.3.1/24' },
    ]);
    const kea = await lab.addHost('kea', { segment: 'servers', address: '10.77.2.10/24', gateway: '10.77.2.1' });
    const pxe = await lab.addHost('pxe-a', { segment: 'servers', address: '10.77.2.20/24', gateway: '10.77.2.1' });
    const c1 = await lab.addHost('client1', { segment: 'clients', mac: '02:10:00:00:01:01' });
    const c2 = await lab.addHost('client2', { segment: 'clients2', mac: '02:10:00:00:02:01' });
    await startKea(lab, kea, [
      { subnet: '10.77.1.0/24', rangeStart: '10.77.1.100', rangeEnd: '10.77.1.150', router: '10.77.1.1' },
      { subnet: '10.77.3.0/24', rangeStart: '10.77.3.100', rangeEnd: '10.77.3.150', router: '10.77.3.1' },
    ]);
    const listener = lab.spawn(pxe.ns, process.execPath, ['-e', LISTENER], { name: 'listen@pxe-a' });
    await listener.waitForLine(/LISTENING/, 5000);
    const relay = lab.spawn(router.ns, process.execPath, [join(ROOT, 'src/cli/main.ts'), 'relay', '-d', '--interface', 'eth0', 'eth2', '--dhcp-server', '10.77.2.10', '--default', '10.77.2.20'], { name: 'pxepool-relay' });
    await relay.waitForLine(/relaying eth0 \(10\.77\.1\.1\), eth2 \(10\.77\.3\.1\)/, 10_000);

    // Kea picks the subnet from giaddr, and a broadcast reply only reaches a client if the relay
    // sent it out of the segment the request came from: a lease in each subnet proves both.
    const [l1, l2] = await Promise.all([udhcpcOnce(lab, c1, 20_000), udhcpcOnce(lab, c2, 20_000)]);
    assert.match(l1, /^10\.77\.1\.(1[0-4][0-9]|150)$/, `client1 lease ${l1}; relay:\n${relay.tail()}`);
    assert.match(l2, /^10\.77\.3\.(1[0-4][0-9]|150)$/, `client2 lease ${l2}; relay:\n${relay.tail()}`);

    await clientCanSend(c2);
    const mac = '02:10:00:00:02:0a';
    const sender = await sendDiscovers(lab, c2, [Buffer.from(encode(discover({ kind: 'ovmf', mac }, { xid: 0xb0000001 }))).toString('hex')]);
    const s = await waitSeen(listener, (x) => x.xid === 0xb0000001, 5000);
    assert.ok(s, `DISCOVER from the second segment reached the PXE target; relay:\n${relay.tail()}`);
    assert.equal(s.giaddr, '10.77.3.1');
    assert.equal(s.from, '10.77.3.1', 'forwarded from the address of the interface it arrived on');
    const offer = await waitSeen(sender, (x) => x.xid === 0xb0000001 && x.op === 2, 5000);
    assert.ok(offer, "Kea's offer came back to the second segment");
    assert.match(offer.yiaddr ?? '', /^10\.77\.3\./);
    // Nothing from segment 2 was stamped with segment 1's giaddr.
    assert.ok(!seen(listener).some((x) => x.mac === mac && x.giaddr !== '10.77.3.1'));
  } finally {
    await lab.destroy();
  }
});
