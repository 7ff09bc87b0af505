// The storm's I/O edge: sockets, timers and HTTP for many StormClient machines, arrival and
// concurrency control, loss injection, a hard time limit, and the summary.

import dgram from 'node:dgram';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { bindSocket } from '../net/udp.ts';
import { parseDhcp, parseIpv4 } from '../dhcp/packet.ts';
import {
  FAMILIES, firmwareModel, pxelinuxFiles, StormClient,
  type Action, type ClientStats, type Family, type ModelTuning, type NextFile, type Phase,
} from './client.ts';

export type Transport =
  /** on a segment: broadcast DISCOVERs from 0.0.0.0:68 (run inside the segment's namespace) */
  | { mode: 'segment'; address: string; serverPort?: number; clientPort?: number }
  /** act as a relay agent: unicast DISCOVERs to each server with giaddr = relay, hear replies there */
  | { mode: 'relay'; relay: string; relayPort?: number; servers: string[]; serverPort?: number; address?: string };

export interface StormOptions {
  clients: number;
  transport: Transport;
  /** family weights, e.g. { bios: 50, efi: 30, ipxe: 20 } */
  mix?: Partial<Record<Family, number>>;
  /** wait for a site DHCP offer (real firmware does); false: proxy offers alone suffice */
  dhcpWait?: boolean;
  /** spread power-on over this many ms (0: all at once) */
  rampMs?: number;
  /** files fetched after the NBP */
  files?: string[];
  /** BIOS clients run pxelinux's config search after the NBP */
  pxelinux?: boolean;
  /** fraction (0..1) of received packets dropped before the client sees them */
  loss?: number;
  seed?: number;
  /** always bounded: every client still running at the limit fails */
  timeLimitMs?: number;
  /** most clients running at once; later arrivals wait for a slot */
  concurrency?: number;
  tuning?: ModelTuning;
  maxRestarts?: number;
  pxePort?: number;
  tftpPort?: number;
  /**
   * Give client i its own address base+i+1 (e.g. 127.77.0.0 on loopback, where any 127/8
   * address can be bound; on a segment the addresses must be on the interface). Servers that
   * limit per client IP then see distinct clients. Default: one shared address, except for a
   * loopback relay, which uses 127.77.0.0.
   */
  clientNet?: string;
  /** set the DHCP broadcast flag whatever the firmware does (default: on a segment) */
  forceBroadcast?: boolean;
  httpTimeoutMs?: number;
  onProgress?: (p: Progress) => void;
  progressMs?: number;
}

export interface Progress {
  elapsedMs: number;
  started: number;
  waiting: number;
  phases: Record<Phase, number>;
  done: number;
  failed: number;
  bytes: number;
  /** over the last progress interval */
  mbPerSec: number;
}

export interface Percentiles {
  n: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

export interface StormSummary {
  clients: number;
  booted: number;
  failed: number;
  failures: Record<string, number>;
  mix: Record<string, number>;
  wallMs: number;
  /** storm start → the last client done; null unless every client booted */
  timeToAllBootedMs: number | null;
  timeToLastBootedMs: number | null;
  /** per client, from its own power-on */
  firstOfferMs: Percentiles;
  nbpMs: Percentiles;
  lastFileMs: Percentiles;
  /** clients per server whose offer was chosen / that answered 4011 / that served the files */
  servers: { offer: Record<string, number>; bootServer: Record<string, number>; files: Record<string, number> };
  offersPerClient: { mean: number; max: number; dhcpMean: number; proxyMean: number; duplicates: number };
  retransmits: { discover: number; request: number; tftp: number; total: number };
  restarts: number;
  /** clients that booted only after restarting (counted in booted too) */
  bootedAfterRestart: number;
  failovers: number;
  files: number;
  fileMisses: number;
  bytes: number;
  mbPerSec: number;
  injectedDrops: number;
  strayPackets: number;
  dhcpOffersSeen: number;
}

export interface StormResult {
  summary: StormSummary;
  clients: Array<ClientStats & { startAtMs: number | undefined; doneAtMs: number | undefined }>;
}

/** Deterministic PRNG (mulberry32) so a seeded storm picks the same mix and drops. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Largest-remainder split of n clients by weight, shuffled so families arrive interleaved. */
export function assignFamilies(n: number, mix: Partial<Record<Family, number>>, rand: () => number): Family[] {
  const entries = FAMILIES.map((f) => [f, Math.max(0, mix[f] ?? 0)] as const).filter(([, w]) => w > 0);
  if (entries.length === 0) throw new RangeError('mix has no positive weight');
  const total = entries.reduce((s, [, w]) => s + w, 0);
  const counts = entries.map(([f, w]) => ({ f, exact: (n * w) / total, k: Math.floor((n * w) / total) }));
  let left = n - counts.reduce((s, c) => s + c.k, 0);
  for (const c of [...counts].sort((a, b) => (b.exact - b.k) - (a.exact - a.k))) {
    if (left-- <= 0) break;
    c.k++;
  }
  const out: Family[] = [];
  for (const c of counts) for (let i = 0; i < c.k; i++) out.push(c.f);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** `bios=50,efi=30,ipxe=20` → weights. Throws RangeError with the offending part. */
export function parseMix(text: string): Partial<Record<Family, number>> {
  const out: Partial<Record<Family, number>> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const m = /^(bios|efi|ipxe)=(\d+(?:\.\d+)?)$/.exec(part);
    if (m === null) throw new RangeError(`--mix: "${part}" is not <bios|efi|ipxe>=<weight>`);
    out[m[1] as Family] = Number(m[2]);
  }
  return out;
}

export function percentiles(values: number[]): Percentiles {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number): number | null => (v.length === 0 ? null : v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]!);
  return { n: v.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v.length === 0 ? null : v[v.length - 1]! };
}

