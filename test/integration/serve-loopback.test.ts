// `pxepool serve` as a real process on loopback: a relay agent (the test) forwards PXE
// DISCOVERs and 4011 requests; the server answers per policy, survives a flood of mutated
// packets, counts them, and reloads its config on SIGHUP.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { udpPeer, type UdpPeer } from '../lib/udp.ts';
import { bootServerRequest, discover, encode, type ClientIdentity } from '../../src/dhcp/pxe-client.ts';
import { getOption, parseDhcp } from '../../src/dhcp/packet.ts';
import { decodeIp, decodeString, Opt } from '../../src/dhcp/options.ts';

const base = 20000 + (process.pid % 5000) * 2;
const P = { dhcp: base, pxe: base + 1, tftp: 30000 + (process.pid % 5000), http: 40000 + (process.pid % 5000) };
const dir = mkdtempSync(join(tmpdir(), 'pxepool-it-'));
const cfg = join(dir, 'pxepool.yaml');
const CONFIG = `
root: ${dir}
profiles:
  lab:
    bios: pxelinux.0
    efiX64: snponly.efi
    ipxe: http://\${server}/boot.ipxe
rules:
  - name: lab machines
    match: { mac: "52:54:00:aa:*" }
    profile: lab
default: ignore
`;

let srv: ServeProc;
let relay: UdpPeer;

before(async () => {
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(4096, 7));
  writeFileSync(cfg, CONFIG);
  srv = await startServe(['--config', cfg, '--listen', '127.0.0.1', '--dhcp-port', String(P.dhcp), '--pxe-port', String(P.pxe), '--tftp-port', String(P.tftp), '--http-port', String(P.http)]);
  // The relay agent listens on its own loopback address at the server port, as a router would.
  relay = await udpPeer('127.0.0.2', P.dhcp);
});

after(async () => {
  await relay?.close();
  await srv?.stop();
});

const known: ClientIdentity = { kind: 'ipxe-bios', mac: '52:54:00:aa:00:01' };
const unknown: ClientIdentity = { kind: 'ipxe-bios', mac: '52:54:00:bb:00:01' };

async function relayDiscover(id: ClientIdentity, xid: number) {
  await relay.send(encode(discover(id, { xid, giaddr: '127.0.0.2', hops: 1 })), P.dhcp, '127.0.0.1');
  const r = await relay.next((m) => m.readUInt32BE(4) === xid, 1500);
  if (r === undefined) return undefined;
  const p = parseDhcp(r.msg);
  assert.ok(p.ok);
  return p.ok ? p.packet : undefined;
}

test('a relayed PXE DISCOVER from a known client gets a proxy offer back at the relay', async () => {
  const offer = await relayDiscover(known, 0x1001);
  assert.ok(offer, 'no offer');
  assert.equal(offer.yiaddr, '0.0.0.0');
  assert.equal(offer.giaddr, '127.0.0.2');
  // iPXE ROMs say so in option 77; the profile's `ipxe` script URL names this server's HTTP port.
  assert.equal(offer.file, `http://127.0.0.1:${P.http}/boot.ipxe`);
  assert.equal(decodeIp(getOption(offer, Opt.ServerId)), '127.0.0.1');
  assert.equal(decodeString(getOption(offer, Opt.VendorClass)), 'PXEClient');
  const log = await srv.waitForLog((l) => l.event === 'answer' && l.mac === known.mac);
  assert.equal(log.rule, 'rules[0]');
});

test('the boot server answers the 4011 request unicast to the client port', async () => {
  const client = await udpPeer('127.0.0.3');
  try {
    await client.send(encode(bootServerRequest(known, { xid: 0x2002, ciaddr: '127.0.0.3' })), P.pxe, '127.0.0.1');
    const r = await client.next(undefined, 1500);
    assert.ok(r, 'no ACK');
    const p = parseDhcp(r.msg);
    assert.ok(p.ok && getOption(p.packet, Opt.MessageType)?.[0] === 5 && p.packet.file === `http://127.0.0.1:${P.http}/boot.ipxe`);
  } finally {
    await client.close();
  }
});

