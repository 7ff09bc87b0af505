// TFTP UDP edge: sockets, timers and file access around the pure transfer machine.
// The listening socket only parses and dispatches; every transfer gets its own ephemeral socket
// (its TID). Work is queued per request, never by leaving datagrams unread in the kernel.

import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createFileCache, type FileCache, type OpenedFile } from '../files/cache.ts';
import { isNotFound, openBootRoot, type BootRoot, type ResolvedFile, type ResolveResult } from '../files/root.ts';
import { loadNative } from '../native/helper.ts';
import { transferLine } from '../observe/transfer-log.ts';
import { admit, type AdmissionView, type Slot } from './admission.ts';
import { armNextWindow, DataBatch } from './batch.ts';
import { DeadlineTimer } from './deadline-timer.ts';
import { createDigestCache } from './digests.ts';
import { createResolveCache } from './resolve-cache.ts';
import { linkReader } from './links.ts';
import { negotiate } from './options.ts';
import { pathBlksize, type Link } from './path-mtu.ts';
import { warmUp } from './warmup.ts';
import { bindSocket } from '../net/udp.ts';
import {
  openTransferSocket,
  transferSocketPath,
  type PacketHandler,
  type SendPath,
  type TransferSocket,
} from './transfer-socket.ts';
import { ERR, OP, encodeError, encodeOack, parsePacket, type RequestPacket } from './packet.ts';
import { chunkedSource, memorySource, netasciiEncoder, netasciiSize } from './source.ts';
import {
  absoluteBlock,
  resumeTransfer,
  startTransfer,
  step,
  type BlockSource,
  type TransferAction,
  type TransferEvent,
  type TransferFailure,
  type TransferState,
} from './transfer.ts';

export type TftpLogger = {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
};

export type TransferRecord = {
  client: string;
  file: string;
  ok: boolean;
  reason?: TransferFailure;
  detail?: string;
  /** file bytes delivered (ok) or acknowledged so far (failed) */
  bytes: number;
  durationMs: number;
  blksize: number;
  windowsize: number;
  packets: number;
  retransmits: number;
};

export type TftpServerOptions = {
  host?: string;
  port?: number;
  root: string;
  /** per-profile trees served under their own first path segment (see openBootRoot) */
  mounts?: Readonly<Record<string, string>>;
  maxBlksize?: number;
  maxWindowsize?: number;
  /** bytes of the file cache created when `cache` is not given */
  cacheBytes?: number;
  /** share one cache with the HTTP file handler */
  cache?: FileCache;
  maxTransfers?: number;
  maxPerClient?: number;
  /** transfers whose client has not answered yet; default maxTransfers / 2 (see admission.ts) */
  maxUnconfirmed?: number;
  logger?: TftpLogger;
  onTransfer?: (record: TransferRecord) => void;
  /** a request refused before any data (file not found, access, unreadable): the operator's view shows why a boot stopped */
  onRefusedFile?: (r: { client: string; file: string; reason: string }) => void;
  /** once per datagram on the listening port (the serve app counts them in /metrics) */
  onRequest?: (outcome: RequestOutcome) => void;
  /**
   * Files made per request rather than read from the tree (the GRUB config `boot.grub?mac=…`
   * for GRUBs that speak only TFTP): the bytes, or undefined when `name` is not one of them.
   */
  generated?: (name: string, client: string, local: string) => Uint8Array | undefined;
  /**
   * A transfer from an added (pool service) address became announceable: it started (OACK or
   * first window sent), or its file digest just became known. The pool announces at once (a firmware's NBP
   * download may be over in a tenth of a second).
   */
  onAnnounceable?: () => void;
  /** SO_RCVBUF of the listening socket; a 500-client burst needs far more than the default */
  recvBufferSize?: number;
  /** retransmission timer ceiling when the client did not negotiate `timeout` */
  maxRtoMs?: number;
  minRtoMs?: number;
  maxRetries?: number;
  /** run the transfer code on synthetic data at start (see warmup.ts); default true */
  warmUp?: boolean;
  /** sockets in the port's reuseport group (see startTftpServer); default 8 */
  listeners?: number;
  /** send windows with the native helper's sendmmsg when it is built; default true */
  nativeSend?: boolean;
  /** false: transfer sockets stay dgram sockets even with the helper (no armed windows) */
  nativeReceive?: boolean;
  /** how long a lone transfer waits awake for its client's next ACK (native socket only); default 300 */
  busyPollUs?: number;
  /** the host's links, for the path MTU that caps blksize (tests inject them); default: read from the kernel */
  links?: () => readonly Link[];
};

export type ActiveTftpTransfer = {
  client: string;
  file: string;
  /** bytes the client acknowledged */
  bytes: number;
  /** null until the file is open */
  size: number | null;
  elapsedMs: number;
};

/** what became of one datagram on the listening port */
export type RequestOutcome = 'started' | 'duplicate' | 'refused' | 'malformed' | 'stray' | 'closing';

