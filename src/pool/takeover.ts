// Who holds each service address. Pure: the edge (address-edge.ts) feeds in the live set, what
// every live peer says it holds, what the kernel says we hold and the clock; it gets back the
// addresses to claim (after an ARP probe finds no holder), renew or release.
//
// The rules, and why:
// - Every address has a home peer and, after it, a successor order (rendezvous over the
//   address, so every peer computes the same order and a dead peer's addresses spread over
//   the survivors instead of all landing on one).
// - Nobody holds an address that some live peer says it holds, except its holder. A claim
//   happens only when no live peer lists the address and we are the first live peer in its
//   order; the edge then still probes the wire (ARP) before adding it, because a dead peer's
//   kernel keeps the address until its lease runs out, and a host outside the pool may have it.
// - Two holders seen at once (views differed for a moment, or a partition healed): the one
//   later in the order releases at once.
// - The home peer gets its address back only through a handoff: the holder sees the home live
//   for `stableMs`, finishes what it serves on the address (or waits `handoffMaxMs`), releases
//   it and stops listing it; the home then finds it free and claims it.
// - A peer that just started, or finds it was stopped for a while, claims nothing until it has
//   had time to hear everyone (`graceMs`, longer than a probe plus a heartbeat): its view is
//   empty or stale, and a successor may be half-way through claiming its home address.
// - The lease: the kernel deletes an address by itself unless the holder renews it. A renewal
//   is allowed only while our own monotonic clock says the last successful one is recent
//   (mayRenew): a process that was stopped must not bring an address back to life after the
//   kernel let it go and a successor may have claimed it.

import { rankPeers } from './ranking.ts';

export interface ServiceAddress {
  address: string;
  /** the peer whose own address this is */
  home: string;
  /**
   * ranks successors as if for this address instead: a peer's IPv6 service address names its
   * IPv4 one, so one survivor takes both and a client's IPv6 and IPv4 stages stay on one peer
   */
  orderKey?: string;
}

export interface TakeoverParams {
  self: string;
  /** every peer with its weight, for the successor order */
  peers: readonly { name: string; weight: number }[];
  addresses: readonly ServiceAddress[];
  /** how long a returning home must be live before the holder hands its address back */
  stableMs: number;
  /** after this long, hand back even while transfers on the address are still running */
  handoffMaxMs: number;
  /** after start (or a pause), claim nothing for this long */
  graceMs: number;
  /**
   * Two plans further apart than this mean the process was stopped (SIGSTOP, a VM pause): its
   * view of the pool is stale, so it starts over as if just started (grace included).
   */
  pauseMs: number;
  /**
   * After we release an address, we do not claim it again for this long (more than a probe
   * plus the time to see a peer down): the peer we gave it to is probing for it now and
   * invisible on the wire, and lost heartbeats must not make us race it.
   */
  holdDownMs: number;
  /**
   * A successor takes an address over only after the peer that last listed it has been silent
   * this long: longer than its lease, so its kernel must have dropped the address even if its
   * process is stopped or its link is down (where no probe can see it) and comes back.
   */
  leaseWaitMs: number;
}

export interface TakeoverInput {
  /** monotonic ms */
  now: number;
  /** live peers, self included */
  live: ReadonlySet<string>;
  /** what each peer other than us listed in its last heartbeat (down peers too: a goodbye lists none) */
  heldBy: ReadonlyMap<string, readonly string[]>;
  /** when we last heard each peer (monotonic ms), as membership saw it */
  heardAt: ReadonlyMap<string, number>;
  /** what we hold now (the kernel has it and our lease is good) */
  mine: ReadonlySet<string>;
  /** transfers or requests we are serving on this address right now */
  busy?: (address: string) => boolean;
}

export type TakeoverAction =
  | { type: 'claim'; address: string; reason: 'home' | 'successor' }
  | { type: 'release'; address: string; reason: 'conflict' | 'handoff' | 'not-ours'; to?: string };

