// Transfer announcements (issue 12, item 2): every heartbeat, a peer tells the others which TFTP
// transfers it is serving from service addresses — enough for a successor that takes such an
// address over to go on with each transfer from the client's next (retransmitted) ACK. Pure:
// codec, verifier and the bounded table a peer keeps of what the others announced.
//
// Layout (big-endian), version 2, one datagram ≤ MAX_DATAGRAM:
//   0  "PXPT"  magic            4  u8 version (2)        5  u8 name length n    6  name
//   +  16 instance   + u32 seq   + u64 timestamp (sender wall ms)
//   +  u32 snapshot id   + u8 part   + u8 parts   + u8 count
//   +  count × entry:
//        u8 family (4 or 6; a = 4 or 16 bytes per address),
//        a client address, u16 client port, u16 our TID port, a local (service) address,
//        u16 blksize, u16 windowsize, u16 timer ceiling (ms), u32 acked (absolute block),
//        u64 file size, 16 digest (SHA-256 of the content, first 16 bytes), u8 path length, path
//   +  32 HMAC-SHA256(secret, all bytes above)
//
// A snapshot lists every announced transfer; it may span parts. The table keeps a peer's last
// complete snapshot plus the parts of the one being assembled, so a peer dying half-way through
// sending a snapshot loses nothing it announced before.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ResumableTransfer } from '../tftp/server.ts';
import { formatIpv6, parseIpv6 } from '../config/values.ts';

export const ANNOUNCE_MAGIC = [0x50, 0x58, 0x50, 0x54]; // "PXPT"
const VERSION = 2;
const TAG = 32;
/** an entry without its two addresses and path */
const ENTRY_FIXED = 1 + 2 + 2 + 2 + 2 + 2 + 4 + 8 + 16 + 1;
export const MAX_DATAGRAM = 1400;
export const MAX_PATH = 255;
/** entries a peer may have in our table: a flood of announcements stays this big */
export const MAX_PER_PEER = 2048;
export const MAX_PARTS = 128;

/** What a successor needs to go on with a transfer; the TFTP server defines it. */
export type AnnouncedTransfer = ResumableTransfer;

export interface Announcement {
  peer: string;
  instance: string;
  seq: number;
  ts: number;
  snapshot: number;
  part: number;
  parts: number;
  entries: AnnouncedTransfer[];
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const HEX32 = /^[0-9a-f]{32}$/;

function ip4(buf: Uint8Array, o: number, a: string): void {
  const p = a.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`${a} is not IPv4`);
  buf.set(p, o);
}
const readIp4 = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;
/** bytes per address of an entry: 4 when both ends are IPv4, 16 when both are IPv6, else 0 (not announceable) */
function addrBytes(e: AnnouncedTransfer): number {
  if (IPV4.test(e.client) && IPV4.test(e.local)) return 4;
  return parseIpv6(e.client) !== undefined && parseIpv6(e.local) !== undefined ? 16 : 0;
}
function putAddr(buf: Uint8Array, o: number, a: string, len: number): void {
  if (len === 4) ip4(buf, o, a);
  else buf.set(parseIpv6(a)!, o);
}

export function isAnnouncement(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ANNOUNCE_MAGIC.every((m, i) => bytes[i] === m);
}

function entryBytes(e: AnnouncedTransfer): number {
  return ENTRY_FIXED + 2 * addrBytes(e) + enc.encode(e.path).length;
}

/** Whether a transfer can be announced at all (path length, both addresses of one family, sizes). */
export function announceable(e: AnnouncedTransfer): boolean {
  return enc.encode(e.path).length <= MAX_PATH && HEX32.test(e.digest) && addrBytes(e) !== 0
    && e.blksize <= 65535 && e.windowsize <= 65535 && Number.isSafeInteger(e.size) && e.size >= 0 && e.acked >= 0 && e.acked <= 0xffffffff;
}

/**
 * One snapshot as datagrams (at least one, an empty snapshot says "nothing running"). Entries
 * that cannot be announced are left out; past MAX_PARTS parts the rest is left out too.
 */
