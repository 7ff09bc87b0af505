// Relay-agent forwarding decisions (RFC 1542 §4, RFC 2131 §4.1, RFC 3046). Pure: bytes and
// state in, datagrams to send (or a drop reason) out. Packets are patched in place of a copy
// rather than re-encoded, so whatever the client put in them reaches the servers unchanged.

import { MAGIC_COOKIE, parseDhcp, parseIpv4, macOf, getOption, BROADCAST_FLAG, BOOTP_FIXED_SIZE, type DhcpPacket } from '../dhcp/packet.ts';
import { type SubOption, decodeString, decodeU8, encodeRelayAgentInfo, findSubOption, encodeString, Opt, RelaySub, messageTypeName, MessageType } from '../dhcp/options.ts';
import { macKey } from '../policy/mactable.ts';
import type { RelayConfig } from './config.ts';
import { choose, steer, type HostTable, type Steering, type Choice } from './targets.ts';

export const SERVER_PORT = 67;
export const CLIENT_PORT = 68;

/** A client-facing interface of the relay. */
export interface RelayInterface {
  name: string;
  /** our address there: becomes giaddr */
  address: string;
  /** prefix length of that address's subnet */
  prefix: number;
}

export interface Datagram {
  address: string;
  port: number;
  bytes: Uint8Array;
  /** needs SO_BROADCAST and must leave through `via` */
  broadcast?: boolean;
  /** interface a reply leaves through */
  via?: string;
}

export type DropReason =
  | 'malformed'
  | 'hops-exceeded'
  | 'untrusted-option82'
  | 'not-our-giaddr'
  | 'no-destination'
  | 'bad-reply-address';

export interface RequestWhy {
  mac: string;
  type: string;
  pxe: boolean;
  steering?: Steering;
  choice?: Choice;
  giaddr: string;
  giaddrSet: boolean;
  hops: number;
  option82: 'added' | 'present' | 'off' | 'no-room';
}

export type ForwardResult =
  | { kind: 'forward'; out: Datagram[]; why: RequestWhy; /** peers to count as asked (liveness) */ asked: string[]; isDiscover: boolean }
  | { kind: 'drop'; reason: DropReason; detail: string };

export type ReplyResult =
  | { kind: 'deliver'; out: Datagram; iface: string; stripped82: boolean; mac: string; type: string }
  | { kind: 'drop'; reason: DropReason; detail: string };

export interface ForwardContext {
  config: RelayConfig;
  table: HostTable;
  /** liveness view for pool peers at the packet's time */
  alive: (peer: string) => boolean;
}

const OPTIONS_START = BOOTP_FIXED_SIZE + 4;

/** PXE ROMs send "PXEClient…", UEFI HTTP boot "HTTPClient…" (option 60). */
export function isPxeClient(p: DhcpPacket): boolean {
  const vc = decodeString(getOption(p, Opt.VendorClass));
  return vc !== undefined && (vc.startsWith('PXEClient') || vc.startsWith('HTTPClient'));
}

/**
 * Offset in the main option area of the first option `hit` accepts, or of the end option, or the
 * buffer length when there is neither. Only called on packets parseDhcp accepted, so every length
 * byte is in range.
 */
function scanMain(buf: Uint8Array, hit: (code: number) => boolean): number {
  let i = OPTIONS_START;
  while (i < buf.length) {
    const c = buf[i]!;
    if (c === 255 || (c !== 0 && hit(c))) return i;
    if (c === 0) { i++; continue; }
    i += 2 + buf[i + 1]!;
  }
  return buf.length;
}

/** Index of the end option of the main option area, or the buffer length if it has none. */
const mainEnd = (buf: Uint8Array): number => scanMain(buf, () => false);

/** Whether the main option area (where relays put it) holds option 82. */
function hasMain82(buf: Uint8Array): boolean {
  const i = scanMain(buf, (c) => c === Opt.RelayAgentInfo);
  return i < buf.length && buf[i] === Opt.RelayAgentInfo;
}

/** The largest request we grow by adding option 82: the RFC 2131 minimum every server takes. */
const MAX_GROWN = 576 - 28;

function withOption82(buf: Uint8Array, data: Uint8Array): Uint8Array | undefined {
  const end = mainEnd(buf);
  const need = end + 2 + data.length + 1;
  if (need > Math.max(buf.length, MAX_GROWN)) return undefined;
  const out = new Uint8Array(Math.max(buf.length, need));
  out.set(buf.subarray(0, end));
  out[end] = Opt.RelayAgentInfo;
  out[end + 1] = data.length;
  out.set(data, end + 2);
  out[end + 2 + data.length] = 255;
  return out;
}

