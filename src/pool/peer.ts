// The pool's edge: one UDP socket for heartbeats, timers, metrics, and the three hooks the
// ProxyDHCP server calls per reply (gate, iPXE priority, next-server). Every decision is made
// by the pure modules next to this file; this one only feeds them time and datagrams.

import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { bindHint, bindSocket } from '../net/udp.ts';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ClientFacts } from '../dhcp/facts-types.ts';
import { MessageType } from '../dhcp/options.ts';
import type { Decision } from '../policy/decision.ts';
import type { Outcome, Via } from '../proxy/responder.ts';
import { type PoolConfig, type PoolPeerConfig, poolConfigHash, poolMembers } from './config.ts';
import { AttemptTracker, type ClientKind, gateDecision, type GateReason, type GateVerdict, ipxePriorityForRank, isTakeover, liveRank } from './gate.ts';
import { type AddressCommands, AddressEdge, AddressEdgeError, type AddressEvent } from './address-edge.ts';
import type { ServiceAddress } from './takeover.ts';
import { AnnouncedTable, type AnnouncedTransfer, AnnounceVerifier, encodeSnapshot, isAnnouncement, MAX_DATAGRAM as MAX_ANNOUNCE } from './announce.ts';
import { encodeHeartbeat, type Health, HeartbeatVerifier, type RejectReason } from './heartbeat.ts';
import { freshWindowMs, isFresh, nextHealth } from './health.ts';
import { type MemberEvent, Membership } from './membership.ts';
import { place, placementOrder, type PlacementPeer, RecentPlacements } from './placement.ts';
import { expectedShares, rankPeers } from './ranking.ts';

type BootDecision = Extract<Decision, { action: 'boot' }>;
type Reply = Extract<Outcome, { kind: 'reply' }>;

/** What this process is carrying now; read once per heartbeat. */
export interface PoolLoad {
  tftp: number;
  http: number;
  /** shutting down or unhealthy: rank last, name no one here for files */
  draining?: boolean;
}

export type PoolEvent =
  | MemberEvent
  | { type: 'rejected'; reason: RejectReason | `announce-${string}`; detail: string; from: string; suppressed: number }
  | { type: 'takeover'; mac: string; xid: number; reason: GateReason; rank: number; delayMs: number }
  | { type: 'step-back'; health: Health; active: number; ceiling: number }
  | AddressEvent
  | { type: 'error'; error: Error };

export interface StartPoolOptions {
  config: PoolConfig;
  /** overrides config.secret / secretFile */
  secret?: string;
  /** this process's load; default: idle */
  load?: () => PoolLoad;
  /** register pool metrics here (the serve app's registry); default: a private one */
  registry?: Registry;
  onEvent?: (e: PoolEvent) => void;
  /** folded into the config hash, e.g. a digest of the boot policy every peer must share */
  configExtra?: string;
  /** test hook: wall clock for heartbeat timestamps, monotonic clock for liveness */
  clock?: { wall(): number; mono(): number };
  /** service addresses (when the peers have serviceAddress): how the serving edges follow them */
  addresses?: {
    /** requests being served on this address now: its handoff waits for them */
    busy?: (address: string) => boolean;
    /** we hold it now: serve on it */
    onAdd?: (address: string) => void | Promise<void>;
    /** it is going: stop serving on it */
    onRemove?: (address: string) => void | Promise<void>;
    /** the TFTP transfers we serve from these held addresses, announced to the others every beat */
    transfers?: (held: ReadonlySet<string>) => AnnouncedTransfer[];
    /** test hooks */
    commands?: AddressCommands;
    checkCapability?: boolean;
  };
}

export interface PeerStatus {
  name: string;
  address: string;
  port: number;
  weight: number;
  self: boolean;
  live: boolean;
  health: Health;
  tftp: number;
  http: number;
  steppedBack: boolean;
  /** service addresses the peer holds (its last heartbeat; for us: now) */
  held: string[];
  lastSeenMsAgo: number | null;
  instance: string | null;
  configAgrees: boolean | null;
  /** share of clients this peer owns while the live set is what it is now */
  expectedShare: number;
}

export interface PoolStatus {
  name: string;
  instance: string;
  listen: { address: string; port: number };
  heartbeatMs: number;
  deadAfterMs: number;
  configHash: string;
  configAgreement: { agree: boolean; mismatches: { peer: string; theirs: string }[] };
  live: string[];
  peers: PeerStatus[];
  ownership: { expectedShare: number; discovers: number; owned: number };
  /** service addresses: ours, the ones we hold, who holds each (as heartbeats say) */
  serviceAddresses?: { home: string; held: string[]; holders: Record<string, string | null> };
  takeovers: { total: number; byReason: Record<string, number> };
  heartbeats: { sent: number; received: number; rejected: Record<string, number> };
  trackedAttempts: number;
}