export function encodeSnapshot(
  head: { peer: string; instance: string; seq: () => number; ts: number; snapshot: number },
  entries: readonly AnnouncedTransfer[],
  secret: string | Uint8Array,
): Uint8Array[] {
  const name = enc.encode(head.peer);
  if (name.length < 1 || name.length > 64) throw new RangeError('peer name must be 1..64 bytes');
  if (!HEX32.test(head.instance)) throw new RangeError('instance must be 32 hex digits');
  const headLen = 4 + 1 + 1 + name.length + 16 + 4 + 8 + 4 + 1 + 1 + 1;
  const groups: AnnouncedTransfer[][] = [[]];
  let room = MAX_DATAGRAM - headLen - TAG;
  for (const e of entries.filter(announceable)) {
    const n = entryBytes(e);
    if (n > room || groups.at(-1)!.length === 255) {
      if (groups.length === MAX_PARTS) break;
      groups.push([]);
      room = MAX_DATAGRAM - headLen - TAG;
    }
    groups.at(-1)!.push(e);
    room -= n;
  }
  return groups.map((g, part) => {
    const len = headLen + g.reduce((s, e) => s + entryBytes(e), 0) + TAG;
    const buf = new Uint8Array(len);
    const dv = new DataView(buf.buffer);
    buf.set(ANNOUNCE_MAGIC, 0);
    buf[4] = VERSION;
    buf[5] = name.length;
    let o = 6;
    buf.set(name, o); o += name.length;
    buf.set(Buffer.from(head.instance, 'hex'), o); o += 16;
    dv.setUint32(o, head.seq() >>> 0); o += 4;
    dv.setBigUint64(o, BigInt(Math.max(0, Math.trunc(head.ts)))); o += 8;
    dv.setUint32(o, head.snapshot >>> 0); o += 4;
    buf[o++] = part;
    buf[o++] = groups.length;
    buf[o++] = g.length;
    for (const e of g) {
      const a = addrBytes(e);
      buf[o++] = a === 4 ? 4 : 6;
      putAddr(buf, o, e.client, a); o += a;
      dv.setUint16(o, e.clientPort); o += 2;
      dv.setUint16(o, e.tid); o += 2;
      putAddr(buf, o, e.local, a); o += a;
      dv.setUint16(o, e.blksize); o += 2;
      dv.setUint16(o, e.windowsize); o += 2;
      dv.setUint16(o, Math.min(65535, Math.max(1, Math.round(e.maxRtoMs)))); o += 2;
      dv.setUint32(o, e.acked >>> 0); o += 4;
      dv.setBigUint64(o, BigInt(e.size)); o += 8;
      buf.set(Buffer.from(e.digest, 'hex'), o); o += 16;
      const p = enc.encode(e.path);
      buf[o++] = p.length;
      buf.set(p, o); o += p.length;
    }
    buf.set(createHmac('sha256', secret).update(buf.subarray(0, o)).digest(), o);
    return buf;
  });
}

export type AnnounceReject = 'malformed' | 'bad-mac' | 'unknown-peer' | 'stale' | 'replay' | 'wrong-instance';
export type AnnounceResult = { ok: true; ann: Announcement } | { ok: false; reason: AnnounceReject; detail: string };

