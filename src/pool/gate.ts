// Per-reply decision for one peer: answer now, answer a little later, or stay quiet because a
// better-ranked peer is answering. Pure: the attempt table and the verdict take `now`.
//
// Why the rules look like this (docs/pool.md has the long form):
// - iPXE leaves DISCOVER as soon as it holds one DHCP and one ProxyDHCP offer and keeps the
//   last ProxyDHCP offer unless 175.1 priority says otherwise; it never fails over afterwards.
//   So backups stay silent while the owner is fine, and every offer we send carries a priority
//   that decreases with rank, so a late backup offer never displaces the owner's.
// - EDK2 collects offers ~4 s and asks BINL offers in arrival order, falling back to the next
//   after ~10 s: a backup offer sent clearly after the owner's is a free, ordered fallback.
// - A retransmitted DISCOVER (same xid, a second or more later) or a large `secs` says the
//   client has not got what it needs: the owner may have failed it.

export type ClientKind = 'ipxe' | 'edk2' | 'other';

export interface Attempt {
  /** first time this (mac, xid) was seen, ms */
  firstSeen: number;
  /** last time a DISCOVER counted as a new transmission, ms */
  lastSeen: number;
  /** transmissions of this xid seen (duplicates within the gap count once) */
  count: number;
  maxSecs: number;
}

export interface AttemptTrackerOptions {
  /** entries kept at most (least recently seen go first) */
  max?: number;
  /** an entry untouched for this long starts over */
  ttlMs?: number;
  /** copies closer together than this are one transmission (two relays, two sockets) */
  minGapMs?: number;
}

/** Bounded LRU of DISCOVER attempts keyed by MAC + xid. */
export class AttemptTracker {
  readonly #max: number;
  readonly #ttl: number;
  readonly #gap: number;
  readonly #map = new Map<string, Attempt>();

  constructor(o: AttemptTrackerOptions = {}) {
    this.#max = o.max ?? 65_536;
    this.#ttl = o.ttlMs ?? 60_000;
    this.#gap = o.minGapMs ?? 300;
  }

  get size(): number {
    return this.#map.size;
  }

  record(mac: string, xid: number, secs: number, now: number): Attempt {
    const key = `${mac}/${xid >>> 0}`;
    let a = this.#map.get(key);
    if (a !== undefined) this.#map.delete(key);
    if (a === undefined || now - a.lastSeen > this.#ttl) {
      a = { firstSeen: now, lastSeen: now, count: 1, maxSecs: secs };
    } else {
      if (now - a.lastSeen >= this.#gap) {
        a.count++;
        a.lastSeen = now;
      }
      if (secs > a.maxSecs) a.maxSecs = secs;
    }
    this.#map.set(key, a);
    // Map iteration is insertion order, so the first keys are the least recently seen.
    let budget = 8;
    for (const [k, v] of this.#map) {
      if (this.#map.size <= this.#max && (now - v.lastSeen <= this.#ttl || budget-- <= 0)) break;
      this.#map.delete(k);
    }
    return a;
  }

  peek(mac: string, xid: number): Attempt | undefined {
    return this.#map.get(`${mac}/${xid >>> 0}`);
  }
}

export interface GateParams {
  staggerMs: number;
  evidenceSecs: number;
  /** backups (by rank) that always send EDK2 a late fallback offer */
  fallbackOffers: number;
  fallbackStaggerMs: number;
}

export interface GateInput {
  /** every configured peer in this client's preference order (rankPeers) */
  order: readonly string[];
  self: string;
  live: ReadonlySet<string>;
  kind: ClientKind;
  /** true for a DISCOVER on 67 (an offer); requests to us (4011, REQUEST naming us) are ours */
  discover: boolean;
  attempt: Attempt | undefined;
}

export type GateReason =
  | 'direct'      // a request addressed to us: the client already chose us
  | 'owner'       // we rank first
  | 'owner-dead'  // we rank first among live peers because better-ranked peers are down
  | 'retransmit'  // the client sent this xid again: the owner may have failed it
  | 'secs'        // the client says it has been trying for a while
  | 'fallback'    // EDK2: a late offer it will try only if earlier ones fail
  | 'backup'      // held back: a live, better-ranked peer answers
  | 'not-member'; // we are not in the ranking (should not happen)

export interface GateVerdict {
  action: 'now' | 'after' | 'hold';
  /** ms to wait for `after`, else 0 */
  delayMs: number;
  /** our rank among live peers (0 = owner), -1 if not ranked */
  rank: number;
  reason: GateReason;
}

/** Our position among live peers, and whether any better-ranked configured peer is down. */
export function liveRank(order: readonly string[], self: string, live: ReadonlySet<string>): { rank: number; skipped: number } {
  let rank = 0;
  let skipped = 0;
  for (const name of order) {
    if (name === self) return { rank, skipped };
    if (live.has(name)) rank++;
    else skipped++;
  }
  return { rank: -1, skipped };
}

export function gateDecision(i: GateInput, p: GateParams): GateVerdict {
  const { rank, skipped } = liveRank(i.order, i.self, i.live);
  if (!i.discover) return { action: 'now', delayMs: 0, rank, reason: 'direct' };
  if (rank < 0) return { action: 'hold', delayMs: 0, rank, reason: 'not-member' };
  if (rank === 0) return { action: 'now', delayMs: 0, rank, reason: skipped > 0 ? 'owner-dead' : 'owner' };
  const a = i.attempt;
  // EDK2 re-sends its DISCOVER whenever a collection round leaves it unsatisfied — also when it
  // already holds the owner's offer but was starved of CPU (docs/firmware.md) — and it takes the
  // first BINL offer in arrival order. So for EDK2 a retransmission is weak evidence: a backup
  // never answers it sooner than its ordered fallback would, keeping the owner's offer first.
  const stagger = i.kind === 'edk2' ? Math.max(p.staggerMs, p.fallbackStaggerMs) : p.staggerMs;
  if (a !== undefined && a.count >= 2) return { action: 'after', delayMs: rank * stagger, rank, reason: 'retransmit' };
  if (a !== undefined && a.maxSecs >= p.evidenceSecs) return { action: 'after', delayMs: rank * stagger, rank, reason: 'secs' };
  if (i.kind === 'edk2' && rank <= p.fallbackOffers) return { action: 'after', delayMs: rank * p.fallbackStaggerMs, rank, reason: 'fallback' };
  return { action: 'hold', delayMs: 0, rank, reason: 'backup' };
}

/** Highest 175.1 priority we use: the owner's. Below iPXE's int8 ceiling, above other servers' 0. */
export const OWNER_PRIORITY = 100;

/** iPXE 175.1 priority for an offer from the peer at live rank `rank`: owner highest, never negative. */
export function ipxePriorityForRank(rank: number): number {
  return rank < 0 ? 0 : Math.max(0, OWNER_PRIORITY - rank);
}

/** A takeover is an offer a backup sends because the owner is down or failed this client. */
export function isTakeover(v: GateVerdict): boolean {
  return v.action !== 'hold' && (v.reason === 'owner-dead' || v.reason === 'retransmit' || v.reason === 'secs');
}
