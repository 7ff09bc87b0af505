// Heartbeat codec: a small fixed-layout binary datagram, authenticated with HMAC-SHA256 over
// every byte before the tag. Binary rather than JSON so a datagram has exactly one valid
// reading and the length check alone rejects most noise before any parsing.
//
// Layout (big-endian), version 3:
//   0  "PXPH"            magic
//   4  u8  version        (3)
//   5  u8  health         (0 ok, 1 busy = stepped back, 2 draining, 3 leaving)
//   6  u8  name length n  (1..64)
//   7  name               (UTF-8, n bytes)
//   +  16  instance id    (random per process start)
//   +  u64 epoch          (sender's wall clock at process start, ms: orders its instances)
//   +  16  echo           (the receiver's instance as the sender last heard it; zeros: none yet)
//   +  u32 sequence
//   +  u64 timestamp      (sender's wall clock, ms)
//   +  u32 active TFTP transfers
//   +  u32 active HTTP transfers
//   +  f64 weight
//   +  16  config hash
//   +  u8  held count h   (0..16)
//   +  4×h IPv4 service addresses the sender holds now
//   +  u8  held count h6  (0..16)
//   +  16×h6 IPv6 service addresses the sender holds now
//   +  32  HMAC-SHA256(secret, all bytes above)
//
// Versions 1 (no epoch, echo or held addresses) and 2 (no IPv6 held addresses) are refused as
// malformed: mixed versions in one pool are reported, not half-understood.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { formatIpv6, parseIpv6 } from '../config/values.ts';

export const HEARTBEAT_VERSION = 3;
const MAGIC = [0x50, 0x58, 0x50, 0x48]; // "PXPH"
const TAG = 32;
const INSTANCE = 16;
const HASH = 16;
const FIXED = 4 + 1 + 1 + 1 + INSTANCE + 8 + INSTANCE + 4 + 8 + 4 + 4 + 8 + HASH + 1 + 1 + TAG;
const MAX_NAME = 64;
export const MAX_HELD = 16;
/** the echo of a peer whose instance the sender has not heard yet */
export const NO_ECHO = '0'.repeat(32);

export const HEALTH = ['ok', 'busy', 'draining', 'leaving'] as const;
export type Health = (typeof HEALTH)[number];

export interface Heartbeat {
  version: number;
  peer: string;
  /** hex, 32 chars */
  instance: string;
  /** sender's wall clock when its process started, ms */
  epoch: number;
  /** hex, 32 chars: the receiver's instance as the sender last heard it, NO_ECHO if none */
  echo: string;
  seq: number;
  /** sender's wall clock, ms */
  ts: number;
  health: Health;
  tftp: number;
  http: number;
  weight: number;
  /** hex, 32 chars */
  configHash: string;
  /** service addresses the sender holds now: dotted IPv4, RFC 5952 IPv6 */
  held: string[];
}

export type RejectReason = 'bad-mac' | 'stale' | 'replay' | 'malformed' | 'unknown-peer' | 'unconfirmed';
export type VerifyResult =
  | { ok: true; hb: Heartbeat }
  | { ok: false; reason: RejectReason; detail: string; hb?: Heartbeat };

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const HEX32 = /^[0-9a-f]{32}$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function mac(secret: string | Uint8Array, body: Uint8Array): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

export function encodeHeartbeat(hb: Omit<Heartbeat, 'version'>, secret: string | Uint8Array): Uint8Array {
  const name = enc.encode(hb.peer);
  if (name.length < 1 || name.length > MAX_NAME) throw new RangeError(`peer name must be 1..${MAX_NAME} bytes`);
  if (!HEX32.test(hb.instance)) throw new RangeError('instance must be 32 hex digits');
  if (!HEX32.test(hb.echo)) throw new RangeError('echo must be 32 hex digits');
  if (!HEX32.test(hb.configHash)) throw new RangeError('configHash must be 32 hex digits');
  const held4 = hb.held.filter((a) => IPV4.test(a));
  const held6 = hb.held.filter((a) => !IPV4.test(a)).map((a) => {
    const b = parseIpv6(a);
    if (b === undefined) throw new RangeError(`held address ${a} is neither IPv4 nor IPv6`);
    return b;
  });
  if (held4.length > MAX_HELD || held6.length > MAX_HELD) throw new RangeError(`at most ${MAX_HELD} held addresses of each family`);
  const buf = new Uint8Array(FIXED + name.length + 4 * held4.length + 16 * held6.length);
  const dv = new DataView(buf.buffer);
  buf.set(MAGIC, 0);
  buf[4] = HEARTBEAT_VERSION;
  buf[5] = HEALTH.indexOf(hb.health);
  buf[6] = name.length;
  let o = 7;
  buf.set(name, o); o += name.length;
  buf.set(Buffer.from(hb.instance, 'hex'), o); o += INSTANCE;
  dv.setBigUint64(o, BigInt(Math.max(0, Math.trunc(hb.epoch)))); o += 8;
  buf.set(Buffer.from(hb.echo, 'hex'), o); o += INSTANCE;
  dv.setUint32(o, hb.seq >>> 0); o += 4;
  dv.setBigUint64(o, BigInt(Math.max(0, Math.trunc(hb.ts)))); o += 8;
  dv.setUint32(o, clampU32(hb.tftp)); o += 4;
  dv.setUint32(o, clampU32(hb.http)); o += 4;
  dv.setFloat64(o, hb.weight); o += 8;
  buf.set(Buffer.from(hb.configHash, 'hex'), o); o += HASH;
  buf[o++] = held4.length;
  for (const a of held4) for (const part of a.split('.')) buf[o++] = Number(part);
  buf[o++] = held6.length;
  for (const b of held6) { buf.set(b, o); o += 16; }
  buf.set(mac(secret, buf.subarray(0, o)), o);
  return buf;
}

