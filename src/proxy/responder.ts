// ProxyDHCP responder (PXE 2.1 §2.2–2.5): request bytes + policy decision → reply or nothing.
// Pure: no sockets, no clock, no logging. The UDP edge (./server.ts) supplies the context and
// sends what comes out.

import { clientFacts } from '../dhcp/facts.ts';
import type { ClientFacts } from '../dhcp/facts-types.ts';
import { encodeIp, encodeString, encodeU8, MessageType, Opt } from '../dhcp/options.ts';
import {
  BROADCAST_FLAG,
  type DhcpPacket,
  getOption,
  newReply,
  parseDhcp,
  serializeDhcp,
} from '../dhcp/packet.ts';
import { DiscoveryControl, encodeIpxeOptions, encodePxeOptions, type PxeVendorOptions } from '../dhcp/pxe.ts';
import type { Decision } from '../policy/decision.ts';
import { expandServer } from '../policy/expand.ts';

/** Which of our sockets the request came in on. */
export type Via = 'dhcp' | 'pxe';

export interface Ports {
  /** where servers and relay agents listen (67) */
  server: number;
  /** where clients listen (68) */
  client: number;
}

export const STANDARD_PORTS: Ports = { server: 67, client: 68 };

export interface ResponderContext {
  /** our address as the client sees it: option 54, and siaddr unless the decision overrides */
  serverId: string;
  /** `4011-only` (PXE mode 2): the site DHCP server sends option 60 itself; we stay off 67 */
  mode: 'proxy' | '4011-only';
  ports: Ports;
  /** iPXE option 175.1 priority to put in offers (pool ranking): fixed or per client; never negative */
  ipxePriority?: number | ((facts: ClientFacts, decision: Extract<Decision, { action: 'boot' }>) => number | undefined);
  /** pool placement: boot server to name when the decision names none; undefined = serverId */
  nextServer?: (facts: ClientFacts, decision: Extract<Decision, { action: 'boot' }>) => string | undefined;
  /** HTTP port of the boot server, for `${server}` in boot file URLs (default 80) */
  httpPort?: number;
}

export interface Destination {
  address: string;
  port: number;
  broadcast: boolean;
}

export type DropReason =
  | 'malformed'
  | 'not-request'
  | 'not-pxe'
  | 'message-type'
  | 'not-for-us'
  | 'mode'
  | 'policy'
  | 'bad-address'
  | 'too-large';

export type Outcome =
  | {
      kind: 'reply';
      /** DHCPOFFER (port 67) or DHCPACK (4011, or a REQUEST on 67 that names us) */
      type: 'offer' | 'ack';
      facts: ClientFacts;
      decision: Extract<Decision, { action: 'boot' }>;
      reply: DhcpPacket;
      bytes: Uint8Array;
      to: Destination;
    }
  | { kind: 'drop'; reason: DropReason; detail: string; facts?: ClientFacts; decision?: Decision };

export type Decide = (facts: ClientFacts) => Decision;

const UEFI_BINL = new Set(['efi-ia32', 'efi-x64', 'efi-arm64']);

/** Parses and answers one request. `from` is the UDP source of the request. */
export function respond(
  bytes: Uint8Array,
  from: { address: string; port: number },
  via: Via,
  ctx: ResponderContext,
  decide: Decide,
): Outcome {
  const parsed = parseDhcp(bytes);
  if (!parsed.ok) return { kind: 'drop', reason: 'malformed', detail: `${parsed.reason}: ${parsed.detail}` };
  return respondToPacket(parsed.packet, from, via, ctx, decide);
}