test('a client policy ignores gets nothing, and the decision is logged', async () => {
  assert.equal(await relayDiscover(unknown, 0x3003), undefined);
  const log = await srv.waitForLog((l) => l.event === 'ignore' && l.mac === unknown.mac);
  assert.equal(log.rule, 'default');
});

test('10,000 mutated packets: the server keeps answering valid clients and counts the malformed', async () => {
  const valid = encode(discover(known, { xid: 0, giaddr: '127.0.0.2', hops: 1 }));
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const flood = await udpPeer('127.0.0.4');
  let answered = 0;
  try {
    for (let i = 0; i < 10_000; i++) {
      const m = Buffer.from(valid);
      const kind = rnd(3);
      let pkt: Buffer;
      if (kind === 0) pkt = m.subarray(0, rnd(m.length));                       // truncated
      else if (kind === 1) { for (let k = 0; k < 4; k++) m[rnd(m.length)] = rnd(256); pkt = m; } // bytes flipped
      else { pkt = Buffer.alloc(rnd(600)); for (let k = 0; k < pkt.length; k++) pkt[k] = rnd(256); } // noise
      // Whatever the server answers stays on loopback (ciaddr empty, giaddr a loopback address
      // nobody listens on), and does not crowd the probe's replies out of its socket buffer.
      if (pkt.length >= 28) { pkt.fill(0, 12, 16); pkt.set([127, 0, 0, 9], 24); }
      await flood.send(pkt, P.dhcp, '127.0.0.1');
      if (i % 1000 === 999) {
        if (await relayDiscover(known, 0x5000 + i)) answered++;
      }
    }
  } finally {
    await flood.close();
  }
  assert.equal(answered, 10, 'every valid DISCOVER during the flood was answered');
  assert.equal(srv.proc.exitCode, null, 'server still running');
  const metrics = await (await fetch(`http://127.0.0.1:${P.http}/metrics`)).text();
  const malformed = [...metrics.matchAll(/^pxepool_dhcp_malformed_total\{reason="[^"]+"\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
  assert.ok(malformed > 2000, `malformed counted: ${malformed}`);
});

test('SIGHUP with a broken config keeps the old policy; a good one takes effect', async () => {
  writeFileSync(cfg, CONFIG.replace('profile: lab', 'profile: lba'));
  srv.proc.kill('SIGHUP');
  const bad = await srv.waitForLog((l) => l.event === 'reload' && l.ok === false);
  assert.match(JSON.stringify(bad), /lba/);
  assert.ok(await relayDiscover(known, 0x6001), 'old policy still answers');
  writeFileSync(cfg, CONFIG.replace('default: ignore', 'default: lab'));
  srv.proc.kill('SIGHUP');
  await srv.waitForLog((l) => l.event === 'reload' && l.ok === true);
  assert.ok(await relayDiscover(unknown, 0x6002), 'new default answers the formerly unknown client');
});

test('HTTP /grub/grub.cfg: a tree without one gets the handover to this machine\'s own config (GRUB loaded by UEFI HTTP boot); a tree with one gets its file', async () => {
  const res = await fetch(`http://127.0.0.1:${P.http}//grub/grub.cfg`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^source "\(\$root\)\/boot\.grub\?mac=\$net_default_mac&platform=efi&buildarch=\$grub_cpu&proto=http"$/m);
  assert.equal((await fetch(`http://127.0.0.1:${P.http}/grub/grub.cfg`, { method: 'HEAD' })).headers.get('content-length'), String(Buffer.byteLength(text)));
  const { mkdirSync, rmSync } = await import('node:fs');
  mkdirSync(join(dir, 'grub'), { recursive: true });
  writeFileSync(join(dir, 'grub', 'grub.cfg'), 'set timeout=1\n');
  try {
    assert.equal(await (await fetch(`http://127.0.0.1:${P.http}/grub/grub.cfg`)).text(), 'set timeout=1\n', 'the tree\'s own wins');
  } finally {
    rmSync(join(dir, 'grub'), { recursive: true, force: true });
  }
});
