// The peer's side of the shared store: a last-known copy of every assignment in memory, which
// decisions read synchronously (so a slow or dead store never delays or stops an answer), kept
// fresh by polling; consumes and inventory reports queued and written behind. What waits and
// what is refused while the store is down is in docs/deployments.md.

import type { Store } from './store.ts';
import { type Assignment, type AssignmentView, type ClientRecord, type ConsumeResult, type Seen, completes, completionFiles, consume, mergeSeen, viewOf } from './model.ts';
import type { Profile } from '../config/schema.ts';

export interface DeploymentsOptions {
  /** opens (and migrates) the store; retried every refresh until it works */
  open: () => Promise<Store>;
  peer: string;
  refreshMs?: number;
  /** the most assignments a peer keeps (and reads per refresh); also the inventory's size */
  maxClients?: number;
  /** inventory reports waiting for the store, at most; the oldest MAC's report gives way */
  maxPendingSeen?: number;
  onError?: (what: string, err: Error) => void;
  onConsumed?: (mac: string, how: string) => void;
}

export class StoreDown extends Error {}

export class Deployments {
  #o: Required<Omit<DeploymentsOptions, 'onError' | 'onConsumed'>> & Pick<DeploymentsOptions, 'onError' | 'onConsumed'>;
  #store: Store | undefined;
  #assignments = new Map<string, Assignment>();
  /** uuid → the MAC its assignment is stored under */
  #byUuid = new Map<string, string>();
  /** a MAC decided by another MAC's assignment (through its UUID) → that MAC, for delivered() */
  #alias = new Map<string, string>();
  /** consumes this peer decided on and the store has not confirmed: mac → generation, time */
  #pendingConsume = new Map<string, { generation: number; at: number; how: string }>();
  #seen = new Map<string, Seen>();
  #pendingSeen = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #closed = false;
  /** epoch ms of the last successful refresh; undefined: never */
  lastSync: number | undefined;
  lastError: string | undefined;

  constructor(o: DeploymentsOptions) {
    this.#o = { refreshMs: 2000, maxClients: 100_000, maxPendingSeen: 10_000, ...o };
  }

  get reachable(): boolean {
    return this.#store !== undefined && this.lastError === undefined;
  }

  get kind(): string | undefined {
    return this.#store?.kind;
  }

  /** The first sync, then one every refreshMs. Never throws: a store down at start is retried. */
  async start(): Promise<void> {
    await this.sync();
    this.#timer = setInterval(() => void this.sync(), this.#o.refreshMs);
    this.#timer.unref();
  }

