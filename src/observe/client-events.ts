// What this peer saw of each client lately, for `explain --pool` and the dashboard: per MAC a
// short ring of events (decisions, offers, 4011 answers, file fetches with their outcome), and
// one ring of the latest events of every client. A storm of forged MACs or an endless stream of
// requests must not grow memory: MACs beyond `maxMacs` evict the least recently seen, each MAC
// keeps `perMac` events, strings a client sent are clipped. Pure: the caller passes the time.

export type ClientEventKind =
  /** an offer sent on 67 (or an ACK to a REQUEST there) */
  | 'offer'
  /** held back: another pool peer owns the client */
  | 'held'
  /** the policy ignores the client */
  | 'ignore'
  /** an answer on 4011 */
  | 'ack'
  /** a file sent (or not) over TFTP or HTTP */
  | 'file';

export interface ClientEvent {
  /** epoch ms: merged across peers, so wall clock */
  at: number;
  kind: ClientEventKind;
  mac: string;
  port?: number;
  xid?: number;
  /** why: the gate's reason for an offer, the rule for an ignore, the result of a file */
  reason?: string;
  rule?: string;
  profile?: string;
  /** boot file named in the offer, or the file fetched */
  file?: string;
  protocol?: 'tftp' | 'http';
  /** address:port of a fetch */
  client?: string;
  bytes?: number;
  durationMs?: number;
  /** 'ok', or why the fetch ended */
  result?: string;
  firmware?: string;
  hostname?: string;
  vendorClass?: string;
}

export interface ClientEventLogOptions {
  maxMacs?: number;
  perMac?: number;
  /** events of every client kept for the dashboard's list */
  recent?: number;
  /** client addresses remembered to tie a file fetch (by address) to a MAC */
  maxAddresses?: number;
  /** longest client-sent string kept */
  maxString?: number;
}

const STRING_KEYS = ['reason', 'rule', 'profile', 'file', 'client', 'result', 'firmware', 'hostname', 'vendorClass'] as const;
/** a MAC is 17 characters; anything longer was not one */
const MAX_MAC = 32;

export class ClientEventLog {
  readonly maxMacs: number;
  readonly perMac: number;
  readonly maxRecent: number;
  readonly maxAddresses: number;
  readonly maxString: number;
  /** insertion order is recency: a MAC seen again moves to the end */
  readonly #byMac = new Map<string, ClientEvent[]>();
  readonly #recent: ClientEvent[] = [];
  #recentHead = 0;
  readonly #macByAddress = new Map<string, string>();

  constructor(o: ClientEventLogOptions = {}) {
    this.maxMacs = Math.max(1, o.maxMacs ?? 1024);
    this.perMac = Math.max(1, o.perMac ?? 32);
    this.maxRecent = Math.max(1, o.recent ?? 200);
    this.maxAddresses = Math.max(1, o.maxAddresses ?? 4096);
    this.maxString = Math.max(8, o.maxString ?? 128);
  }