export function decodeAnnouncement(bytes: Uint8Array, secret: string | Uint8Array): AnnounceResult {
  const bad = (detail: string): AnnounceResult => ({ ok: false, reason: 'malformed', detail });
  if (bytes.length > MAX_DATAGRAM || bytes.length < 6 + 16 + 4 + 8 + 4 + 3 + TAG + 1 || !isAnnouncement(bytes)) return bad(`${bytes.length} bytes, not an announcement`);
  const bodyLen = bytes.length - TAG;
  // The tag first: nothing of a forged datagram is parsed.
  const want = createHmac('sha256', secret).update(bytes.subarray(0, bodyLen)).digest();
  if (!timingSafeEqual(want, bytes.subarray(bodyLen))) return { ok: false, reason: 'bad-mac', detail: 'HMAC does not match the shared secret' };
  if (bytes[4] !== VERSION) return bad(`version ${bytes[4]}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes[5]!;
  let o = 6;
  if (n < 1 || n > 64 || o + n + 16 + 4 + 8 + 4 + 3 > bodyLen) return bad('name length');
  let peer: string;
  try { peer = dec.decode(bytes.subarray(o, o + n)); } catch { return bad('name is not UTF-8'); }
  o += n;
  const instance = Buffer.from(bytes.subarray(o, o + 16)).toString('hex'); o += 16;
  const seq = dv.getUint32(o); o += 4;
  const tsBig = dv.getBigUint64(o); o += 8;
  if (tsBig > BigInt(Number.MAX_SAFE_INTEGER)) return bad('timestamp');
  const snapshot = dv.getUint32(o); o += 4;
  const part = bytes[o++]!;
  const parts = bytes[o++]!;
  const count = bytes[o++]!;
  if (parts < 1 || parts > MAX_PARTS || part >= parts) return bad(`part ${part} of ${parts}`);
  const entries: AnnouncedTransfer[] = [];
  for (let i = 0; i < count; i++) {
    if (o + 1 > bodyLen) return bad('entry runs past the end');
    const family = bytes[o++]!;
    if (family !== 4 && family !== 6) return bad(`address family ${family}`);
    const a = family === 4 ? 4 : 16;
    if (o + ENTRY_FIXED - 1 + 2 * a > bodyLen) return bad('entry runs past the end');
    const readAddr = (at: number): string => (a === 4 ? readIp4(bytes, at) : formatIpv6(bytes.subarray(at, at + 16)));
    const client = readAddr(o); o += a;
    const clientPort = dv.getUint16(o); o += 2;
    const tid = dv.getUint16(o); o += 2;
    const local = readAddr(o); o += a;
    const blksize = dv.getUint16(o); o += 2;
    const windowsize = dv.getUint16(o); o += 2;
    const maxRtoMs = dv.getUint16(o); o += 2;
    const acked = dv.getUint32(o); o += 4;
    const sizeBig = dv.getBigUint64(o); o += 8;
    const digest = Buffer.from(bytes.subarray(o, o + 16)).toString('hex'); o += 16;
    const pl = bytes[o++]!;
    if (o + pl > bodyLen) return bad('path runs past the end');
    let path: string;
    try { path = dec.decode(bytes.subarray(o, o + pl)); } catch { return bad('path is not UTF-8'); }
    o += pl;
    if (sizeBig > BigInt(Number.MAX_SAFE_INTEGER) || blksize < 8 || windowsize < 1 || clientPort === 0 || tid === 0) return bad('entry values out of range');
    entries.push({ client, clientPort, tid, local, blksize, windowsize, maxRtoMs, acked, size: Number(sizeBig), digest, path });
  }
  if (o !== bodyLen) return bad('trailing bytes');
  return { ok: true, ann: { peer, instance, seq, ts: Number(tsBig), snapshot, part, parts, entries } };
}

export interface AnnounceVerifierOptions {
  secret: string | Uint8Array;
  peers: Iterable<string>;
  skewMs: number;
  /** the sender's running instance as its heartbeats established it (undefined: not heard) */
  instanceOf: (peer: string) => string | undefined;
}

/**
 * Tag, sender, clock window, instance (only the run the heartbeats vouch for: a recording of an
 * earlier run is refused), sequence (only grows per instance, so a replay in the window is
 * refused). State changes only after every check passed.
 */
export class AnnounceVerifier {
  readonly #o: AnnounceVerifierOptions;
  readonly #peers: Set<string>;
  readonly #seq = new Map<string, { instance: string; seq: number }>();

  constructor(o: AnnounceVerifierOptions) {
    this.#o = o;
    this.#peers = new Set(o.peers);
  }

  verify(bytes: Uint8Array, wallNow: number): AnnounceResult {
    const r = decodeAnnouncement(bytes, this.#o.secret);
    if (!r.ok) return r;
    const a = r.ann;
    if (!this.#peers.has(a.peer)) return { ok: false, reason: 'unknown-peer', detail: `"${a.peer}" is not in the peer list` };
    if (Math.abs(a.ts - wallNow) > this.#o.skewMs) return { ok: false, reason: 'stale', detail: `timestamp ${a.ts - wallNow} ms from our clock` };
    if (this.#o.instanceOf(a.peer) !== a.instance) return { ok: false, reason: 'wrong-instance', detail: `instance ${a.instance} is not the running one` };
    const last = this.#seq.get(a.peer);
    if (last !== undefined && last.instance === a.instance && a.seq <= last.seq) return { ok: false, reason: 'replay', detail: `sequence ${a.seq} after ${last.seq}` };
    this.#seq.set(a.peer, { instance: a.instance, seq: a.seq });
    return r;
  }
}

const keyOf = (e: AnnouncedTransfer): string => `${e.local}|${e.client}:${e.clientPort}|${e.tid}`;

/** What the other peers announced, bounded per peer; a successor asks it per taken address. */
export class AnnouncedTable {
  readonly #complete = new Map<string, Map<string, AnnouncedTransfer>>();
  readonly #assembling = new Map<string, { snapshot: number; parts: Set<number>; of: number; entries: Map<string, AnnouncedTransfer> }>();
  #dropped = 0;

  /** entries left out because a peer announced more than MAX_PER_PEER */
  get dropped(): number {
    return this.#dropped;
  }

  add(a: Announcement): void {
    let asm = this.#assembling.get(a.peer);
    if (asm === undefined || asm.snapshot !== a.snapshot) {
      asm = { snapshot: a.snapshot, parts: new Set(), of: a.parts, entries: new Map() };
      this.#assembling.set(a.peer, asm);
    }
    asm.parts.add(a.part);
    for (const e of a.entries) {
      if (asm.entries.size >= MAX_PER_PEER) { this.#dropped++; continue; }
      asm.entries.set(keyOf(e), e);
    }
    if (asm.parts.size >= asm.of) {
      this.#complete.set(a.peer, asm.entries);
      this.#assembling.delete(a.peer);
    }
  }

  /** Transfers announced as served from `local`, by any peer; the latest progress of each. */
  forAddress(local: string): AnnouncedTransfer[] {
    const out = new Map<string, AnnouncedTransfer>();
    for (const m of [...this.#complete.values(), ...[...this.#assembling.values()].map((a) => a.entries)]) {
      for (const [k, e] of m) {
        if (e.local !== local) continue;
        const have = out.get(k);
        if (have === undefined || e.acked > have.acked) out.set(k, e);
      }
    }
    return [...out.values()];
  }

  /** Forget what `peer` announced (it came back and announces afresh, or we resumed them). */
  forget(peer: string): void {
    this.#complete.delete(peer);
    this.#assembling.delete(peer);
  }

  size(): number {
    let n = 0;
    for (const m of this.#complete.values()) n += m.size;
    for (const a of this.#assembling.values()) n += a.entries.size;
    return n;
  }
}