  /** One round: open if needed, write what waits, read the assignments. Rounds never overlap. */
  sync(): Promise<void> {
    if (this.#busy !== undefined) return this.#busy;
    this.#busy = this.#round().finally(() => { this.#busy = undefined; });
    return this.#busy;
  }

  async #round(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#store ??= await this.#o.open();
      await this.#flushConsumes(this.#store);
      await this.#flushSeen(this.#store);
      if ((await this.#store.unchanged?.()) === true) {
        this.lastSync = Date.now();
        this.lastError = undefined;
        return;
      }
      const fresh = await this.#store.assignments(this.#o.maxClients);
      // A consume the store has not taken yet still holds here: this peer stays quiet for it.
      for (const [mac, p] of this.#pendingConsume) {
        const a = fresh.get(mac);
        if (a !== undefined) fresh.set(mac, consume(a, p.generation, p.at, this.#o.peer).next!);
      }
      this.#setAll(fresh);
      this.lastSync = Date.now();
      this.lastError = undefined;
    } catch (err) {
      this.#fail('sync', err as Error);
    }
  }

  #fail(what: string, err: Error): void {
    const first = this.lastError === undefined;
    this.lastError = err.message;
    if (first) this.#o.onError?.(what, err);
  }

  async #flushConsumes(store: Store): Promise<void> {
    for (const [mac, p] of [...this.#pendingConsume]) {
      const r = await store.consume(mac, p.generation, p.at, this.#o.peer);
      // Any answer is final: consumed now, or already (another peer), or re-armed/cleared since.
      this.#pendingConsume.delete(mac);
      if (r === 'consumed') this.#o.onConsumed?.(mac, p.how);
    }
  }

  async #flushSeen(store: Store): Promise<void> {
    if (this.#pendingSeen.size === 0) return;
    const batch = [...this.#pendingSeen].slice(0, 500);
    await store.see(batch.map((mac) => ({ mac, seen: this.#seen.get(mac)! })), this.#o.maxClients);
    for (const mac of batch) this.#pendingSeen.delete(mac);
  }

  #setAll(all: Map<string, Assignment>): void {
    this.#assignments = all;
    this.#byUuid = new Map();
    for (const [mac, a] of all) if (a.uuid !== undefined) this.#byUuid.set(a.uuid, mac);
  }

  #set(mac: string, a: Assignment | undefined): void {
    const old = this.#assignments.get(mac);
    if (old?.uuid !== undefined && this.#byUuid.get(old.uuid) === mac) this.#byUuid.delete(old.uuid);
    if (a === undefined) this.#assignments.delete(mac);
    else {
      this.#assignments.set(mac, a);
      if (a.uuid !== undefined) this.#byUuid.set(a.uuid, mac);
    }
  }

  /**
   * What policy is told about `mac` now; undefined: no assignment (the rules decide). The MAC's
   * own assignment first, else one stored under another MAC for a UUID the client sent.
   */
  lookup(mac: string, now: number, uuids: readonly string[] = []): AssignmentView | undefined {
    const own = this.#assignments.get(mac);
    if (own !== undefined) return viewOf(own, now);
    for (const u of uuids) {
      const under = this.#byUuid.get(u);
      const a = under === undefined ? undefined : this.#assignments.get(under);
      if (a === undefined) continue;
      this.#alias.delete(mac);
      this.#alias.set(mac, under!);
      while (this.#alias.size > this.#o.maxPendingSeen) this.#alias.delete(this.#alias.keys().next().value!);
      return { ...viewOf(a, now), viaUuidOf: under! };
    }
    return undefined;
  }

  /** A file was delivered to `mac`: when it completes an active `once`, consume it. */
  delivered(client: string, path: string, profiles: Readonly<Record<string, Profile>>, now: number): void {
    const mac = this.#assignments.has(client) ? client : (this.#alias.get(client) ?? client);
    const a = this.#assignments.get(mac);
    if (a === undefined || a.mode !== 'once' || viewOf(a, now).state !== 'active') return;
    const p = profiles[a.profile];
    if (p === undefined || !completes(path, completionFiles(p), a.profile)) return;
    this.#consumeLocally(mac, a, now, `delivered ${path}`);
  }

  #consumeLocally(mac: string, a: Assignment, now: number, how: string): void {
    this.#set(mac, consume(a, a.generation, now, this.#o.peer).next!);
    this.#pendingConsume.set(mac, { generation: a.generation, at: now, how });
    void this.sync();
  }

  /** What the pool saw: merged here, written behind in batches. */
  see(mac: string, report: Omit<Seen, 'firstSeen' | 'lastSeen'>, now: number): void {
    this.#seen.set(mac, mergeSeen(this.#seen.get(mac), report, now));
    this.#pendingSeen.delete(mac);
    this.#pendingSeen.add(mac);
    while (this.#pendingSeen.size > this.#o.maxPendingSeen) this.#pendingSeen.delete(this.#pendingSeen.values().next().value!);
    while (this.#seen.size > this.#o.maxClients) {
      const oldest = this.#seen.keys().next().value!;
      this.#seen.delete(oldest);
      this.#pendingSeen.delete(oldest);
    }
  }

  #up(): Store {
    if (this.#store === undefined || this.lastError !== undefined) throw new StoreDown(`store unreachable (${this.lastError ?? 'not open yet'})`);
    return this.#store;
  }

  async #call<T>(f: (s: Store) => Promise<T>): Promise<T> {
    const s = this.#up();
    try {
      return await f(s);
    } catch (err) {
      this.#fail('request', err as Error);
      throw new StoreDown(`store unreachable (${(err as Error).message})`);
    }
  }

  /** From the store; while it is down, from this peer's copy, marked stale. */
  async get(mac: string): Promise<{ record: ClientRecord | undefined; stale: boolean }> {
    try {
      return { record: await this.#call((s) => s.get(mac)), stale: false };
    } catch (err) {
      if (!(err instanceof StoreDown)) throw err;
      const a = this.#assignments.get(mac);
      const seen = this.#seen.get(mac);
      return { record: a === undefined && seen === undefined ? undefined : { mac, ...(a !== undefined ? { assignment: a } : {}), ...(seen !== undefined ? { seen } : {}) }, stale: true };
    }
  }

  async list(limit: number): Promise<{ clients: ClientRecord[]; stale: boolean }> {
    try {
      return { clients: await this.#call((s) => s.list(limit)), stale: false };
    } catch (err) {
      if (!(err instanceof StoreDown)) throw err;
      const macs = [...new Set([...this.#assignments.keys(), ...this.#seen.keys()])].sort().slice(0, limit);
      return { clients: macs.map((mac) => ({ mac, ...(this.#assignments.has(mac) ? { assignment: this.#assignments.get(mac)! } : {}), ...(this.#seen.has(mac) ? { seen: this.#seen.get(mac)! } : {}) })), stale: true };
    }
  }

  /** Refused (StoreDown) while the store is down: an admin's change must be in the store or nowhere. */
  async put(mac: string, input: { profile: string; mode: Assignment['mode']; expiresAt?: number; uuid?: string }, now: number): Promise<ClientRecord> {
    const r = await this.#call((s) => s.put(mac, input, now));
    this.#pendingConsume.delete(mac);
    if (r.assignment !== undefined) this.#set(mac, r.assignment);
    return r;
  }

  async clear(mac: string): Promise<boolean> {
    const r = await this.#call((s) => s.clear(mac));
    this.#pendingConsume.delete(mac);
    this.#set(mac, undefined);
    return r;
  }

  /**
   * The installer says it is done. With the store up, consumed there at once; with it down, and
   * this peer's copy holding an active `once`, consumed here and written when the store is back.
   */
  async done(mac: string, now: number): Promise<ConsumeResult | 'queued'> {
    try {
      const r = await this.#call((s) => s.consume(mac, undefined, now, this.#o.peer));
      const fresh = await this.#call((s) => s.get(mac));
      if (fresh?.assignment !== undefined) this.#set(mac, fresh.assignment);
      if (r === 'consumed') this.#o.onConsumed?.(mac, 'done');
      return r;
    } catch (err) {
      if (!(err instanceof StoreDown)) throw err;
      const a = this.#assignments.get(mac);
      const r = consume(a, undefined, now, this.#o.peer).result;
      if (r !== 'consumed') return r;
      this.#consumeLocally(mac, a!, now, 'done');
      return 'queued';
    }
  }

  status(): unknown {
    return {
      kind: this.#store?.kind ?? null, reachable: this.reachable, lastSync: this.lastSync ?? null, error: this.lastError ?? null,
      assignments: this.#assignments.size, pendingConsumes: this.#pendingConsume.size, pendingSeen: this.#pendingSeen.size,
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#busy;
    // A last chance for what waits; a store that is down keeps it from us (docs/deployments.md).
    if (this.#store !== undefined) {
      try {
        await this.#flushConsumes(this.#store);
        await this.#flushSeen(this.#store);
      } catch { /* said in the docs: queued writes die with the process */ }
      await this.#store.close().catch(() => undefined);
    }
  }
}
