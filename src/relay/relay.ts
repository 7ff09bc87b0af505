// The UDP edge of the relay: sockets, host-file reloads, a bounded work queue, metrics.
// Decisions come from forward.ts.
//
// Sockets, per client-facing interface (docs/relay.md):
//   0.0.0.0:67 on IF   client broadcasts, bound to the device (SO_BINDTODEVICE, native helper)
//                      so we know which segment a broadcast came from; without the helper a
//                      plain wildcard socket, and then only one client interface is possible
//   <if address>:67    server replies to giaddr, requests from downstream relays; datagrams we
//                      send for that segment leave from here, so broadcasts leave through the
//                      interface owning that address and servers see source port 67

import dgram from 'node:dgram';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { formatError } from '../config/load.ts';
import type { Logger } from '../observe/log.ts';
import type { RelayConfig } from './config.ts';
import { describeForward, forwardReply, forwardRequest, peekOp, SERVER_PORT, CLIENT_PORT, type RelayInterface, type Datagram } from './forward.ts';
import { buildHostTable, Liveness, type HostTable } from './targets.ts';
import { bindHint, bindOnDevice, bindSocket } from '../net/udp.ts';

export class RelayStartError extends Error {}

export interface RelayMetrics {
  registry: Registry;
  received: Counter<'op'>;
  forwarded: Counter<'kind'>;
  dropped: Counter<'reason'>;
  reloads: Counter<'result'>;
  hostEntries: Gauge;
  queueDepth: Gauge;
}

export function createRelayMetrics(): RelayMetrics {
  const registry = new Registry();
  const r = [registry];
  return {
    registry,
    received: new Counter({ name: 'pxepool_relay_received_total', help: 'datagrams received, by BOOTP op', labelNames: ['op'], registers: r }),
    forwarded: new Counter({ name: 'pxepool_relay_sent_total', help: 'datagrams sent: request copies to DHCP servers / PXE targets / probes, replies to clients', labelNames: ['kind'], registers: r }),
    dropped: new Counter({ name: 'pxepool_relay_dropped_total', help: 'datagrams dropped, by reason', labelNames: ['reason'], registers: r }),
    reloads: new Counter({ name: 'pxepool_relay_hostfile_reloads_total', help: 'host file reloads by result', labelNames: ['result'], registers: r }),
    hostEntries: new Gauge({ name: 'pxepool_relay_host_entries', help: 'host file lines in the live table', registers: r }),
    queueDepth: new Gauge({ name: 'pxepool_relay_queue_depth', help: 'datagrams waiting to be handled', registers: r }),
  };
}

export interface RelayOptions {
  config: RelayConfig;
  logger: Logger;
  /** log each forwarding decision at info level (the `-d` mode) */
  debug?: boolean;
  /** override the interface lookup (tests) */
  iface?: RelayInterface;
  /** ports, for unprivileged tests on loopback */
  ports?: { server?: number; client?: number; listen?: number };
  /** watch host files for changes (default true) */
  watch?: boolean;
  /** how long file changes settle before a reload (ms) */
  debounceMs?: number;
  now?: () => number;
}

export interface Relay {
  /** the first client-facing interface */
  iface: RelayInterface;
  ifaces: RelayInterface[];
  metrics: RelayMetrics;
  liveness: Liveness;
  /** re-read the host files; resolves true if the new table is live */
  reload(): Promise<boolean>;
  close(): Promise<void>;
}

/** The address and prefix of a local interface's first IPv4 address. */
export function interfaceAddress(name: string): RelayInterface {
  const all = networkInterfaces();
  const list = all[name];
  if (list === undefined) throw new RelayStartError(`interface "${name}" not found (have: ${Object.keys(all).join(', ')})`);
  const v4 = list.find((a) => a.family === 'IPv4');
  if (v4 === undefined) throw new RelayStartError(`interface "${name}" has no IPv4 address: the relay needs one for giaddr`);
  const prefix = v4.cidr !== null ? Number(v4.cidr.split('/')[1]) : 32;
  return { name, address: v4.address, prefix };
}

function loadTablesSync(files: readonly string[]): { table: HostTable; entries: number; errors: string[] } {
  const texts: { path: string; text: string }[] = [];
  const errors: string[] = [];
  for (const f of files) {
    try {
      texts.push({ path: f, text: readFileSync(f, 'utf8') });
    } catch (e) {
      errors.push(`${f}: ${(e as Error).message}`);
    }
  }
  const r = buildHostTable(texts);
  return { table: r.table, entries: r.entries, errors: [...errors, ...r.errors.map(formatError)] };
}

