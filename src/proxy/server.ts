// The UDP edge of the ProxyDHCP responder: sockets on 67 and 4011, the server identifier per
// local address, broadcast replies out of the right interface. Decisions come from respond().

import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { bindHint, bindOnDevice, bindSocket, literalLookup } from '../net/udp.ts';
import { type Decide, type Outcome, respond, type ResponderContext, type Via } from './responder.ts';

export interface ProxyServerOptions {
  mode: 'proxy' | '4011-only';
  /** serve only this interface's addresses */
  interface?: string;
  /** server identifier override (e.g. a NAT-facing address); default: the local address */
  address?: string;
  /**
   * Bind exactly these local addresses and no wildcard socket (no broadcasts are received):
   * for tests on loopback and for boot servers reached only through relays.
   */
  listen?: string[];
  ports?: { dhcp?: number; pxe?: number; client?: number };
  decide: Decide;
  /** HTTP port for `${server}` in boot file URLs */
  httpPort?: number;
  /** called once per handled packet, after any reply was sent */
  onOutcome?: (o: Outcome, via: Via, seconds: number) => void;
  /** called for socket-level errors that do not stop the server */
  onError?: (err: Error) => void;
  /**
   * Pool hook: given an outcome that would be answered, return 0 to send now, a delay in ms to
   * send later, or null to hold back (another peer owns the client).
   */
  gate?: (o: Extract<Outcome, { kind: 'reply' }>, via: Via) => number | null;
  /** Pool hooks, per client: iPXE 175.1 priority and next-server placement (see ResponderContext). */
  ipxePriority?: ResponderContext['ipxePriority'];
  nextServer?: ResponderContext['nextServer'];
  /**
   * Pool hook: the server identifier for replies from the sockets bound at start (given the
   * socket's address): this peer's service address while it holds it. Sockets added with
   * addAddress always answer as the address they are bound to.
   */
  serverId?: (bound: string) => string;
}

export interface ProxyServer {
  /** the local addresses served, first one is the identifier for broadcasts */
  addresses: string[];
  ports: { dhcp: number; pxe: number };
  setDecide(d: Decide): void;
  /** Answer on one more local address (a pool service address just taken): 4011, and 67 in proxy mode. */
  addAddress(address: string): Promise<void>;
  removeAddress(address: string): Promise<void>;
  close(): Promise<void>;
}

export class ProxyStartError extends Error {}

/** IPv4 addresses to serve: those of `iface`, or every non-loopback address. */
export function localAddresses(iface?: string): string[] {
  const all = networkInterfaces();
  const names = iface !== undefined ? [iface] : Object.keys(all);
  const out: string[] = [];
  for (const name of names) {
    const list = all[name];
    if (list === undefined) {
      if (iface !== undefined) throw new ProxyStartError(`interface "${iface}" not found (have: ${Object.keys(all).join(', ')})`);
      continue;
    }
    for (const a of list) if (a.family === 'IPv4' && (iface !== undefined || !a.internal)) out.push(a.address);
  }
  return out;
}

const RECV_BUFFER = 4 * 1024 * 1024;

async function bindUdp(address: string, port: number, broadcast: boolean): Promise<dgram.Socket> {
  // Replies go to IP literals: with literalLookup send() writes the datagram at once, before the
  // outcome's hooks (log line, metrics, the operator's events) run.
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: RECV_BUFFER, lookup: literalLookup });
  try {
    await bindSocket(s, { address, port, exclusive: false });
  } catch (err) {
    s.close();
    const e = err as NodeJS.ErrnoException;
    const hint = bindHint(e.code, `another DHCP or ProxyDHCP server, e.g. dnsmasq, holds ${address}:${port}; stop it or use proxyDhcp: 4011-only`);
    throw new ProxyStartError(`cannot bind UDP ${address}:${port}: ${e.message}${hint}`);
  }
  if (broadcast) s.setBroadcast(true);
  return s;
}

