// ProxyDHCPv6 decisions, as EDK2 showed it needs them (docs/firmware.md, "PXE over IPv6 beside
// a site DHCPv6 server"): to a PXE or HTTP boot client's Solicit on 547, an Advertise with no
// IA_NA (the site server gives the address), our server id, the boot file URL and vendor class
// 343 "PXEClient"/"HTTPClient"; to its Request on 4011 naming our server id, a Reply with the
// same. Pure: the socket edge (server.ts) only sends what this returns.

import { createHash } from 'node:crypto';
import type { ClientFacts } from '../dhcp/facts-types.ts';
import { firmwareForArch } from '../dhcp/pxe.ts';
import type { Decision } from '../policy/decision.ts';
import { MSG, OPT, pxe6Facts, type Dhcp6Message, type Dhcp6Option } from './packet.ts';
import { formatIpv6 } from '../config/values.ts';

/** IANA enterprise number in PXE vendor class options (Intel), as EDK2 checks it. */
export const PXE_ENTERPRISE = 343;

/** RFC 8415 §11.1: a DUID is at most 130 octets, its 2-octet type included. */
export const MAX_DUID = 130;

export type Via6 = 'dhcp6' | 'pxe6';

export interface Responder6Context {
  /** our DUID (DUID-LL from this host's MAC), echoed by the client on 4011 */
  serverDuid: Uint8Array;
  /** the IPv6 address clients reach our TFTP/HTTP at (global or ULA, not link-local) */
  serverAddress: string;
  httpPort: number;
}

export type Outcome6 =
  | { kind: 'reply'; message: Dhcp6Message; facts: ClientFacts; decision: Extract<Decision, { action: 'boot' }>; url: string; /** the client's DUID (hex), if it sent one */ duid?: string }
  | { kind: 'drop'; reason: 'not-client' | 'not-pxe' | 'message-type' | 'not-for-us' | 'no-mac' | 'policy' | 'no-url' | 'pool' | 'client-id'; detail?: string; facts?: ClientFacts };

/** The MAC inside an EUI-64 interface id (fe80::5254:00ff:fe66:0001 → 52:54:00:66:00:01). */
export function macFromEui64(address: string): string | undefined {
  const a = address.split('%')[0]!.toLowerCase();
  const groups = expand(a);
  if (groups === undefined) return undefined;
  const iid = groups.slice(4);
  if ((iid[1]! & 0xff) !== 0xff || (iid[2]! >> 8) !== 0xfe) return undefined;
  const bytes = [(iid[0]! >> 8) ^ 0x02, iid[0]! & 0xff, iid[1]! >> 8, iid[2]! & 0xff, iid[3]! >> 8, iid[3]! & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Eight 16-bit groups of an IPv6 address in text, or undefined. */
function expand(a: string): number[] | undefined {
  if (!/^[0-9a-f:]+$/.test(a)) return undefined;
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const part = (s: string) => (s === '' ? [] : s.split(':').map((g) => (g.length >= 1 && g.length <= 4 ? parseInt(g, 16) : NaN)));
  const head = part(halves[0]!);
  const tail = halves.length === 2 ? part(halves[1]!) : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<number>(fill).fill(0), ...tail];
  return all.length === 8 && all.every((g) => Number.isInteger(g)) ? all : undefined;
}

function vendorClass(text: string): Uint8Array {
  const d = new Uint8Array(6 + text.length);
  const v = new DataView(d.buffer);
  v.setUint32(0, PXE_ENTERPRISE);
  v.setUint16(4, text.length);
  for (let i = 0; i < text.length; i++) d[6 + i] = text.charCodeAt(i);
  return d;
}

/**
 * Client facts in the shape the policy decides on. The MAC comes from the EUI-64 source
 * address, or, for a source that has none (a DHCPv6 or static address on 4011), from what
 * the client's DUID was seen with in its Solicit (`macOfDuid`).
 */
export function facts6(m: Dhcp6Message, source: string, macOfDuid?: (duid: string) => string | undefined): ClientFacts | undefined {
  const f = pxe6Facts(m);
  if (f === undefined) return undefined;
  const mac = macFromEui64(source) ?? (f.duid !== undefined ? macOfDuid?.(f.duid) : undefined);
  if (mac === undefined) return undefined;
  const vc = f.vendorClass[0];
  return {
    mac, xid: f.xid, messageType: f.type, arch: f.arch, firmware: firmwareForArch(f.arch), undi: undefined,
    uuid: undefined, uuidSwapped: undefined, vendorClass: vc, userClass: f.userClass,
    pxeClient: vc?.startsWith('PXEClient') === true, httpClient: vc?.startsWith('HTTPClient') === true,
    isIpxe: f.userClass.includes('iPXE'), relayed: false, giaddr: '0.0.0.0', source: source.split('%')[0]!,
    ciaddr: '0.0.0.0', secs: f.elapsedSecs, broadcast: false, bootItem: undefined, maxMessageSize: undefined,
  };
}

/** The URL to put in OPTION_BOOTFILE_URL: a file name by TFTP, a URL template with ${server} by HTTP. */
export function bootUrl(bootFile: string, httpClient: boolean, ctx: Responder6Context): string | undefined {
  const host = `[${ctx.serverAddress}]`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bootFile)) return bootFile.replaceAll('${server}', ctx.httpPort === 80 ? host : `${host}:${ctx.httpPort}`);
  if (httpClient) return `http://${ctx.httpPort === 80 ? host : `${host}:${ctx.httpPort}`}/${bootFile.replace(/^\/+/, '')}`;
  return `tftp://${host}/${bootFile.replace(/^\/+/, '')}`;
}

