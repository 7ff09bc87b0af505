// DHCPv6 messages (RFC 8415) as bytes and back: client/server messages (type, 3-byte
// transaction id, options) and relay messages (hop count, link and peer address, options, the
// relayed message inside OPTION_RELAY_MSG). Pure; every length is checked against the bytes
// that are there, so a malformed datagram is an error with a reason, never an exception.
//
// The first step of IPv6 netboot (issue 17): what EDK2's PXE and HTTP boot over IPv6 send is in
// test/fixtures/firmware6/.

export const MSG = {
  SOLICIT: 1, ADVERTISE: 2, REQUEST: 3, CONFIRM: 4, RENEW: 5, REBIND: 6, REPLY: 7, RELEASE: 8,
  DECLINE: 9, RECONFIGURE: 10, INFORMATION_REQUEST: 11, RELAY_FORW: 12, RELAY_REPL: 13,
} as const;

export const OPT = {
  CLIENTID: 1, SERVERID: 2, IA_NA: 3, ORO: 6, ELAPSED_TIME: 8, RELAY_MSG: 9, USER_CLASS: 15,
  VENDOR_CLASS: 16, VENDOR_OPTS: 17, INTERFACE_ID: 18, DNS_SERVERS: 23, BOOTFILE_URL: 59,
  BOOTFILE_PARAM: 60, CLIENT_ARCH_TYPE: 61, NII: 62,
} as const;

/**
 * Relay agents a message may have passed. RFC 3315 allowed 32 (HOP_COUNT_LIMIT), RFC 8415
 * lowered the default to 8; we accept what either allows and no deeper nesting, so a crafted
 * packet cannot make the parser recurse without end.
 */
export const MAX_HOPS = 32;

export interface Dhcp6Option {
  code: number;
  data: Uint8Array;
}

export type Dhcp6Message =
  | { kind: 'client'; type: number; xid: number; options: Dhcp6Option[] }
  | { kind: 'relay'; type: 12 | 13; hopCount: number; linkAddress: Uint8Array; peerAddress: Uint8Array; options: Dhcp6Option[]; inner: Dhcp6Message | undefined };

export type Dhcp6Error = 'short' | 'unknown-type' | 'truncated-option' | 'hop-count' | 'relay-msg' | 'nested-too-deep';
export type Dhcp6Result = { ok: true; message: Dhcp6Message } | { ok: false; reason: Dhcp6Error };

function parseOptions(b: Uint8Array, at: number): Dhcp6Option[] | undefined {
  const out: Dhcp6Option[] = [];
  let o = at;
  while (o < b.length) {
    if (o + 4 > b.length) return undefined;
    const code = (b[o]! << 8) | b[o + 1]!;
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    if (o + 4 + len > b.length) return undefined;
    out.push({ code, data: b.subarray(o + 4, o + 4 + len) });
    o += 4 + len;
  }
  return out;
}

function parseAt(b: Uint8Array, depth: number): Dhcp6Result {
  if (b.length < 4) return { ok: false, reason: 'short' };
  const type = b[0]!;
  if (type === MSG.RELAY_FORW || type === MSG.RELAY_REPL) {
    if (b.length < 34) return { ok: false, reason: 'short' };
    const hopCount = b[1]!;
    if (hopCount > MAX_HOPS) return { ok: false, reason: 'hop-count' };
    if (depth >= MAX_HOPS) return { ok: false, reason: 'nested-too-deep' };
    const options = parseOptions(b, 34);
    if (options === undefined) return { ok: false, reason: 'truncated-option' };
    const relayed = options.find((x) => x.code === OPT.RELAY_MSG);
    let inner: Dhcp6Message | undefined;
    if (relayed !== undefined) {
      const r = parseAt(relayed.data, depth + 1);
      if (!r.ok) return r.reason === 'short' || r.reason === 'unknown-type' ? { ok: false, reason: 'relay-msg' } : r;
      inner = r.message;
    }
    return { ok: true, message: { kind: 'relay', type, hopCount, linkAddress: b.subarray(2, 18), peerAddress: b.subarray(18, 34), options, inner } };
  }
  if (type < MSG.SOLICIT || type > MSG.INFORMATION_REQUEST) return { ok: false, reason: 'unknown-type' };
  const options = parseOptions(b, 4);
  if (options === undefined) return { ok: false, reason: 'truncated-option' };
  return { ok: true, message: { kind: 'client', type, xid: (b[1]! << 16) | (b[2]! << 8) | b[3]!, options } };
}

