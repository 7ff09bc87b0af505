import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discover, encode } from '../../../src/dhcp/pxe-client.ts';
import { parseDhcp, serializeDhcp, newReply, BROADCAST_FLAG, getOption, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { decodeRelayAgentInfo, encodeRelayAgentInfo, encodeString, encodeU8, Opt, MessageType } from '../../../src/dhcp/options.ts';
import { forwardRequest, forwardReply, describeForward, peekOp, type RelayInterface, type ForwardContext } from '../../../src/relay/forward.ts';
import { buildHostTable, Liveness } from '../../../src/relay/targets.ts';
import { parseRelayConfig, type RelayConfig } from '../../../src/relay/config.ts';

const IFACE: RelayInterface = { name: 'eth1', address: '10.1.20.1', prefix: 24 };

function config(over: Record<string, unknown> = {}): RelayConfig {
  const r = parseRelayConfig({ interfaces: ['eth1'], dhcpServers: ['10.0.0.5'], default: '10.0.0.20', ...over });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.value;
}

const HOSTS = `
00:11:22:33:44:55    10.0.0.30   # thin client 1
00:11:22:33:44:56    10.0.0.31   # thin client 2
00:15:5d:*           10.0.0.40   # Hyper-V VMs
00:15:5d:01:*        10.0.0.41   # a longer wildcard wins
00:11:22:33:44:99                # listed without a server: default
`;

function ctx(cfg = config(), alive: (p: string) => boolean = () => true): ForwardContext {
  const t = buildHostTable([{ path: 'hosts', text: HOSTS }]);
  assert.deepEqual(t.errors, []);
  return { config: cfg, table: t.table, alive };
}

function pxeDiscover(mac: string, f: { giaddr?: string; hops?: number } = {}): Uint8Array {
  return encode(discover({ kind: 'ovmf', mac }, { xid: 0x11223344, ...f }));
}

function plainDiscover(mac: string): Uint8Array {
  return encode(discover({ kind: 'plain', mac }, { xid: 7 }));
}

function fwd(bytes: Uint8Array, c = ctx()) {
  const r = forwardRequest(bytes, IFACE, c);
  if (r.kind !== 'forward') assert.fail(`dropped: ${r.reason} ${r.detail}`);
  return r;
}

const dests = (r: { out: { address: string }[] }) => r.out.map((d) => d.address);

test('exact host-file MAC goes to its server and to the DHCP server', () => {
  const r = fwd(pxeDiscover('00:11:22:33:44:56'));
  assert.deepEqual(dests(r), ['10.0.0.5', '10.0.0.31']);
  assert.ok(r.out.every((d) => d.port === 67));
  assert.match(describeForward(r), /host hosts:3 \(00:11:22:33:44:56\) → 10\.0\.0\.31/);
});

test('wildcards: the longest prefix wins; exact beats wildcard', () => {
  assert.deepEqual(dests(fwd(pxeDiscover('00:15:5d:aa:bb:cc'))), ['10.0.0.5', '10.0.0.40']);
  assert.deepEqual(dests(fwd(pxeDiscover('00:15:5d:01:bb:cc'))), ['10.0.0.5', '10.0.0.41']);
  const t = buildHostTable([{ path: 'h', text: '00:11:*  10.9.9.9\n00:11:22:33:44:55 10.0.0.30\n' }]);
  assert.deepEqual(dests(fwd(pxeDiscover('00:11:22:33:44:55'), { ...ctx(), table: t.table })), ['10.0.0.5', '10.0.0.30']);
});

test('unlisted clients and lines without a server go to the default', () => {
  const r = fwd(pxeDiscover('02:00:00:00:00:01'));
  assert.deepEqual(dests(r), ['10.0.0.5', '10.0.0.20']);
  assert.equal(r.why.steering?.source, 'default');
  const listed = fwd(pxeDiscover('00:11:22:33:44:99'));
  assert.deepEqual(dests(listed), ['10.0.0.5', '10.0.0.20']);
  assert.match(describeForward(listed), /listed at hosts:6 without a server; default/);
});

test('non-PXE clients only reach the DHCP servers unless pxeOnlyToPxe is off', () => {
  assert.deepEqual(dests(fwd(plainDiscover('00:11:22:33:44:55'))), ['10.0.0.5']);
  assert.deepEqual(dests(fwd(plainDiscover('00:11:22:33:44:55'), ctx(config({ pxeOnlyToPxe: false })))), ['10.0.0.5', '10.0.0.30']);
  // HTTP boot firmware counts as PXE.
  const p = parseDhcp(plainDiscover('00:11:22:33:44:55'));
  assert.ok(p.ok);
  p.packet.options.push({ code: Opt.VendorClass, data: encodeString('HTTPClient:Arch:00016:UNDI:003000') });
  assert.deepEqual(dests(fwd(serializeDhcp(p.packet))), ['10.0.0.5', '10.0.0.30']);
});

test('no default and not listed: DHCP servers only; nothing at all: dropped', () => {
  const c = ctx(config({ default: undefined }));
  assert.deepEqual(dests(fwd(pxeDiscover('02:00:00:00:00:01'), c)), ['10.0.0.5']);
  const none = ctx(config({ default: undefined, dhcpServers: [] }));
  const r = forwardRequest(pxeDiscover('02:00:00:00:00:01'), IFACE, none);
  assert.equal(r.kind, 'drop');
  assert.equal(r.kind === 'drop' && r.reason, 'no-destination');
});

test('a target equal to a DHCP server is sent once', () => {
  assert.deepEqual(dests(fwd(pxeDiscover('02:00:00:00:00:01'), ctx(config({ default: '10.0.0.5' })))), ['10.0.0.5']);
});

test('giaddr is set to our address when 0 and kept otherwise; hops incremented', () => {
  const r = fwd(pxeDiscover('02:00:00:00:00:01'));
  const p = parseDhcp(r.out[0]!.bytes);
  assert.ok(p.ok);
  assert.equal(p.packet.giaddr, '10.1.20.1');
  assert.equal(p.packet.hops, 1);
  const kept = fwd(pxeDiscover('02:00:00:00:00:01', { giaddr: '10.9.0.1', hops: 2 }));
  const q = parseDhcp(kept.out[0]!.bytes);
  assert.ok(q.ok);
  assert.equal(q.packet.giaddr, '10.9.0.1');
  assert.equal(q.packet.hops, 3);
  assert.match(describeForward(kept), /giaddr 10\.9\.0\.1 \(kept\)/);
});

test('everything else in the packet is forwarded byte for byte', () => {
  const input = pxeDiscover('02:00:00:00:00:01');
  const out = fwd(input).out[0]!.bytes;
  assert.equal(out.length, input.length);
  for (let i = 0; i < input.length; i++) {
    if (i === 3 || (i >= 24 && i < 28)) continue;
    assert.equal(out[i], input[i], `byte ${i}`);
  }
});

test('hops limit: forwarded hops never exceeds maxHops (default 4, up to 16)', () => {
  assert.equal(fwd(pxeDiscover('02:00:00:00:00:01', { giaddr: '10.9.0.1', hops: 3 })).why.hops, 4);
  const r = forwardRequest(pxeDiscover('02:00:00:00:00:01', { giaddr: '10.9.0.1', hops: 4 }), IFACE, ctx());
  assert.equal(r.kind === 'drop' && r.reason, 'hops-exceeded');
  assert.equal(fwd(pxeDiscover('02:00:00:00:00:01', { giaddr: '10.9.0.1', hops: 15 }), ctx(config({ maxHops: 16 }))).why.hops, 16);
  assert.equal(parseRelayConfig({ maxHops: 17 }).ok, false);
});

test('option 82: added with circuit-id and remote-id as the last option', () => {
  const c = ctx(config({ option82: { enabled: true, remoteId: 'relay-a' } }));
  const r = fwd(pxeDiscover('02:00:00:00:00:01'), c);
  assert.equal(r.why.option82, 'added');
  const p = parseDhcp(r.out[0]!.bytes);
  assert.ok(p.ok);
  assert.equal(p.packet.options.at(-1)?.code, Opt.RelayAgentInfo);
  const subs = decodeRelayAgentInfo(p.packet.options.at(-1)!.data);
  assert.ok(subs.ok);
  assert.deepEqual(subs.value.map((s) => [s.code, Buffer.from(s.data).toString()]), [[1, 'eth1'], [2, 'relay-a']]);
  // Off by default: nothing added.
  const plain = parseDhcp(fwd(pxeDiscover('02:00:00:00:00:01')).out[0]!.bytes);
  assert.ok(plain.ok && getOption(plain.packet, Opt.RelayAgentInfo) === undefined);
});

function with82(mac: string, giaddr: string): Uint8Array {
  const p = discover({ kind: 'ovmf', mac }, { xid: 1, giaddr, ...(giaddr !== '0.0.0.0' ? { hops: 1 } : {}) });
  p.options.push({ code: Opt.RelayAgentInfo, data: encodeRelayAgentInfo([{ code: 1, data: encodeString('downstream') }]) });
  return encode(p);
}

test('option 82: an existing one is never replaced; with giaddr 0 it is untrusted (RFC 3046 §2.1)', () => {
  const c = ctx(config({ option82: { enabled: true } }));
  const r = forwardRequest(with82('02:00:00:00:00:01', '0.0.0.0'), IFACE, c);
  assert.equal(r.kind === 'drop' && r.reason, 'untrusted-option82');
  const trusted = fwd(with82('02:00:00:00:00:01', '0.0.0.0'), ctx(config({ option82: { enabled: true, trustDownstream: true } })));
  assert.equal(trusted.why.option82, 'present');
  const relayed = fwd(with82('02:00:00:00:00:01', '10.9.0.1'), c);
  const p = parseDhcp(relayed.out[0]!.bytes);
  assert.ok(p.ok);
  const subs = decodeRelayAgentInfo(getOption(p.packet, Opt.RelayAgentInfo)!);
  assert.ok(subs.ok);
  assert.equal(Buffer.from(subs.value[0]!.data).toString(), 'downstream');
  assert.equal(p.packet.options.filter((o) => o.code === Opt.RelayAgentInfo).length, 1);
});

test('malformed requests are dropped with the parse reason', () => {
  for (const bytes of [new Uint8Array(10), new Uint8Array(300)]) {
    const r = forwardRequest(bytes, IFACE, ctx());
    assert.equal(r.kind === 'drop' && r.reason, 'malformed');
  }
  const truncated = pxeDiscover('02:00:00:00:00:01').slice();
  truncated[240] = 53;
  truncated[241] = 200;
  const r = forwardRequest(truncated.subarray(0, 260), IFACE, ctx());
  assert.match(r.kind === 'drop' ? r.detail : '', /option-overrun/);
  assert.equal(peekOp(new Uint8Array(3)), 0);
});

function reply(f: { flags?: number; ciaddr?: string; yiaddr?: string; giaddr?: string; with82?: string } = {}): Uint8Array {
  const req = parseDhcp(pxeDiscover('00:11:22:33:44:55', { giaddr: f.giaddr ?? '10.1.20.1' }));
  assert.ok(req.ok);
  const p: DhcpPacket = newReply(req.packet);
  p.flags = f.flags ?? 0;
  p.ciaddr = f.ciaddr ?? '0.0.0.0';
  p.yiaddr = f.yiaddr ?? '0.0.0.0';
  p.options.push({ code: Opt.MessageType, data: encodeU8(MessageType.Offer) });
  if (f.with82 !== undefined) p.options.push({ code: Opt.RelayAgentInfo, data: encodeRelayAgentInfo([{ code: 1, data: encodeString(f.with82) }]) });
  return serializeDhcp(p);
}

test('replies: delivered per RFC 2131 §4.1 on the interface owning giaddr', () => {
  const cfg = config();
  const go = (b: Uint8Array, c = cfg) => {
    const r = forwardReply(b, [IFACE], c);
    if (r.kind !== 'deliver') assert.fail(`${r.reason} ${r.detail}`);
    assert.equal(r.iface, 'eth1');
    return r.out;
  };
  // ProxyDHCP offer (yiaddr 0): broadcast.
  assert.deepEqual({ ...go(reply()), bytes: undefined }, { address: '255.255.255.255', port: 68, broadcast: true, via: 'eth1', bytes: undefined });
  assert.equal(go(reply({ yiaddr: '10.1.20.50', flags: BROADCAST_FLAG })).address, '255.255.255.255');
  // No broadcast flag: broadcast anyway by default (no ARP injection), unicast on request.
  assert.equal(go(reply({ yiaddr: '10.1.20.50' })).address, '255.255.255.255');
  assert.equal(go(reply({ yiaddr: '10.1.20.50' }), config({ replyDelivery: 'unicast' })).address, '10.1.20.50');
  // A client with an address is reached there.
  assert.equal(go(reply({ ciaddr: '10.1.20.60', yiaddr: '10.1.20.60' })).address, '10.1.20.60');
  const foreign = forwardReply(reply({ ciaddr: '192.168.9.9' }), [IFACE], cfg);
  assert.equal(foreign.kind === 'drop' && foreign.reason, 'bad-reply-address');
});

test('replies: a giaddr that is not ours is dropped', () => {
  const r = forwardReply(reply({ giaddr: '10.9.0.1' }), [IFACE], config());
  assert.equal(r.kind === 'drop' && r.reason, 'not-our-giaddr');
  const req = forwardReply(pxeDiscover('02:00:00:00:00:01'), [IFACE], config());
  assert.equal(req.kind === 'drop' && req.reason, 'malformed');
});

test('replies: our option 82 is stripped, someone else\'s is left', () => {
  const c = config({ option82: { enabled: true } });
  const r = forwardReply(reply({ with82: 'eth1' }), [IFACE], c);
  assert.ok(r.kind === 'deliver' && r.stripped82);
  const p = parseDhcp(r.kind === 'deliver' ? r.out.bytes : new Uint8Array());
  assert.ok(p.ok);
  assert.equal(getOption(p.packet, Opt.RelayAgentInfo), undefined);
  assert.equal(getOption(p.packet, Opt.MessageType)?.[0], MessageType.Offer);
  const other = forwardReply(reply({ with82: 'eth7' }), [IFACE], c);
  assert.ok(other.kind === 'deliver' && !other.stripped82);
  // Relay with option 82 off never touches it.
  const off = forwardReply(reply({ with82: 'eth1' }), [IFACE], config());
  assert.ok(off.kind === 'deliver' && !off.stripped82);
});

test('round trip: request with 82 added, server echoes it, reply comes back without it', () => {
  const c = ctx(config({ option82: { enabled: true } }));
  const fw = fwd(pxeDiscover('00:11:22:33:44:55'), c);
  const req = parseDhcp(fw.out[0]!.bytes);
  assert.ok(req.ok);
  const rep = newReply(req.packet);
  rep.options.push({ code: Opt.MessageType, data: encodeU8(MessageType.Offer) }, { code: 82, data: getOption(req.packet, 82)! });
  const back = forwardReply(serializeDhcp(rep), [IFACE], c.config);
  assert.ok(back.kind === 'deliver' && back.stripped82);
});

test('pools: the first live peer is chosen, dead ones get a probe copy, all dead → all', () => {
  const cfg = config({ default: 'farm', pools: { farm: { peers: ['10.0.0.21', '10.0.0.22', '10.0.0.23'] } } });
  assert.deepEqual(dests(fwd(pxeDiscover('02:00:00:00:00:01'), ctx(cfg))), ['10.0.0.5', '10.0.0.21']);
  const firstDead = fwd(pxeDiscover('02:00:00:00:00:01'), ctx(cfg, (p) => p !== '10.0.0.21'));
  assert.deepEqual(dests(firstDead), ['10.0.0.5', '10.0.0.21', '10.0.0.22']);
  assert.equal(firstDead.why.choice?.chosen, '10.0.0.22');
  assert.match(describeForward(firstDead), /pool farm: 10\.0\.0\.22 \(dead: 10\.0\.0\.21\)/);
  assert.deepEqual(dests(fwd(pxeDiscover('02:00:00:00:00:01'), ctx(cfg, () => false))), ['10.0.0.5', '10.0.0.21', '10.0.0.22', '10.0.0.23']);
  // A host-file address inside a pool: that peer first, then the rest of its pool in order.
  const pinned = buildHostTable([{ path: 'h', text: '00:11:22:33:44:55 10.0.0.22\n' }]);
  const pc = { config: cfg, table: pinned.table, alive: (p: string) => p !== '10.0.0.22' };
  const r = fwd(pxeDiscover('00:11:22:33:44:55'), pc);
  assert.equal(r.why.choice?.chosen, '10.0.0.23');
});

test('liveness: dead after N different clients unanswered for T, alive on any answer', () => {
  const live = new Liveness({ farm: { peers: ['10.0.0.21'], misses: 3, answerWithinMs: 4000 } });
  const P = '10.0.0.21';
  assert.equal(live.alive(P, 0), true);
  live.sent(P, 'a', 0);
  live.sent(P, 'a', 1000); // the same client retransmitting is still one client
  live.sent(P, 'b', 500);
  assert.equal(live.alive(P, 10_000), true, 'two clients are not enough');
  live.sent(P, 'c', 2000);
  assert.equal(live.alive(P, 5000), true, 'c has not waited 4 s yet');
  assert.equal(live.alive(P, 6000), false);
  assert.equal(live.alive(P, 7000), false, 'stays dead');
  live.answered(P, 8000);
  assert.equal(live.alive(P, 8000), true);
  assert.equal(live.alive(P, 100_000), true, 'nothing pending after the answer');
  // Addresses outside pools are never judged.
  live.sent('10.9.9.9', 'a', 0);
  assert.equal(live.alive('10.9.9.9', 1e9), true);
});

test('config: a default that is neither an address nor a pool is refused with the pool list', () => {
  const r = parseRelayConfig({ default: 'farn', pools: { farm: { peers: ['10.0.0.21'] } } });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.errors.join('\n'), /relay\.default: "farn" is neither an IPv4 address nor a pool \(pools: farm\)/);
  assert.equal(parseRelayConfig({ dhcpServers: ['10.0.0.300'] }).ok, false);
  assert.equal(parseRelayConfig({ interfaces: ['eth1', 'eth2'] }).ok, true, 'several client interfaces in one process');
  assert.equal(parseRelayConfig({ interfaces: [] }).ok, false);
  const d = parseRelayConfig({});
  assert.ok(d.ok);
  assert.equal(d.value.maxHops, 4);
  assert.equal(d.value.pxeOnlyToPxe, true);
  assert.equal(d.value.replyDelivery, 'broadcast');
});

test('default liveness: a lone client falls over to the next pool peer on its first retransmission', () => {
  const r = parseRelayConfig({ default: 'farm', pools: { farm: { peers: ['10.0.0.21', '10.0.0.22'] } } });
  assert.ok(r.ok);
  if (!r.ok) return;
  const live = new Liveness(r.value.pools);
  live.sent('10.0.0.21', 'client', 0);
  assert.equal(live.alive('10.0.0.21', 500), true, 'still waiting for its answer');
  // iPXE re-sends its DISCOVER after ~1 s: by then the silent peer is presumed dead.
  assert.equal(live.alive('10.0.0.21', 1000), false);
});