const equal = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 6939 OPTION_CLIENT_LINKLAYER_ADDR: the MAC a relay saw the client's message come from. */
const OPT_CLIENT_LINKLAYER = 79;

function linkLayerMac(r: Extract<Dhcp6Message, { kind: 'relay' }>): string | undefined {
  const d = r.options.find((o) => o.code === OPT_CLIENT_LINKLAYER)?.data;
  if (d === undefined || d.length !== 8 || d[0] !== 0 || d[1] !== 1) return undefined;
  return [...d.subarray(2)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * A Solicit that came through relay agents (Relay-Forward, RFC 8415 §19): decided as the client
 * message inside, from the client's address as the relay closest to it saw it (its peer-address,
 * a link-local EUI-64 address, or the MAC in option 79), and answered inside a Relay-Reply for
 * each relay, each echoing its relay's addresses and Interface-Id, sent back to the relay.
 */
function respondRelayed(m: Extract<Dhcp6Message, { kind: 'relay' }>, ctx: Responder6Context, decide: (f: ClientFacts) => Decision, macOfDuid?: (duid: string) => string | undefined): Outcome6 {
  const chain: Extract<Dhcp6Message, { kind: 'relay' }>[] = [];
  let cur: Dhcp6Message | undefined = m;
  while (cur !== undefined && cur.kind === 'relay') {
    if (cur.type !== MSG.RELAY_FORW) return { kind: 'drop', reason: 'not-client', detail: 'a Relay-Reply is for clients' };
    chain.push(cur);
    cur = cur.inner;
  }
  if (cur === undefined) return { kind: 'drop', reason: 'not-client', detail: 'Relay-Forward without a client message' };
  const nearest = chain.at(-1)!;
  const peer = formatIpv6(nearest.peerAddress);
  const mac = linkLayerMac(nearest);
  const out = respond6(cur, 'dhcp6', peer, ctx, decide, (duid) => mac ?? macOfDuid?.(duid));
  if (out.kind !== 'reply') return out.facts !== undefined ? { ...out, facts: { ...out.facts, relayed: true } } : out;
  let message: Dhcp6Message = out.message;
  for (const r of [...chain].reverse()) {
    message = { kind: 'relay', type: MSG.RELAY_REPL, hopCount: r.hopCount, linkAddress: r.linkAddress, peerAddress: r.peerAddress, options: r.options.filter((o) => o.code === OPT.INTERFACE_ID), inner: message };
  }
  return { ...out, message, facts: { ...out.facts, relayed: true } };
}

export function respond6(m: Dhcp6Message, via: Via6, source: string, ctx: Responder6Context, decide: (f: ClientFacts) => Decision, macOfDuid?: (duid: string) => string | undefined): Outcome6 {
  if (m.kind === 'relay') return via === 'dhcp6' ? respondRelayed(m, ctx, decide, macOfDuid) : { kind: 'drop', reason: 'not-client', detail: 'relayed on 4011' };
  if (m.kind !== 'client') return { kind: 'drop', reason: 'not-client' };
  // We echo the client id: a longer one than any DUID (RFC 8415 §11.1: 130 octets with its
  // type) would make us send back whatever the sender stuffed into it.
  const cidLen = m.options.find((o) => o.code === OPT.CLIENTID)?.data.length;
  if (cidLen !== undefined && (cidLen < 3 || cidLen > MAX_DUID)) return { kind: 'drop', reason: 'client-id', detail: `client id of ${cidLen} bytes (a DUID has 3 to ${MAX_DUID})` };
  const wanted = via === 'dhcp6' ? MSG.SOLICIT : MSG.REQUEST;
  if (m.type !== wanted) return { kind: 'drop', reason: 'message-type', detail: `type ${m.type} on ${via === 'dhcp6' ? 547 : 4011}` };
  if (via === 'pxe6') {
    const sid = m.options.find((o) => o.code === OPT.SERVERID);
    if (sid === undefined || !equal(sid.data, ctx.serverDuid)) return { kind: 'drop', reason: 'not-for-us' };
  }
  const facts = facts6(m, source, macOfDuid);
  if (facts === undefined) return { kind: 'drop', reason: 'no-mac', detail: `source ${source} has no EUI-64 interface id` };
  if (!facts.pxeClient && !facts.httpClient) return { kind: 'drop', reason: 'not-pxe', facts };
  const decision = decide(facts);
  if (decision.action !== 'boot') return { kind: 'drop', reason: 'policy', detail: decision.reason, facts };
  const url = bootUrl(decision.bootFile, facts.httpClient, ctx);
  if (url === undefined) return { kind: 'drop', reason: 'no-url', facts };
  const cid = m.options.find((o) => o.code === OPT.CLIENTID);
  const options: Dhcp6Option[] = [
    ...(cid !== undefined ? [{ code: OPT.CLIENTID, data: cid.data }] : []),
    { code: OPT.SERVERID, data: ctx.serverDuid },
    { code: OPT.BOOTFILE_URL, data: new TextEncoder().encode(url) },
    { code: OPT.VENDOR_CLASS, data: vendorClass(facts.httpClient ? 'HTTPClient' : 'PXEClient') },
  ];
  return {
    kind: 'reply', message: { kind: 'client', type: via === 'dhcp6' ? MSG.ADVERTISE : MSG.REPLY, xid: m.xid, options }, facts, decision, url,
    ...(cid !== undefined ? { duid: Buffer.from(cid.data).toString('hex') } : {}),
  };
}

/**
 * The server DUID that goes with a pool service address (RFC 6355 DUID-UUID, type 4, the UUID
 * from a digest of the address): every peer derives the same one, so a survivor that took the
 * address over recognises the 4011 Requests its dead holder's Advertise invited.
 */
export function serviceDuid(address: string): Uint8Array {
  const d = createHash('sha256').update(`pxepool service address ${address}`).digest();
  const uuid = Uint8Array.from(d.subarray(0, 16));
  uuid[6] = (uuid[6]! & 0x0f) | 0x50; // version 5 (name-based)
  uuid[8] = (uuid[8]! & 0x3f) | 0x80; // RFC 4122 variant
  return Uint8Array.from([0, 4, ...uuid]);
}

/** DUID-LL (type 3, hardware type 1) from a MAC. */
export function duidLl(mac: string): Uint8Array {
  return Uint8Array.from([0, 3, 0, 1, ...mac.split(':').map((h) => parseInt(h, 16))]);
}