export type TftpStats = {
  /** datagrams on the listening port, by what became of them */
  requests: Record<RequestOutcome, number>;
  activeTransfers: number;
  /** datagram bytes sent by transfers, headers and retransmissions included */
  bytesSent: number;
  /** file bytes of completed transfers */
  bytesDelivered: number;
  transfersOk: number;
  transfersFailed: number;
  /** RRQs abandoned by the client right after our OACK (EDK2's size probe) */
  probes: number;
  duplicateRequestsDropped: number;
  wrongTidPackets: number;
  /** stalled transfers ended because their client sent a new request from a new port */
  superseded: number;
  /** refused requests and failed transfers, by reason */
  errors: Record<string, number>;
  /** how transfer sockets send: the helper's own socket, dgram with batched sends, or plain dgram */
  sendPath: SendPath;
  /** DATA datagrams that left through the native helper */
  datagramsBatched: number;
  /** windows that left from the native socket's armed path, before JavaScript saw their ACK */
  windowsArmedSent: number;
  /** transfers taken over from a dead pool peer and gone on with */
  resumed: number;
  /** taken-over transfers waiting for their client's next ACK (not in activeTransfers) */
  awaitingResume: number;
  recvBufferSize: number;
};

export type TftpServer = {
  port: number;
  address: string;
  stats(): TftpStats;
  /** up to `max` transfers in progress, for the dashboard's progress bars */
  transfers(max: number): ActiveTftpTransfer[];
  /**
   * Serve on one more local address (a pool service address just taken): requests to it are
   * answered from it, whatever the wildcard listeners do. Idempotent.
   */
  addAddress(address: string): Promise<void>;
  /** Stop serving on it and end the transfers running from it (the address is going away). */
  removeAddress(address: string): Promise<void>;
  /** transfers running from this local address */
  activeOn(address: string): number;
  /**
   * What a successor needs to go on with each octet transfer served from one of `addresses`
   * (the service addresses we hold): announced to the pool every heartbeat. A transfer whose
   * file digest is still being computed is left out until it is known.
   */
  announce(addresses: ReadonlySet<string>): ResumableTransfer[];
  /**
   * Take over transfers another server announced on `address` (just taken): listen on each
   * one's TID port and go on from the client's next ACK. Returns how many were set up.
   */
  resume(address: string, transfers: readonly ResumableTransfer[]): Promise<number>;
  close(): Promise<void>;
};

/** A transfer as a pool successor needs it (src/pool/announce.ts carries it on the wire). */
export type ResumableTransfer = {
  client: string;
  clientPort: number;
  tid: number;
  local: string;
  blksize: number;
  windowsize: number;
  maxRtoMs: number;
  /** absolute block the client last ACKed */
  acked: number;
  size: number;
  /** SHA-256 of the file, first 16 bytes, hex */
  digest: string;
  /** the name the client asked for */
  path: string;
};

type Live = {
  key: string;
  clientAddress: string;
  clientPort: number;
  file: string;
  startedAt: number;
  /** the local address the client asked: replies come from it */
  localHost: string;
  /** the listener that took the request: request-time errors go out through it */
  via: dgram.Socket;
  /** the file as resolved in our tree (for announcements) */
  resolved: ResolvedFile | null;
  netascii: boolean;
  /** taken over from a dead peer, waiting for the client's first ACK to us */
  resume: ResumableTransfer | null;
  resuming: boolean;
  sock: TransferSocket | null;
  /** the last window armed in the native socket (wire block numbers, in order) */
  armBlocks: readonly number[];
  /** whether the native socket still holds it (it disarms itself when the window leaves) */
  armed: boolean;
  /** payloads of the armed window: the native side points into them, so they are kept alive here */
  armPayloads: Uint8Array[];
  /** blocks at the head of the current step's DATA that the armed path already sent */
  skip: number;
  opened: OpenedFile | null;
  source: BlockSource | null;
  fetch: ((offset: number, length: number) => Promise<void>) | null;
  state: TransferState | null;
  /** deadline the machine asked to be ticked at; Infinity when none */
  timerAt: number;
  finished: boolean;
  /** `need` actions answered without the machine moving on; guards against a source that never fills */
  idleNeeds: number;
};

const RESOLVE_TTL_MS = 1000;
const RESOLVE_MAX = 4096;

