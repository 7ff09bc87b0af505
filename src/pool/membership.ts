// The peer table: who is live, how loaded, and whether they run the same pool config.
// Pure: heartbeats come in already verified, time is passed in (a monotonic clock — liveness
// must not jump when someone steps the wall clock).

import type { Health, Heartbeat } from './heartbeat.ts';

export interface MemberSpec {
  name: string;
  weight: number;
}

export interface Load {
  health: Health;
  tftp: number;
  http: number;
}

export interface PeerView extends Load {
  name: string;
  /** configured weight (the agreed one; the advertised weight is informational) */
  weight: number;
  self: boolean;
  live: boolean;
  /** monotonic ms of the last accepted heartbeat (self: last load update) */
  lastSeen: number | undefined;
  instance: string | undefined;
  configHash: string | undefined;
  configAgrees: boolean | undefined;
  /** over its transfer ceiling or draining: ranked last, not named for files */
  steppedBack: boolean;
  /** service addresses the peer said it holds in its last heartbeat (self: what we hold) */
  held: string[];
}

export type MemberEvent =
  | { type: 'up'; peer: string; at: number }
  | { type: 'down'; peer: string; at: number; silentMs: number; reason: 'silent' | 'leaving' }
  | { type: 'restart'; peer: string; at: number; instance: string }
  | { type: 'health'; peer: string; at: number; from: Health; to: Health }
  | { type: 'config-mismatch'; peer: string; at: number; theirs: string; ours: string }
  | { type: 'config-agree'; peer: string; at: number };

interface Row extends PeerView {}

export interface MembershipOptions {
  self: string;
  members: MemberSpec[];
  heartbeatMs: number;
  deadAfter: number;
  /** hex of our own config hash */
  configHash: string;
}

const IDLE: Load = { health: 'ok', tftp: 0, http: 0 };

export function isSteppedBack(health: Health): boolean {
  return health !== 'ok';
}

export class Membership {
  readonly self: string;
  readonly #deadMs: number;
  #ours: string;
  readonly #rows = new Map<string, Row>();
  /** bumps whenever anything ranking depends on (live set, stepped-back flags) changes */
  version = 0;

  constructor(o: MembershipOptions) {
    this.self = o.self;
    this.#deadMs = o.heartbeatMs * o.deadAfter;
    this.#ours = o.configHash;
    for (const m of o.members) {
      const self = m.name === o.self;
      this.#rows.set(m.name, {
        name: m.name, weight: m.weight, self, live: self, lastSeen: undefined, instance: undefined,
        configHash: self ? o.configHash : undefined, configAgrees: self ? true : undefined, steppedBack: false, held: [], ...IDLE,
      });
    }
    if (!this.#rows.has(o.self)) throw new Error(`self "${o.self}" is not among the members`);
  }

  /**
   * Our config hash changed (a reload): every peer's last hash is judged again, so a peer that
   * still runs the old policy is reported, and one that already runs the new one agrees.
   */
  setOwnConfigHash(hash: string, now: number): MemberEvent[] {
    this.#ours = hash;
    const ev: MemberEvent[] = [];
    for (const row of this.#rows.values()) {
      if (row.self) {
        row.configHash = hash;
        continue;
      }
      if (row.configHash !== undefined) this.#judgeConfig(row, row.configHash, now, ev);
    }
    return ev;
  }

  /** A peer's config hash against ours: reported when it starts or stops differing (or differs anew). */
  #judgeConfig(row: Row, theirs: string, now: number, ev: MemberEvent[]): void {
    const agrees = theirs === this.#ours;
    if (!agrees && (row.configAgrees !== false || row.configHash !== theirs)) {
      ev.push({ type: 'config-mismatch', peer: row.name, at: now, theirs, ours: this.#ours });
    } else if (agrees && row.configAgrees === false) {
      ev.push({ type: 'config-agree', peer: row.name, at: now });
    }
    row.configHash = theirs;
    row.configAgrees = agrees;
  }

  /** The service addresses we hold now, as the address edge reports them. */
  setSelfHeld(held: readonly string[]): void {
    this.#rows.get(this.self)!.held = [...held];
  }

  /** Our own load, as the edge measures it. */
  setSelf(load: Load, now: number): void {
    const row = this.#rows.get(this.self)!;
    const stepped = isSteppedBack(load.health);
    if (stepped !== row.steppedBack) this.version++;
    Object.assign(row, load, { steppedBack: stepped, lastSeen: now });
  }

  /** Applies a verified heartbeat. Unknown names are ignored (the verifier rejects them). */
  observe(hb: Heartbeat, now: number): MemberEvent[] {
    const row = this.#rows.get(hb.peer);
    if (row === undefined || row.self) return [];
    const ev: MemberEvent[] = [];
    if (row.instance !== undefined && row.instance !== hb.instance) ev.push({ type: 'restart', peer: row.name, at: now, instance: hb.instance });
    if (row.instance !== undefined && row.health !== hb.health && row.live) ev.push({ type: 'health', peer: row.name, at: now, from: row.health, to: hb.health });
    this.#judgeConfig(row, hb.configHash, now, ev);
    const stepped = isSteppedBack(hb.health);
    const wasLive = row.live;
    row.instance = hb.instance;
    row.health = hb.health;
    row.tftp = hb.tftp;
    row.http = hb.http;
    row.held = hb.held;
    row.lastSeen = now;
    if (stepped !== row.steppedBack) this.version++;
    row.steppedBack = stepped;
    if (hb.health === 'leaving') {
      // A goodbye: down now instead of after deadAfter intervals of silence.
      if (wasLive) {
        row.live = false;
        this.version++;
        ev.push({ type: 'down', peer: row.name, at: now, silentMs: 0, reason: 'leaving' });
      }
    } else if (!wasLive) {
      row.live = true;
      this.version++;
      ev.push({ type: 'up', peer: row.name, at: now });
    }
    return ev;
  }

  /** Marks peers silent for longer than deadAfter × heartbeatMs as down. */
  tick(now: number): MemberEvent[] {
    const ev: MemberEvent[] = [];
    for (const row of this.#rows.values()) {
      if (row.self || !row.live || row.lastSeen === undefined) continue;
      const silent = now - row.lastSeen;
      if (silent > this.#deadMs) {
        row.live = false;
        this.version++;
        ev.push({ type: 'down', peer: row.name, at: now, silentMs: silent, reason: 'silent' });
      }
    }
    return ev;
  }

  isLive(name: string): boolean {
    return this.#rows.get(name)?.live ?? false;
  }

  /** Names of live peers, self included. */
  live(): Set<string> {
    const s = new Set<string>();
    for (const r of this.#rows.values()) if (r.live) s.add(r.name);
    return s;
  }

  get(name: string): Readonly<PeerView> | undefined {
    return this.#rows.get(name);
  }

  /** Every configured peer, in configuration order, as copies. */
  view(): PeerView[] {
    return [...this.#rows.values()].map((r) => ({ ...r, held: [...r.held] }));
  }

  /** Peers whose last heartbeat carried a different config hash. */
  configMismatches(): { peer: string; theirs: string }[] {
    const out: { peer: string; theirs: string }[] = [];
    for (const r of this.#rows.values()) if (r.configAgrees === false) out.push({ peer: r.name, theirs: r.configHash ?? '' });
    return out;
  }
}