export interface TakeoverPlan {
  actions: TakeoverAction[];
  /** addresses we should keep and renew */
  keep: string[];
  /**
   * The earliest time a claim that only waits for a clock (grace, hold-down, a lease running
   * out) becomes possible: plan again then, rather than at the next heartbeat, since a client
   * retransmitting with backoff may wait seconds more for every moment missed.
   */
  wakeAt?: number;
}

/** The order in which peers hold `address`: its home, then the others by rendezvous score. */
export function successorOrder(address: string, home: string, peers: readonly { name: string; weight: number }[]): string[] {
  const others = peers.filter((p) => p.name !== home);
  return [home, ...rankPeers(`addr:${address}`, others)];
}

/**
 * Whether a renewal started at `now` still finds the address in the kernel. The kernel deletes
 * the address no earlier than `leaseMs` after the last renewal (valid_lft, whole seconds);
 * `marginMs` is the time the renewal command may take to reach it.
 */
export function mayRenew(lastRenewAt: number | undefined, now: number, leaseMs: number, marginMs: number): boolean {
  return lastRenewAt !== undefined && now >= lastRenewAt && now - lastRenewAt < leaseMs - marginMs;
}

/** How long an ARP probe waits for an answer (the edge ends arping then). */
export const PROBE_WAIT_MS = 300;

/**
 * The lease's timings, derived from the configured lease and heartbeat, in one place: the edge
 * runs by them and `pxepool check` states them.
 */
export function leaseTimings(leaseMs: number, heartbeatMs: number): { lifetimeS: number; marginMs: number; renewWindowMs: number; leaseWaitMs: number } {
  // valid_lft counts whole seconds.
  const lifetimeS = Math.ceil(leaseMs / 1000);
  // A renewal must reach the kernel before the old lease ends: the margin is what we allow the
  // `ip` command (the kernel itself never expires an address early; measured ≥ lease).
  const marginMs = Math.min(1_000, leaseMs / 4);
  return {
    lifetimeS, marginMs,
    renewWindowMs: lifetimeS * 1000 - marginMs,
    // The kernel drops an expired address up to a second late: one timer for every address on
    // the host, re-armed at least a second apart (measured: up to 0.5 s in our lab).
    leaseWaitMs: lifetimeS * 1000 + 1_000 + heartbeatMs,
  };
}

export class TakeoverPlanner {
  readonly #p: TakeoverParams;
  readonly #order = new Map<string, string[]>();
  readonly #liveSince = new Map<string, number>();
  readonly #handoffSince = new Map<string, number>();
  #startedAt: number | undefined;
  #lastPlanAt: number | undefined;
  #deaf = false;
  readonly #releasedAt = new Map<string, number>();
  /** peers heard since start (or the last pause): one never heard may just be slow to reach */
  readonly #heard = new Set<string>();
  /** per address, the last peer other than us that listed it */
  readonly #listedBy = new Map<string, string>();

  constructor(p: TakeoverParams) {
    this.#p = p;
    for (const a of p.addresses) this.#order.set(a.address, successorOrder(a.orderKey ?? a.address, a.home, p.peers));
  }

  /**
   * We could not hear the pool for a while (our link was down): peers we now think dead may
   * only have been unheard, so the next plan starts over as after a pause, grace included.
   */
  wasDeaf(): void {
    this.#deaf = true;
  }

  order(address: string): readonly string[] {
    return this.#order.get(address) ?? [];
  }