export function parseDhcp6(bytes: Uint8Array): Dhcp6Result {
  return parseAt(bytes, 0);
}

function encodeOptions(options: readonly Dhcp6Option[]): Uint8Array[] {
  return options.map((x) => {
    if (x.data.length > 0xffff) throw new RangeError(`option ${x.code} is longer than 65535 bytes`);
    const h = new Uint8Array(4 + x.data.length);
    h[0] = x.code >> 8; h[1] = x.code & 0xff; h[2] = x.data.length >> 8; h[3] = x.data.length & 0xff;
    h.set(x.data, 4);
    return h;
  });
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Bytes for a message; a relay's `inner` (if given) becomes its OPTION_RELAY_MSG. */
export function encodeDhcp6(m: Dhcp6Message): Uint8Array {
  if (m.kind === 'client') {
    return concat([new Uint8Array([m.type, (m.xid >> 16) & 0xff, (m.xid >> 8) & 0xff, m.xid & 0xff]), ...encodeOptions(m.options)]);
  }
  const head = new Uint8Array(34);
  head[0] = m.type; head[1] = m.hopCount;
  head.set(m.linkAddress.subarray(0, 16), 2);
  head.set(m.peerAddress.subarray(0, 16), 18);
  const options = m.inner === undefined ? m.options : [...m.options.filter((x) => x.code !== OPT.RELAY_MSG), { code: OPT.RELAY_MSG, data: encodeDhcp6(m.inner) }];
  return concat([head, ...encodeOptions(options)]);
}

/** What a netboot decision needs from a client message (the innermost, for relayed ones). */
export interface Pxe6Facts {
  type: number;
  xid: number;
  /** DUID of OPTION_CLIENTID, hex */
  duid: string | undefined;
  /** RFC 4578 architecture (option 61), first entry */
  arch: number | undefined;
  /** vendor class (option 16) data strings, e.g. PXEClient:Arch:00007:UNDI:003000 */
  vendorClass: string[];
  vendorEnterprise: number | undefined;
  userClass: string[];
  requested: number[];
  /** relay agents passed (0 when direct) */
  hops: number;
  /** OPTION_ELAPSED_TIME in whole seconds (it counts hundredths), 0 without it */
  elapsedSecs: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const latin1 = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

/** Length-prefixed (2 bytes) items, as in vendor and user class; stops at a bad length. */
function items(b: Uint8Array): string[] {
  const out: string[] = [];
  let o = 0;
  while (o + 2 <= b.length) {
    const n = (b[o]! << 8) | b[o + 1]!;
    if (o + 2 + n > b.length) break;
    out.push(latin1(b.subarray(o + 2, o + 2 + n)));
    o += 2 + n;
  }
  return out;
}

export function pxe6Facts(m: Dhcp6Message): Pxe6Facts | undefined {
  let hops = 0;
  let cur: Dhcp6Message | undefined = m;
  while (cur !== undefined && cur.kind === 'relay') { hops++; cur = cur.inner; }
  if (cur === undefined) return undefined;
  const msg = cur;
  const get = (code: number) => msg.options.find((x) => x.code === code)?.data;
  const arch = get(OPT.CLIENT_ARCH_TYPE);
  const vendor = get(OPT.VENDOR_CLASS);
  const user = get(OPT.USER_CLASS);
  const oro = get(OPT.ORO);
  const duid = get(OPT.CLIENTID);
  const elapsed = get(OPT.ELAPSED_TIME);
  return {
    type: msg.type,
    xid: msg.xid,
    duid: duid === undefined ? undefined : hex(duid),
    arch: arch !== undefined && arch.length >= 2 ? (arch[0]! << 8) | arch[1]! : undefined,
    vendorEnterprise: vendor !== undefined && vendor.length >= 4 ? ((vendor[0]! << 24) | (vendor[1]! << 16) | (vendor[2]! << 8) | vendor[3]!) >>> 0 : undefined,
    vendorClass: vendor !== undefined && vendor.length >= 4 ? items(vendor.subarray(4)) : [],
    userClass: user === undefined ? [] : items(user),
    requested: oro === undefined ? [] : Array.from({ length: oro.length >> 1 }, (_, i) => (oro[2 * i]! << 8) | oro[2 * i + 1]!),
    hops,
    elapsedSecs: elapsed !== undefined && elapsed.length === 2 ? Math.floor(((elapsed[0]! << 8) | elapsed[1]!) / 100) : 0,
  };
}
