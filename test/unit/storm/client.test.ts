// The per-client machine against a scripted fake network: offer choice per firmware, retransmit
// schedules, EDK2 failover between BINL offers, TFTP probe/windows, restarts, HTTP.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firmwareModel, pxelinuxFiles, StormClient, type Action, type ClientOptions, type Family } from '../../../src/storm/client.ts';
import { getOption, newReply, parseDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { decodeU8, encodeIp, encodeString, encodeU8, MessageType, Opt } from '../../../src/dhcp/options.ts';
import { DiscoveryControl, encodeIpxeOptions, encodePxeOptions } from '../../../src/dhcp/pxe.ts';
import { encodeData, encodeError, encodeOack, parsePacket } from '../../../src/tftp/packet.ts';

function client(family: Family, over: Partial<ClientOptions> = {}): StormClient {
  return new StormClient({
    index: 0, mac: '02:53:00:00:00:01', xid: 0x1000, address: '10.0.0.50', dhcpWait: true,
    model: firmwareModel(family, { edk2CollectMs: 4000 }), ...over,
  });
}

function sent(actions: Action[], type: Action['type']): Action[] {
  return actions.filter((a) => a.type === type);
}

function timerOf(actions: Action[]): number | undefined {
  const t = actions.filter((a) => a.type === 'timer').at(-1);
  return t?.type === 'timer' ? t.at : undefined;
}

function request(c: StormClient, actions: Action[]): DhcpPacket {
  const d = sent(actions, 'dhcp-send')[0] ?? sent(actions, 'pxe-send')[0];
  assert.ok(d && (d.type === 'dhcp-send' || d.type === 'pxe-send'), 'no DHCP packet sent');
  const p = parseDhcp(d.data);
  assert.ok(p.ok);
  assert.equal(p.packet.xid, c.xid);
  return p.packet;
}

interface OfferSpec {
  server: string;
  dhcp?: boolean;
  file?: string;
  siaddr?: string;
  priority?: number;
  menu?: boolean;
  useBootFile?: boolean;
  type?: number;
}

function reply(req: DhcpPacket, s: OfferSpec): DhcpPacket {
  const r = newReply(req);
  r.options.push({ code: Opt.MessageType, data: encodeU8(s.type ?? MessageType.Offer) });
  r.options.push({ code: Opt.ServerId, data: encodeIp(s.server) });
  if (s.dhcp) {
    r.yiaddr = '10.0.0.123';
  } else {
    r.options.push({ code: Opt.VendorClass, data: encodeString('PXEClient') });
  }
  if (s.siaddr !== undefined) r.siaddr = s.siaddr;
  if (s.file !== undefined) r.file = s.file;
  if (s.priority !== undefined) r.options.push({ code: Opt.IpxeEncap, data: encodeIpxeOptions({ priority: s.priority }) });
  if (s.menu) {
    r.options.push({
      code: Opt.VendorSpecific,
      data: encodePxeOptions({ discoveryControl: 3, bootServers: [{ type: 0x8000, ips: [s.server] }], bootMenu: [{ type: 0x8000, description: 'boot' }], menuPrompt: { timeout: 0, prompt: 'x' } }),
    });
  }
  if (s.useBootFile) r.options.push({ code: Opt.VendorSpecific, data: encodePxeOptions({ discoveryControl: DiscoveryControl.UseBootFile }) });
  return r;
}

/** Plays a TFTP server for one RRQ: returns the client's actions after the whole file. */
function serveFile(c: StormClient, now: number, first: Action[], size: number, opts: { oack?: boolean } = {}): { actions: Action[]; acks: number } {
  const rrq = sent(first, 'tftp-rrq')[0];
  assert.ok(rrq?.type === 'tftp-rrq', 'no RRQ');
  const req = parsePacket(rrq.data);
  assert.ok(req.ok && req.value.op === 'RRQ');
  const asked = new Map(req.value.op === 'RRQ' ? req.value.options : []);
  const from = { address: rrq.to, port: 50000 };
  let blk = 512;
  let win = 1;
  let out: Action[] = [];
  let acks = 0;
  if (opts.oack !== false && asked.size > 0) {
    blk = Number(asked.get('blksize') ?? 512);
    win = Number(asked.get('windowsize') ?? 1);
    const oack: Array<[string, string]> = [];
    if (asked.has('tsize')) oack.push(['tsize', String(size)]);
    oack.push(['blksize', String(blk)]);
    if (asked.has('windowsize')) oack.push(['windowsize', String(win)]);
    out = c.onTftp(now, rrq.session, encodeOack(oack), from);
    if (c.phase !== 'tftp' || sent(out, 'tftp-rrq').length > 0) return { actions: out, acks };
  }
  const blocks = Math.floor(size / blk) + 1;
  for (let b = 1; b <= blocks; b++) {
    const len = b < blocks ? blk : size % blk;
    out = c.onTftp(now, rrq.session, encodeData(b & 0xffff, new Uint8Array(len)), from);
    acks += sent(out, 'tftp-send').length;
  }
  return { actions: out, acks };
}

test('iPXE leaves DISCOVER as soon as it holds a DHCP and a ProxyDHCP offer; keeps the highest 175.1 priority, latest on ties', () => {
  const c = client('bios');
  const a0 = c.start(0);
  const d = request(c, a0);
  assert.equal(getOption(d, Opt.UserClass) !== undefined, true, 'iPXE says iPXE in 77');
  assert.equal(timerOf(a0), 1000, 're-sent after ~1 s');
  assert.deepEqual(c.onDhcp(10, reply(d, { server: '10.0.0.2', priority: 5 }), '10.0.0.2').filter((a) => a.type !== 'timer'), []);
  c.onDhcp(11, reply(d, { server: '10.0.0.3', priority: 5 }), '10.0.0.3');
  c.onDhcp(12, reply(d, { server: '10.0.0.4', priority: 1 }), '10.0.0.4');
  assert.equal(c.phase, 'discover', 'waits for the site DHCP offer');
  const a = c.onDhcp(20, reply(d, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  assert.equal(c.phase, 'request');
  const pxe = sent(a, 'pxe-send')[0];
  assert.ok(pxe?.type === 'pxe-send');
  assert.equal(pxe.to, '10.0.0.3', 'tie on priority 5 goes to the later offer');
  assert.equal(c.stats.offerServer, '10.0.0.3');
  assert.equal(c.stats.dhcpAddress, '10.0.0.123');
  assert.equal(c.stats.offers, 4);
  assert.equal(c.stats.firstOfferMs, 10);
});

test('iPXE with --no-dhcp-wait proceeds on the first proxy offer; without any proxy offer it gives up ~3 s after the first DISCOVER', () => {
  const c = client('ipxe', { dhcpWait: false });
  const d = request(c, c.start(0));
  c.onDhcp(5, reply(d, { server: '10.0.0.2', file: 'x.efi' }), '10.0.0.2');
  assert.equal(c.phase, 'request');

  const c2 = client('bios');
  const d2 = request(c2, c2.start(0));
  const a = c2.onDhcp(100, reply(d2, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  assert.equal(timerOf(a), 1000);
  const r1 = c2.onTimer(1000);
  assert.equal(sent(r1, 'dhcp-send').length, 1, 'retransmits while waiting');
  assert.equal(timerOf(r1), 3000, 'next deadline is the proxy wait');
  c2.onTimer(3000);
  assert.equal(c2.phase, 'failed');
  assert.match(c2.stats.failure ?? '', /nothing to boot/);
  assert.equal(c2.stats.retransmits.discover, 1);
});

test('iPXE DISCOVER retransmit schedule with no answer at all, then failure', () => {
  const c = client('bios');
  let a = c.start(0);
  const times: number[] = [0];
  for (let i = 0; i < 10 && !c.finished; i++) {
    const at = timerOf(a)!;
    a = c.onTimer(at);
    if (sent(a, 'dhcp-send').length > 0) times.push(at);
  }
  assert.deepEqual(times, [0, 1000, 3000, 7000, 15000]);
  assert.equal(c.phase, 'failed');
  assert.equal(c.stats.failure, 'no offer');
  assert.equal(c.stats.retransmits.discover, 4);
});

test('EDK2 collects for its whole window, ignores a plain DHCP offer alone, and re-sends at +4, +8, +16 s', () => {
  const c = client('efi');
  const a0 = c.start(0);
  const d = request(c, a0);
  assert.equal(d.flags & 0x8000, 0x8000, 'OVMF sets the broadcast flag');
  assert.equal(getOption(d, Opt.UserClass), undefined);
  assert.equal(timerOf(a0), 4000);
  assert.deepEqual(c.onDhcp(10, reply(d, { server: '10.0.0.1', dhcp: true }), '10.0.0.1'), []);
  const times: number[] = [0];
  let a = a0;
  for (let i = 0; i < 10 && !c.finished; i++) {
    const at = timerOf(a)!;
    a = c.onTimer(at);
    if (sent(a, 'dhcp-send').length > 0) times.push(at);
  }
  assert.deepEqual(times, [0, 4000, 12000, 28000]);
  assert.equal(c.stats.failure, 'no proxy offer');
});

test('EDK2 asks the first BINL offer on 4011, retries at +1, +3, +6 s, then fails over to the next', () => {
  const c = client('efi');
  const d = request(c, c.start(0));
  c.onDhcp(5, reply(d, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  c.onDhcp(6, reply(d, { server: '10.0.0.7', siaddr: '10.0.0.7' }), '10.0.0.7');
  c.onDhcp(7, reply(d, { server: '10.0.0.8', siaddr: '10.0.0.8' }), '10.0.0.8');
  c.onDhcp(8, reply(d, { server: '10.0.0.7', siaddr: '10.0.0.7' }), '10.0.0.7');
  assert.equal(c.phase, 'discover', 'still collecting');
  let a = c.onTimer(4000);
  assert.equal(c.phase, 'request');
  const sends: Array<[number, string]> = [];
  const first = sent(a, 'pxe-send')[0];
  assert.ok(first?.type === 'pxe-send');
  sends.push([4000, first.to]);
  const req = parseDhcp(first.data);
  assert.ok(req.ok);
  assert.equal(req.packet.ciaddr, '10.0.0.50');
  assert.equal(decodeU8(getOption(req.packet, Opt.MessageType)), MessageType.Request);
  for (let i = 0; i < 6; i++) {
    const at = timerOf(a)!;
    a = c.onTimer(at);
    for (const s of sent(a, 'pxe-send')) if (s.type === 'pxe-send') sends.push([at, s.to]);
    if (sends.length === 5) break;
  }
  assert.deepEqual(sends, [[4000, '10.0.0.7'], [5000, '10.0.0.7'], [7000, '10.0.0.7'], [10000, '10.0.0.7'], [14000, '10.0.0.8']]);
  assert.equal(c.stats.failovers, 1);
  assert.equal(c.stats.duplicateOffers, 1);
  // the second server answers: size probe, abort, real download
  const ack = reply(request(c, a), { server: '10.0.0.8', siaddr: '10.0.0.8', file: 'boot/grubx64.efi', type: MessageType.Ack });
  const t = c.onDhcp(14100, ack, '10.0.0.8');
  assert.equal(c.stats.bootServer, '10.0.0.8');
  const rrq = sent(t, 'tftp-rrq')[0];
  assert.ok(rrq?.type === 'tftp-rrq');
  const p = parsePacket(rrq.data);
  assert.ok(p.ok && p.value.op === 'RRQ');
  assert.deepEqual(p.value.op === 'RRQ' && p.value.options, [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']]);
  const probe = c.onTftp(14110, rrq.session, encodeOack([['tsize', '3000'], ['blksize', '1468'], ['windowsize', '4']]), { address: '10.0.0.8', port: 40000 });
  const abort = sent(probe, 'tftp-send')[0];
  assert.ok(abort?.type === 'tftp-send');
  const e = parsePacket(abort.data);
  assert.ok(e.ok && e.value.op === 'ERROR');
  const real = sent(probe, 'tftp-rrq')[0];
  assert.ok(real?.type === 'tftp-rrq' && real.session !== rrq.session);
  const r2 = parsePacket(real.data);
  assert.deepEqual(r2.ok && r2.value.op === 'RRQ' && r2.value.options, [['blksize', '1468'], ['windowsize', '4']]);
  const { acks } = serveFile(c, 14200, probe, 10 * 1468 + 100);
  assert.equal(c.phase, 'done');
  assert.equal(c.stats.bytes, 10 * 1468 + 100);
  assert.equal(acks, 3, 'windowsize 4: ACK after blocks 4, 8 and the last (11)');
  assert.equal(c.stats.nbpMs, 14200);
  assert.equal(c.stats.fileServer, '10.0.0.8');
});

test('EDK2 takes a proxy offer with a boot file directly; a PXE menu offer (dnsmasq) goes to 4011 with the boot item', () => {
  const c = client('efi', { dhcpWait: false });
  const d = request(c, c.start(0));
  c.onDhcp(5, reply(d, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'snponly.efi', useBootFile: true }), '10.0.0.2');
  const a = c.onTimer(4000);
  assert.equal(c.phase, 'tftp');
  assert.ok(sent(a, 'tftp-rrq')[0]?.type === 'tftp-rrq');

  const m = client('bios');
  const dm = request(m, m.start(0));
  m.onDhcp(5, reply(dm, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  const am = m.onDhcp(6, reply(dm, { server: '10.0.0.9', menu: true }), '10.0.0.9');
  const pxe = sent(am, 'pxe-send')[0];
  assert.ok(pxe?.type === 'pxe-send');
  assert.equal(pxe.to, '10.0.0.9');
  const rq = parseDhcp(pxe.data);
  assert.ok(rq.ok && getOption(rq.packet, Opt.VendorSpecific) !== undefined, 'boot item 43.71 asked for');
});

test('iPXE TFTP asks blksize 1432 + tsize without windowsize, ACKs every block, re-ACKs a resent block', () => {
  const c = client('bios', { dhcpWait: false });
  const d = request(c, c.start(0));
  const a = c.onDhcp(5, reply(d, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0' }), '10.0.0.2');
  const ack = reply(request(c, a), { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0', type: MessageType.Ack });
  const t = c.onDhcp(10, ack, '10.0.0.2');
  const rrq = sent(t, 'tftp-rrq')[0];
  assert.ok(rrq?.type === 'tftp-rrq');
  const p = parsePacket(rrq.data);
  assert.deepEqual(p.ok && p.value.op === 'RRQ' && p.value.options, [['blksize', '1432'], ['tsize', '0']]);
  const from = { address: '10.0.0.2', port: 41000 };
  c.onTftp(11, rrq.session, encodeOack([['blksize', '1432'], ['tsize', '2000']]), from);
  const b1 = c.onTftp(12, rrq.session, encodeData(1, new Uint8Array(1432)), from);
  assert.equal(sent(b1, 'tftp-send').length, 1);
  const again = c.onTftp(13, rrq.session, encodeData(1, new Uint8Array(1432)), from);
  assert.equal(sent(again, 'tftp-send').length, 1, 'duplicate of the last block is ACKed again');
  assert.deepEqual(c.onTftp(13, rrq.session, encodeData(2, new Uint8Array(10)), { address: '10.0.0.2', port: 9 }), [], 'other TIDs ignored');
  c.onTftp(14, rrq.session, encodeData(2, new Uint8Array(568)), from);
  assert.equal(c.phase, 'done');
  assert.equal(c.stats.bytes, 2000);
});

test('a dead TFTP transfer restarts from DISCOVER with a new xid, counted; out of restarts it fails', () => {
  const c = client('bios', { dhcpWait: false, maxRestarts: 1, model: firmwareModel('bios', { tftpRetransmitMs: [100, 200] }) });
  const boot = (now: number): Action[] => {
    const d = request(c, c.phase === 'discover' ? [{ type: 'dhcp-send', data: lastDiscover! }] : []);
    const a = c.onDhcp(now, reply(d, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0' }), '10.0.0.2');
    return c.onDhcp(now + 1, reply(request(c, a), { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0', type: MessageType.Ack }), '10.0.0.2');
  };
  let lastDiscover: Uint8Array | undefined;
  const s0 = c.start(0);
  lastDiscover = (sent(s0, 'dhcp-send')[0] as { data: Uint8Array }).data;
  const xid0 = c.xid;
  let a = boot(10);
  assert.equal(c.phase, 'tftp');
  // silence: RRQ re-sent at +100, +200, then the transfer is dead
  a = c.onTimer(timerOf(a)!);
  assert.equal(sent(a, 'tftp-rrq').length, 1);
  a = c.onTimer(timerOf(a)!);
  a = c.onTimer(timerOf(a)!);
  assert.equal(c.phase, 'discover');
  assert.equal(c.stats.restarts, 1);
  assert.equal(c.stats.retransmits.tftp, 2);
  assert.notEqual(c.xid, xid0);
  lastDiscover = (sent(a, 'dhcp-send')[0] as { data: Uint8Array }).data;
  a = boot(1000);
  const rrq = sent(a, 'tftp-rrq')[0];
  assert.ok(rrq?.type === 'tftp-rrq');
  c.onTftp(1010, rrq.session, encodeError(0, 'Too many transfers'), { address: '10.0.0.2', port: 40000 });
  assert.equal(c.phase, 'failed');
  assert.match(c.stats.failure ?? '', /transfer died: the iPXE ROM fails the boot \(next boot device\) \(.*Too many transfers.*\), after 1 restart/);
  assert.equal(c.stats.nbpMs, undefined);
});

test('a missing NBP fails without restarting; pxelinux config misses are normal and the search stops at the first hit', () => {
  const files = pxelinuxFiles('02:53:00:00:00:01', '10.0.0.50');
  assert.deepEqual(files.map((f) => f.name).slice(0, 4), ['ldlinux.c32', 'pxelinux.cfg/01-02-53-00-00-00-01', 'pxelinux.cfg/0A000032', 'pxelinux.cfg/0A00003']);
  assert.equal(files.at(-1)?.name, 'pxelinux.cfg/default');

  const c = client('bios', { dhcpWait: false, files });
  const d = request(c, c.start(0));
  const a = c.onDhcp(5, reply(d, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0' }), '10.0.0.2');
  let t = c.onDhcp(6, reply(request(c, a), { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'pxelinux.0', type: MessageType.Ack }), '10.0.0.2');
  t = serveFile(c, 10, t, 5000).actions; // pxelinux.0
  t = serveFile(c, 20, t, 3000).actions; // ldlinux.c32
  const names: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = sent(t, 'tftp-rrq')[0];
    assert.ok(r?.type === 'tftp-rrq');
    const p = parsePacket(r.data);
    names.push(p.ok && p.value.op === 'RRQ' ? p.value.filename : '');
    t = c.onTftp(30 + i, r.session, encodeError(1, 'File not found'), { address: '10.0.0.2', port: 40000 + i });
  }
  assert.deepEqual(names, ['pxelinux.cfg/01-02-53-00-00-00-01', 'pxelinux.cfg/0A000032', 'pxelinux.cfg/0A00003', 'pxelinux.cfg/0A0000']);
  t = serveFile(c, 40, t, 100).actions; // 0A000 hits: the rest of the search is skipped
  assert.equal(c.phase, 'done');
  assert.equal(c.stats.fileMisses, 4);
  assert.equal(c.stats.files, 3);
  assert.equal(c.stats.lastFileMs, 40);

  const m = client('efi', { dhcpWait: false });
  const dm = request(m, m.start(0));
  m.onDhcp(5, reply(dm, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'nope.efi' }), '10.0.0.2');
  const r = sent(m.onTimer(4000), 'tftp-rrq')[0];
  assert.ok(r?.type === 'tftp-rrq');
  m.onTftp(4001, r.session, encodeError(1, 'File not found'), { address: '10.0.0.2', port: 40000 });
  assert.equal(m.phase, 'failed');
  assert.equal(m.stats.restarts, 0);
  assert.match(m.stats.failure ?? '', /nope\.efi not found/);
});

test('iPXE fetches an http:// boot file and next files relative to it; EDK2 cannot', () => {
  const c = client('ipxe', { dhcpWait: false, files: [{ name: 'vmlinuz' }] });
  const d = request(c, c.start(0));
  const a = c.onDhcp(5, reply(d, { server: '10.0.0.2', file: 'http://10.0.0.2:8080/boot/boot.ipxe' }), '10.0.0.2');
  const h = c.onDhcp(6, reply(request(c, a), { server: '10.0.0.2', file: 'http://10.0.0.2:8080/boot/boot.ipxe', type: MessageType.Ack }), '10.0.0.2');
  assert.deepEqual(sent(h, 'http-get'), [{ type: 'http-get', url: 'http://10.0.0.2:8080/boot/boot.ipxe' }]);
  const n = c.onHttp(50, { ok: true, bytes: 100 });
  assert.deepEqual(sent(n, 'http-get'), [{ type: 'http-get', url: 'http://10.0.0.2:8080/boot/vmlinuz' }]);
  c.onHttp(90, { ok: true, bytes: 1000 });
  assert.equal(c.phase, 'done');
  assert.equal(c.stats.nbpMs, 50);
  assert.equal(c.stats.lastFileMs, 90);
  assert.equal(c.stats.bytes, 1100);

  const e = client('efi', { dhcpWait: false });
  const de = request(e, e.start(0));
  e.onDhcp(5, reply(de, { server: '10.0.0.2', siaddr: '10.0.0.2', file: 'http://x/y.efi' }), '10.0.0.2');
  e.onTimer(4000);
  assert.equal(e.phase, 'failed');
});

test('relay mode puts giaddr and hops in the DISCOVER; forceBroadcast sets the flag for iPXE', () => {
  const c = client('bios', { giaddr: '127.0.0.2', forceBroadcast: true });
  const d = request(c, c.start(0));
  assert.equal(d.giaddr, '127.0.0.2');
  assert.equal(d.hops, 1);
  assert.equal(d.flags & 0x8000, 0x8000);
});

test('every boot server silent on 4011: the boot attempt restarts from DISCOVER like a dead transfer, counted', () => {
  // EDK2 whose only BINL offers came from peers that died before its 4011 request
  const c = client('efi', { maxRestarts: 1 });
  const d = request(c, c.start(0));
  c.onDhcp(5, reply(d, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  c.onDhcp(6, reply(d, { server: '10.0.0.7', siaddr: '10.0.0.7' }), '10.0.0.7');
  let a = c.onTimer(4000);
  assert.equal(c.phase, 'request');
  const xid0 = c.xid;
  for (let i = 0; i < 6 && c.phase === 'request'; i++) a = c.onTimer(timerOf(a)!);
  assert.equal(c.phase, 'discover');
  assert.equal(c.stats.restarts, 1);
  assert.equal(c.stats.restartReason, 'no answer from boot server on 4011');
  assert.notEqual(c.xid, xid0);
  assert.equal(sent(a, 'dhcp-send').length, 1, 'a fresh DISCOVER');
  // out of restarts, the same silence fails the client
  const d2 = request(c, a);
  c.onDhcp(14005, reply(d2, { server: '10.0.0.1', dhcp: true }), '10.0.0.1');
  c.onDhcp(14006, reply(d2, { server: '10.0.0.7', siaddr: '10.0.0.7' }), '10.0.0.7');
  a = c.onTimer(timerOf(a)!);
  for (let i = 0; i < 6 && c.phase === 'request'; i++) a = c.onTimer(timerOf(a)!);
  assert.equal(c.phase, 'failed');
  assert.match(c.stats.failure ?? '', /transfer died: EDK2 fails the boot option \(no answer from boot server on 4011\), after 1 restart/);
});

test('by default a dead transfer fails the client as the real firmware fails: no restart, the fate named per firmware', () => {
  for (const [family, fate] of [['bios', /the iPXE ROM fails the boot/], ['efi', /EDK2 fails the boot option/], ['ipxe', /iPXE gives up/]] as const) {
    const c = client(family, { dhcpWait: false, model: firmwareModel(family, { tftpRetransmitMs: [100, 200] }) });
    let a = c.start(0);
    const d = request(c, a);
    a = c.onDhcp(5, reply(d, { server: '10.0.0.7', siaddr: '10.0.0.7', file: 'nbp' }), '10.0.0.7');
    for (let i = 0; i < 20 && c.phase !== 'failed'; i++) a = c.onTimer(timerOf(a) ?? 0);
    assert.equal(c.phase, 'failed', family);
    assert.equal(c.stats.restarts, 0);
    assert.match(c.stats.failure ?? '', fate, `${family}: ${c.stats.failure}`);
  }
});