/** The IPv4 address of a local interface (inside the namespace the storm runs in). */
export function interfaceAddress(name: string): string | undefined {
  return networkInterfaces()[name]?.find((a) => a.family === 'IPv4')?.address;
}

interface Slot {
  client: StormClient;
  xid: number;
  startAt: number | undefined;
  doneAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  pxe: dgram.Socket | undefined;
  tftp: { session: number; sock: dgram.Socket } | undefined;
  http: http.ClientRequest | undefined;
}

const NEVER = Number.MAX_SAFE_INTEGER / 2;

export async function runStorm(o: StormOptions): Promise<StormResult> {
  const n = o.clients;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new RangeError(`clients: ${n}, want 1..65535`);
  const seed = o.seed ?? 1;
  const rand = rng(seed);
  const dropRand = rng(seed ^ 0x5bd1e995);
  const loss = Math.min(1, Math.max(0, o.loss ?? 0));
  const tr = o.transport;
  const serverPort = tr.serverPort ?? 67;
  const pxePort = o.pxePort ?? 4011;
  const tftpPort = o.tftpPort ?? 69;
  const shared_ = tr.mode === 'segment' ? tr.address : (tr.address ?? tr.relay);
  const clientNet = o.clientNet ?? (tr.mode === 'relay' && tr.address === undefined && tr.relay.startsWith('127.') ? '127.77.0.0' : undefined);
  const netBase = clientNet === undefined ? undefined : parseIpv4(clientNet);
  if (clientNet !== undefined && netBase === undefined) throw new RangeError(`clientNet: ${clientNet} is not an IPv4 address`);
  const addressOf = (i: number): string => {
    if (netBase === undefined) return shared_;
    const v = (netBase + i + 1) >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  };
  const timeLimitMs = o.timeLimitMs ?? 120_000;
  const concurrency = Math.max(1, Math.min(o.concurrency ?? n, n));
  const maxRestarts = Math.min(15, o.maxRestarts ?? 0);
  const families = assignFamilies(n, o.mix ?? { bios: 1 }, rand);
  const xidBase = (Math.floor(rand() * 0xfff) << 20) >>> 0;
  const macByte = Math.floor(rand() * 256);
  const extra: NextFile[] = (o.files ?? []).map((name) => ({ name }));
  const dhcpWait = o.dhcpWait ?? tr.mode === 'segment';
  const forceBroadcast = o.forceBroadcast ?? tr.mode === 'segment';

  const slots: Slot[] = [];
  const byXid = new Map<number, Slot>();
  for (let i = 0; i < n; i++) {
    const family = families[i]!;
    const mac = ['02', '53', macByte, i >> 16, (i >> 8) & 255, i & 255].map((b) => (typeof b === 'string' ? b : b.toString(16).padStart(2, '0'))).join(':');
    const address = addressOf(i);
    const files = family === 'bios' && o.pxelinux ? [...pxelinuxFiles(mac, address), ...extra] : extra;
    const client = new StormClient({
      index: i, mac, xid: (xidBase + i * 16) >>> 0, model: firmwareModel(family, o.tuning), address, dhcpWait,
      ...(tr.mode === 'relay' ? { giaddr: tr.relay } : {}), forceBroadcast, files, maxRestarts,
    });
    const slot: Slot = { client, xid: client.xid, startAt: undefined, doneAt: undefined, timer: undefined, pxe: undefined, tftp: undefined, http: undefined };
    slots.push(slot);
    byXid.set(client.xid, slot);
  }

  let injectedDrops = 0;
  let strayPackets = 0;
  let dhcpOffersSeen = 0;
  const drop = (): boolean => {
    if (loss > 0 && dropRand() < loss) {
      injectedDrops++;
      return true;
    }
    return false;
  };

  // ---- the shared DHCP socket ------------------------------------------------------------------
  const shared = dgram.createSocket({ type: 'udp4', reuseAddr: tr.mode === 'relay' });
  shared.on('error', () => { /* per-send errors are counted where they happen */ });
  await bindSocket(shared, tr.mode === 'segment' ? { port: tr.clientPort ?? 68, address: '0.0.0.0' } : { port: tr.relayPort ?? serverPort, address: tr.relay });
  if (tr.mode === 'segment') shared.setBroadcast(true);
  shared.setRecvBufferSize?.(8 << 20);

  const t0 = Date.now();
  let finished = 0;
  let running = 0;
  let nextToStart = 0;
  let sendErrors = 0;
  let resolveDone!: () => void;
  const allDone = new Promise<void>((r) => { resolveDone = r; });

  const onShared = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (drop()) return;
    const p = parseDhcp(msg);
    if (!p.ok || p.packet.op !== 2) { strayPackets++; return; }
    const slot = byXid.get(p.packet.xid);
    if (slot === undefined || slot.client.finished) { strayPackets += slot === undefined ? 1 : 0; return; }
    const mac = slot.client.opts.mac;
    const c = p.packet.chaddr;
    for (let k = 0; k < 6; k++) {
      if (c[k] !== parseInt(mac.slice(k * 3, k * 3 + 2), 16)) { strayPackets++; return; }
    }
    if (p.packet.yiaddr !== '0.0.0.0') dhcpOffersSeen++;
    apply(slot, slot.client.onDhcp(Date.now() - t0, p.packet, rinfo.address));
  };
  shared.on('message', onShared);

  const sendDiscover = (data: Uint8Array): void => {
    const cb = (err: Error | null): void => { if (err) sendErrors++; };
    if (tr.mode === 'segment') shared.send(data, serverPort, '255.255.255.255', cb);
    else for (const s of tr.servers) shared.send(data, serverPort, s, cb);
  };

  const ephemeral = (address: string, onMsg: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): dgram.Socket => {
    const s = dgram.createSocket('udp4');
    s.on('error', () => { sendErrors++; });
    s.on('message', (m, r) => { if (!drop()) onMsg(m, r); });
    // sends issued before the bind completes are queued by node
    s.bind(0, address);
    return s;
  };
  const closeLater = (s: dgram.Socket): void => {
    // closing at once could cancel a datagram still queued on the socket
    setTimeout(() => { try { s.close(); } catch { /* closed */ } }, 200).unref();
  };

  const cleanup = (slot: Slot): void => {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
    if (slot.pxe !== undefined) closeLater(slot.pxe);
    slot.pxe = undefined;
    if (slot.tftp !== undefined) closeLater(slot.tftp.sock);
    slot.tftp = undefined;
    slot.http?.destroy();
    slot.http = undefined;
  };

  const startHttp = (slot: Slot, url: string): void => {
    let bytes = 0;
    let settled = false;
    const settle = (r: { ok: boolean; bytes: number; status?: number; error?: string }): void => {
      if (settled) return;
      settled = true;
      slot.http = undefined;
      apply(slot, slot.client.onHttp(Date.now() - t0, r));
    };
    try {
      // keep-alive off: every client opens its own connection, as separate machines would
      const req = http.get(url, { agent: false, timeout: o.httpTimeoutMs ?? 30_000, localAddress: slot.client.opts.address }, (res) => {
        res.on('data', (d: Buffer) => { bytes += d.length; });
        res.on('end', () => settle({ ok: res.statusCode === 200, bytes, status: res.statusCode ?? 0 }));
        res.on('error', (e) => settle({ ok: false, bytes, error: e.message }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => settle({ ok: false, bytes, error: e.message }));
      slot.http = req;
    } catch (e) {
      queueMicrotask(() => settle({ ok: false, bytes: 0, error: (e as Error).message }));
    }
  };

  const apply = (slot: Slot, actions: Action[]): void => {
    const c = slot.client;
    for (const a of actions) {
      switch (a.type) {
        case 'dhcp-send':
          sendDiscover(a.data);
          break;
        case 'pxe-send': {
          slot.pxe ??= ephemeral(c.opts.address, (msg, rinfo) => {
            const p = parseDhcp(msg);
            if (!p.ok || c.finished) return;
            apply(slot, c.onDhcp(Date.now() - t0, p.packet, rinfo.address));
          });
          slot.pxe.send(a.data, pxePort, a.to);
          break;
        }
        case 'tftp-rrq': {
          if (slot.tftp !== undefined) closeLater(slot.tftp.sock);
          const session = a.session;
          const sock = ephemeral(c.opts.address, (msg, rinfo) => {
            if (c.finished) return;
            apply(slot, c.onTftp(Date.now() - t0, session, msg, { address: rinfo.address, port: rinfo.port }));
          });
          slot.tftp = { session, sock };
          sock.send(a.data, tftpPort, a.to);
          break;
        }
        case 'tftp-send':
          if (slot.tftp?.session === a.session && a.port > 0) slot.tftp.sock.send(a.data, a.port, a.to);
          break;
        case 'http-get':
          startHttp(slot, a.url);
          break;
        case 'timer': {
          if (slot.timer !== undefined) clearTimeout(slot.timer);
          slot.timer = undefined;
          if (a.at < NEVER) {
            const delay = Math.max(0, a.at - (Date.now() - t0));
            // Real firmware polls its NIC until the deadline, so a reply that arrived before it
            // counts. Timers run before the poll phase: on a busy loop, replies already waiting
            // in the sockets would be read only after the deadline fired. setImmediate lets the
            // poll phase deliver them first.
            const timer = setTimeout(() => {
              setImmediate(() => {
                if (slot.timer !== timer) return;
                slot.timer = undefined;
                if (!c.finished) apply(slot, c.onTimer(Date.now() - t0));
              });
            }, delay);
            slot.timer = timer;
          }
          break;
        }
      }
    }
    if (c.xid !== slot.xid) {
      byXid.delete(slot.xid);
      slot.xid = c.xid;
      byXid.set(c.xid, slot);
    }
    if (c.phase !== 'request' && slot.pxe !== undefined) {
      closeLater(slot.pxe);
      slot.pxe = undefined;
    }
    if (c.finished && slot.doneAt === undefined) {
      slot.doneAt = Date.now() - t0;
      cleanup(slot);
      finished++;
      running--;
      if (finished === n) resolveDone();
      else pump();
    }
  };

  // ---- arrivals ----------------------------------------------------------------------------------
  const rampMs = Math.max(0, o.rampMs ?? 0);
  let arrivalTimer: NodeJS.Timeout | undefined;
  const pump = (): void => {
    const now = Date.now() - t0;
    while (nextToStart < n && running < concurrency) {
      const due = n === 1 ? 0 : (rampMs * nextToStart) / (n - 1);
      if (due > now) {
        if (arrivalTimer === undefined) {
          arrivalTimer = setTimeout(() => { arrivalTimer = undefined; pump(); }, due - now);
        }
        return;
      }
      const slot = slots[nextToStart++]!;
      running++;
      slot.startAt = now;
      apply(slot, slot.client.start(now));
    }
  };

  // ---- progress ----------------------------------------------------------------------------------
  let lastBytes = 0;
  let lastAt = 0;
  const snapshot = (): Progress => {
    const phases: Record<Phase, number> = { idle: 0, discover: 0, request: 0, tftp: 0, http: 0, done: 0, failed: 0 };
    let bytes = 0;
    for (const s of slots) {
      phases[s.client.phase]++;
      bytes += s.client.stats.bytes;
    }
    const now = Date.now() - t0;
    const dt = Math.max(1, now - lastAt);
    const mbPerSec = (bytes - lastBytes) / dt / 1000;
    lastBytes = bytes;
    lastAt = now;
    return { elapsedMs: now, started: nextToStart, waiting: n - nextToStart, phases, done: phases.done, failed: phases.failed, bytes, mbPerSec };
  };
  const progressTimer = o.onProgress === undefined ? undefined : setInterval(() => o.onProgress!(snapshot()), Math.max(250, o.progressMs ?? 250));

  const limit = setTimeout(() => resolveDone(), timeLimitMs);
  pump();
  await allDone;
  clearTimeout(limit);
  if (arrivalTimer !== undefined) clearTimeout(arrivalTimer);
  if (progressTimer !== undefined) clearInterval(progressTimer);
  const end = Date.now() - t0;
  for (const s of slots) {
    if (!s.client.finished) {
      s.client.abort(end, s.startAt === undefined ? 'time limit (never powered on)' : 'time limit');
      s.doneAt = end;
    }
    cleanup(s);
  }
  o.onProgress?.(snapshot());
  await new Promise<void>((r) => shared.close(() => r()));
  // let the delayed closes of per-client sockets run before the caller exits
  await new Promise((r) => setTimeout(r, 250));
  void sendErrors;

  const summary = summarize(slots, end, { injectedDrops, strayPackets, dhcpOffersSeen });
  return {
    summary,
    clients: slots.map((s) => ({ ...s.client.stats, startAtMs: s.startAt, doneAtMs: s.doneAt })),
  };
}

function count(map: Record<string, number>, key: string | undefined): void {
  if (key !== undefined) map[key] = (map[key] ?? 0) + 1;
}

function summarize(slots: Slot[], wallMs: number, extra: { injectedDrops: number; strayPackets: number; dhcpOffersSeen: number }): StormSummary {
  const stats = slots.map((s) => s.client.stats);
  const booted = slots.filter((s) => s.client.phase === 'done');
  const failures: Record<string, number> = {};
  const mix: Record<string, number> = {};
  const servers = { offer: {} as Record<string, number>, bootServer: {} as Record<string, number>, files: {} as Record<string, number> };
  let offers = 0, maxOffers = 0, dhcp = 0, proxy = 0, dup = 0, rd = 0, rr = 0, rt = 0, restarts = 0, failovers = 0, bytes = 0, files = 0, misses = 0;
  for (const s of stats) {
    count(mix, s.family);
    if (s.phase === 'failed') count(failures, s.failure ?? 'unknown');
    count(servers.offer, s.offerServer);
    count(servers.bootServer, s.bootServer);
    count(servers.files, s.fileServer);
    offers += s.offers;
    maxOffers = Math.max(maxOffers, s.offers);
    dhcp += s.dhcpOffers;
    proxy += s.proxyOffers;
    dup += s.duplicateOffers;
    rd += s.retransmits.discover;
    rr += s.retransmits.request;
    rt += s.retransmits.tftp;
    restarts += s.restarts;
    failovers += s.failovers;
    bytes += s.bytes;
    files += s.files;
    misses += s.fileMisses;
  }
  const n = Math.max(1, stats.length);
  const lastBooted = booted.length === 0 ? null : Math.max(...booted.map((s) => s.doneAt ?? 0));
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  return {
    clients: stats.length,
    booted: booted.length,
    failed: stats.length - booted.length,
    failures,
    mix,
    wallMs,
    timeToAllBootedMs: booted.length === stats.length ? lastBooted : null,
    timeToLastBootedMs: lastBooted,
    firstOfferMs: percentiles(stats.flatMap((s) => (s.firstOfferMs === undefined ? [] : [s.firstOfferMs]))),
    nbpMs: percentiles(stats.flatMap((s) => (s.nbpMs === undefined ? [] : [s.nbpMs]))),
    lastFileMs: percentiles(stats.flatMap((s) => (s.lastFileMs === undefined ? [] : [s.lastFileMs]))),
    servers,
    offersPerClient: { mean: round(offers / n), max: maxOffers, dhcpMean: round(dhcp / n), proxyMean: round(proxy / n), duplicates: dup },
    retransmits: { discover: rd, request: rr, tftp: rt, total: rd + rr + rt },
    restarts,
    bootedAfterRestart: booted.filter((x) => x.client.stats.restarts > 0).length,
    failovers,
    files,
    fileMisses: misses,
    bytes,
    mbPerSec: round(bytes / 1e6 / Math.max(0.001, wallMs / 1000)),
    ...extra,
  };
}
