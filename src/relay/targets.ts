// Where a PXE client's request goes: host-file steering (exact, then the longest wildcard), the
// default, and pools of peers with a liveness guess. Pure: time is always passed in.

import { MacTable } from '../policy/mactable.ts';
import type { ConfigError } from '../config/load.ts';
import { parseHostFile } from '../config/host-file.ts';
import type { RelayConfig, RelayPool } from './config.ts';

/** One host-file line, kept for "why" in debug output. */
export interface HostTarget {
  /** server address from the line; undefined = the line only says "this client is known" → default */
  address: string | undefined;
  file: string;
  line: number;
  pattern: string;
}

export type HostTable = MacTable<HostTarget>;

/** Parse host files into one table (earlier files win ties). Errors carry file:line. */
export function buildHostTable(files: readonly { path: string; text: string }[]): { table: HostTable; errors: ConfigError[]; entries: number } {
  const table: HostTable = new MacTable();
  const errors: ConfigError[] = [];
  let entries = 0;
  for (const f of files) {
    const r = parseHostFile(f.text, f.path);
    errors.push(...r.errors);
    for (const e of r.entries) {
      table.add(e.mac, { address: e.nextServer, file: f.path, line: e.line, pattern: e.mac.text });
      entries++;
    }
  }
  return { table, errors, entries };
}

export type Steering =
  | { source: 'host'; target: string; rule: HostTarget }
  | { source: 'default'; target: string; rule?: HostTarget }
  | { source: 'none'; rule?: HostTarget };

/** The configured target for a MAC (an address or a pool name), before liveness. */
export function steer(table: HostTable, macNumber: number | undefined, dflt: string | undefined): Steering {
  const hit = macNumber === undefined ? undefined : table.get(macNumber);
  if (hit !== undefined && hit.address !== undefined) return { source: 'host', target: hit.address, rule: hit };
  if (dflt !== undefined) return hit === undefined ? { source: 'default', target: dflt } : { source: 'default', target: dflt, rule: hit };
  return hit === undefined ? { source: 'none' } : { source: 'none', rule: hit };
}

interface PeerState {
  /** client key → when its first unanswered DISCOVER was relayed to this peer */
  pending: Map<string, number>;
  deadSince: number | undefined;
}

const MAX_PENDING = 256;

/**
 * A peer is presumed dead once `misses` different clients each waited at least `answerWithinMs`
 * for it without it answering anyone; any answer from it makes it live again. Counting distinct
 * clients keeps one client that a peer deliberately ignores (policy) from killing it alone.
 */
export class Liveness {
  readonly #peers = new Map<string, PeerState>();
  readonly #params: ReadonlyMap<string, Pick<RelayPool, 'misses' | 'answerWithinMs'>>;

  constructor(pools: Record<string, RelayPool>) {
    const params = new Map<string, Pick<RelayPool, 'misses' | 'answerWithinMs'>>();
    for (const p of Object.values(pools)) for (const peer of p.peers) if (!params.has(peer)) params.set(peer, p);
    this.#params = params;
  }

  #state(peer: string): PeerState {
    let s = this.#peers.get(peer);
    if (s === undefined) {
      s = { pending: new Map(), deadSince: undefined };
      this.#peers.set(peer, s);
    }
    return s;
  }

  /** A DISCOVER of `client` was relayed to `peer`. A retransmission keeps the first time. */
  sent(peer: string, client: string, now: number): void {
    if (!this.#params.has(peer)) return;
    const s = this.#state(peer);
    if (s.pending.has(client)) return;
    if (s.pending.size >= MAX_PENDING) {
      const oldest = s.pending.keys().next().value;
      if (oldest !== undefined) s.pending.delete(oldest);
    }
    s.pending.set(client, now);
  }

  /** Any reply from `peer`. */
  answered(peer: string, _now: number): void {
    const s = this.#peers.get(peer);
    if (s === undefined) return;
    s.pending.clear();
    s.deadSince = undefined;
  }

  alive(peer: string, now: number): boolean {
    const p = this.#params.get(peer);
    if (p === undefined) return true;
    const s = this.#peers.get(peer);
    if (s === undefined) return true;
    if (s.deadSince !== undefined) return false;
    let missed = 0;
    for (const t of s.pending.values()) if (now - t >= p.answerWithinMs) missed++;
    if (missed >= p.misses) {
      s.deadSince = now;
      return false;
    }
    return true;
  }

  /** For /status-style output and tests. */
  snapshot(now: number): { peer: string; alive: boolean; unanswered: number }[] {
    return [...this.#params.keys()].map((peer) => ({ peer, alive: this.alive(peer, now), unanswered: this.#peers.get(peer)?.pending.size ?? 0 }));
  }
}

export interface Choice {
  /** the peer that should answer this client */
  chosen: string;
  /** dead peers ranked before `chosen`: they get a copy so that a revived peer is noticed at once */
  probes: string[];
  pool?: string;
  /** peers skipped as dead, for the debug log */
  skipped: string[];
  /** every peer that gets this request, in pool order */
  sendTo: string[];
}

/**
 * Resolve a target to a peer. An address that is a member of a pool means "this peer first,
 * then the rest of its pool", so host files can pin a client to a peer and still fail over.
 */
export function choose(target: string, pools: RelayConfig['pools'], alive: (peer: string) => boolean): Choice {
  let poolName: string | undefined;
  let order: string[];
  if (Object.hasOwn(pools, target)) {
    poolName = target;
    order = pools[target]!.peers;
  } else {
    poolName = Object.keys(pools).find((n) => pools[n]!.peers.includes(target));
    if (poolName === undefined) return { chosen: target, probes: [], skipped: [], sendTo: [target] };
    const peers = pools[poolName]!.peers;
    const i = peers.indexOf(target);
    order = [...peers.slice(i), ...peers.slice(0, i)];
  }
  const skipped: string[] = [];
  for (const peer of order) {
    if (alive(peer)) return { chosen: peer, probes: skipped.slice(), pool: poolName, skipped, sendTo: [...skipped, peer] };
    skipped.push(peer);
  }
  // Nobody is known to be alive: try them all rather than nobody.
  return { chosen: order[0]!, probes: order.slice(1), pool: poolName, skipped, sendTo: order.slice() };
}