function clampU32(n: number): number {
  return Number.isFinite(n) ? Math.min(0xffffffff, Math.max(0, Math.trunc(n))) : 0;
}

/** Checks structure and tag only; no peer table, no clock. */
export function decodeHeartbeat(bytes: Uint8Array, secret: string | Uint8Array): VerifyResult {
  if (bytes.length < FIXED + 1) return { ok: false, reason: 'malformed', detail: `${bytes.length} bytes is too short` };
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) return { ok: false, reason: 'malformed', detail: 'not a pxepool heartbeat' };
  const n = bytes[6]!;
  const heldAt = 7 + n + INSTANCE + 8 + INSTANCE + 4 + 8 + 4 + 4 + 8 + HASH;
  const h = bytes.length > heldAt ? bytes[heldAt]! : 0;
  const held6At = heldAt + 1 + 4 * h;
  const h6 = bytes.length > held6At ? bytes[held6At]! : 0;
  if (n < 1 || n > MAX_NAME || h > MAX_HELD || h6 > MAX_HELD || bytes.length !== FIXED + n + 4 * h + 16 * h6) {
    return { ok: false, reason: 'malformed', detail: `length ${bytes.length} does not fit name length ${n} and ${h} + ${h6} held addresses${bytes[4] !== HEARTBEAT_VERSION ? ` (version ${bytes[4]}; this peer speaks ${HEARTBEAT_VERSION}: run one pxepool release across the pool)` : ''}` };
  }
  // The tag is checked before any field is believed, so a forger learns nothing past this point.
  const bodyLen = bytes.length - TAG;
  const want = mac(secret, bytes.subarray(0, bodyLen));
  if (!timingSafeEqual(want, bytes.subarray(bodyLen))) return { ok: false, reason: 'bad-mac', detail: 'HMAC does not match the shared secret' };
  if (bytes[4] !== HEARTBEAT_VERSION) return { ok: false, reason: 'malformed', detail: `version ${bytes[4]} (this peer speaks ${HEARTBEAT_VERSION}: run one pxepool release across the pool)` };
  const health = HEALTH[bytes[5]!];
  if (health === undefined) return { ok: false, reason: 'malformed', detail: `health ${bytes[5]}` };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 7;
  let peer: string;
  try {
    peer = dec.decode(bytes.subarray(o, o + n));
  } catch {
    return { ok: false, reason: 'malformed', detail: 'peer name is not UTF-8' };
  }
  o += n;
  const instance = Buffer.from(bytes.subarray(o, o + INSTANCE)).toString('hex'); o += INSTANCE;
  const epochBig = dv.getBigUint64(o); o += 8;
  const echo = Buffer.from(bytes.subarray(o, o + INSTANCE)).toString('hex'); o += INSTANCE;
  const seq = dv.getUint32(o); o += 4;
  const tsBig = dv.getBigUint64(o); o += 8;
  if (tsBig > BigInt(Number.MAX_SAFE_INTEGER) || epochBig > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, reason: 'malformed', detail: 'timestamp out of range' };
  const tftp = dv.getUint32(o); o += 4;
  const http = dv.getUint32(o); o += 4;
  const weight = dv.getFloat64(o); o += 8;
  if (!Number.isFinite(weight) || weight <= 0) return { ok: false, reason: 'malformed', detail: 'weight out of range' };
  const configHash = Buffer.from(bytes.subarray(o, o + HASH)).toString('hex'); o += HASH;
  o += 1;
  const held: string[] = [];
  for (let i = 0; i < h; i++, o += 4) held.push(`${bytes[o]}.${bytes[o + 1]}.${bytes[o + 2]}.${bytes[o + 3]}`);
  o += 1;
  for (let i = 0; i < h6; i++, o += 16) held.push(formatIpv6(bytes.subarray(o, o + 16)));
  return {
    ok: true,
    hb: { version: HEARTBEAT_VERSION, peer, instance, epoch: Number(epochBig), echo, seq, ts: Number(tsBig), health, tftp, http, weight, configHash, held },
  };
}

interface ReplayState {
  instance: string;
  epoch: number;
  seq: number;
  /** our wall clock when this instance was last accepted */
  lastWall: number;
  /** instance ids this peer used before: a captured datagram of an earlier run stays dead */
  retired: string[];
}