/** Removes every option-82 instance from the main option area; the length stays the same. */
function without82(buf: Uint8Array): Uint8Array {
  const out = new Uint8Array(buf.length);
  out.set(buf.subarray(0, OPTIONS_START));
  let i = OPTIONS_START;
  let o = OPTIONS_START;
  while (i < buf.length) {
    const c = buf[i]!;
    if (c === 255) { out[o] = 255; break; }
    if (c === 0) { i++; continue; }
    const n = 2 + buf[i + 1]!;
    if (c !== Opt.RelayAgentInfo) {
      out.set(buf.subarray(i, i + n), o);
      o += n;
    }
    i += n;
  }
  return out;
}

function setIp(buf: Uint8Array, offset: number, ip: string): void {
  const v = parseIpv4(ip)!;
  buf[offset] = v >>> 24;
  buf[offset + 1] = (v >>> 16) & 255;
  buf[offset + 2] = (v >>> 8) & 255;
  buf[offset + 3] = v & 255;
}

function agentInfo(config: RelayConfig, iface: RelayInterface): Uint8Array {
  const subs: SubOption[] = [{ code: RelaySub.CircuitId, data: encodeString(iface.name) }];
  if (config.option82.remoteId !== undefined) subs.push({ code: RelaySub.RemoteId, data: encodeString(config.option82.remoteId) });
  return encodeRelayAgentInfo(subs);
}

/** A client's BOOTREQUEST arriving on `iface` → the copies to send to servers. */
export function forwardRequest(bytes: Uint8Array, iface: RelayInterface, ctx: ForwardContext): ForwardResult {
  const parsed = parseDhcp(bytes);
  if (!parsed.ok) return { kind: 'drop', reason: 'malformed', detail: `${parsed.reason}: ${parsed.detail}` };
  const p = parsed.packet;
  if (p.op !== 1) return { kind: 'drop', reason: 'malformed', detail: 'not a BOOTREQUEST' };
  const { config } = ctx;
  // The forwarded hops never exceeds maxHops (dhcrelay counts the same way).
  if (p.hops >= config.maxHops) {
    return { kind: 'drop', reason: 'hops-exceeded', detail: `hops ${p.hops}, limit ${config.maxHops}` };
  }
  const giaddrSet = p.giaddr === '0.0.0.0';
  const present82 = hasMain82(bytes);
  let option82: RequestWhy['option82'] = 'off';
  if (config.option82.enabled) {
    if (present82 && giaddrSet && !config.option82.trustDownstream) {
      return { kind: 'drop', reason: 'untrusted-option82', detail: 'option 82 with giaddr 0 from an untrusted segment (RFC 3046 §2.1)' };
    }
    option82 = present82 ? 'present' : 'added';
  }

  let out: Uint8Array = bytes.slice();
  out[3] = p.hops + 1;
  if (giaddrSet) setIp(out, 24, iface.address);
  if (option82 === 'added') {
    const grown = withOption82(out, agentInfo(config, iface));
    if (grown === undefined) option82 = 'no-room';
    else out = grown;
  }

  const mac = p.htype === 1 && p.hlen === 6 ? macOf(p) : '';
  const type = messageTypeName(decodeU8(getOption(p, Opt.MessageType)));
  const pxe = isPxeClient(p);
  const dests: string[] = [...config.dhcpServers];
  const why: RequestWhy = { mac, type, pxe, giaddr: giaddrSet ? iface.address : p.giaddr, giaddrSet, hops: p.hops + 1, option82 };
  const asked: string[] = [];
  if (pxe || !config.pxeOnlyToPxe) {
    const steering = steer(ctx.table, mac === '' ? undefined : macKey(mac), config.default);
    why.steering = steering;
    if (steering.source !== 'none') {
      const choice = choose(steering.target, config.pools, ctx.alive);
      why.choice = choice;
      for (const d of choice.sendTo) {
        dests.push(d);
        asked.push(d);
      }
    }
  }
  const unique = [...new Set(dests)];
  if (unique.length === 0) return { kind: 'drop', reason: 'no-destination', detail: 'no DHCP server and no PXE target for this client' };
  return {
    kind: 'forward',
    out: unique.map((address) => ({ address, port: SERVER_PORT, bytes: out })),
    why,
    asked,
    isDiscover: decodeU8(getOption(p, Opt.MessageType)) === MessageType.Discover,
  };
}

function sameSubnet(a: string, b: string, prefix: number): boolean {
  const x = parseIpv4(a);
  const y = parseIpv4(b);
  if (x === undefined || y === undefined) return false;
  if (prefix === 0) return true;
  const size = 2 ** (32 - prefix);
  return Math.floor(x / size) === Math.floor(y / size);
}