export function respondToPacket(
  request: DhcpPacket,
  from: { address: string; port: number },
  via: Via,
  ctx: ResponderContext,
  decide: Decide,
): Outcome {
  if (request.op !== 1) return { kind: 'drop', reason: 'not-request', detail: `op ${request.op}` };
  if (request.htype !== 1 || request.hlen !== 6) {
    return { kind: 'drop', reason: 'not-request', detail: `hardware type ${request.htype}/${request.hlen} is not Ethernet` };
  }
  // A reply goes to giaddr or ciaddr: never let a forged one aim it at a broadcast or
  // multicast group (amplification) or at a reserved address.
  for (const [field, ip] of [['giaddr', request.giaddr], ['ciaddr', request.ciaddr]] as const) {
    if (ip !== '0.0.0.0' && !isUnicast(ip)) return { kind: 'drop', reason: 'bad-address', detail: `${field} ${ip} is not a unicast address` };
  }
  // Relayed means a relay agent sent it: giaddr set *and* it came from the agents' port (67).
  // A client on the segment that writes a giaddr is answered as the direct client it is: it
  // neither picks a relaySubnet profile nor aims our reply at the host it named. Port 4011 is
  // never relayed (firmware unicasts it, through routers if need be: docs/firmware.md (v)).
  const relayed = via === 'dhcp' && request.giaddr !== '0.0.0.0' && from.port === ctx.ports.server;
  const facts = clientFacts(request, via === 'pxe' ? { relayed, source: from.address } : { relayed });
  // Never answer a client that is not PXE firmware: those belong to the site DHCP server alone.
  if (!facts.pxeClient && !facts.httpClient) {
    return { kind: 'drop', reason: 'not-pxe', detail: `option 60 is ${JSON.stringify(facts.vendorClass ?? null)}`, facts };
  }

  let replyType: number;
  if (via === 'dhcp') {
    if (ctx.mode !== 'proxy') return { kind: 'drop', reason: 'mode', detail: 'port 67 is not served in 4011-only mode', facts };
    if (facts.messageType === MessageType.Discover) {
      replyType = MessageType.Offer;
    } else if (facts.messageType === MessageType.Request && requestNamesUs(request, ctx.serverId)) {
      // A REQUEST on 67 is normally the address request to the site DHCP server; answer only one
      // that names us as its server (PXE clients that ask the proxy on 67 instead of 4011).
      replyType = MessageType.Ack;
    } else {
      return { kind: 'drop', reason: facts.messageType === MessageType.Request ? 'not-for-us' : 'message-type', detail: `message type ${facts.messageType}`, facts };
    }
  } else {
    if (facts.messageType !== MessageType.Request && facts.messageType !== MessageType.Inform) {
      return { kind: 'drop', reason: 'message-type', detail: `message type ${facts.messageType} on 4011`, facts };
    }
    replyType = MessageType.Ack;
  }

  const decision = decide(facts);
  if (decision.action === 'ignore') {
    return { kind: 'drop', reason: 'policy', detail: `${decision.rule}: ${decision.reason}`, facts, decision };
  }

  const reply = buildReply(request, facts, decision, replyType, ctx);
  const to = destination(from, via, relayed, ctx);
  if (!relayed) reply.giaddr = '0.0.0.0';
  // A relay delivers to the client's MAC at yiaddr unless the broadcast bit is set; a proxy
  // reply has no yiaddr, so ask the relay to broadcast it (RFC 2131 §4.1).
  if (relayed && request.ciaddr === '0.0.0.0') reply.flags |= BROADCAST_FLAG;
  const sized = fitReply(reply, replyLimit(facts));
  if (!sized.ok) return { kind: 'drop', reason: 'too-large', detail: sized.detail, facts, decision };
  return { kind: 'reply', type: replyType === MessageType.Offer ? 'offer' : 'ack', facts, decision, reply: sized.reply, bytes: sized.bytes, to };
}

function isUnicast(ip: string): boolean {
  const first = Number(ip.slice(0, ip.indexOf('.')));
  return first !== 0 && first < 224;
}

function requestNamesUs(request: DhcpPacket, serverId: string): boolean {
  const sid = getOption(request, Opt.ServerId);
  return sid !== undefined && sid.length === 4 && `${sid[0]}.${sid[1]}.${sid[2]}.${sid[3]}` === serverId;
}

/**
 * Shapes the reply per firmware family (see docs/proxydhcp.md):
 * - BIOS PXE ROMs get option 43 with discovery control "use the boot file" (or the menu), so
 *   they take the file at once instead of running boot-server discovery;
 * - UEFI (EDK2) gets a "BINL" offer — no option 43 — because EDK2 classifies proxy offers by
 *   option 43 and older releases drop proxy offers that carry it; EDK2 then asks us on 4011;
 * - iPXE (already running) gets the file/script and, from a pool, its 175.1 priority.
 */
export function buildReply(
  request: DhcpPacket,
  facts: ClientFacts,
  decision: Extract<Decision, { action: 'boot' }>,
  replyType: number,
  ctx: ResponderContext,
): DhcpPacket {
  const reply = newReply(request);
  reply.siaddr = decision.nextServer ?? ctx.nextServer?.(facts, decision) ?? ctx.serverId;
  const bootFile = expandServer(decision.bootFile, reply.siaddr, ctx.httpPort);
  const binl = replyType === MessageType.Offer && UEFI_BINL.has(facts.firmware) && !facts.isIpxe;
  if (!binl) setBootFile(reply, bootFile);

  const opts = reply.options;
  opts.push({ code: Opt.MessageType, data: encodeU8(replyType) });
  opts.push({ code: Opt.ServerId, data: encodeIp(ctx.serverId) });
  opts.push({ code: Opt.VendorClass, data: encodeString(facts.httpClient && !facts.pxeClient ? 'HTTPClient' : 'PXEClient') });
  // Echo option 97 only in its one valid shape (type 0 + 16-byte GUID, RFC 4578 §2.3): a client
  // that sends 60 KB there must not get a 60 KB broadcast back.
  const uuid = getOption(request, Opt.ClientUuid);
  if (uuid !== undefined && uuid.length === 17 && uuid[0] === 0) opts.push({ code: Opt.ClientUuid, data: new Uint8Array(uuid) });
  if (decision.rootPath !== undefined) opts.push({ code: Opt.RootPath, data: encodeString(decision.rootPath) });
  if (!binl && bootFile.length > 127) opts.push({ code: Opt.BootfileName, data: encodeString(bootFile) });

  const pxe = vendorOptions(facts, decision, replyType, reply.siaddr);
  if (pxe !== undefined) opts.push({ code: Opt.VendorSpecific, data: encodePxeOptions(pxe) });
  if (facts.isIpxe && replyType === MessageType.Offer) {
    const priority = typeof ctx.ipxePriority === 'function' ? ctx.ipxePriority(facts, decision) : ctx.ipxePriority;
    if (priority !== undefined) opts.push({ code: Opt.IpxeEncap, data: encodeIpxeOptions({ priority: Math.min(127, Math.max(0, priority)) }) });
  }
  return reply;
}

