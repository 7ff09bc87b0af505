// What DHCP last learned about each client, for the HTTP side: /boot.ipxe is asked by MAC in a
// query anyone can write, so the script is decided with the facts the client's own DHCP exchange
// showed (relayed or not, through which relay, its architecture) when we have them, instead of
// with what the query claims. Pure and bounded: the oldest entries go first.
//
// It runs for every answered packet, and a storm repeats the same clients: a request that says
// what the kept one said (only its xid, secs or message type differ) refreshes the kept copy in
// place instead of keeping a new object, so the heap does not copy (and promote) thousands of
// young facts objects at every scavenge.

import type { ClientFacts } from '../dhcp/facts-types.ts';

export class RecentClients {
  readonly #max: number;
  readonly #ttlMs: number;
  readonly #byMac = new Map<string, { facts: ClientFacts; at: number }>();

  constructor(o: { max?: number; ttlMs?: number } = {}) {
    this.#max = o.max ?? 4096;
    this.#ttlMs = o.ttlMs ?? 15 * 60_000;
  }

  remember(facts: ClientFacts, now: number): void {
    const e = this.#byMac.get(facts.mac);
    this.#byMac.delete(facts.mac);
    if (e !== undefined && sameClient(e.facts, facts)) {
      e.facts.xid = facts.xid;
      e.facts.secs = facts.secs;
      e.facts.messageType = facts.messageType;
      e.at = now;
      this.#byMac.set(facts.mac, e);
      return;
    }
    // A copy: the kept one is refreshed in place later, the caller's stays as it was.
    this.#byMac.set(facts.mac, { facts: { ...facts }, at: now });
    while (this.#byMac.size > this.#max) this.#byMac.delete(this.#byMac.keys().next().value!);
  }

  get(mac: string, now: number): ClientFacts | undefined {
    const e = this.#byMac.get(mac);
    if (e === undefined) return undefined;
    if (now - e.at > this.#ttlMs) {
      this.#byMac.delete(mac);
      return undefined;
    }
    return e.facts;
  }

  get size(): number {
    return this.#byMac.size;
  }
}

/** fields that change with every request of one client and say nothing about it */
const VOLATILE = new Set<string>(['xid', 'secs', 'messageType']);

/** Whether two requests say the same about their client (all but xid, secs and message type). */
export function sameClient(a: ClientFacts, b: ClientFacts): boolean {
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    n++;
    if (VOLATILE.has(k)) continue;
    if (!sameValue(ra[k], rb[k])) return false;
  }
  for (const _ in rb) n--;
  return n === 0;
}

function sameValue(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) || Array.isArray(y)) {
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }
  const ox = x as Record<string, unknown>;
  const oy = y as Record<string, unknown>;
  const kx = Object.keys(ox);
  if (kx.length !== Object.keys(oy).length) return false;
  for (const k of kx) if (ox[k] !== oy[k]) return false;
  return true;
}
