// BOOTP/DHCP wire codec (RFC 951, 2131, 2132, 3396). Pure: bytes in, data out.

export interface DhcpOptionEntry {
  code: number;
  data: Uint8Array;
}

export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** always 16 bytes; the hardware address is the first hlen of them */
  chaddr: Uint8Array;
  /** '' when option 52 overloads the field with options */
  sname: string;
  /** '' when option 52 overloads the field with options */
  file: string;
  /**
   * Every option except pad/end, in order of first appearance; repeated codes are joined
   * (RFC 3396). Parsed data are views into the input buffer: copy before mutating the buffer.
   */
  options: DhcpOptionEntry[];
}

export const DHCP_PARSE_REASONS = [
  'too-short',
  'bad-op',
  'bad-hlen',
  'bad-cookie',
  'option-overrun',
  'bad-overload',
] as const;
export type DhcpParseReason = (typeof DHCP_PARSE_REASONS)[number];

export type DhcpParseResult =
  | { ok: true; packet: DhcpPacket }
  | { ok: false; reason: DhcpParseReason; detail: string };

export const BOOTP_FIXED_SIZE = 236;
export const MAGIC_COOKIE = 0x63825363;
/** RFC 1542 minimum; some relays and old clients drop anything shorter. */
export const BOOTP_MIN_SIZE = 300;
export const BROADCAST_FLAG = 0x8000;

const OPTIONS_START = BOOTP_FIXED_SIZE + 4;
const SNAME_OFFSET = 44;
const SNAME_SIZE = 64;
const FILE_OFFSET = 108;
const FILE_SIZE = 128;
const CODE_PAD = 0;
const CODE_END = 255;
const CODE_OVERLOAD = 52;

// Per-code lookup shared by all parses: a generation stamp makes clearing unnecessary, so
// finding a repeated code costs O(1) without allocating a map per packet. Safe because
// parsing is synchronous.
const seenGen = new Uint32Array(256);
const seenIndex = new Uint16Array(256);
let generation = 0;

interface ScanState {
  options: DhcpOptionEntry[];
  /** pieces of options that appeared more than once, joined after the scan */
  pieces: Map<number, Uint8Array[]> | undefined;
}

type ScanError = { reason: DhcpParseReason; detail: string };

function scanOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  area: string,
  st: ScanState,
): ScanError | undefined {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === CODE_PAD) {
      i++;
      continue;
    }
    if (code === CODE_END) return undefined;
    if (i + 1 >= end) {
      return { reason: 'option-overrun', detail: `${area}: option ${code} at ${i} has no length byte` };
    }
    const len = buf[i + 1]!;
    const dataStart = i + 2;
    if (dataStart + len > end) {
      return {
        reason: 'option-overrun',
        detail: `${area}: option ${code} at ${i} needs ${len} bytes, ${end - dataStart} left`,
      };
    }
    const data = buf.subarray(dataStart, dataStart + len);
    if (seenGen[code] === generation) {
      // Overloaded fields are only scanned after a 52 in the main area, so this also catches a
      // 52 inside file/sname: neither may redefine how the rest of the packet is read.
      if (code === CODE_OVERLOAD) {
        return { reason: 'bad-overload', detail: `${area}: option 52 repeated` };
      }
      const idx = seenIndex[code]!;
      st.pieces ??= new Map();
      let list = st.pieces.get(idx);
      if (list === undefined) {
        list = [st.options[idx]!.data];
        st.pieces.set(idx, list);
      }
      list.push(data);
    } else {
      seenGen[code] = generation;
      seenIndex[code] = st.options.length;
      st.options.push({ code, data });
    }
    i = dataStart + len;
  }
  // A missing end option is tolerated: the area simply runs to its end.
  return undefined;
}

function joinPieces(st: ScanState): void {
  if (st.pieces === undefined) return;
  for (const [idx, list] of st.pieces) {
    let total = 0;
    for (const p of list) total += p.length;
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of list) {
      out.set(p, off);
      off += p.length;
    }
    st.options[idx]!.data = out;
  }
}

/** Latin-1, so that any byte string survives a parse/serialize round trip unchanged. */
function readText(buf: Uint8Array, start: number, size: number): string {
  if (buf[start] === 0) return '';
  let end = start;
  const limit = start + size;
  while (end < limit && buf[end] !== 0) end++;
  return String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
}

