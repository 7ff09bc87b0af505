// `pxepool serve`: one process with the ProxyDHCP responder (67 + 4011), TFTP and HTTP, all
// driven by one config. Reload swaps the policy in place; in-flight transfers are untouched.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isIPv6 } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { startProxy6, type Proxy6Server } from '../dhcp6/server.ts';
import { duidLl } from '../dhcp6/respond.ts';
import type { Config } from '../config/schema.ts';
import { loadConfig, formatErrors } from '../config/load.ts';
import { compilePolicy, decide, withAssignments, type Policy } from '../policy/policy.ts';
import { localAddresses, startProxyServer, type ProxyServer } from '../proxy/server.ts';
import type { Outcome, Via } from '../proxy/responder.ts';
import { startTftpServer, type TftpServer } from '../tftp/server.ts';
import { createFileCache } from '../files/cache.ts';
import { createFileHandler, type FileHandler } from '../http/files.ts';
import { startHttpServer, type HttpServer } from '../http/server.ts';
import { createMetrics, type Metrics } from '../observe/metrics.ts';
import { createLogger, type Logger } from '../observe/log.ts';
import { transferLine } from '../observe/transfer-log.ts';
import { ipxeScriptFor } from './ipxe-script.ts';
import { grubHandover, grubScriptFor } from './grub-script.ts';
import { readSmallFile } from '../files/read-small.ts';
import { RecentClients } from './recent-clients.ts';
import { ClientEventLog, lastBootEnd, SIZE_PROBE, type ClientEvent } from '../observe/client-events.ts';
import { explainClient } from './explain-client.ts';
import { factsFromQuery } from './ipxe-script.ts';
import { createDashboard, isOperatorPath, type Dashboard } from '../http/dashboard.ts';
import { MessageType } from '../dhcp/options.ts';
import { VERSION } from '../version.ts';
import { startPool, type Pool } from '../pool/peer.ts';
import { createDeployments, readApiToken } from './store-edge.ts';
import { createClientsApi } from '../http/clients-api.ts';
import type { Deployments } from '../store/deployments.ts';
import { createHash } from 'node:crypto';
import { checkBootRoot, unsignedBootFiles } from './boot-root.ts';

export interface ServeOptions {
  config: Config;
  /** re-read on reload; undefined = embedded default (reload keeps it) */
  configPath?: string;
  logger?: Logger;
  /** test hook: DHCPv6 ports instead of 547 and 4011 */
  ports6?: { dhcp?: number; pxe?: number };
  /** test hooks: listen on these addresses / ports instead of the standard ones */
  listen?: string[];
  ports?: { dhcp?: number; pxe?: number; client?: number };
  /** create the boot root when it does not exist (the embedded default's /srv/pxepool) */
  createRoot?: boolean;
}

export interface App {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  proxy?: ProxyServer;
  /** ProxyDHCPv6 (server.address6) */
  proxy6?: Proxy6Server;
  pool?: Pool;
  tftp?: TftpServer;
  /** TFTP on server.address6 */
  tftp6?: TftpServer;
  http?: HttpServer;
  /** HTTP on server.address6 */
  http6?: HttpServer;
  /** what this peer saw of each client lately (explain, the dashboard) */
  clientEvents: ClientEventLog;
  /** per-client assignments (config store:); undefined without a store */
  deployments?: Deployments;
  /** GET /api/v1/explain?mac= */
  explain(mac: string): unknown;
  /** the dashboard's live snapshot (GET /api/v1/state, and every event on /api/v1/events) */
  snapshot(): unknown;
  /** re-read the config file; on error keep the running config and say why */
  reload(): { ok: boolean; message: string };
  status(): unknown;
  close(): Promise<void>;
}

/** What every pool peer must agree on to answer a client alike: profiles, rules, host files. */
export function policyDigest(config: Config): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ profiles: config.profiles, rules: config.rules, default: config.default }));
  for (const e of config.hostEntries) h.update(`${e.mac.text}|${e.nextServer ?? ''}|${e.profile}\n`);
  return h.digest('hex').slice(0, 32);
}