// Chunk sizes for disk-streamed and netascii sources: at least this, and at least two windows,
// so a rollback of one window never lands in a chunk already released.
const MIN_CHUNK = 256 * 1024;

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const host = opts.host ?? '0.0.0.0';
  const family = net.isIPv6(host) ? 'udp6' : 'udp4';
  // The configured cap; each client's path caps it further (pathBlksize).
  const maxBlksize = opts.maxBlksize ?? 65464;
  const links = opts.links ?? linkReader(() => performance.now());
  const maxWindowsize = opts.maxWindowsize ?? 64;
  const maxTransfers = opts.maxTransfers ?? 2000;
  const maxPerClient = opts.maxPerClient ?? 16;
  const maxUnconfirmed = opts.maxUnconfirmed ?? Math.max(1, Math.floor(maxTransfers / 2));
  const maxRtoMs = opts.maxRtoMs ?? 4000;
  const log = opts.logger;
  const root: BootRoot = await openBootRoot(opts.root, opts.mounts);
  if (opts.warmUp !== false) warmUp();
  const resolveCache = createResolveCache((name) => root.resolve(name), () => performance.now(), { ttlMs: RESOLVE_TTL_MS, max: RESOLVE_MAX });
  const resolveCached = (name: string): Promise<ResolveResult> => resolveCache.get(name);
  const resolvedNow = (name: string): ResolveResult | undefined => resolveCache.now(name);
  const native = opts.nativeSend === false ? null : loadNative();
  native?.tftpSocket?.setSpin(opts.busyPollUs ?? 300);
  // Every transfer holds a socket, and a streamed one a file too.
  native?.growFdTable?.(Math.min(2 * maxTransfers + 256, 16384));
  const cache = opts.cache ?? createFileCache(opts.cacheBytes !== undefined ? { maxBytes: opts.cacheBytes } : {});

  const live = new Map<string, Live>();
  /** transfers whose client has not acknowledged anything yet, oldest first (see admission.ts) */
  const unconfirmed = new Map<string, Live>();
  /** live transfers by client address: the per-client limit and the supersede rule */
  const byClient = new Map<string, Set<Live>>();
  const errors: Record<string, number> = Object.create(null) as Record<string, number>;
  const counters = {
    bytesSent: 0,
    bytesDelivered: 0,
    transfersOk: 0,
    transfersFailed: 0,
    probes: 0,
    duplicateRequestsDropped: 0,
    wrongTidPackets: 0,
    superseded: 0,
    datagramsBatched: 0,
    windowsArmedSent: 0,
    /** transfers taken over from a dead pool peer and gone on with */
    resumed: 0,
  };
  let closing = false;

  const countError = (reason: string): void => {
    errors[reason] = (errors[reason] ?? 0) + 1;
  };
  /** Every datagram the listeners read ends in exactly one of these (a started transfer may still fail later). */
  const requests: Record<RequestOutcome, number> = { started: 0, duplicate: 0, refused: 0, malformed: 0, stray: 0, closing: 0 };
  const heard = (o: RequestOutcome): void => {
    requests[o]++;
    try { opts.onRequest?.(o); } catch { /* metrics must not break serving */ }
  };

  // A storm's RRQs arrive faster than one socket is read: libuv reads at most 32 datagrams from a
  // socket per loop iteration, and each iteration also serves every running transfer, so the
  // 500th RRQ of a burst waited behind 15 rounds of DATA. A reuseport group of listeners (the
  // kernel spreads requests over them by source) reads LISTENERS × 32 requests per iteration.
  const LISTENERS = Math.max(1, opts.listeners ?? 8);
  const listeners: dgram.Socket[] = [];
  const bindListener = async (port: number): Promise<dgram.Socket> => {
    const sock = dgram.createSocket({ type: family, reusePort: LISTENERS > 1, recvBufferSize: opts.recvBufferSize ?? 4 * 1024 * 1024 });
    await bindSocket(sock, { port, address: host, exclusive: true });
    return sock;
  };
  // A reuseport group would let a second server on this host (same user) join ours and take a
  // share of the requests silently: a plain bind first proves the port is free, as it did before.
  const wanted = opts.port ?? 69;
  if (wanted !== 0 && LISTENERS > 1) {
    const probe = dgram.createSocket({ type: family });
    await bindSocket(probe, { port: wanted, address: host, exclusive: true });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
  const listener = await bindListener(wanted);
  listeners.push(listener);
  const bound = listener.address();
  try {
    for (let i = 1; i < LISTENERS; i++) listeners.push(await bindListener(bound.port));
  } catch (err) {
    for (const l of listeners) l.close();
    throw err;
  }
  for (const l of listeners) l.on('error', (err) => log?.warn({ err: String(err) }, 'tftp listener error'));
  let recvBufferSize = 0;
  try {
    recvBufferSize = listener.getRecvBufferSize();
  } catch {
    // not fatal: only reported in stats
  }

  function refuseVia(via: dgram.Socket, address: string, port: number, code: number, message: string, reason: string): void {
    countError(reason);
    // Request-time errors come from the listening socket: firmware that has not yet learned a
    // server TID accepts a reply from the port it asked.
    via.send(encodeError(code, message), port, address);
  }

  const onRequestAt = (via: dgram.Socket, localHost: string) => (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const refuse = (address: string, port: number, code: number, message: string, reason: string): void =>
      refuseVia(via, address, port, code, message, reason);
    if (closing) return heard('closing');
    const parsed = parsePacket(msg);
    if (!parsed.ok) {
      const op = msg.length >= 2 ? (msg[0]! << 8) | msg[1]! : 0;
      if (op === OP.RRQ || op === OP.WRQ) {
        refuse(rinfo.address, rinfo.port, ERR.ILLEGAL_OPERATION, `Malformed request: ${parsed.reason}`, 'malformed');
      }
      return heard('malformed');
    }
    const p = parsed.value;
    if (p.op === 'WRQ') {
      refuse(rinfo.address, rinfo.port, ERR.ACCESS_VIOLATION, 'Access violation: this server is read-only', 'wrq');
      return heard('refused');
    }
    if (p.op !== 'RRQ') return heard('stray'); // DATA/ACK/ERROR for a transfer that no longer exists
    if (p.mode === 'mail') {
      refuse(rinfo.address, rinfo.port, ERR.ILLEGAL_OPERATION, 'Mail mode is not supported', 'mail');
      return heard('refused');
    }
    const verdict = admit(
      { address: rinfo.address, port: rinfo.port, file: p.filename },
      admissionView(rinfo.address),
      { maxTransfers, maxPerClient, maxUnconfirmed },
    );
    for (const old of verdict.supersede) supersede(liveOf(old), rinfo.port, p.filename);
    if (verdict.verdict === 'duplicate') {
      counters.duplicateRequestsDropped++;
      return heard('duplicate');
    }
    if (verdict.verdict === 'refuse') {
      refuse(rinfo.address, rinfo.port, ERR.NOT_DEFINED, verdict.message, verdict.reason);
      return heard('refused');
    }
    heard('started');
    if (verdict.evict !== undefined) {
      // Its client never answered while a newer request waited for the slot: end it silently
      // (an ERROR would be one more packet toward an address that may be forged).
      countError('evicted-unconfirmed');
      release(liveOf(verdict.evict));
    }
    const key = verdict.key;
    const mine = byClient.get(rinfo.address);
    const t: Live = {
      key,
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      file: p.filename,
      startedAt: performance.now(),
      localHost,
      via,
      resolved: null,
      netascii: p.mode === 'netascii',
      resume: null,
      resuming: false,
      sock: null,
      armBlocks: [],
      armed: false,
      armPayloads: [],
      skip: 0,
      opened: null,
      source: null,
      fetch: null,
      state: null,
      timerAt: Infinity,
      finished: false,
      idleNeeds: 0,
    };
    live.set(key, t);
    unconfirmed.set(key, t);
    if (mine === undefined) byClient.set(rinfo.address, new Set([t]));
    else mine.add(t);
    setup(t, p).catch((err: unknown) => {
      log?.warn({ err: String(err), file: p.filename }, 'tftp transfer setup failed');
      failSetup(t, ERR.NOT_DEFINED, 'Internal error', 'internal');
    });
  };
  for (const l of listeners) l.on('message', onRequestAt(l, host));
  const extra = new Map<string, dgram.Socket>();

  // Firmware that gives up on a transfer starts over from DISCOVER and asks for its NBP again
  // from a new port; pxelinux and iPXE fetch one file at a time. The old transfer is dead but
  // would keep retransmitting windows, with backoff, for up to maxRetries RTOs, and hold a slot:
  // in a storm on an overloaded server that is bandwidth and slots taken from the clients still
  // booting. A transfer to the same address that is already retransmitting (no ACK for at least
  // one RTO) is therefore ended when a request comes from a new port. A healthy parallel
  // transfer (clients sharing an address) is not retransmitting at that moment, and is left alone.

  function supersede(old: Live, port: number, file: string): void {
    if (old.finished) return;
    counters.superseded++;
    log?.debug({ client: `${old.clientAddress}:${old.clientPort}`, file: old.file, newFile: file, newPort: port }, 'tftp transfer superseded by a new request');
    feed(old, { type: 'abort', code: ERR.NOT_DEFINED, message: 'Superseded by a new request from this client' });
  }

  const slotOf = (t: Live): Slot => ({
    key: t.key, clientAddress: t.clientAddress, clientPort: t.clientPort,
    confirmed: !unconfirmed.has(t.key),
    retrying: !t.finished && t.state !== null && t.state.retries > 0,
  });
  const liveOf = (slot: Slot): Live => live.get(slot.key)!;
  function admissionView(address: string): AdmissionView {
    const oldest = unconfirmed.values().next();
    return {
      total: live.size,
      unconfirmed: unconfirmed.size,
      oldestUnconfirmed: oldest.done === true ? undefined : slotOf(oldest.value),
      ofClient: [...(byClient.get(address) ?? [])].map(slotOf),
      has: (key) => live.has(key),
    };
  }

  function release(t: Live): void {
    if (t.finished) return;
    t.finished = true;
    if (live.get(t.key) === t) live.delete(t.key);
    if (unconfirmed.get(t.key) === t) unconfirmed.delete(t.key);
    const set = byClient.get(t.clientAddress);
    if (set !== undefined) {
      set.delete(t);
      if (set.size === 0) byClient.delete(t.clientAddress);
    }
    t.timerAt = Infinity;
    const sock = t.sock;
    t.sock = null;
    sock?.close();
    t.armPayloads = [];
    void t.opened?.close();
    t.opened = null;
  }

  function failSetup(t: Live, code: number, message: string, reason: string): void {
    if (t.finished) return;
    release(t);
    if (!closing) refuseVia(t.via, t.clientAddress, t.clientPort, code, message, reason);
    try {
      opts.onRefusedFile?.({ client: `${t.clientAddress}:${t.clientPort}`, file: t.file, reason });
    } catch { /* an observer must not break serving */ }
  }

  async function setup(t: Live, p: RequestPacket): Promise<void> {
    const made = opts.generated?.(p.filename, t.clientAddress, t.localHost);
    if (made !== undefined) {
      const data = Buffer.from(made.buffer, made.byteOffset, made.byteLength);
      await begin(t, p, { kind: 'memory', absPath: p.filename, size: data.length, mtimeMs: 0, data, close: async () => {} });
      return;
    }
    // A storm's requests for a file already resolved and in memory set up without a single await.
    const resolved = resolvedNow(p.filename) ?? (await resolveCached(p.filename));
    if (t.finished) return;
    if (!resolved.ok) {
      log?.debug({ client: t.clientAddress, file: p.filename, reason: resolved.reason }, 'tftp refused');
      if (isNotFound(resolved.reason)) failSetup(t, ERR.FILE_NOT_FOUND, 'File not found', 'not-found');
      else failSetup(t, ERR.ACCESS_VIOLATION, `Access violation (${resolved.reason})`, resolved.reason);
      return;
    }
    const opened = cache.openCached(resolved) ?? (await cache.open(resolved));
    if (t.finished) {
      if (opened.ok) void opened.file.close();
      return;
    }
    if (!opened.ok) {
      failSetup(t, ERR.ACCESS_VIOLATION, `Cannot read file (${opened.reason})`, opened.reason);
      return;
    }
    t.resolved = resolved;
    // Served from a pool service address: the digest goes into its announcement, the sooner the better.
    if (extra.has(t.localHost) && p.mode !== 'netascii') void digestOf(resolved);
    await begin(t, p, opened.file);
  }

  async function begin(t: Live, p: RequestPacket, file: OpenedFile): Promise<void> {
    t.opened = file;
    const netascii = p.mode === 'netascii';
    const size = !netascii ? file.size : file.kind === 'memory' ? netasciiSize(file.data) : null;
    const pathMax = pathBlksize(t.clientAddress, links());
    const neg = negotiate(p.options, { maxBlksize: Math.min(maxBlksize, pathMax), maxWindowsize }, size);
    attachSource(t, file, netascii, neg.blksize, neg.windowsize);
    await openSocketFor(t);
    if (t.finished) return;

    const r = startTransfer(
      {
        blksize: neg.blksize,
        windowsize: neg.windowsize,
        oack: neg.oack.length > 0 ? encodeOack(neg.oack) : null,
        maxRtoMs: neg.timeoutSec !== null ? neg.timeoutSec * 1000 : maxRtoMs,
        ...(opts.minRtoMs !== undefined ? { minRtoMs: opts.minRtoMs } : {}),
        ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
      },
      performance.now(),
      t.source!,
    );
    t.state = r.state;
    log?.debug(
      { client: `${t.clientAddress}:${t.clientPort}`, file: t.file, options: neg.oack, kind: file.kind },
      'tftp transfer start',
    );
    run(t, r.actions);
    announceable(t);
  }

  function attachSource(t: Live, file: OpenedFile, netascii: boolean, blksize: number, windowsize: number): void {
    const chunk = Math.ceil(Math.max(MIN_CHUNK, 2 * windowsize * blksize) / blksize) * blksize;
    if (!netascii && file.kind === 'memory') {
      t.source = memorySource(file.data);
    } else {
      const raw =
        file.kind === 'memory'
          ? (pos: number, len: number) => file.data.subarray(pos, Math.min(pos + len, file.data.length))
          : (pos: number, len: number, into?: Uint8Array | null) =>
              file.read(pos, len, into ? Buffer.from(into.buffer, into.byteOffset, into.byteLength) : undefined);
      let src;
      if (netascii) {
        const enc = netasciiEncoder(raw);
        src = chunkedSource(chunk, () => enc.next(chunk), true);
      } else {
        // A released chunk is only rewritten once the transfer socket has no send queued: a
        // datagram handed to the kernel has been copied, one still queued in libuv has not.
        src = chunkedSource(chunk, async (k, reuse) => raw(k * chunk, chunk, reuse), false, () =>
          t.sock ? t.sock.idle() : false,
        );
      }
      t.source = src;
      t.fetch = src.fetch;
    }
  }

  async function openSocketFor(t: Live, localPort?: number): Promise<void> {
    const sock = await openTransferSocket({
      host: t.localHost,
      peerAddress: t.clientAddress,
      peerPort: t.clientPort,
      native,
      nativeReceive: opts.nativeReceive !== false,
      ...(localPort !== undefined ? { localPort } : {}),
      onPacket: (...packet) => onTransferPacket(t, ...packet),
      onError: (err) => log?.debug({ err: String(err), file: t.file }, 'tftp transfer socket error'),
    });
    if (t.finished) {
      sock.close();
      return;
    }
    t.sock = sock;
  }

  function onTransferPacket(t: Live, ...[buf, off, len, fromPeer, address, port, fired]: Parameters<PacketHandler>): void {
    if (t.finished || !t.sock) return;
    if (!fromPeer) {
      // RFC 1350: a packet from a wrong TID gets ERROR 5 and leaves the transfer alone.
      counters.wrongTidPackets++;
      t.sock.send(encodeError(ERR.UNKNOWN_TID, 'Unknown transfer ID'), port, address);
      return;
    }
    if (len < 4) return;
    const op = (buf[off]! << 8) | buf[off + 1]!;
    if (t.resume !== null && t.state === null) {
      // A taken-over transfer: the client's (retransmitted) ACK tells where to go on from.
      if (op === OP.ACK && !t.resuming) void continueResume(t, (buf[off + 2]! << 8) | buf[off + 3]!);
      else if (op === OP.ERROR) release(t);
      return;
    }
    // Hot path: ACKs are decoded in place, no packet object.
    if (op === OP.ACK) {
      if (fired) {
        // The armed window already left (and the native side disarmed): the step about to run
        // would send it again unless told.
        t.skip = t.armBlocks.length;
        t.armed = false;
        counters.windowsArmedSent++;
        counters.datagramsBatched += t.skip;
      }
      feed(t, { type: 'ack', block: (buf[off + 2]! << 8) | buf[off + 3]! });
      t.skip = 0;
    } else if (op === OP.ERROR) {
      const parsed = parsePacket(buf.subarray(off, off + len));
      if (parsed.ok && parsed.value.op === 'ERROR') {
        feed(t, { type: 'error', code: parsed.value.code, message: parsed.value.message });
      }
    }
  }

  const announceable = (t: Live): void => {
    if (!extra.has(t.localHost) || opts.onAnnounceable === undefined) return;
    try { opts.onAnnounceable(); } catch { /* the pool's business */ }
  };

  function feed(t: Live, event: TransferEvent): void {
    if (t.finished || !t.state || !t.source) return;
    const wasConfirmed = t.state.confirmed;
    const r = step(t.state, event, performance.now(), t.source);
    t.state = r.state;
    // Only the step that brings the first ACK touches the map (not every ACK of a download).
    if (!wasConfirmed && r.state.confirmed && unconfirmed.get(t.key) === t) unconfirmed.delete(t.key);
    run(t, r.actions);
  }

  // One timer for every transfer's deadline (see deadline-timer.ts).
  const deadlines = new DeadlineTimer((now) => {
    let next = Infinity;
    for (const t of live.values()) {
      if (t.timerAt <= now) {
        t.timerAt = Infinity;
        feed(t, { type: 'tick' });
      }
      if (!t.finished && t.timerAt < next) next = t.timerAt;
    }
    return next;
  }, () => performance.now());

  function arm(t: Live, at: number): void {
    t.timerAt = at;
    if (!closing) deadlines.arm(at);
  }

  // One step's DATA leaves in one batched send (see batch.ts).
  const batch = new DataBatch();
  const flush = (t: Live): void => { counters.datagramsBatched += batch.flush(t.sock); };

  function run(t: Live, actions: readonly TransferAction[]): void {
    for (const a of actions) {
      if (t.finished || !t.sock) break;
      if (a.type === 'data') {
        counters.bytesSent += 4 + a.payload.length;
        t.idleNeeds = 0;
        if (t.skip > 0) {
          // Already sent by the armed path, if this is the block it sent; anything else ends the skip.
          if (t.armBlocks[t.armBlocks.length - t.skip] === a.block) {
            t.skip--;
            continue;
          }
          t.skip = 0;
        }
        if (batch.add(a.block, a.payload)) flush(t);
        continue;
      }
      flush(t);
      switch (a.type) {
        case 'send':
          counters.bytesSent += a.datagram.length;
          t.idleNeeds = 0;
          t.sock.send(a.datagram, t.clientPort, t.clientAddress);
          break;
        case 'setTimer':
          arm(t, a.at);
          break;
        case 'need': {
          const fetch = t.fetch;
          if (!fetch || ++t.idleNeeds > 4) {
            feed(t, { type: 'abort', code: ERR.NOT_DEFINED, message: 'Read error' });
            return;
          }
          fetch(a.offset, a.length).then(
            () => feed(t, { type: 'data-ready' }),
            (err: unknown) => {
              log?.warn({ err: String(err), file: t.file }, 'tftp read failed');
              feed(t, { type: 'abort', code: ERR.NOT_DEFINED, message: 'Read error' });
            },
          );
          break;
        }
        case 'done':
          complete(t, a);
          return;
      }
    }
    flush(t);
    if (t.sock?.path === 'native' && !t.finished) armNextWindow(t);
  }

  function complete(t: Live, a: Extract<TransferAction, { type: 'done' }>): void {
    const s = t.state!;
    const bytes = a.ok ? a.bytes : Math.min(s.acked * s.blksize, t.opened?.size ?? 0);
    if (a.ok) {
      counters.transfersOk++;
      counters.bytesDelivered += a.bytes;
    } else if (a.reason === 'aborted-after-oack') {
      counters.probes++;
    } else {
      counters.transfersFailed++;
      countError(a.reason);
    }
    const record: TransferRecord = {
      client: `${t.clientAddress}:${t.clientPort}`,
      file: t.file,
      ok: a.ok,
      bytes,
      durationMs: performance.now() - t.startedAt,
      blksize: s.blksize,
      windowsize: s.windowsize,
      packets: s.packetsSent,
      retransmits: s.retransmits,
      ...(a.ok ? {} : { reason: a.reason, detail: a.detail }),
    };
    release(t);
    // One line per transfer at info; EDK2's size probes (an OACK, then an error) only at debug.
    const line = transferLine({
      protocol: 'tftp', client: record.client, file: record.file, bytes, durationMs: record.durationMs,
      result: a.ok ? 'ok' : a.reason, ...(a.ok ? {} : { detail: a.detail }),
    });
    const fields = { ...line.fields, blksize: s.blksize, windowsize: s.windowsize, packets: s.packetsSent, retransmits: s.retransmits };
    if (!a.ok && a.reason === 'aborted-after-oack') log?.debug(fields, line.msg);
    else log?.info(fields, line.msg);
    try {
      opts.onTransfer?.(record);
    } catch (err) {
      log?.warn({ err: String(err) }, 'tftp onTransfer callback threw');
    }
  }

  // --- pool takeover: file digests, announcements, resumed transfers

  // Content digests of files served from pool service addresses (see digests.ts).
  const digestCache = createDigestCache(() => opts.onAnnounceable?.());
  const digestOf = (r: ResolvedFile): string | Promise<string | null> => digestCache.of(r);

  function announce(addresses: ReadonlySet<string>): ResumableTransfer[] {
    const out: ResumableTransfer[] = [];
    for (const t of live.values()) {
      // From the OACK on: a server that dies after its OACK leaves a client that ACKs block 0.
      if (!addresses.has(t.localHost) || t.netascii || t.resolved === null || t.state === null || t.state.phase === 'done' || t.sock === null) continue;
      const d = digestOf(t.resolved);
      if (typeof d !== 'string') continue;
      out.push({
        client: t.clientAddress, clientPort: t.clientPort, tid: t.sock.port, local: t.localHost,
        blksize: t.state.blksize, windowsize: t.state.windowsize, maxRtoMs: t.state.maxRto, acked: t.state.acked,
        size: t.resolved.size, digest: d, path: t.file,
      });
    }
    return out;
  }

  // Firmware retransmits within seconds (iPXE ~1 s, EDK2 ~4 s): a client silent this long has
  // finished or given up.
  const RESUME_WAIT_MS = 15_000;
  const awaitingResume = (): number => {
    let n = 0;
    for (const t of live.values()) if (t.resume !== null) n++;
    return n;
  };

  async function resume(address: string, list: readonly ResumableTransfer[]): Promise<number> {
    let n = 0;
    for (const e of list) {
      if (closing || e.local !== address) continue;
      const key = `${e.client}|${e.clientPort}|${e.path}`;
      if (live.has(key)) continue;
      const t: Live = {
        key, clientAddress: e.client, clientPort: e.clientPort, file: e.path, startedAt: performance.now(),
        localHost: address, via: extra.get(address) ?? listener, resolved: null, netascii: false, resume: e, resuming: false,
        sock: null, armBlocks: [], armed: false, armPayloads: [], skip: 0, opened: null, source: null, fetch: null, state: null,
        timerAt: Infinity, finished: false, idleNeeds: 0,
      };
      live.set(key, t);
      const mine = byClient.get(e.client);
      if (mine === undefined) byClient.set(e.client, new Set([t]));
      else mine.add(t);
      try {
        await openSocketFor(t, e.tid);
      } catch (err) {
        log?.warn({ err: String(err), client: `${e.client}:${e.clientPort}`, file: e.path, tid: e.tid }, 'tftp: cannot take over a transfer (TID port busy)');
        countError('resume-failed');
        release(t);
        continue;
      }
      n++;
      // A client that never retransmits (it gave up) does not hold the port for ever.
      setTimeout(() => { if (t.state === null && !t.finished) { countError('resume-no-ack'); release(t); } }, RESUME_WAIT_MS).unref();
    }
    if (n > 0) log?.info({ event: 'tftp-takeover', address, transfers: n }, `tftp: listening for ${n} transfer(s) taken over on ${address}`);
    return n;
  }

  async function continueResume(t: Live, wire: number): Promise<void> {
    const e = t.resume!;
    t.resuming = true;
    const fail = (code: number, message: string, reason: string): void => {
      countError(reason);
      t.sock?.send(encodeError(code, message), t.clientPort, t.clientAddress);
      release(t);
    };
    const resolved = resolvedNow(e.path) ?? (await resolveCached(e.path));
    if (t.finished) return;
    if (!resolved.ok) return fail(ERR.FILE_NOT_FOUND, 'File not found on the server that took over', 'resume-not-found');
    const mine = resolved.size === e.size ? await digestOf(resolved) : null;
    if (t.finished) return;
    if (mine !== e.digest) {
      // The pool's peers must serve identical trees: a resumed transfer would splice two files.
      log?.warn({ event: 'tftp-resume-mismatch', client: `${e.client}:${e.clientPort}`, file: e.path, theirs: { size: e.size, digest: e.digest }, ours: { size: resolved.size, digest: mine } },
        `tftp: ${e.path} differs on this peer from the one that died; the transfer cannot go on (pool peers must serve identical boot trees)`);
      return fail(ERR.NOT_DEFINED, 'File differs on the boot server that took over; restart the boot', 'resume-mismatch');
    }
    const opened = cache.openCached(resolved) ?? (await cache.open(resolved));
    if (t.finished) { if (opened.ok) void opened.file.close(); return; }
    if (!opened.ok) return fail(ERR.ACCESS_VIOLATION, `Cannot read file (${opened.reason})`, opened.reason);
    t.opened = opened.file;
    t.resolved = resolved;
    const lastBlock = Math.floor(e.size / e.blksize) + 1;
    const n = absoluteBlock(wire, e.acked, lastBlock);
    if (n === null) return fail(ERR.NOT_DEFINED, 'Cannot tell where the transfer was', 'resume-lost-place');
    attachSource(t, opened.file, false, e.blksize, e.windowsize);
    const r = resumeTransfer({
      blksize: e.blksize, windowsize: e.windowsize, maxRtoMs: e.maxRtoMs,
      ...(opts.minRtoMs !== undefined ? { minRtoMs: opts.minRtoMs } : {}),
      ...(opts.maxRetries !== undefined ? { maxRetries: opts.maxRetries } : {}),
    }, n, performance.now(), t.source!);
    t.state = r.state;
    t.resume = null;
    counters.resumed++;
    log?.info({ event: 'tftp-resumed', client: `${e.client}:${e.clientPort}`, file: e.path, fromBlock: n + 1, tid: e.tid }, `tftp: resumed ${e.path} for ${e.client} from block ${n + 1}`);
    run(t, r.actions);
  }

  return {
    port: bound.port,
    address: bound.address,
    announce,
    resume,
    stats: () => ({
      requests: { ...requests },
      activeTransfers: live.size - awaitingResume(),
      awaitingResume: awaitingResume(),
      ...counters,
      errors: { ...errors },
      sendPath: transferSocketPath(native, opts.nativeReceive !== false),
      recvBufferSize,
    }),
    transfers: (max) => {
      const out: ActiveTftpTransfer[] = [];
      const now = performance.now();
      for (const t of live.values()) {
        if (out.length >= max) break;
        if (t.finished || t.resume !== null) continue;
        const size = t.opened?.size ?? null;
        const acked = t.state === null ? 0 : t.state.acked * t.state.blksize;
        out.push({ client: `${t.clientAddress}:${t.clientPort}`, file: t.file, bytes: size === null ? acked : Math.min(acked, size), size, elapsedMs: Math.round(now - t.startedAt) });
      }
      return out;
    },
    addAddress: async (address) => {
      if (closing || extra.has(address)) return;
      // Beside the wildcard group (reuseport, same user); the kernel prefers the socket bound to
      // the exact destination address.
      const sock = dgram.createSocket({ type: family, reusePort: true, recvBufferSize: opts.recvBufferSize ?? 4 * 1024 * 1024 });
      await bindSocket(sock, { port: bound.port, address, exclusive: true });
      sock.on('error', (err) => log?.warn({ err: String(err), address }, 'tftp listener error'));
      sock.on('message', onRequestAt(sock, address));
      extra.set(address, sock);
    },
    removeAddress: async (address) => {
      const sock = extra.get(address);
      extra.delete(address);
      for (const t of [...live.values()]) if (t.localHost === address) release(t);
      if (sock !== undefined) await new Promise<void>((resolve) => sock.close(() => resolve()));
    },
    activeOn: (address) => {
      // A taken-over transfer whose client has not come back is not work in progress: it must
      // not hold up handing the address back.
      let n = 0;
      for (const t of live.values()) if (t.localHost === address && t.resume === null) n++;
      return n;
    },
    close: async () => {
      if (closing) return;
      closing = true;
      deadlines.close();
      for (const t of [...live.values()]) release(t);
      await Promise.all([...listeners, ...extra.values()].map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
      extra.clear();
    },
  };
}