export interface Pool {
  readonly name: string;
  readonly instance: string;
  /** where the heartbeat socket is bound */
  readonly listen: { address: string; port: number };
  /** ProxyServerOptions.gate: 0 = send now, ms = later, null = hold back */
  gate(o: Reply, via: Via): number | null;
  /** ProxyDHCPv6's gate for a Solicit (`solicit`) or a 4011 Request that names us: as gate() */
  gate6(facts: ClientFacts, decision: BootDecision, solicit: boolean): number | null;
  /** ProxyServerOptions.ipxePriority: 175.1 priority for this client's offer from us */
  ipxePriority(facts: ClientFacts, decision: BootDecision): number | undefined;
  /** ProxyServerOptions.nextServer: the peer to fetch files from, undefined = us */
  nextServer(facts: ClientFacts, decision: BootDecision): string | undefined;
  /** ProxyServerOptions.serverId: our service address while we hold it, else the bound one */
  serverId(bound: string): string;
  /** ProxyDHCPv6: the address to name in boot file URLs — our IPv6 service address while we hold it, else `own` */
  serverAddress6(own: string): string;
  /** the hooks above, ready to spread into startProxyServer's options */
  proxyHooks(): { gate: Pool['gate']; ipxePriority: Pool['ipxePriority']; nextServer: Pool['nextServer']; serverId: Pool['serverId'] };
  /** service addresses we hold now */
  held(): string[];
  /** announce our transfers now (one started on a held address), not at the next beat */
  announceNow(): void;
  /** transfers the other peers announced as served from `address` (for a successor that took it) */
  announcedFor(address: string): AnnouncedTransfer[];
  /**
   * Where this client may fetch files from, best first: this peer (it is serving the client right
   * now), then every other live peer in the client's rank order; boot addresses.
   */
  bootServers(mac: string, pins?: readonly string[]): string[];
  /** this client's ranking over every configured peer, and which live peer owns it now */
  rank(mac: string, pins?: readonly string[]): { order: string[]; owner: string | undefined };
  /** the gate's full verdict for a reply, without recording anything (explain, tests) */
  explain(facts: ClientFacts, decision: BootDecision, via: Via): GateVerdict & { order: string[]; priority: number };
  status(): PoolStatus;
  live(): string[];
  /**
   * A reload changed what is folded into the config hash (the boot policy): heartbeats carry the
   * new hash from the next one on, and agreement with every peer is judged against it.
   */
  setConfigExtra(extra: string): void;
  /** closes the socket; by default first tells the others we are leaving */
  close(opts?: { goodbye?: boolean }): Promise<void>;
}

interface PoolMetrics {
  sent: Counter;
  received: Counter;
  rejected: Counter<'reason'>;
  announcements: Counter;
  live: Gauge;
  mismatchPeers: Gauge;
  mismatches: Counter;
  takeovers: Counter<'reason'>;
  gate: Counter<'action' | 'reason'>;
  transitions: Counter<'peer' | 'to'>;
}

function createPoolMetrics(registry: Registry, sources: { live: () => number; mismatched: () => number }): PoolMetrics {
  const r = [registry];
  return {
    sent: new Counter({ name: 'pxepool_pool_heartbeats_sent_total', help: 'heartbeat datagrams sent (one per peer per interval)', registers: r }),
    received: new Counter({ name: 'pxepool_pool_heartbeats_received_total', help: 'heartbeats accepted', registers: r }),
    announcements: new Counter({ name: 'pxepool_pool_announcements_received_total', help: 'transfer announcements accepted', registers: r }),
    rejected: new Counter({ name: 'pxepool_pool_heartbeats_rejected_total', help: 'heartbeats dropped, by reason', labelNames: ['reason'], registers: r }),
    live: new Gauge({ name: 'pxepool_pool_peers_live', help: 'live pool peers, this one included', registers: r, collect() { this.set(sources.live()); } }),
    mismatchPeers: new Gauge({ name: 'pxepool_pool_config_mismatch_peers', help: 'peers whose pool config hash differs from ours', registers: r, collect() { this.set(sources.mismatched()); } }),
    mismatches: new Counter({ name: 'pxepool_pool_config_mismatches_total', help: 'times a peer was seen with a different config hash', registers: r }),
    takeovers: new Counter({ name: 'pxepool_pool_takeovers_total', help: 'offers sent for clients another peer owns, by reason', labelNames: ['reason'], registers: r }),
    gate: new Counter({ name: 'pxepool_pool_gate_total', help: 'pool gate verdicts for replies', labelNames: ['action', 'reason'], registers: r }),
    transitions: new Counter({ name: 'pxepool_pool_peer_transitions_total', help: 'peer up/down transitions', labelNames: ['peer', 'to'], registers: r }),
  };
}