/** Per-profile roots, served under the profile's name (openBootRoot mounts). */
export function profileMounts(config: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, p] of Object.entries(config.profiles)) if (p.root !== undefined) out[name] = p.root;
  return out;
}

const PORT_67 = { port: '67' };
const PORT_4011 = { port: '4011' };

export async function serve(opts: ServeOptions): Promise<App> {
  let config = opts.config;
  const logger = opts.logger ?? createLogger(config.log.level, 'pxepool', config.log.format);
  const metrics = createMetrics();
  const recentClients = new RecentClients();
  const clientEvents = new ClientEventLog();
  let dashboard: Dashboard | undefined;
  const apiToken = readApiToken(config);
  const deployments = createDeployments(config, config.pool?.name ?? config.server.name ?? hostname(), logger);
  // Assignments are asked before the rules, from this peer's in-memory copy (never the store itself).
  const assigned = deployments === undefined ? undefined : (mac: string, uuids: readonly string[]) => deployments.lookup(mac, Date.now(), uuids);
  let policy: Policy = withAssignments(compilePolicy(config), assigned);
  // TFTP and HTTP mount the profile roots once, at start.
  const mounts = profileMounts(config);
  if (config.tftp.enabled || config.http.enabled) {
    const root = checkBootRoot(config, opts.createRoot === true);
    if (root.created) logger.warn({ event: 'boot-root', root: config.root, created: true }, `created the empty boot root ${config.root}: put the boot files there (see the README, "Quick start")`);
    for (const u of unsignedBootFiles(config, readSmallFile)) {
      logger.warn({ event: 'boot-root', profile: u.profile, field: u.field, file: u.file, unsigned: true }, `profile ${u.profile} is marked secureBoot, but its ${u.field} ${u.file} is ${u.why}`);
    }
    for (const m of root.missing) {
      logger.warn({ event: 'boot-root', root: config.root, missing: m.file, profile: m.profile, field: m.field }, `boot file ${m.file} (profile ${m.profile}, ${m.field}) is not in ${config.root} yet: clients of that firmware will fail until it is`);
    }
  }
  const started = Date.now();
  const scriptServers = (mac: string): string[] => {
    const port = config.http.port;
    return (app.pool?.bootServers(mac) ?? []).map((a) => (a.includes(':') ? `[${a}]` : a)).map((a) => (port === 80 ? `http://${a}` : `http://${a}:${port}`));
  };
  const decideNow = (facts: Parameters<typeof decide>[1]) => decide(policy, facts);

  const onOutcome = (o: Outcome, via: Via, seconds: number): void => {
    const port = via === 'dhcp' ? '67' : '4011';
    // A PXE client's DHCP facts (whoever in the pool answered it): /boot.ipxe decides its script
    // with them. Its own latest request wins, so a forged one lasts only until the client boots.
    if (o.facts !== undefined && (o.facts.pxeClient || o.facts.httpClient)) recentClients.remember(o.facts, performance.now());
    metrics.dhcpLatency.observe(via === 'dhcp' ? PORT_67 : PORT_4011, seconds);
    try {
      noteOutcome(o, via);
    } catch { /* the operator's view must not break answering */ }
    if (o.kind === 'reply') {
      const f = o.facts;
      metrics.dhcpRequestsTally.inc(`${port}|${f.messageType}`, () => ({ port, type: String(f.messageType) }));
      metrics.dhcpRepliesTally.inc(`${port}|${o.type}|${f.firmware}`, () => ({ port, type: o.type, firmware: f.firmware }));
      logger.info({ event: 'answer', port: Number(port), mac: o.facts.mac, xid: o.facts.xid, arch: o.facts.arch, firmware: o.facts.firmware, ipxe: o.facts.isIpxe, rule: o.decision.rule, profile: o.decision.profile, action: 'boot', file: o.reply.file || o.decision.bootFile, nextServer: o.reply.siaddr, to: `${o.to.address}:${o.to.port}` }, 'answered PXE client');
      return;
    }
    metrics.dhcpDropped.inc({ port, reason: o.reason });
    if (o.facts) metrics.dhcpRequests.inc({ port, type: String(o.facts.messageType) });
    if (o.reason === 'malformed') {
      metrics.dhcpMalformed.inc({ reason: o.detail.split(':')[0] ?? 'unknown' });
      logger.debug({ event: 'malformed', port: Number(port), detail: o.detail }, 'dropped malformed packet');
    } else if (o.reason === 'policy') {
      logger.info({ event: 'ignore', port: Number(port), mac: o.facts?.mac, xid: o.facts?.xid, arch: o.facts?.arch, firmware: o.facts?.firmware, rule: o.decision?.rule, action: 'ignore', reason: o.detail }, 'ignored PXE client');
    } else {
      logger.debug({ event: 'drop', port: Number(port), reason: o.reason, mac: o.facts?.mac, detail: o.detail }, 'not answered');
    }
  };

  // Each answered, held or ignored PXE request becomes an event in the client's ring.
  const noteOutcome = (o: Outcome, via: Via): void => {
    const f = o.facts;
    if (f === undefined || (!f.pxeClient && !f.httpClient)) return;
    if (f.source !== undefined) clientEvents.learnAddress(f.source, f.mac);
    if (f.ciaddr !== '0.0.0.0') clientEvents.learnAddress(f.ciaddr, f.mac);
    // An iPXE ROM or pxelinux never asks 4011: the REQUEST it broadcasts to the site DHCP server
    // names the address its TFTP reads will come from.
    if (f.requestedAddress !== undefined) clientEvents.learnAddress(f.requestedAddress, f.mac);
    const at = Date.now();
    // One object per event, built in place: this runs for every answered packet.
    const event = (kind: ClientEvent['kind']): ClientEvent => {
      const e = { at, mac: f.mac, port: via === 'dhcp' ? 67 : 4011, xid: f.xid, firmware: f.firmware } as ClientEvent;
      if (f.hostname !== undefined) e.hostname = f.hostname;
      if (f.vendorClass !== undefined) e.vendorClass = f.vendorClass;
      e.kind = kind; // the keys in the order the API has always shown them
      return e;
    };
    deployments?.see(f.mac, {
      ...(f.arch !== undefined ? { arch: f.arch } : {}), firmware: f.firmware,
      ...(f.vendorClass !== undefined ? { vendorClass: f.vendorClass } : {}), ...(f.uuid !== undefined ? { uuid: f.uuid } : {}),
      ...(f.hostname !== undefined ? { hostname: f.hostname } : {}),
      ...(f.relayed ? { relay: f.giaddr } : {}),
      decision: o.kind === 'reply' ? `boot ${o.decision.profile}` : o.decision?.action === 'boot' ? `held ${o.decision.profile}` : 'ignore',
      reason: o.kind === 'reply' ? o.decision.rule : o.decision?.rule ?? o.reason,
      peer: app.pool?.name ?? config.server.name ?? hostname(),
    }, at);
    if (o.kind === 'reply') {
      const gate = via === 'dhcp' && f.messageType === MessageType.Discover ? app.pool?.explain(f, o.decision, via) : undefined;
      const e = event(via === 'dhcp' ? 'offer' : 'ack');
      e.rule = o.decision.rule;
      e.profile = o.decision.profile;
      e.file = o.reply.file || o.decision.bootFile;
      if (gate !== undefined) e.reason = gate.reason;
      clientEvents.record(e);
      return;
    }
    if (o.reason !== 'policy') return;
    if (o.decision?.action === 'boot') {
      const owner = app.pool?.rank(f.mac, o.decision.pin).owner;
      const e = event('held');
      e.rule = o.decision.rule;
      e.profile = o.decision.profile;
      e.reason = `backup: ${owner ?? 'another peer'} owns this client`;
      clientEvents.record(e);
    } else {
      const e = event('ignore');
      e.reason = o.detail;
      if (o.decision !== undefined) e.rule = o.decision.rule;
      clientEvents.record(e);
    }
  };
  const noteFetch = (protocol: 'tftp' | 'http', client: string, file: string, bytes: number, durationMs: number, result: string): void => {
    try {
      clientEvents.recordFetch({ at: Date.now(), protocol, client, file, bytes, durationMs: Math.round(durationMs), result });
      const mac = deployments === undefined ? undefined : clientEvents.macOf(client);
      if (mac !== undefined) {
        deployments!.see(mac, { file, outcome: result, peer: app.pool?.name ?? config.server.name ?? hostname() }, Date.now());
        // A `once` is used up when the profile's last file reached the client.
        if (result === 'ok') deployments!.delivered(mac, file, config.profiles, Date.now());
      }
    } catch { /* the operator's view must not break serving */ }
  };

  // Service addresses, taken over or our own: ProxyDHCP 4011 (and 67) and TFTP of their family.
  const service6 = config.pool?.peers.some((p) => p.serviceAddress6 !== undefined) === true;
  const tftpFor = (a: string) => (isIPv6(a) ? app.tftp6 : app.tftp);
  const serveOn = async (a: string): Promise<void> => {
    await (isIPv6(a) ? app.proxy6 : app.proxy)?.addAddress(a);
    await tftpFor(a)?.addAddress(a);
  };
  // GRUB loaded by UEFI HTTP boot (Debian 13's signed GRUB 2.12 behind shim) asks /grub/grub.cfg
  // over HTTP, as by TFTP: without a grub.cfg of the tree's own it gets the handover to its own config.
  const treeHasGrubCfg = (): boolean => existsSync(join(config.root, 'grub', 'grub.cfg'));
  const withGrubHandover = (files: FileHandler): FileHandler => async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    if ((req.method === 'GET' || req.method === 'HEAD') && /^\/+grub\/grub\.cfg$/.test(path) && !treeHasGrubCfg()) {
      const body = grubHandover('http');
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return true;
    }
    return files(req, res);
  };
  const app: App = {
    config, metrics, logger, clientEvents, ...(deployments !== undefined ? { deployments } : {}),
    explain(mac) {
      const seen = recentClients.get(mac, performance.now());
      const facts = seen ?? factsFromQuery(new URLSearchParams({ mac }))!;
      // "Now" means: what this peer would do with the client's next DISCOVER.
      const asked = { ...facts, messageType: MessageType.Discover };
      const decision = decide(policy, asked);
      const gate = decision.action === 'boot' ? app.pool?.explain(asked, decision, 'dhcp') : undefined;
      const rank = app.pool?.rank(mac, decision.action === 'boot' ? decision.pin : undefined);
      const events: ClientEvent[] = clientEvents.eventsOf(mac);
      const body = explainClient({
        peer: app.pool?.name ?? config.server.name ?? hostname(), mac, now: Date.now(), facts, known: seen !== undefined, decision, events,
        ...(gate !== undefined ? { gate } : {}),
        ...(rank !== undefined ? { rank: { ...rank, live: app.pool!.live() } } : {}),
      });
      const assignment = deployments?.lookup(mac, Date.now());
      return { ...body, lastBoot: lastBootEnd(events), ...(assignment !== undefined ? { assignment } : {}) };
    },
    snapshot() {
      return {
        at: Date.now(),
        status: app.status(),
        transfers: [
          ...(app.tftp?.transfers(50) ?? []).map((t) => ({ protocol: 'tftp', ...t })),
          ...(app.http?.transfers(50) ?? []).map((t) => ({ protocol: 'http', ...t })),
        ],
        recent: clientEvents.recent(100),
        clients: { macs: clientEvents.macs, events: clientEvents.size },
        // The dashboard's assignments panel: whether there is a store and what the clients API
        // asks of it (never the token itself); null without a store.
        clientsApi: deployments === undefined ? null : { publicRead: config.api?.publicRead === true, writable: apiToken !== undefined, profiles: Object.keys(config.profiles) },
      };
    },
    reload() {
      if (opts.configPath === undefined) return { ok: true, message: 'embedded default config: nothing to reload' };
      const r = loadConfig(opts.configPath);
      if (!r.ok) {
        metrics.configReloads.inc({ result: 'error' });
        const message = `config reload refused, keeping the running config:\n${formatErrors(r.errors)}`;
        logger.error({ event: 'reload', ok: false, errors: r.errors }, message);
        return { ok: false, message };
      }
      // A policy naming files in a tree TFTP and HTTP do not serve would send clients to files
      // that are not there.
      const newMounts = JSON.stringify(profileMounts(r.config));
      if (newMounts !== JSON.stringify(mounts)) {
        metrics.configReloads.inc({ result: 'error' });
        const message = `config reload refused, keeping the running config: profile roots changed (${newMounts}); restart pxepool to serve them`;
        logger.error({ event: 'reload', ok: false }, message);
        return { ok: false, message };
      }
      // The pool's membership, secret and timing are what the peers agree on; changing them in a
      // running peer is a restart (one peer at a time), never a silent no-op.
      const poolKeys = changedKeys(config.pool, r.config.pool);
      if (poolKeys.length > 0) {
        metrics.configReloads.inc({ result: 'error' });
        const message = `config reload refused, keeping the running config: pool: ${poolKeys.join(', ')} changed; pool changes take effect only at a restart — restart pxepool (one peer at a time), or put pool: back as it was to reload the rest`;
        logger.error({ event: 'reload', ok: false, pool: poolKeys }, message);
        return { ok: false, message };
      }
      try {
        policy = withAssignments(compilePolicy(r.config), assigned);
      } catch (err) {
        metrics.configReloads.inc({ result: 'error' });
        const message = `config reload refused: ${(err as Error).message}`;
        logger.error({ event: 'reload', ok: false }, message);
        return { ok: false, message };
      }
      const restart = (['root', 'tftp', 'http', 'server', 'store', 'api'] as const).filter((k) => JSON.stringify(r.config[k]) !== JSON.stringify(config[k]));
      config = r.config;
      app.config = config;
      // Peers compare policy digests in every heartbeat: a reload that changed the policy must
      // be visible to them, or two peers answering one client differently would still "agree".
      app.pool?.setConfigExtra(policyDigest(config));
      metrics.configReloads.inc({ result: 'ok' });
      const message = `config reloaded from ${opts.configPath}` + (restart.length ? ` (changes to ${restart.join(', ')} take effect after a restart)` : '');
      logger.info({ event: 'reload', ok: true, restartNeeded: restart }, message);
      return { ok: true, message };
    },
    status() {
      return {
        name: config.server.name ?? hostname(),
        version: VERSION,
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        config: config.source,
        proxyDhcp: { mode: config.server.proxyDhcp, addresses: app.proxy?.addresses ?? [] },
        ...(app.proxy6 !== undefined ? { proxyDhcp6: { address: config.server.address6, interfaces: app.proxy6.interfaces, ports: app.proxy6.ports } } : {}),
        tftp: app.tftp?.stats(),
        http: app.http ? { port: app.http.port, active: app.http.active() } : undefined,
        pool: app.pool?.status(),
        ...(deployments !== undefined ? { store: deployments.status() } : {}),
      };
    },
    async close() {
      // Leave the pool first: the others take over this peer's clients at once.
      await app.pool?.close();
      dashboard?.close();
      await Promise.all([app.proxy?.close(), app.proxy6?.close(), app.tftp?.close(), app.tftp6?.close(), app.http?.close(), app.http6?.close()]);
      await deployments?.close();
    },
  };

  try {
    // Never throws: a store down at start is retried; until then the rules alone decide.
    await deployments?.start();
    const cache = createFileCache({ maxBytes: config.tftp.cacheBytes });
    if (config.pool !== undefined) {
      app.pool = await startPool({
        config: config.pool,
        registry: metrics.registry,
        // Peers that would decide differently for a client must hear about it.
        configExtra: policyDigest(config),
        load: () => ({ tftp: app.tftp?.stats().activeTransfers ?? 0, http: app.http?.active() ?? 0 }),
        onEvent: (e) => {
          // What the dashboard shows of the pool changed: show it now rather than within a second.
          if (e.type === 'up' || e.type === 'down' || e.type === 'health' || e.type === 'restart' || e.type === 'config-mismatch' || e.type === 'config-agree') dashboard?.pushNow();
          if (e.type === 'error') logger.warn({ event: 'pool-error', err: e.error }, 'pool error');
          else if (e.type === 'address-foreign') logger.error({ ...e, event: 'pool-address-foreign' }, `pool: service address ${e.address} is answered on the wire by a host that is not a pool peer${e.mac !== undefined ? ` (${e.mac})` : ''}; it is not taken: give the peer an unused address`);
          else if (e.type === 'address-error') logger.warn({ ...e, event: 'pool-address-error' }, `pool: service address ${e.address}: ${e.detail}`);
          else logger.info({ ...e, event: `pool-${e.type}` }, `pool: ${e.type}`);
        },
        // A service address this peer takes is served like its own: ProxyDHCP 4011 (and 67),
        // TFTP from that address; HTTP listens on every address already.
        addresses: {
          busy: (a) => (tftpFor(a)?.activeOn(a) ?? 0) > 0,
          // A taken address comes with the transfers its last holder announced: go on with them
          // from each client's next ACK.
          onAdd: async (a) => {
            await serveOn(a);
            await tftpFor(a)?.resume(a, app.pool?.announcedFor(a) ?? []);
          },
          transfers: (held) => [...(app.tftp?.announce(held) ?? []), ...(app.tftp6?.announce(held) ?? [])],
          onRemove: async (a) => { await tftpFor(a)?.removeAddress(a); await (isIPv6(a) ? app.proxy6 : app.proxy)?.removeAddress(a); },
        },
      });
      logger.info({ event: 'listen', service: 'pool', name: app.pool.name, listen: app.pool.listen }, 'pool heartbeats listening');
    }
    // An IPv6-only host (server.address6, no IPv4 address at all) serves ProxyDHCPv6 alone.
    const v6Only = config.server.address6 !== undefined && config.server.address === undefined && opts.listen === undefined && localAddresses(config.server.interface).length === 0;
    if (v6Only && config.server.proxyDhcp !== 'off') {
      logger.warn({ event: 'ipv4-off', interface: config.server.interface ?? null }, 'no IPv4 address on this host: ProxyDHCP over IPv4 is off, ProxyDHCPv6 serves IPv6 clients');
    }
    if (config.server.proxyDhcp !== 'off' && !v6Only) {
      const p: Parameters<typeof startProxyServer>[0] = { mode: config.server.proxyDhcp, decide: decideNow, onOutcome, onError: (err) => logger.warn({ err }, 'proxydhcp socket error') };
      if (config.server.interface !== undefined) p.interface = config.server.interface;
      if (config.server.address !== undefined) p.address = config.server.address;
      if (opts.listen !== undefined) p.listen = opts.listen;
      if (opts.ports !== undefined) p.ports = opts.ports;
      if (config.http.enabled) p.httpPort = config.http.port;
      if (app.pool) Object.assign(p, app.pool.proxyHooks());
      app.proxy = await startProxyServer(p);
      logger.info({ event: 'listen', service: 'proxydhcp', mode: config.server.proxyDhcp, addresses: app.proxy.addresses, ports: app.proxy.ports }, 'ProxyDHCP listening');
    }
    if (config.server.proxyDhcp === 'proxy' && config.server.address6 !== undefined) {
      const address6 = config.server.address6;
      const mac = Object.values(networkInterfaces()).flat().find((a) => a?.family === 'IPv6' && a.address.toLowerCase() === address6)?.mac;
      app.proxy6 = await startProxy6({
        serverAddress: address6,
        // A DUID-LL from the MAC of the interface holding the address (a fixed one if none does).
        serverDuid: duidLl(mac !== undefined && mac !== '00:00:00:00:00:00' ? mac : '02:00:00:00:00:01'),
        ...(app.pool !== undefined ? { serverAddressNow: () => app.pool!.serverAddress6(address6) } : {}),
        httpPort: config.http.port,
        decide: (f) => decideNow(f),
        ...(app.pool !== undefined ? { gate: app.pool.gate6 } : {}),
        ...(config.server.interface !== undefined ? { interfaces: [config.server.interface] } : {}),
        ...(opts.ports6 !== undefined ? { ports: opts.ports6 } : {}),
        onError: (err) => logger.warn({ err }, 'proxydhcp6 error'),
        onOutcome: (o, via) => {
          const port = via === 'dhcp6' ? 547 : 4011;
          if (o.kind === 'reply') metrics.dhcp6Replies.inc({ port });
          else metrics.dhcp6Dropped.inc({ port, reason: o.kind === 'malformed' ? `malformed:${o.reason}` : o.reason });
          if (o.kind === 'reply') logger.info({ event: 'answer', port, mac: o.facts.mac, arch: o.facts.arch, firmware: o.facts.firmware, rule: o.decision.rule, profile: o.decision.profile, action: 'boot', file: o.url, to: o.facts.source, ...(o.facts.relayed ? { relayed: true } : {}) }, 'answered PXE client (IPv6)');
          else if (o.kind === 'drop' && o.reason === 'pool') logger.debug({ event: 'hold', port, mac: o.facts?.mac, reason: o.detail }, 'held back DHCPv6 answer (pool)');
          else if (o.kind === 'drop' && o.reason === 'policy') logger.info({ event: 'ignore', port, mac: o.facts?.mac, reason: o.detail }, 'ignored PXE client (IPv6)');
          else logger.debug({ event: 'dhcp6-drop', port, reason: o.kind === 'malformed' ? `malformed: ${o.reason}` : o.reason }, 'dropped DHCPv6 message');
        },
      });
      logger.info({ event: 'listen', service: 'proxydhcp6', address: address6, interfaces: app.proxy6.interfaces, ports: app.proxy6.ports }, 'ProxyDHCPv6 listening');
    }
    if (config.tftp.enabled) {
      const tftpOptions: Omit<Parameters<typeof startTftpServer>[0], 'host'> = {
        port: config.tftp.port, root: config.root, mounts, cache,
        maxBlksize: config.tftp.maxBlksize, maxWindowsize: config.tftp.maxWindowsize,
        maxTransfers: config.tftp.maxTransfers, maxPerClient: config.tftp.maxPerClient,
        ...(config.tftp.maxUnconfirmed !== undefined ? { maxUnconfirmed: config.tftp.maxUnconfirmed } : {}),
        busyPollUs: config.tftp.busyPollUs,
        logger,
        onAnnounceable: () => app.pool?.announceNow(),
        onRequest: (outcome) => metrics.tftpRequests.inc({ outcome }),
        // GRUB configs for Debian's signed GRUB (Secure Boot media), which fetches only by TFTP.
        generated: (name, client, local) => {
          if (/^\/?grub\/grub\.cfg$/.test(name)) return treeHasGrubCfg() ? undefined : Buffer.from(grubHandover());
          const m = /^\/?boot\.grub\?(.*)$/.exec(name);
          if (m === null) return undefined;
          const own = config.server.address ?? (local !== '' && local !== '0.0.0.0' ? local : undefined);
          const text = grubScriptFor(policy, new URLSearchParams(m[1]), own === undefined ? undefined : `http://${own}:${config.http.port}`, {
            servers: scriptServers, remote: client, seen: (mac) => recentClients.get(mac, performance.now()), tftpPort: config.tftp.port,
          });
          return text === undefined ? undefined : Buffer.from(text);
        },
        onRefusedFile: (r) => noteFetch('tftp', r.client, r.file, 0, 0, r.reason),
        onTransfer: (t) => {
          // EDK2 asks for the size first and aborts after the OACK: a step of a good boot, not a failure.
          noteFetch('tftp', t.client, t.file, t.bytes, t.durationMs, t.ok ? 'ok' : t.reason === 'aborted-after-oack' ? SIZE_PROBE : (t.reason ?? 'failed'));
          metrics.tftpTransfers.inc({ result: t.ok ? 'ok' : (t.reason ?? 'failed') });
          if (t.ok) metrics.tftpBytes.inc(t.bytes);
        },
      };
      app.tftp = await startTftpServer({ ...tftpOptions, host: opts.listen?.[0] ?? '0.0.0.0' });
      logger.info({ event: 'listen', service: 'tftp', port: app.tftp.port, root: config.root, sendPath: app.tftp.stats().sendPath }, 'TFTP listening');
      if (config.server.address6 !== undefined && opts.listen === undefined) {
        // The same tree and cache over IPv6, for the URLs ProxyDHCPv6 hands out.
        app.tftp6 = await startTftpServer({ ...tftpOptions, host: config.server.address6, warmUp: false });
        logger.info({ event: 'listen', service: 'tftp6', address: config.server.address6, port: app.tftp6.port }, 'TFTP listening on IPv6');
      }
    }
    if (config.http.enabled) {
      dashboard = createDashboard({ snapshot: () => app.snapshot(), explain: (mac) => app.explain(mac) });
      const board = dashboard;
      const clientsApi = deployments === undefined ? undefined : createClientsApi({ deployments, token: apiToken, publicRead: config.api?.publicRead === true, profiles: () => Object.keys(app.config.profiles) });
      const httpOptions: Parameters<typeof startHttpServer>[0] = {
        routes: async (req, res, url) => (clientsApi !== undefined && (await clientsApi.routes(req, res, url))) || board.routes(req, res, url), isOperatorPath,
        host: config.http.address ?? opts.listen?.[0] ?? '0.0.0.0', port: config.http.port, metrics,
        status: () => app.status(),
        // From a pool, every kernel/initrd fetch names this peer and then the client's ranked live
        // peers, so a peer dying between script and kernel costs one failed fetch.
        ipxeScript: (q, remote) => {
          const asked = factsFromQuery(q, remote);
          if (asked !== undefined && remote !== '') clientEvents.learnAddress(remote, asked.mac);
          return ipxeScriptFor(policy, q, { servers: scriptServers, remote, seen: (mac) => recentClients.get(mac, performance.now()) });
        },
        // A GRUB config names the server it came from when the pool lists no others.
        grubScript: (q, remote, local) => grubScriptFor(policy, q, `http://${local.includes(':') ? `[${local}]` : local}:${config.http.port}`, { servers: scriptServers, remote, seen: (mac) => recentClients.get(mac, performance.now()) }),
        files: withGrubHandover(createFileHandler({ root: config.root, mounts, cache })),
        onError: (err) => logger.warn({ err }, 'http error'),
        onRefused: (reason) => metrics.httpRefused.inc({ reason }),
        onResponse: (r) => {
          const line = transferLine({ protocol: 'http', client: r.client, file: r.path, bytes: r.bytes, durationMs: r.durationMs, result: r.complete ? 'ok' : 'aborted', status: r.status });
          logger.info(line.fields, line.msg);
          noteFetch('http', r.client, r.path, r.bytes, r.durationMs, r.complete && r.status < 400 ? 'ok' : r.complete ? `status ${r.status}` : 'aborted');
        },
        maxConnections: config.http.maxConnections, maxPerAddress: config.http.maxPerAddress, headersTimeoutMs: config.http.headersTimeoutMs,
        ...(logger.isLevelEnabled('debug') ? { onRequest: (r: { method: string; path: string; client: string; local: string }) => logger.debug({ event: 'http-request', ...r }, `HTTP ${r.method} ${r.path}`) } : {}),
      };
      app.http = await startHttpServer(httpOptions);
      logger.info({ event: 'listen', service: 'http', port: app.http.port }, 'HTTP listening');
      if (config.server.address6 !== undefined && opts.listen === undefined && config.http.address === undefined) {
        // With IPv6 service addresses, on every IPv6 address: one taken over is served at once.
        app.http6 = await startHttpServer({ ...httpOptions, ...(service6 ? { host: '::', ipv6Only: true } : { host: config.server.address6 }) });
        logger.info({ event: 'listen', service: 'http6', address: config.server.address6, port: app.http6.port }, 'HTTP listening on IPv6');
      }
    }
  } catch (err) {
    await app.close();
    throw err;
  }
  metrics.sources.tftpActive = () => app.tftp?.stats().activeTransfers ?? 0;
  metrics.sources.dashboardStreams = () => dashboard?.subscribers() ?? 0;
  metrics.sources.clientMacs = () => clientEvents.macs;
  // Addresses taken while the servers were still starting.
  for (const a of app.pool?.held() ?? []) await serveOn(a);
  return app;
}

/** Top-level keys whose values differ between two (optional) config sections. */
function changedKeys(a: object | undefined, b: object | undefined): string[] {
  if (a === undefined && b === undefined) return [];
  if (a === undefined || b === undefined) return [a === undefined ? 'added' : 'removed'];
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((k) => JSON.stringify(ra[k]) !== JSON.stringify(rb[k]));
}
