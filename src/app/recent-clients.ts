// What DHCP last learned about each client, for the HTTP side: /boot.ipxe is asked by MAC in a
// query anyone can write, so the script is decided with the facts the client's own DHCP exchange
// showed (relayed or not, through which relay, its architecture) when we have them, instead of
// with what the query claims. Pure and bounded: the oldest entries go first.

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
    this.#byMac.delete(facts.mac);
    this.#byMac.set(facts.mac, { facts, at: now });
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
