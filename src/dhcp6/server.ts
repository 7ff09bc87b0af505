// The UDP edge of ProxyDHCPv6: 547 (joined to All_DHCP_Relay_Agents_and_Servers, ff02::1:2, on
// each served interface) and 4011, both IPv6-only sockets beside the IPv4 ones on the same
// ports. Decisions come from respond6(); this file only receives, sends and counts.

import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { bindSocket } from '../net/udp.ts';
import type { Decision } from '../policy/decision.ts';
import type { ClientFacts } from '../dhcp/facts-types.ts';
import { encodeDhcp6, parseDhcp6 } from './packet.ts';
import { respond6, serviceDuid, type Outcome6, type Responder6Context, type Via6 } from './respond.ts';

export const ALL_DHCP_SERVERS = 'ff02::1:2';

export interface Proxy6Options extends Responder6Context {
  /** interfaces to join ff02::1:2 on; default every one with an IPv6 address, loopback aside */
  interfaces?: string[];
  ports?: { dhcp?: number; pxe?: number };
  decide: (f: ClientFacts) => Decision;
  /**
   * The pool's say for an answer we would send (Pool.gate6): 0 = now, ms = later, null = not at
   * all (a better-ranked peer answers). Without it every answer leaves at once.
   */
  gate?: (facts: ClientFacts, decision: Extract<Decision, { action: 'boot' }>, solicit: boolean) => number | null;
  /**
   * The address a Solicit's answer names now (Pool.serverAddress6: our IPv6 service address
   * while we hold it); default serverAddress. Its DUID is serviceDuid() of it.
   */
  serverAddressNow?: () => string;
  onOutcome?: (o: Outcome6 | { kind: 'malformed'; reason: string }, via: Via6) => void;
  onError?: (err: Error) => void;
}

export interface Proxy6Server {
  ports: { dhcp: number; pxe: number };
  interfaces: string[];
  setDecide(d: (f: ClientFacts) => Decision): void;
  /** answers 4011 on a service address taken over too (its DUID: serviceDuid(address)) */
  addAddress(address: string): Promise<void>;
  removeAddress(address: string): Promise<void>;
  close(): Promise<void>;
}

export class Proxy6StartError extends Error {}

function v6Interfaces(): string[] {
  return Object.entries(networkInterfaces())
    .filter(([, list]) => (list ?? []).some((a) => a.family === 'IPv6' && !a.internal))
    .map(([name]) => name);
}

export async function startProxy6(o: Proxy6Options): Promise<Proxy6Server> {
  let decide = o.decide;
  const ifaces = o.interfaces ?? v6Interfaces();
  const open = async (port: number, address: string): Promise<dgram.Socket> => {
    const s = dgram.createSocket({ type: 'udp6', reuseAddr: true, ipv6Only: true });
    try {
      await bindSocket(s, { port, address });
    } catch (e) {
      s.close();
      throw new Proxy6StartError(`cannot listen on UDP [${address}]:${port}: ${(e as Error).message}`);
    }
    return s;
  };
  // 547 takes multicast, so the wildcard; 4011 is asked at the boot file URL's host, and bound
  // to it so that the Reply comes from the very address the client asked (the kernel would
  // otherwise pick one of the host's addresses in the prefix, a different one per host).
  const s547 = await open(o.ports?.dhcp ?? 547, '::');
  const s4011 = await open(o.ports?.pxe ?? 4011, o.serverAddress);
  for (const name of ifaces) {
    try {
      s547.addMembership(ALL_DHCP_SERVERS, `::%${name}`);
    } catch (e) {
      o.onError?.(new Error(`cannot join ${ALL_DHCP_SERVERS} on ${name}: ${(e as Error).message}`));
    }
  }
  // DUID → MAC from answered Solicits, for 4011 Requests from addresses that carry no MAC;
  // bounded: the oldest entry leaves first.
  const macs = new Map<string, string>();
  const MAX_MACS = 4096;
  // Answers waiting for their turn (a backup's late Advertise); bounded, cleared on close.
  const timers = new Set<NodeJS.Timeout>();
  const MAX_TIMERS = 4096;
  // What a reply says of us: the address its URL names and the DUID that goes with it.
  const contextFor = (address: string): Responder6Context => (address === o.serverAddress
    ? o
    : { serverAddress: address, serverDuid: serviceDuid(address), httpPort: o.httpPort });
  const handle = (sock: dgram.Socket, via: Via6, bound?: string) => (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const r = parseDhcp6(msg);
    if (!r.ok) {
      o.onOutcome?.({ kind: 'malformed', reason: r.reason }, via);
      return;
    }
    const ctx = contextFor(bound ?? o.serverAddressNow?.() ?? o.serverAddress);
    let out: Outcome6 = respond6(r.message, via, rinfo.address, ctx, decide, (duid) => macs.get(duid));
    // Remembered also when a backup holds back: should it take the owner's service address
    // over, the client's next 4011 Request comes from an address that carries no MAC.
    const duid = via === 'dhcp6' && out.kind === 'reply' ? out.duid : undefined;
    if (duid !== undefined && out.kind === 'reply') {
      macs.delete(duid);
      macs.set(duid, out.facts.mac);
      if (macs.size > MAX_MACS) macs.delete(macs.keys().next().value!);
    }
    const delay = out.kind === 'reply' && o.gate !== undefined ? o.gate(out.facts, out.decision, via === 'dhcp6') : 0;
    if (out.kind === 'reply' && delay === null) {
      out = { kind: 'drop', reason: 'pool', detail: 'held back: another pool peer owns this client', facts: out.facts };
    } else if (out.kind === 'reply') {
      // A link-local source carries its scope (fe80::…%eth0): the reply leaves by that interface.
      const bytes = encodeDhcp6(out.message);
      const send = (): void => sock.send(bytes, rinfo.port, rinfo.address, (err) => { if (err) o.onError?.(err); });
      if (delay !== null && delay > 0) {
        if (timers.size < MAX_TIMERS) {
          const t = setTimeout(() => { timers.delete(t); send(); }, delay);
          timers.add(t);
        }
      } else send();
    }
    o.onOutcome?.(out, via);
  };
  s547.on('message', handle(s547, 'dhcp6'));
  s4011.on('message', handle(s4011, 'pxe6', o.serverAddress));
  for (const s of [s547, s4011]) s.on('error', (e) => o.onError?.(e));
  const extra = new Map<string, dgram.Socket>();
  return {
    ports: { dhcp: s547.address().port, pxe: s4011.address().port },
    interfaces: ifaces,
    setDecide(d) { decide = d; },
    async addAddress(address) {
      if (extra.has(address) || address === o.serverAddress) return;
      const s = await open(o.ports?.pxe ?? 4011, address);
      s.on('message', handle(s, 'pxe6', address));
      s.on('error', (e) => o.onError?.(e));
      extra.set(address, s);
    },
    async removeAddress(address) {
      const s = extra.get(address);
      if (s === undefined) return;
      extra.delete(address);
      await new Promise<void>((res) => s.close(() => res()));
    },
    close: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const all = [s547, s4011, ...extra.values()];
      extra.clear();
      return Promise.all(all.map((s) => new Promise<void>((res) => s.close(() => res())))).then(() => undefined);
    },
  };
}
