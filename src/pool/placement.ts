// Which peer a client should fetch its boot files from. The answering peer is decided by the
// ranking (who owns the client); the file server follows spare capacity, so TFTP/HTTP load
// spreads by weight even when DHCP answers are skewed (a dead owner's clients all landing on
// one backup, or pins). Pure.

export interface PlacementPeer {
  name: string;
  live: boolean;
  steppedBack: boolean;
  /** transfers this peer may carry before stepping back (maxTransfers × weight) */
  ceiling: number;
  /** active TFTP + HTTP transfers it reported, plus clients we sent it since */
  active: number;
}

export interface PlacementOptions {
  /**
   * Peers within this many free slots of the best are equal and the client's rank order
   * decides; without it every small difference in stale, 500 ms-old load figures would send
   * every client to whichever peer looked idlest.
   */
  slack?: number;
}

/**
 * Picks the live peer with the most spare transfer slots; near-ties go to the earliest in
 * `order` (the client's ranking, owner first). Stepped-back peers are used only when every
 * live peer has stepped back. Returns undefined when no ranked peer is live.
 */
export function place(order: readonly string[], peers: ReadonlyMap<string, PlacementPeer>, o: PlacementOptions = {}): string | undefined {
  const slack = o.slack ?? 2;
  const live = order.map((n) => peers.get(n)).filter((p): p is PlacementPeer => p !== undefined && p.live);
  if (live.length === 0) return undefined;
  const ready = live.filter((p) => !p.steppedBack);
  const pool = ready.length > 0 ? ready : live;
  let best = -Infinity;
  for (const p of pool) best = Math.max(best, p.ceiling - p.active);
  return pool.find((p) => p.ceiling - p.active >= best - slack)!.name;
}

/**
 * The peers a peer may name for files. The owner (first live in the order) places over the
 * whole order. A backup — a better-ranked peer is still live on our table — offers only because
 * that peer failed this client or may fail it (EDK2's fallback offer, used exactly when the
 * owner went silent), and the one peer it knows to be alive right now is itself: a peer that
 * died in the last ~1.75 s still looks live with its last load. So it names itself.
 */
export function placementOrder(order: readonly string[], self: string, live: ReadonlySet<string>): readonly string[] {
  const at = order.indexOf(self);
  if (at <= 0) return order;
  if (!order.slice(0, at).some((n) => live.has(n))) return order;
  return [self];
}

/**
 * Clients we named a peer for recently: the peer's next heartbeat cannot show them yet (they
 * start their transfer a moment after the offer), so they count as its load for a short while.
 */
export class RecentPlacements {
  readonly #windowMs: number;
  readonly #cap: number;
  readonly #times = new Map<string, number[]>();

  constructor(windowMs: number, capPerPeer = 4096) {
    this.#windowMs = windowMs;
    this.#cap = capPerPeer;
  }

  add(peer: string, now: number): void {
    let t = this.#times.get(peer);
    if (t === undefined) this.#times.set(peer, (t = []));
    t.push(now);
    if (t.length > this.#cap) t.splice(0, t.length - this.#cap);
  }

  count(peer: string, now: number): number {
    const t = this.#times.get(peer);
    if (t === undefined) return 0;
    let drop = 0;
    while (drop < t.length && now - t[drop]! > this.#windowMs) drop++;
    if (drop > 0) t.splice(0, drop);
    return t.length;
  }
}