export interface VerifierOptions {
  secret: string | Uint8Array;
  /** names allowed to send heartbeats (the other peers) */
  peers: Iterable<string>;
  /** this peer: a heartbeat in our own name from another instance is a misconfiguration */
  self?: string;
  /**
   * Our own instance: our datagrams reflected back are not mistaken for a twin, and a heartbeat
   * counts only when it echoes it (the sender has heard this run of ours, so it is not a
   * recording made before we started).
   */
  selfInstance?: string;
  /** accepted |sender clock − our clock|, ms */
  skewMs?: number;
}

const RETIRED_PER_PEER = 8;

/**
 * Stateful verifier: tag, sender, timestamp window, instance order (epoch), sequence, echo.
 * Accepted state changes only after every check passed, so a forged or replayed datagram cannot
 * disturb what a later genuine one is compared with.
 *
 * Why each check: a recording of a peer's earlier run is authentic and may be inside the clock
 * window. The epoch (start time, only grows) orders instances, so a recording of an older run
 * cannot displace the running one; the echo of our own instance proves the sender heard this
 * run of ours, so a recording made before we started (of a peer since killed) cannot make that
 * peer look live to us.
 */
export class HeartbeatVerifier {
  readonly #secret: string | Uint8Array;
  readonly #peers: Set<string>;
  readonly #self: string | undefined;
  readonly #selfInstance: string | undefined;
  readonly #skew: number;
  readonly #state = new Map<string, ReplayState>();
  /** per peer, the newest instance heard (confirmed or not): what we echo to that peer */
  readonly #newest = new Map<string, { instance: string; epoch: number; lastWall: number }>();

  constructor(o: VerifierOptions) {
    this.#secret = o.secret;
    this.#peers = new Set(o.peers);
    this.#self = o.self;
    this.#selfInstance = o.selfInstance;
    this.#skew = o.skewMs ?? 30_000;
  }

  /** The run of `peer` whose heartbeats we accept now (undefined until one was accepted). */
  acceptedInstance(peer: string): string | undefined {
    return this.#state.get(peer)?.instance;
  }

  /** The instance to echo in our heartbeats to `peer`: the newest run of it we have heard. */
  echoFor(peer: string): string {
    return this.#newest.get(peer)?.instance ?? NO_ECHO;
  }

  verify(bytes: Uint8Array, wallNow: number): VerifyResult {
    const r = decodeHeartbeat(bytes, this.#secret);
    if (!r.ok) return r;
    const hb = r.hb;
    if (hb.peer === this.#self) {
      return hb.instance === this.#selfInstance
        ? { ok: false, reason: 'replay', detail: 'our own heartbeat came back' }
        : { ok: false, reason: 'unknown-peer', detail: `another process claims our name "${hb.peer}"` };
    }
    if (!this.#peers.has(hb.peer)) return { ok: false, reason: 'unknown-peer', detail: `"${hb.peer}" is not in the peer list` };
    if (Math.abs(hb.ts - wallNow) > this.#skew) {
      return { ok: false, reason: 'stale', detail: `timestamp ${hb.ts - wallNow} ms from our clock (allowed ±${this.#skew})` };
    }
    const st = this.#state.get(hb.peer);
    if (st !== undefined) {
      if (hb.instance === st.instance) {
        if (hb.seq <= st.seq) return { ok: false, reason: 'replay', detail: `sequence ${hb.seq} after ${st.seq}` };
      } else {
        if (st.retired.includes(hb.instance)) return { ok: false, reason: 'replay', detail: `instance ${hb.instance} has been replaced` };
        // An older (or equal) epoch replaces the running instance only once that one has been
        // silent for the whole clock window: a peer whose clock was stepped back still rejoins.
        if (hb.epoch <= st.epoch && wallNow - st.lastWall <= this.#skew) {
          return { ok: false, reason: 'replay', detail: `instance ${hb.instance} started at ${hb.epoch}, not after the running one (${st.epoch})` };
        }
      }
    }
    const newest = this.#newest.get(hb.peer);
    if (newest === undefined || hb.instance === newest.instance || hb.epoch > newest.epoch || wallNow - newest.lastWall > this.#skew) {
      this.#newest.set(hb.peer, { instance: hb.instance, epoch: hb.epoch, lastWall: wallNow });
    }
    if (this.#selfInstance !== undefined && hb.echo !== this.#selfInstance) {
      return { ok: false, reason: 'unconfirmed', detail: hb.echo === NO_ECHO ? 'the sender has not heard us yet' : 'the sender echoes another run of ours', hb };
    }
    if (st === undefined) {
      this.#state.set(hb.peer, { instance: hb.instance, epoch: hb.epoch, seq: hb.seq, lastWall: wallNow, retired: [] });
    } else {
      if (hb.instance !== st.instance) {
        st.retired.push(st.instance);
        if (st.retired.length > RETIRED_PER_PEER) st.retired.shift();
        st.instance = hb.instance;
        st.epoch = hb.epoch;
      }
      st.seq = hb.seq;
      st.lastWall = wallNow;
    }
    return r;
  }
}