export function bytesToIp(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

function u32ToIp(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** Dotted quad → unsigned 32-bit, or undefined if not exactly four decimal octets. */
export function parseIpv4(ip: string): number | undefined {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = -1;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (octet < 0 || dots !== 3) return undefined;
  return value * 256 + octet;
}

/** Throws RangeError on a malformed address: callers pass configuration, not wire data. */
export function ipToBytes(ip: string): Uint8Array {
  const v = parseIpv4(ip);
  if (v === undefined) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  return new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

export function parseDhcp(buf: Uint8Array): DhcpParseResult {
  if (buf.length < OPTIONS_START) {
    return { ok: false, reason: 'too-short', detail: `${buf.length} bytes, need ${OPTIONS_START}` };
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const op = buf[0]!;
  if (op !== 1 && op !== 2) return { ok: false, reason: 'bad-op', detail: `op ${op}` };
  const hlen = buf[2]!;
  if (hlen > 16) return { ok: false, reason: 'bad-hlen', detail: `hlen ${hlen}` };
  const cookie = dv.getUint32(BOOTP_FIXED_SIZE);
  if (cookie !== MAGIC_COOKIE) {
    return { ok: false, reason: 'bad-cookie', detail: `cookie 0x${cookie.toString(16).padStart(8, '0')}` };
  }

  generation = (generation + 1) >>> 0;
  if (generation === 0) {
    seenGen.fill(0);
    generation = 1;
  }
  const st: ScanState = { options: [], pieces: undefined };
  let err = scanOptions(buf, OPTIONS_START, buf.length, 'options', st);
  if (err !== undefined) return { ok: false, ...err };

  let overload = 0;
  if (seenGen[CODE_OVERLOAD] === generation) {
    const ov = st.options[seenIndex[CODE_OVERLOAD]!]!.data;
    if (ov.length !== 1 || ov[0]! < 1 || ov[0]! > 3) {
      return { ok: false, reason: 'bad-overload', detail: `option 52 value ${Array.from(ov).join(',')}` };
    }
    overload = ov[0]!;
    // RFC 2131 §4.1: file is read before sname.
    if (overload & 1) {
      err = scanOptions(buf, FILE_OFFSET, FILE_OFFSET + FILE_SIZE, 'file', st);
      if (err !== undefined) return { ok: false, ...err };
    }
    if (overload & 2) {
      err = scanOptions(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_SIZE, 'sname', st);
      if (err !== undefined) return { ok: false, ...err };
    }
  }
  joinPieces(st);

  return {
    ok: true,
    packet: {
      op,
      htype: buf[1]!,
      hlen,
      hops: buf[3]!,
      xid: dv.getUint32(4),
      secs: dv.getUint16(8),
      flags: dv.getUint16(10),
      ciaddr: u32ToIp(dv.getUint32(12)),
      yiaddr: u32ToIp(dv.getUint32(16)),
      siaddr: u32ToIp(dv.getUint32(20)),
      giaddr: u32ToIp(dv.getUint32(24)),
      chaddr: buf.subarray(28, 44),
      sname: overload & 2 ? '' : readText(buf, SNAME_OFFSET, SNAME_SIZE),
      file: overload & 1 ? '' : readText(buf, FILE_OFFSET, FILE_SIZE),
      options: st.options,
    },
  };
}

export interface SerializeOptions {
  /** pad the packet to at least this many bytes (BOOTP minimum by default) */
  minSize?: number;
}

function writeIp(dv: DataView, offset: number, ip: string, field: string): void {
  const v = parseIpv4(ip);
  if (v === undefined) throw new RangeError(`${field}: not an IPv4 address: ${JSON.stringify(ip)}`);
  dv.setUint32(offset, v);
}

function writeText(out: Uint8Array, offset: number, size: number, s: string, field: string): void {
  if (s.length > size) throw new RangeError(`${field}: ${s.length} characters, field holds ${size}`);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || c === 0) throw new RangeError(`${field}: character ${c} at ${i} is not Latin-1 text`);
    out[offset + i] = c;
  }
}

/**
 * Encodes a packet. Throws RangeError on values that cannot be put on the wire (bad address,
 * option code 0/255, oversized sname/file): those are programming errors, not wire input.
 * Options longer than 255 bytes are split into consecutive instances (RFC 3396). Options are
 * never moved into sname/file; an option 52 in the list only makes those fields empty.
 */
// Encoded packets are views into a shared, zero-filled slab: a fresh off-heap ArrayBuffer per
// packet costs about 1 µs, a view of a slab a few dozen nanoseconds. Views never overlap and a
// slab is never reused (a new one is taken when it is full), so a packet stays valid as long as
// it is held; holding one keeps its slab (16 KiB) alive, as Node's Buffer pool does.
const SLAB_SIZE = 16 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/** `n` zero bytes of their own (from the slab when they fit). */
function zeroed(n: number): Uint8Array {
  if (n > SLAB_SIZE / 4) return new Uint8Array(n);
  if (slabUsed + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  slabUsed += (n + 7) & ~7;
  return out;
}

export function serializeDhcp(p: DhcpPacket, opts: SerializeOptions = {}): Uint8Array {
  const minSize = opts.minSize ?? BOOTP_MIN_SIZE;
  let overload = 0;
  let size = OPTIONS_START + 1;
  for (const o of p.options) {
    if (!Number.isInteger(o.code) || o.code < 1 || o.code > 254) {
      throw new RangeError(`option code ${o.code} cannot be encoded`);
    }
    const n = o.data.length;
    size += n === 0 ? 2 : n + 2 * Math.ceil(n / 255);
    if (o.code === CODE_OVERLOAD && n === 1) overload = o.data[0]!;
  }
  const out = zeroed(Math.max(size, minSize));
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  dv.setUint32(4, p.xid >>> 0);
  dv.setUint16(8, p.secs);
  dv.setUint16(10, p.flags);
  writeIp(dv, 12, p.ciaddr, 'ciaddr');
  writeIp(dv, 16, p.yiaddr, 'yiaddr');
  writeIp(dv, 20, p.siaddr, 'siaddr');
  writeIp(dv, 24, p.giaddr, 'giaddr');
  out.set(p.chaddr.subarray(0, 16), 28);
  if (!(overload & 2)) writeText(out, SNAME_OFFSET, SNAME_SIZE, p.sname, 'sname');
  if (!(overload & 1)) writeText(out, FILE_OFFSET, FILE_SIZE, p.file, 'file');
  dv.setUint32(BOOTP_FIXED_SIZE, MAGIC_COOKIE);
  let i = OPTIONS_START;
  for (const o of p.options) {
    const d = o.data;
    if (d.length === 0) {
      out[i++] = o.code;
      out[i++] = 0;
      continue;
    }
    for (let off = 0; off < d.length; off += 255) {
      const n = Math.min(255, d.length - off);
      out[i++] = o.code;
      out[i++] = n;
      out.set(d.subarray(off, off + n), i);
      i += n;
    }
  }
  out[i] = CODE_END;
  // The rest is already zero, i.e. pad.
  return out;
}

export function getOption(p: DhcpPacket, code: number): Uint8Array | undefined {
  for (const o of p.options) if (o.code === code) return o.data;
  return undefined;
}

/** Replaces the option in place (keeping its position) or appends it. */
export function setOption(p: DhcpPacket, code: number, data: Uint8Array): void {
  for (const o of p.options) {
    if (o.code === code) {
      o.data = data;
      return;
    }
  }
  p.options.push({ code, data });
}

export function deleteOption(p: DhcpPacket, code: number): boolean {
  const i = p.options.findIndex((o) => o.code === code);
  if (i < 0) return false;
  p.options.splice(i, 1);
  return true;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lowercase colon-separated hardware address: the first hlen bytes of chaddr. */
export function macOf(p: DhcpPacket): string {
  const c = p.chaddr;
  if (p.hlen === 6) {
    return `${HEX[c[0]!]}:${HEX[c[1]!]}:${HEX[c[2]!]}:${HEX[c[3]!]}:${HEX[c[4]!]}:${HEX[c[5]!]}`;
  }
  const parts: string[] = [];
  for (let i = 0; i < p.hlen && i < 16; i++) parts.push(HEX[c[i]!]!);
  return parts.join(':');
}

/** Reply skeleton: the fields a server must echo (RFC 2131 §4.3.1, table 3). */
export function newReply(request: DhcpPacket): DhcpPacket {
  return {
    op: 2,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: request.giaddr,
    chaddr: new Uint8Array(request.chaddr),
    sname: '',
    file: '',
    options: [],
  };
}