  plan(input: TakeoverInput): TakeoverPlan {
    const { now, live, heldBy, mine } = input;
    for (const addr of mine) this.#listedBy.delete(addr);
    if (this.#deaf || (this.#lastPlanAt !== undefined && now - this.#lastPlanAt > this.#p.pauseMs)) {
      this.#deaf = false;
      this.#startedAt = now;
      this.#liveSince.clear();
      this.#handoffSince.clear();
      this.#heard.clear();
    }
    this.#lastPlanAt = now;
    this.#startedAt ??= now;
    for (const name of [...this.#liveSince.keys()]) if (!live.has(name)) this.#liveSince.delete(name);
    for (const name of live) {
      if (!this.#liveSince.has(name)) this.#liveSince.set(name, now);
      this.#heard.add(name);
    }
    const self = this.#p.self;
    const inGrace = now - this.#startedAt < this.#p.graceMs;
    const actions: TakeoverAction[] = [];
    const keep: string[] = [];
    let wakeAt: number | undefined;

    const known = new Set(this.#p.addresses.map((a) => a.address));
    for (const addr of mine) if (!known.has(addr)) actions.push({ type: 'release', address: addr, reason: 'not-ours' });

    for (const { address, home } of this.#p.addresses) {
      const order = this.#order.get(address)!;
      const holders = order.filter((n) => n !== self && live.has(n) && (heldBy.get(n) ?? []).includes(address));
      if (holders.length > 0) this.#listedBy.set(address, holders[0]!);
      else {
        // The last lister's latest heartbeat (a goodbye, or one after a release) no longer lists
        // it: it deleted the address before saying so, so nothing is left to wait for.
        const last = this.#listedBy.get(address);
        if (last !== undefined && heldBy.has(last) && !(heldBy.get(last) ?? []).includes(address)) this.#listedBy.delete(address);
      }
      const rankOf = (n: string): number => order.indexOf(n);
      if (mine.has(address)) {
        const better = holders.find((h) => rankOf(h) < rankOf(self));
        if (better !== undefined) {
          actions.push({ type: 'release', address, reason: 'conflict', to: better });
          this.#releasedAt.set(address, now);
          this.#handoffSince.delete(address);
          continue;
        }
        const homeStable = home !== self && live.has(home) && now - (this.#liveSince.get(home) ?? now) >= this.#p.stableMs;
        if (homeStable) {
          const since = this.#handoffSince.get(address) ?? now;
          this.#handoffSince.set(address, since);
          if (!(input.busy?.(address) ?? false) || now - since >= this.#p.handoffMaxMs) {
            actions.push({ type: 'release', address, reason: 'handoff', to: home });
            this.#releasedAt.set(address, now);
            this.#handoffSince.delete(address);
            continue;
          }
        } else {
          this.#handoffSince.delete(address);
        }
        keep.push(address);
        continue;
      }
      this.#handoffSince.delete(address);
      if (holders.length > 0) continue;
      const first = order.find((n) => live.has(n));
      if (first !== self) continue;
      const wait = (until: number): void => { wakeAt = Math.min(wakeAt ?? until, until); };
      if (inGrace) { wait(this.#startedAt + this.#p.graceMs); continue; }
      // Taking over for a peer never heard since we started waits twice as long: it is more
      // likely that its heartbeats have not reached us yet than that it is down.
      const unheardBefore = order.slice(0, order.indexOf(self)).some((n) => !this.#heard.has(n));
      if (unheardBefore && now - this.#startedAt < 2 * this.#p.graceMs) { wait(this.#startedAt + 2 * this.#p.graceMs); continue; }
      const released = this.#releasedAt.get(address);
      if (released !== undefined && now - released < this.#p.holdDownMs) { wait(released + this.#p.holdDownMs); continue; }
      const last = this.#listedBy.get(address);
      // (A live peer that stopped listing it released it: it deletes before it says so.)
      const lastHeard = last === undefined ? undefined : input.heardAt.get(last) ?? -Infinity;
      if (last !== undefined && !live.has(last) && now - lastHeard! < this.#p.leaseWaitMs) { wait(lastHeard! + this.#p.leaseWaitMs); continue; }
      actions.push({ type: 'claim', address, reason: home === self ? 'home' : 'successor' });
    }
    return wakeAt === undefined ? { actions, keep } : { actions, keep, wakeAt };
  }
}