function vendorOptions(
  facts: ClientFacts,
  decision: Extract<Decision, { action: 'boot' }>,
  replyType: number,
  bootServer: string,
): PxeVendorOptions | undefined {
  if (facts.firmware !== 'bios') return undefined;
  if (replyType === MessageType.Ack) {
    // A boot-server ACK echoes the item the client asked for (PXE 2.1 §2.2.6).
    return facts.bootItem !== undefined ? { bootItem: facts.bootItem } : undefined;
  }
  const menu = decision.menu;
  if (menu === undefined || menu.items.length === 0) return { discoveryControl: DiscoveryControl.UseBootFile };
  return {
    // Only the listed servers, by unicast: a segment may hold other PXE servers.
    discoveryControl: DiscoveryControl.NoBroadcast | DiscoveryControl.NoMulticast | DiscoveryControl.OnlyListedServers,
    bootServers: dedupeTypes(menu.items.map((i) => i.type)).filter((t) => t !== 0).map((type) => ({ type, ips: [bootServer] })),
    bootMenu: menu.items,
    menuPrompt: { timeout: menu.timeout, prompt: menu.prompt },
  };
}

function dedupeTypes(types: number[]): number[] {
  return [...new Set(types)];
}

const FILE_FIELD = 128;

function setBootFile(reply: DhcpPacket, file: string): void {
  // The 128-byte file field holds a NUL-terminated name; longer names (URLs) go in option 67.
  if (Buffer.byteLength(file, 'latin1') < FILE_FIELD) reply.file = file;
}

/**
 * Where a reply goes: only back where the request came from, so no one can aim our replies at
 * a third host by writing its address into giaddr or ciaddr. A relayed request is answered to
 * the relay agent that sent it (its server port); a direct one unicast to its source if it has
 * an address, or by broadcast; 4011 to the source as it came.
 */
function destination(from: { address: string; port: number }, via: Via, relayed: boolean, ctx: ResponderContext): Destination {
  if (via === 'pxe') return { address: from.address, port: from.port, broadcast: false };
  if (relayed) return { address: from.address, port: ctx.ports.server, broadcast: false };
  if (from.address !== '0.0.0.0' && isUnicast(from.address)) return { address: from.address, port: ctx.ports.client, broadcast: false };
// The client has no address yet and the proxy assigns none: only a broadcast reaches it.
  return { address: '255.255.255.255', port: ctx.ports.client, broadcast: true };
}

/** IP and UDP headers: option 57 counts the whole datagram (RFC 2132 §9.10), as dnsmasq reads it. */
const IP_UDP = 28;
/** Without option 57 a client must accept a 576-byte datagram (RFC 2131 §2). */
const MIN_DATAGRAM = 576;

/** The largest DHCP message (UDP payload) this client said it accepts. */
export function replyLimit(facts: Pick<ClientFacts, 'maxMessageSize'>): number {
  const mms = facts.maxMessageSize;
  return (mms !== undefined && mms >= MIN_DATAGRAM ? mms : MIN_DATAGRAM) - IP_UDP;
}

/** Options a reply can do without, least needed first. */
const SHEDDABLE = [Opt.ClientUuid];

/**
 * Serializes the reply within `limit` bytes: sheds optional options if it must, and refuses
 * (the caller drops and counts it) when what remains is still too large — a menu or URL that
 * long is a configuration the client cannot take.
 */
export function fitReply(reply: DhcpPacket, limit: number): { ok: true; reply: DhcpPacket; bytes: Uint8Array } | { ok: false; detail: string } {
  let r = reply;
  let bytes = serializeDhcp(r);
  for (const code of SHEDDABLE) {
    if (bytes.length <= limit) break;
    r = { ...r, options: r.options.filter((o) => o.code !== code) };
    bytes = serializeDhcp(r);
  }
  if (bytes.length <= limit) return { ok: true, reply: r, bytes };
  return { ok: false, detail: `reply of ${bytes.length} bytes exceeds the client's limit of ${limit} (option 57 ${limit + IP_UDP}): shorten the boot file URL, root path or menu` };
}