async function bind(address: string, port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 4 << 20 });
  try {
    await bindSocket(s, { address, port, exclusive: false });
  } catch (err) {
    s.close();
    const e = err as NodeJS.ErrnoException;
    throw new RelayStartError(`cannot bind UDP ${address}:${port}: ${e.message}${bindHint(e.code, 'another DHCP server or relay holds it')}`);
  }
  return s;
}

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const { config, logger } = opts;
  const now = opts.now ?? Date.now;
  const serverPort = opts.ports?.server ?? SERVER_PORT;
  const clientPort = opts.ports?.client ?? CLIENT_PORT;
  const listenPort = opts.ports?.listen ?? SERVER_PORT;
  const ifaces = opts.iface !== undefined ? [opts.iface] : (config.interfaces ?? []).map(interfaceAddress);
  const iface = ifaces[0];
  if (iface === undefined) throw new RelayStartError('no client-facing interface: give --interface or relay.interfaces');
  if (config.dhcpServers.length === 0 && config.default === undefined && config.hostsFiles.length === 0) {
    throw new RelayStartError('nothing to relay to: give --dhcp-server, --default or --hosts');
  }
  const files = config.hostsFiles.map((f) => resolve(f));
  const first = loadTablesSync(files);
  if (first.errors.length > 0) throw new RelayStartError(`host file errors:\n${first.errors.join('\n')}`);
  let table = first.table;
  const metrics = createRelayMetrics();
  metrics.hostEntries.set(first.entries);
  const liveness = new Liveness(config.pools);
  const level = opts.debug ? 'info' : 'debug';

  // Per interface: its address socket, and a broadcast socket bound to the device when the
  // native helper is there (tests that inject `iface` use a plain wildcard socket).
  const sockets: { sock: dgram.Socket; iface: RelayInterface }[] = [];
  const sendSock = new Map<string, dgram.Socket>();
  try {
    for (const i of ifaces) {
      const s = await bind(i.address, listenPort);
      s.setBroadcast(true);
      sockets.push({ sock: s, iface: i });
      sendSock.set(i.name, s);
      let w: dgram.Socket | undefined;
      if (opts.iface === undefined) {
        try {
          w = await bindOnDevice(i.name, '0.0.0.0', listenPort, 4 << 20);
        } catch (e) {
          throw new RelayStartError(`cannot bind UDP 0.0.0.0:${listenPort} on ${i.name}: ${(e as Error).message}`);
        }
      }
      if (w === undefined) {
        if (ifaces.length > 1) throw new RelayStartError(`several client interfaces need the native helper (run scripts/build-native.sh): without it a broadcast's interface is unknown`);
        w = await bind('0.0.0.0', listenPort);
      }
      sockets.push({ sock: w, iface: i });
    }
  } catch (e) {
    for (const { sock } of sockets) sock.close();
    throw e;
  }

  // Handling is synchronous and cheap, so the queue only absorbs bursts between event-loop
  // turns; its bound is what keeps a flood from growing memory without limit.
  const queue: { msg: Buffer; from: string; fromPort: number; iface: RelayInterface }[] = [];
  let scheduled = false;
  const send = (d: Datagram, kind: string, via: RelayInterface): void => {
    const port = d.port === CLIENT_PORT ? clientPort : serverPort;
    sendSock.get(via.name)!.send(d.bytes, port, d.address, (err) => {
      if (err !== null && err !== undefined) {
        metrics.dropped.inc({ reason: 'send-error' });
        logger.warn({ event: 'send-error', to: d.address, err: err.message }, 'send failed');
      }
    });
    metrics.forwarded.inc({ kind });
  };

  const handle = (msg: Buffer, from: string, arrived: RelayInterface): void => {
    const op = peekOp(msg);
    metrics.received.inc({ op: op === 1 ? 'request' : op === 2 ? 'reply' : 'other' });
    if (op === 0) {
      metrics.dropped.inc({ reason: 'malformed' });
      return;
    }
    if (op === 2) {
      const r = forwardReply(msg, ifaces, config);
      if (r.kind === 'drop') {
        metrics.dropped.inc({ reason: r.reason });
        logger[level]({ event: 'drop', from, reason: r.reason, detail: r.detail }, `reply from ${from} dropped: ${r.reason}`);
        return;
      }
      liveness.answered(from, now());
      send(r.out, 'reply', ifaces.find((i) => i.name === r.iface) ?? arrived);
      logger[level]({ event: 'reply', from, mac: r.mac, type: r.type, to: r.out.address }, `${r.type} ${r.mac} from ${from} → ${r.out.address}:${clientPort} on ${r.iface}${r.stripped82 ? ' (option 82 stripped)' : ''}`);
      return;
    }
    const t = now();
    const r = forwardRequest(msg, arrived, { config, table, alive: (peer) => liveness.alive(peer, t) });
    if (r.kind === 'drop') {
      metrics.dropped.inc({ reason: r.reason });
      logger[level]({ event: 'drop', from, reason: r.reason, detail: r.detail }, describeForward(r));
      return;
    }
    if (r.isDiscover) for (const peer of r.asked) liveness.sent(peer, r.why.mac, t);
    const servers = new Set(config.dhcpServers);
    for (const d of r.out) send(d, servers.has(d.address) ? 'dhcp-server' : 'pxe-target', arrived);
    logger[level]({ event: 'forward', mac: r.why.mac, type: r.why.type, to: r.out.map((d) => d.address) }, describeForward(r));
  };

  const drain = (): void => {
    scheduled = false;
    // Bounded per turn so replies and timers are not starved by a flood.
    for (let n = 0; n < 512 && queue.length > 0; n++) {
      const item = queue.shift()!;
      try {
        handle(item.msg, item.from, item.iface);
      } catch (e) {
        metrics.dropped.inc({ reason: 'internal-error' });
        logger.error({ event: 'internal-error', err: (e as Error).stack }, 'packet handling failed');
      }
    }
    metrics.queueDepth.set(queue.length);
    if (queue.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };

  const onMessage = (arrived: RelayInterface) => (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (queue.length >= config.queue.maxPending) {
      metrics.dropped.inc({ reason: 'queue-full' });
      return;
    }
    queue.push({ msg, from: rinfo.address, fromPort: rinfo.port, iface: arrived });
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  for (const { sock: s, iface: arrived } of sockets) {
    s.on('message', onMessage(arrived));
    s.on('error', (err) => logger.error({ event: 'socket-error', err: err.message }, 'socket error'));
  }

  let reloading: Promise<boolean> | undefined;
  const reloadOnce = async (): Promise<boolean> => {
    const texts: { path: string; text: string }[] = [];
    try {
      for (const f of files) texts.push({ path: f, text: await readFile(f, 'utf8') });
    } catch (e) {
      metrics.reloads.inc({ result: 'error' });
      logger.error({ event: 'reload-failed', err: (e as Error).message }, `host file reload failed, keeping the old table: ${(e as Error).message}`);
      return false;
    }
    const r = buildHostTable(texts);
    if (r.errors.length > 0) {
      metrics.reloads.inc({ result: 'error' });
      for (const e of r.errors) logger.error({ event: 'hostfile-error', file: e.file, line: e.line }, formatError(e));
      logger.error({ event: 'reload-failed', errors: r.errors.length }, `${r.errors.length} host file error(s); keeping the old table`);
      return false;
    }
    // One assignment: a packet is handled entirely with the old table or entirely with the new.
    table = r.table;
    metrics.hostEntries.set(r.entries);
    metrics.reloads.inc({ result: 'ok' });
    logger.info({ event: 'reload', entries: r.entries, exact: r.table.exactCount, wildcards: r.table.wildcardCount }, `host files reloaded: ${r.entries} entries`);
    return true;
  };
  const reload = (): Promise<boolean> => {
    // Serialise reloads; a change during a reload triggers another one after it.
    const next = (reloading ?? Promise.resolve(true)).then(reloadOnce, reloadOnce);
    reloading = next;
    return next;
  };

  const watchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  if (opts.watch ?? true) {
    // Watch directories, not files: editors and `mv` replace the file, which ends a file watch.
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const set = byDir.get(dirname(f)) ?? new Set();
      set.add(basename(f));
      byDir.set(dirname(f), set);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && !names.has(String(name))) return;
          clearTimeout(debounce);
          debounce = setTimeout(() => { void reload(); }, opts.debounceMs ?? 300);
        });
        w.on('error', (err) => logger.warn({ event: 'watch-error', dir, err: err.message }, 'file watch failed; reload with SIGHUP'));
        watchers.push(w);
      } catch (e) {
        logger.warn({ event: 'watch-error', dir, err: (e as Error).message }, 'cannot watch host file directory; reload with SIGHUP');
      }
    }
  }

  logger.info({ event: 'start', iface: ifaces.map((i) => i.name).join(','), giaddr: ifaces.map((i) => i.address).join(','), dhcpServers: config.dhcpServers, default: config.default, hostEntries: first.entries }, `relaying ${ifaces.map((i) => `${i.name} (${i.address})`).join(', ')} to ${[...config.dhcpServers, ...(config.default !== undefined ? [`default ${config.default}`] : [])].join(', ')}; ${first.entries} host entries`);

  return {
    iface,
    ifaces,
    metrics,
    liveness,
    reload,
    async close() {
      clearTimeout(debounce);
      for (const w of watchers) w.close();
      await Promise.all(sockets.map(({ sock }) => new Promise<void>((r) => sock.close(() => r()))));
    },
  };
}