  /** Keeps `e` (or a clipped copy of it): pass a fresh object, not one changed later. */
  record(e: ClientEvent): void {
    const ev = this.#clip(e);
    const mac = ev.mac;
    let ring = this.#byMac.get(mac);
    if (ring === undefined) ring = [];
    else this.#byMac.delete(mac);
    this.#byMac.set(mac, ring);
    ring.push(ev);
    if (ring.length > this.perMac) ring.splice(0, ring.length - this.perMac);
    while (this.#byMac.size > this.maxMacs) this.#byMac.delete(this.#byMac.keys().next().value!);
    if (this.#recent.length < this.maxRecent) this.#recent.push(ev);
    else {
      this.#recent[this.#recentHead] = ev;
      this.#recentHead = (this.#recentHead + 1) % this.maxRecent;
    }
  }

  /** A client's own address (its 4011 source, the /boot.ipxe requester): its fetches come from there. */
  learnAddress(address: string, mac: string): void {
    const a = bareAddress(address);
    if (a === '' || a === '0.0.0.0') return;
    this.#macByAddress.delete(a);
    this.#macByAddress.set(a, mac.toLowerCase().slice(0, MAX_MAC));
    while (this.#macByAddress.size > this.maxAddresses) this.#macByAddress.delete(this.#macByAddress.keys().next().value!);
  }

  /** The MAC last seen at `address` (an `ip` or `ip:port`), if any. */
  macOf(address: string): string | undefined {
    return this.#macByAddress.get(bareAddress(address));
  }

  /** A file fetch from `client` (address:port), kept under its MAC when the address is known. */
  recordFetch(e: Omit<ClientEvent, 'mac' | 'kind'> & { client: string }): boolean {
    const mac = this.macOf(e.client);
    if (mac === undefined) return false;
    this.record({ ...e, kind: 'file', mac });
    return true;
  }

  /** One MAC's events, oldest first. */
  eventsOf(mac: string): ClientEvent[] {
    return [...(this.#byMac.get(mac.toLowerCase()) ?? [])];
  }

  /** The latest events of every client, newest first; with `mac`, only that client's. */
  recent(limit = this.maxRecent, mac?: string): ClientEvent[] {
    const n = this.#recent.length;
    const out: ClientEvent[] = [];
    const want = mac?.toLowerCase();
    for (let i = 0; i < n && out.length < limit; i++) {
      const e = this.#recent[(this.#recentHead - 1 - i + 2 * n) % n]!;
      if (want === undefined || e.mac === want) out.push(e);
    }
    return out;
  }

  get macs(): number {
    return this.#byMac.size;
  }

  /** events held in all the per-MAC rings */
  get size(): number {
    let s = 0;
    for (const r of this.#byMac.values()) s += r.length;
    return s;
  }

  /** `e` itself when nothing needs clipping (callers hand over a fresh object), else a clipped copy */
  #clip(e: ClientEvent): ClientEvent {
    if (e.mac.length <= MAX_MAC && !/[A-Z]/.test(e.mac) && !this.#tooLong(e)) return e;
    const out: ClientEvent = { ...e };
    const rec = out as unknown as Record<string, unknown>;
    for (const k of STRING_KEYS) {
      const v = rec[k];
      if (typeof v === 'string' && v.length > this.maxString) rec[k] = `${v.slice(0, this.maxString)}…`;
    }
    out.mac = e.mac.toLowerCase().slice(0, MAX_MAC);
    return out;
  }

  #tooLong(e: ClientEvent): boolean {
    const rec = e as unknown as Record<string, unknown>;
    for (const k of STRING_KEYS) {
      const v = rec[k];
      if (typeof v === 'string' && v.length > this.maxString) return true;
    }
    return false;
  }
}

/** `::ffff:10.0.0.5:1234` → `10.0.0.5` (IPv4 with an optional port, as the servers write clients). */
export function bareAddress(a: string): string {
  const s = a.replace(/^::ffff:/, '');
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(s);
  return m !== null ? m[1]! : s;
}

/** the result of a TFTP read that stopped after the OACK on purpose: EDK2 learning a file's size */
export const SIZE_PROBE = 'size-probe';

/** How the client's last boot ended, from its events (oldest first): the last fetch after its last answer. */
export function lastBootEnd(events: readonly { kind: string; file?: string; result?: string; peer?: string }[]): string {
  const lastAnswer = events.findLastIndex((e) => e.kind === 'offer' || e.kind === 'ack');
  const last = events.slice(lastAnswer + 1).findLast((e) => e.kind === 'file' && e.result !== SIZE_PROBE);
  const from = last?.peer !== undefined ? ` from ${last.peer}` : '';
  if (last !== undefined) return last.result === 'ok' ? `fetched ${last.file ?? '?'}${from}: ok (the last file seen)` : `failed fetching ${last.file ?? '?'}${from}: ${last.result ?? 'unknown'}`;
  if (lastAnswer >= 0) return 'answered; no file fetched since';
  const unanswered = events.findLast((e) => e.kind === 'ignore' || e.kind === 'held');
  return unanswered !== undefined ? `not answered (${unanswered.kind})` : 'nothing seen';
}