/** A server's BOOTREPLY sent to one of our giaddrs → the datagram for the client's segment. */
export function forwardReply(bytes: Uint8Array, interfaces: readonly RelayInterface[], config: RelayConfig): ReplyResult {
  const parsed = parseDhcp(bytes);
  if (!parsed.ok) return { kind: 'drop', reason: 'malformed', detail: `${parsed.reason}: ${parsed.detail}` };
  const p = parsed.packet;
  if (p.op !== 2) return { kind: 'drop', reason: 'malformed', detail: 'not a BOOTREPLY' };
  const iface = interfaces.find((i) => i.address === p.giaddr);
  if (iface === undefined) return { kind: 'drop', reason: 'not-our-giaddr', detail: `giaddr ${p.giaddr} is none of ${interfaces.map((i) => i.address).join(', ')}` };

  let out = bytes;
  let stripped82 = false;
  if (config.option82.enabled && hasMain82(bytes)) {
    const d = getOption(p, Opt.RelayAgentInfo);
    const circuit = d === undefined ? undefined : findSubOption(d, RelaySub.CircuitId, false);
    // Only our own option goes; one from a downstream agent would have come with its giaddr.
    if (circuit !== undefined && decodeString(circuit) === iface.name) {
      out = without82(bytes);
      stripped82 = true;
    }
  }
  const mac = p.htype === 1 && p.hlen === 6 ? macOf(p) : '';
  const type = messageTypeName(decodeU8(getOption(p, Opt.MessageType)));
  const base = { kind: 'deliver' as const, iface: iface.name, stripped82, mac, type };
  // RFC 2131 §4.1 / RFC 1542 §5.4: a client that has an address is reached there; one that
  // asked for broadcast, or has none yet, by broadcast; otherwise unicast to yiaddr, which
  // needs an ARP entry for chaddr that a plain UDP socket cannot create, hence the setting.
  if (p.ciaddr !== '0.0.0.0') {
    if (!sameSubnet(p.ciaddr, iface.address, iface.prefix)) return { kind: 'drop', reason: 'bad-reply-address', detail: `ciaddr ${p.ciaddr} is not on ${iface.name}` };
    return { ...base, out: { address: p.ciaddr, port: CLIENT_PORT, bytes: out, via: iface.name } };
  }
  if ((p.flags & BROADCAST_FLAG) !== 0 || p.yiaddr === '0.0.0.0' || config.replyDelivery === 'broadcast') {
    return { ...base, out: { address: '255.255.255.255', port: CLIENT_PORT, bytes: out, broadcast: true, via: iface.name } };
  }
  if (!sameSubnet(p.yiaddr, iface.address, iface.prefix)) return { kind: 'drop', reason: 'bad-reply-address', detail: `yiaddr ${p.yiaddr} is not on ${iface.name}` };
  return { ...base, out: { address: p.yiaddr, port: CLIENT_PORT, bytes: out, via: iface.name } };
}

/** Cheap op peek for the edge's dispatch: 1 request, 2 reply, 0 not DHCP-shaped. */
export function peekOp(bytes: Uint8Array): 0 | 1 | 2 {
  if (bytes.length < OPTIONS_START) return 0;
  const cookie = ((bytes[236]! << 24) | (bytes[237]! << 16) | (bytes[238]! << 8) | bytes[239]!) >>> 0;
  if (cookie !== MAGIC_COOKIE) return 0;
  return bytes[0] === 1 ? 1 : bytes[0] === 2 ? 2 : 0;
}

/** One line for `-d`: MAC → targets and why. */
export function describeForward(r: ForwardResult): string {
  if (r.kind === 'drop') return `drop ${r.reason}: ${r.detail}`;
  const w = r.why;
  const parts = [`${w.type} ${w.mac || '(no MAC)'}${w.pxe ? ' PXE' : ''}`];
  const s = w.steering;
  if (s === undefined) parts.push('not PXE: DHCP servers only');
  else if (s.source === 'host') parts.push(`host ${s.rule.file}:${s.rule.line} (${s.rule.pattern}) → ${s.target}`);
  else if (s.source === 'default') parts.push(`${s.rule !== undefined ? `listed at ${s.rule.file}:${s.rule.line} without a server; ` : 'not listed; '}default → ${s.target}`);
  else parts.push('not listed and no default: DHCP servers only');
  const c = w.choice;
  if (c !== undefined && c.pool !== undefined) parts.push(`pool ${c.pool}: ${c.chosen}${c.skipped.length > 0 ? ` (dead: ${c.skipped.join(', ')})` : ''}`);
  parts.push(`giaddr ${w.giaddr}${w.giaddrSet ? '' : ' (kept)'} hops ${w.hops} opt82 ${w.option82}`);
  parts.push(`to ${r.out.map((d) => d.address).join(', ')}`);
  return parts.join('; ');
}