export class PoolStartError extends Error {}

function readSecret(cfg: PoolConfig, override?: string): string {
  if (override !== undefined) return override;
  if (cfg.secret !== undefined) return cfg.secret;
  let s: string;
  try {
    s = readFileSync(cfg.secretFile!, 'utf8').trim();
  } catch (err) {
    throw new PoolStartError(`pool.secretFile: cannot read ${cfg.secretFile}: ${(err as Error).message}`);
  }
  if (s.length < 16) throw new PoolStartError(`pool.secretFile: ${cfg.secretFile} holds ${s.length} characters; the shared secret needs at least 16`);
  return s;
}

function clientKind(f: ClientFacts): ClientKind {
  if (f.isIpxe) return 'ipxe';
  if (f.firmware === 'efi-x64' || f.firmware === 'efi-ia32' || f.firmware === 'efi-arm64') return 'edk2';
  return 'other';
}

const MAX_DATAGRAM = 512;
const REJECT_LOG_EVERY_MS = 5_000;
const RANK_MEMO = 256;

export async function startPool(opts: StartPoolOptions): Promise<Pool> {
  const cfg = opts.config;
  const secret = readSecret(cfg, opts.secret);
  const clock = opts.clock ?? { wall: () => Date.now(), mono: () => performance.now() };
  const members = poolMembers(cfg);
  const byName = new Map<string, PoolPeerConfig>(members.map((p) => [p.name, p]));
  const me = byName.get(cfg.name)!;
  const others = members.filter((p) => p.name !== cfg.name);
  // Clients are sent to a peer's service address while someone live holds it (it then survives
  // the peer); otherwise to the peer's own address, as without service addresses.
  const plainAddressOf = (p: PoolPeerConfig): string => p.bootAddress ?? p.address;
  const bootAddressOf = (p: PoolPeerConfig): string => {
    const sa = p.serviceAddress;
    return sa !== undefined && holderOf(sa) !== undefined ? sa : plainAddressOf(p);
  };
  const byBootAddress = new Map<string, string>(members.flatMap((p) => [[plainAddressOf(p), p.name], ...(p.serviceAddress !== undefined ? [[p.serviceAddress, p.name] as [string, string]] : [])]));
  /** a peer's service addresses, IPv4 then IPv6 */
  const serviceOf = (p: PoolPeerConfig): ServiceAddress[] => [
    ...(p.serviceAddress !== undefined ? [{ address: p.serviceAddress, home: p.name }] : []),
    ...(p.serviceAddress6 !== undefined ? [{ address: p.serviceAddress6, home: p.name, ...(p.serviceAddress !== undefined ? { orderKey: p.serviceAddress } : {}) }] : []),
  ];
  /** the live peer holding a service address (we included), as heartbeats say */
  const holderOf = (address: string): string | undefined => {
    if (held.includes(address)) return cfg.name;
    const live = membership.live();
    for (const v of membership.view()) if (!v.self && live.has(v.name) && v.held.includes(address)) return v.name;
    return undefined;
  };
  const instance = randomBytes(16).toString('hex');
  const hashOf = (extra: string | undefined): string => Buffer.from(poolConfigHash(cfg, extra)).toString('hex');
  let configHash = hashOf(opts.configExtra);
  const emit = (e: PoolEvent): void => { try { opts.onEvent?.(e); } catch { /* a logger must not break the pool */ } };

  const membership = new Membership({ self: cfg.name, members, heartbeatMs: cfg.heartbeatMs, deadAfter: cfg.deadAfter, configHash });
  const verifier = new HeartbeatVerifier({ secret, peers: others.map((p) => p.name), self: cfg.name, selfInstance: instance, skewMs: cfg.skewMs });
  const attempts = new AttemptTracker({ ttlMs: 60_000 });
  const recent = new RecentPlacements(2 * cfg.heartbeatMs);
  const ceilingOf = (name: string): number => cfg.maxTransfers * (byName.get(name)?.weight ?? 1);
  const gateParams = { staggerMs: cfg.staggerMs, evidenceSecs: cfg.evidenceSecs, fallbackOffers: cfg.fallbackOffers, fallbackStaggerMs: cfg.fallbackStaggerMs };

  const counts = {
    sent: 0, received: 0, rejected: {} as Record<string, number>, takeovers: {} as Record<string, number>, discovers: 0, owned: 0,
  };
  const registry = opts.registry ?? new Registry();
  const metrics = createPoolMetrics(registry, { live: () => membership.live().size, mismatched: () => membership.configMismatches().length });

  // --- own load and stepping back (with hysteresis, so a peer at its ceiling does not flap)
  let health: Health = 'ok';
  let lastLoad: PoolLoad = { tftp: 0, http: 0 };
  const refreshSelf = (): void => {
    try {
      lastLoad = opts.load?.() ?? lastLoad;
    } catch (err) {
      emit({ type: 'error', error: err as Error });
    }
    const active = lastLoad.tftp + lastLoad.http;
    const ceiling = ceilingOf(cfg.name);
    const before = health;
    health = nextHealth(health, { active, ...(lastLoad.draining !== undefined ? { draining: lastLoad.draining } : {}) }, ceiling);
    if (health !== before) emit({ type: 'step-back', health, active, ceiling });
    membership.setSelf({ health, tftp: lastLoad.tftp, http: lastLoad.http }, clock.mono());
  };
  refreshSelf();

  // --- socket
  const sock = dgram.createSocket({ type: cfg.bind.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
  try {
    await bindSocket(sock, { address: cfg.bind, port: me.port, exclusive: true });
  } catch (err) {
    sock.close();
    const e = err as NodeJS.ErrnoException;
    throw new PoolStartError(`pool: cannot bind UDP ${cfg.bind}:${me.port}: ${e.message}${bindHint(e.code, 'another pxepool or another service holds this port')}`);
  }
  sock.on('error', (err) => emit({ type: 'error', error: err }));
  const bound = sock.address();

  // --- service addresses
  let edge: AddressEdge | undefined;
  const withService = members.filter((p) => serviceOf(p).length > 0);
  if (withService.length > 0) {
    const ao = opts.addresses ?? {};
    try {
      edge = await AddressEdge.open({
        self: cfg.name,
        peers: members.map((p) => ({ name: p.name, weight: p.weight })),
        addresses: withService.flatMap(serviceOf),
        leaseMs: cfg.leaseMs, heartbeatMs: cfg.heartbeatMs, deadAfter: cfg.deadAfter,
        mono: clock.mono,
        onEvent: (e) => emit(e),
        // The others hear of a change at once, not a heartbeat later: a claim or a release
        // that the pool does not know about is the window in which views differ.
        onChange: () => {
          held = edge?.held() ?? [];
          membership.setSelfHeld(held);
          void sendTo(others);
        },
        ...(ao.busy !== undefined ? { busy: ao.busy } : {}),
        ...(ao.onAdd !== undefined ? { onAdd: ao.onAdd } : {}),
        ...(ao.onRemove !== undefined ? { onRemove: ao.onRemove } : {}),
        ...(ao.commands !== undefined ? { commands: ao.commands } : {}),
        ...(ao.checkCapability !== undefined ? { checkCapability: ao.checkCapability } : {}),
      });
    } catch (err) {
      sock.close();
      throw err instanceof AddressEdgeError ? new PoolStartError(err.message) : err;
    }
  }
  // The keeper outlives a crash of this process: it then deletes our addresses and sends our
  // goodbye (prepared and signed here), so a survivor takes over at once (src/pool/keeper.ts).
  let keeper: ChildProcess | undefined;
  if (edge !== undefined && opts.addresses?.commands === undefined) {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    keeper = spawn(process.execPath, [new URL(`./keeper${ext}`, import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
    keeper.on('error', (err) => emit({ type: 'error', error: new Error(`address keeper: ${err.message}`) }));
    // It fenced us while we were silent, and said goodbye with this sequence number: the next
    // heartbeat must be newer than that or the others would drop it as a replay.
    createInterface({ input: keeper.stdout! }).on('line', (line) => {
      try {
        const f = (JSON.parse(line) as { fenced?: unknown }).fenced;
        if (typeof f === 'number' && f >= seq) seq = f;
      } catch { /* not ours */ }
    });
    keeper.stdin!.on('error', () => { /* the keeper died: the lease still protects the addresses */ });
  }

  let seq = 0;
  let closed = false;
  // Started-at on the wall clock orders our instances for the others (a recording of an
  // earlier run cannot displace this one).
  const epoch = clock.wall();
  let held: string[] = [];
  let closing = false;
  let wakeTimer: NodeJS.Timeout | undefined;
  const tickAddresses = async (): Promise<void> => {
    if (edge === undefined) return;
    const heldBy = new Map<string, string[]>();
    const heardAt = new Map<string, number>();
    for (const v of membership.view()) {
      if (v.self || v.lastSeen === undefined) continue;
      heldBy.set(v.name, v.held);
      heardAt.set(v.name, v.lastSeen);
    }
    // A kernel that does not answer in time must not hold up the heartbeat: send what we hold.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      edge.tick({ live: membership.live(), heldBy, heardAt }).catch((err: Error) => emit({ type: 'error', error: err })),
      new Promise<void>((r) => { timer = setTimeout(r, Math.max(50, cfg.heartbeatMs * 0.6)); }),
    ]);
    clearTimeout(timer);
    held = edge.held();
    membership.setSelfHeld(held);
    const wake = edge.wakeAt();
    clearTimeout(wakeTimer);
    if (wake !== undefined && !closed) {
      wakeTimer = setTimeout(() => void tickAddresses(), Math.max(10, wake - clock.mono() + 5));
      wakeTimer.unref();
    }
  };
  // What the keeper does if we die now: delete what we hold, send the goodbye that comes next.
  const updateKeeper = (): void => {
    if (keeper?.stdin === undefined || keeper.stdin === null || keeper.stdin.destroyed) return;
    const ts = clock.wall();
    const next = (seq + 1) >>> 0;
    const goodbyes = others.map((p) => ({
      host: p.address, port: p.port,
      hex: Buffer.from(encodeHeartbeat({
        peer: cfg.name, instance, epoch, echo: verifier.echoFor(p.name), seq: next, ts, health: 'leaving',
        tftp: 0, http: 0, weight: me.weight, configHash, held: [],
      }, secret)).toString('hex'),
    }));
    const heldAt = (edge?.added() ?? []).flatMap((a) => {
      const w = edge?.where(a);
      return w === undefined ? [] : [{ dev: w.dev, address: a, prefixlen: w.prefixlen }];
    });
    keeper.stdin.write(`${JSON.stringify({ held: heldAt, goodbyes, seq: next, fenceAfterMs: edge?.renewWindowMs() })}\n`);
  };
  // One datagram per target: each echoes the instance of that target we last heard.
  const sendTo = (targets: readonly PoolPeerConfig[], h: Health = health): Promise<void> => {
    if (closed || targets.length === 0) return Promise.resolve();
    seq = (seq + 1) >>> 0;
    // What we say we hold is what our clock says we hold now, not what the last tick saw.
    if (edge !== undefined && !closing) {
      held = edge.held();
      membership.setSelfHeld(held);
    }
    const ts = clock.wall();
    updateKeeper();
    return Promise.all(targets.map((p) => {
      const bytes = encodeHeartbeat({
        peer: cfg.name, instance, epoch, echo: verifier.echoFor(p.name), seq, ts, health: h,
        tftp: lastLoad.tftp, http: lastLoad.http, weight: me.weight, configHash, held,
      }, secret);
      counts.sent++;
      metrics.sent.inc();
      return new Promise<void>((done) => sock.send(bytes, p.port, p.address, (err) => {
        if (err) emit({ type: 'error', error: err });
        done();
      }));
    })).then(() => undefined);
  };

  const onMemberEvents = (events: MemberEvent[]): void => {
    for (const e of events) {
      if (e.type === 'up' || e.type === 'down') metrics.transitions.inc({ peer: e.peer, to: e.type });
      // A peer just went down: its addresses may be ours to take now, not at the next beat.
      if (e.type === 'down' && edge !== undefined) void tickAddresses();
      if (e.type === 'config-mismatch') metrics.mismatches.inc();
      // A peer that just appeared learns about us now rather than one interval later.
      if (e.type === 'up' || e.type === 'restart') {
        const p = byName.get(e.peer);
        if (p !== undefined) void sendTo([p]);
      }
      emit(e);
    }
  };

  const lastRejectLog = new Map<string, { at: number; suppressed: number }>();
  const lastPrompt = new Map<string, number>();
  const announced = new AnnouncedTable();
  const announceVerifier = new AnnounceVerifier({
    secret, peers: others.map((p) => p.name), skewMs: cfg.skewMs,
    instanceOf: (peer) => verifier.acceptedInstance(peer),
  });
  const reject = (reason: string, detail: string, rinfo: dgram.RemoteInfo): void => {
    counts.rejected[reason] = (counts.rejected[reason] ?? 0) + 1;
    metrics.rejected.inc({ reason });
    // One event per reason per few seconds: a flood of forged datagrams must not flood the log.
    const now = clock.mono();
    const last = lastRejectLog.get(reason);
    if (last === undefined || now - last.at >= REJECT_LOG_EVERY_MS) {
      emit({ type: 'rejected', reason: reason as RejectReason, detail, from: `${rinfo.address}:${rinfo.port}`, suppressed: last?.suppressed ?? 0 });
      lastRejectLog.set(reason, { at: now, suppressed: 0 });
    } else {
      last.suppressed++;
    }
  };
  sock.on('message', (msg, rinfo) => {
    if (isAnnouncement(msg)) {
      const r = msg.length > MAX_ANNOUNCE
        ? { ok: false as const, reason: 'malformed' as const, detail: `${msg.length} bytes` }
        : announceVerifier.verify(msg, clock.wall());
      if (r.ok) { announced.add(r.ann); metrics.announcements.inc(); }
      else reject(`announce-${r.reason}`, r.detail, rinfo);
      return;
    }
    const r = msg.length > MAX_DATAGRAM
      ? { ok: false as const, reason: 'malformed' as const, detail: `${msg.length} bytes` }
      : verifier.verify(msg, clock.wall());
    if (r.ok) {
      counts.received++;
      metrics.received.inc();
      onMemberEvents(membership.observe(r.hb, clock.mono()));
      return;
    }
    if (r.reason === 'unconfirmed' && r.hb !== undefined) {
      counts.rejected[r.reason] = (counts.rejected[r.reason] ?? 0) + 1;
      metrics.rejected.inc({ reason: r.reason });
      // An authentic peer that has not heard this run of ours yet: answer it now (at most twice
      // per interval) so it echoes us on its next heartbeat, instead of one interval later.
      const p = byName.get(r.hb.peer);
      const now = clock.mono();
      if (p !== undefined && now - (lastPrompt.get(p.name) ?? -Infinity) >= cfg.heartbeatMs / 2) {
        lastPrompt.set(p.name, now);
        void sendTo([p]);
      }
      return;
    }
    reject(r.reason, r.detail, rinfo);
  });

  // --- timers: heartbeats every interval; liveness checked more often so "down" is prompt
  let annSeq = 0;
  let announceQueued = false;
  let snapshotId = 0;
  const announceTransfers = (): void => {
    const f = opts.addresses?.transfers;
    if (edge === undefined || f === undefined || closed) return;
    let list: AnnouncedTransfer[];
    try {
      list = f(new Set(held));
    } catch (err) {
      emit({ type: 'error', error: err as Error });
      return;
    }
    const dgrams = encodeSnapshot({ peer: cfg.name, instance, seq: () => (annSeq = (annSeq + 1) >>> 0), ts: clock.wall(), snapshot: (snapshotId = (snapshotId + 1) >>> 0) }, list, secret);
    for (const p of others) for (const d of dgrams) sock.send(d, p.port, p.address, (err) => { if (err) emit({ type: 'error', error: err }); });
  };
  const beat = setInterval(() => {
    refreshSelf();
    void tickAddresses().then(() => sendTo(others)).then(announceTransfers);
  }, cfg.heartbeatMs);
  // A transfer that starts between two heartbeats is announced within 100 ms, not up to a
  // heartbeat later: a firmware's NBP download can be over in less than that.
  let lastAnnounced = '';
  const quick = edge !== undefined && opts.addresses?.transfers !== undefined
    ? setInterval(() => {
      if (held.length === 0) return;
      let keys: string;
      try {
        keys = opts.addresses!.transfers!(new Set(held)).map((e) => `${e.client}:${e.clientPort}|${e.tid}`).sort().join(',');
      } catch {
        return;
      }
      if (keys !== lastAnnounced) {
        lastAnnounced = keys;
        announceTransfers();
      }
    }, 100)
    : undefined;
  const check = setInterval(() => onMemberEvents(membership.tick(clock.mono())), Math.max(25, Math.min(250, Math.floor(cfg.heartbeatMs / 2))));
  void sendTo(others);

  // --- ranking, memoised per (mac, pins, membership version): the three hooks ask per packet
  const memo = new Map<string, string[]>();
  let memoVersion = -1;
  const orderFor = (mac: string, pins: readonly string[] | undefined): string[] => {
    if (memoVersion !== membership.version || memo.size >= RANK_MEMO) {
      memo.clear();
      memoVersion = membership.version;
    }
    const key = pins === undefined || pins.length === 0 ? mac : `${mac}|${pins.join(',')}`;
    let order = memo.get(key);
    if (order === undefined) {
      const peers = membership.view().map((v) => ({ name: v.name, weight: v.weight, steppedBack: v.steppedBack }));
      order = rankPeers(mac, peers, pins);
      memo.set(key, order);
    }
    return order;
  };

  const freshMs = freshWindowMs(cfg.heartbeatMs);

  const isDiscover = (f: ClientFacts, via: Via): boolean => via === 'dhcp' && f.messageType === MessageType.Discover;

  const verdictFor = (f: ClientFacts, d: BootDecision, discover: boolean, record: boolean, kind = clientKind(f)) => {
    const order = orderFor(f.mac, d.pin);
    const attempt = discover ? (record ? attempts.record(f.mac, f.xid, f.secs, clock.mono()) : attempts.peek(f.mac, f.xid)) : undefined;
    const v = gateDecision({ order, self: cfg.name, live: membership.live(), kind, discover, attempt }, gateParams);
    return { v, order };
  };

  const counted = (v: GateVerdict, mac: string, xid: number): number | null => {
    metrics.gate.inc({ action: v.action, reason: v.reason });
    if (v.reason !== 'direct') {
      counts.discovers++;
      if (v.rank === 0) counts.owned++;
    }
    if (v.action === 'hold') return null;
    if (isTakeover(v)) {
      counts.takeovers[v.reason] = (counts.takeovers[v.reason] ?? 0) + 1;
      metrics.takeovers.inc({ reason: v.reason });
      emit({ type: 'takeover', mac, xid, reason: v.reason, rank: v.rank, delayMs: v.delayMs });
    }
    return v.delayMs;
  };

  const pool: Pool = {
    name: cfg.name,
    instance,
    listen: { address: bound.address, port: bound.port },

    gate(o, via) {
      const { v } = verdictFor(o.facts, o.decision, isDiscover(o.facts, via), true);
      const delay = counted(v, o.facts.mac, o.facts.xid);
      if (delay !== null && v.reason !== 'direct') {
        const placed = byBootAddress.get(o.reply.siaddr);
        recent.add(placed ?? cfg.name, clock.mono());
      }
      return delay;
    },

    gate6(facts, decision, solicit) {
      // A DHCPv6 client selects among the Advertises of its first retransmission interval
      // (RFC 8415 §18.2.1; read, not yet observed on EDK2), so a backup's delayed Advertise is no
      // ordered fallback as a delayed DHCPv4 offer is: over IPv6 a backup answers only on
      // evidence (the owner is down, or the client asks again).
      const { v } = verdictFor(facts, decision, solicit, true, 'other');
      const delay = counted(v, facts.mac, facts.xid);
      if (delay !== null && v.reason !== 'direct') recent.add(cfg.name, clock.mono());
      return delay;
    },

    ipxePriority(facts, decision) {
      const order = orderFor(facts.mac, decision.pin);
      return ipxePriorityForRank(liveRank(order, cfg.name, membership.live()).rank);
    },

    nextServer(facts, decision) {
      if (facts.messageType !== MessageType.Discover) return undefined;
      const order = orderFor(facts.mac, decision.pin);
      const now = clock.mono();
      const peers = new Map<string, PlacementPeer>();
      for (const v of membership.view()) {
        // Only a peer heard from within the last interval (or so) gets a client's files.
        const fresh = isFresh(v, now, freshMs);
        peers.set(v.name, { name: v.name, live: v.live && fresh, steppedBack: v.steppedBack, ceiling: ceilingOf(v.name), active: v.tftp + v.http + recent.count(v.name, now) });
      }
      const chosen = place(placementOrder(order, cfg.name, membership.live()), peers);
      if (chosen === undefined) return undefined;
      const at = chosen === cfg.name ? (me.serviceAddress !== undefined ? bootAddressOf(me) : undefined) : bootAddressOf(byName.get(chosen)!);
      // An IPv4 offer can only name an IPv4 next-server: a peer known by an IPv6 address alone
      // (no bootAddress) is served by us.
      return at !== undefined && at.includes(':') ? undefined : at;
    },

    serverId(bound) {
      const sa = me.serviceAddress;
      return sa !== undefined && held.includes(sa) ? sa : bound;
    },

    serverAddress6(own) {
      const sa = me.serviceAddress6;
      return sa !== undefined && held.includes(sa) ? sa : own;
    },

    proxyHooks() {
      return { gate: pool.gate, ipxePriority: pool.ipxePriority, nextServer: pool.nextServer, serverId: pool.serverId };
    },

    held() {
      return [...held];
    },

    announceNow() {
      if (announceQueued) return;
      announceQueued = true;
      setImmediate(() => { announceQueued = false; announceTransfers(); });
    },

    announcedFor(address) {
      return announced.forAddress(address);
    },

    bootServers(mac, pins) {
      const order = orderFor(mac.toLowerCase(), pins);
      const live = membership.live();
      const names = [cfg.name, ...order.filter((n) => n !== cfg.name && live.has(n))];
      return names.map((n) => bootAddressOf(byName.get(n)!));
    },

    rank(mac, pins) {
      const order = orderFor(mac.toLowerCase(), pins);
      const live = membership.live();
      return { order: [...order], owner: order.find((n) => live.has(n)) };
    },

    explain(facts, decision, via) {
      const { v, order } = verdictFor(facts, decision, isDiscover(facts, via), false);
      return { ...v, order, priority: ipxePriorityForRank(v.rank) };
    },

    live() {
      return [...membership.live()];
    },

    status() {
      const now = clock.mono();
      const view = membership.view();
      const liveRows = view.filter((v) => v.live);
      const shares = expectedShares(liveRows.map((v) => ({ name: v.name, weight: v.weight, steppedBack: v.steppedBack })));
      const mismatches = membership.configMismatches();
      return {
        name: cfg.name,
        instance,
        listen: { address: bound.address, port: bound.port },
        heartbeatMs: cfg.heartbeatMs,
        deadAfterMs: cfg.heartbeatMs * cfg.deadAfter,
        configHash,
        configAgreement: { agree: mismatches.length === 0, mismatches },
        live: liveRows.map((v) => v.name),
        peers: view.map((v) => {
          const p = byName.get(v.name)!;
          return {
            name: v.name, address: p.address, port: p.port, weight: v.weight, self: v.self, live: v.live,
            health: v.health, tftp: v.tftp, http: v.http, steppedBack: v.steppedBack, held: v.self ? [...held] : v.held,
            lastSeenMsAgo: v.lastSeen === undefined ? null : Math.round(now - v.lastSeen),
            instance: v.self ? instance : (v.instance ?? null),
            configAgrees: v.configAgrees ?? null,
            expectedShare: shares.get(v.name) ?? 0,
          };
        }),
        ownership: { expectedShare: shares.get(cfg.name) ?? 0, discovers: counts.discovers, owned: counts.owned },
        ...(serviceOf(me).length > 0 ? {
          serviceAddresses: {
            home: serviceOf(me).map((a) => a.address).join(' '),
            held: [...held],
            holders: Object.fromEntries(withService.flatMap(serviceOf).map((a) => [a.address, holderOf(a.address) ?? null])),
          },
        } : {}),
        takeovers: { total: Object.values(counts.takeovers).reduce((a, b) => a + b, 0), byReason: { ...counts.takeovers } },
        heartbeats: { sent: counts.sent, received: counts.received, rejected: { ...counts.rejected } },
        trackedAttempts: attempts.size,
      };
    },

    setConfigExtra(extra) {
      const next = hashOf(extra);
      if (next === configHash) return;
      configHash = next;
      onMemberEvents(membership.setOwnConfigHash(next, clock.mono()));
      void sendTo(others);
    },

    async close(o = {}) {
      if (closed) return;
      closing = true;
      // Our addresses go before the goodbye, which then lists none: a successor may claim them
      // at once instead of waiting out a lease.
      if (edge !== undefined && (o.goodbye ?? true)) {
        await edge.close();
        held = [];
        membership.setSelfHeld(held);
      }
      edge?.abandon();
      if (keeper !== undefined) {
        // Clean stop: nothing left for the keeper to do (a goodbye:false close is a test's crash).
        if (o.goodbye ?? true) keeper.stdin?.write(`${JSON.stringify({ held: [], goodbyes: [] })}\n`);
        keeper.stdin?.end();
      }
      if (o.goodbye ?? true) {
        refreshSelf();
        // Wait for the goodbye datagrams to leave before the socket goes.
        await sendTo(others, 'leaving');
      }
      closed = true;
      clearInterval(beat);
      clearTimeout(wakeTimer);
      clearInterval(check);
      if (quick !== undefined) clearInterval(quick);
      await new Promise<void>((r) => sock.close(() => r()));
    },
  };
  return pool;
}