export async function startProxyServer(opts: ProxyServerOptions): Promise<ProxyServer> {
  const dhcpPort = opts.ports?.dhcp ?? 67;
  const pxePort = opts.ports?.pxe ?? 4011;
  const clientPort = opts.ports?.client ?? 68;
  const addresses = opts.listen ?? localAddresses(opts.interface);
  if (addresses.length === 0) {
    throw new ProxyStartError(opts.interface !== undefined ? `interface "${opts.interface}" has no IPv4 address` : 'no IPv4 address to serve on');
  }
  let decide = opts.decide;
  const sockets: dgram.Socket[] = [];
  const sendVia = new Map<string, dgram.Socket>();
  const timers = new Set<NodeJS.Timeout>();

  const handle = (sock: dgram.Socket, serverId: string, via: Via, fixed = false) => {
    const ctx: ResponderContext = { serverId: opts.address ?? serverId, mode: opts.mode, ports: { server: dhcpPort, client: clientPort } };
    if (opts.httpPort !== undefined) ctx.httpPort = opts.httpPort;
    if (opts.ipxePriority !== undefined) ctx.ipxePriority = opts.ipxePriority;
    if (opts.nextServer !== undefined) ctx.nextServer = opts.nextServer;
    const dynamic = !fixed && opts.address === undefined ? opts.serverId : undefined;
    return (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
      if (dynamic !== undefined) ctx.serverId = dynamic(serverId);
      onPacket(sock, serverId, via, ctx, msg, rinfo);
    };
  };
  const extra = new Map<string, dgram.Socket[]>();

  const onPacket = (sock: dgram.Socket, serverId: string, via: Via, ctx: ResponderContext, msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const t0 = performance.now();
    let o: Outcome;
    try {
      o = respond(msg, rinfo, via, ctx, decide);
    } catch (err) {
      // respond() is written not to throw; if it ever does, the packet is dropped, not the server.
      o = { kind: 'drop', reason: 'malformed', detail: `internal: ${(err as Error).message}` };
    }
    if (o.kind === 'reply') {
      const r = o;
      const delay = opts.gate ? opts.gate(r, via) : 0;
      // Broadcasts leave through the socket bound to the served address, so the kernel routes
      // 255.255.255.255 out of that address's interface.
      const out = r.to.broadcast ? (sendVia.get(serverId) ?? sock) : sock;
      const send = (): void => out.send(r.bytes, r.to.port, r.to.address, (err) => { if (err) opts.onError?.(err); });
      if (delay === null) {
        o = { kind: 'drop', reason: 'policy', detail: 'held back: another pool peer owns this client', facts: r.facts, decision: r.decision };
      } else if (delay > 0) {
        const t = setTimeout(() => { timers.delete(t); send(); }, delay);
        timers.add(t);
      } else {
        send();
      }
    }
    opts.onOutcome?.(o, via, (performance.now() - t0) / 1000);
  };

  try {
    for (const addr of addresses) {
      if (opts.mode === 'proxy') {
        const s = await bindUdp(addr, dhcpPort, true);
        s.on('message', handle(s, addr, 'dhcp'));
        sockets.push(s);
        sendVia.set(addr, s);
      }
      const p = await bindUdp(addr, pxePort, false);
      p.on('message', handle(p, addr, 'pxe'));
      sockets.push(p);
    }
    if (opts.mode === 'proxy' && opts.listen === undefined) {
      // Clients without an address broadcast; only a wildcard socket receives 255.255.255.255.
      // With `interface`, bind it to that device so other interfaces' clients are not answered.
      let w: dgram.Socket | undefined;
      if (opts.interface !== undefined) {
        try {
          w = await bindOnDevice(opts.interface, '0.0.0.0', dhcpPort, RECV_BUFFER);
        } catch (err) {
          throw new ProxyStartError(`cannot bind UDP 0.0.0.0:${dhcpPort} on ${opts.interface}: ${(err as Error).message}`);
        }
        if (w === undefined) opts.onError?.(new Error(`native helper missing: broadcasts from every interface reach the ${opts.interface} server (run scripts/build-native.sh)`));
      }
      w ??= await bindUdp('0.0.0.0', dhcpPort, true);
      w.on('message', handle(w, addresses[0]!, 'dhcp'));
      sockets.push(w);
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  for (const s of sockets) s.on('error', (err) => opts.onError?.(err));

  return {
    addresses,
    ports: { dhcp: dhcpPort, pxe: pxePort },
    setDecide(d) { decide = d; },
    async addAddress(addr) {
      if (extra.has(addr)) return;
      const added: dgram.Socket[] = [];
      try {
        if (opts.mode === 'proxy') {
          const s = await bindUdp(addr, dhcpPort, true);
          s.on('message', handle(s, addr, 'dhcp', true));
          added.push(s);
        }
        const p = await bindUdp(addr, pxePort, false);
        p.on('message', handle(p, addr, 'pxe', true));
        added.push(p);
      } catch (err) {
        for (const s of added) s.close();
        throw err;
      }
      for (const s of added) s.on('error', (err) => opts.onError?.(err));
      extra.set(addr, added);
    },
    async removeAddress(addr) {
      const list = extra.get(addr) ?? [];
      extra.delete(addr);
      await Promise.all(list.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      const all = [...sockets, ...[...extra.values()].flat()];
      extra.clear();
      await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}
