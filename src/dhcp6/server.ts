// The UDP edge of ProxyDHCPv6: 547 (joined to All_DHCP_Relay_Agents_and_Servers, ff02::1:2, on
// each served interface) and 4011, both IPv6-only sockets beside the IPv4 ones on the same
// ports. Decisions come from respond6(); this file only receives, sends and counts.

import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { bindSocket } from '../net/udp.ts';
import type { Decision } from '../policy/decision.ts';
import type { ClientFacts } from '../dhcp/facts-types.ts';
import { encodeDhcp6, parseDhcp6, pxe6Facts } from './packet.ts';
import { respond6, type Outcome6, type Responder6Context, type Via6 } from './respond.ts';

export const ALL_DHCP_SERVERS = 'ff02::1:2';

export interface Proxy6Options extends Responder6Context {
  /** interfaces to join ff02::1:2 on; default every one with an IPv6 address, loopback aside */
  interfaces?: string[];
  ports?: { dhcp?: number; pxe?: number };
  decide: (f: ClientFacts) => Decision;
  onOutcome?: (o: Outcome6 | { kind: 'malformed'; reason: string }, via: Via6) => void;
  onError?: (err: Error) => void;
}

export interface Proxy6Server {
  ports: { dhcp: number; pxe: number };
  interfaces: string[];
  setDecide(d: (f: ClientFacts) => Decision): void;
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
  const handle = (sock: dgram.Socket, via: Via6) => (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    const r = parseDhcp6(msg);
    if (!r.ok) {
      o.onOutcome?.({ kind: 'malformed', reason: r.reason }, via);
      return;
    }
    const out = respond6(r.message, via, rinfo.address, o, decide, (duid) => macs.get(duid));
    if (out.kind === 'reply') {
      const duid = via === 'dhcp6' ? pxe6Facts(r.message)?.duid : undefined;
      if (duid !== undefined) {
        macs.delete(duid);
        macs.set(duid, out.facts.mac);
        if (macs.size > MAX_MACS) macs.delete(macs.keys().next().value!);
      }
      // A link-local source carries its scope (fe80::…%eth0): the reply leaves by that interface.
      sock.send(encodeDhcp6(out.message), rinfo.port, rinfo.address, (err) => { if (err) o.onError?.(err); });
    }
    o.onOutcome?.(out, via);
  };
  s547.on('message', handle(s547, 'dhcp6'));
  s4011.on('message', handle(s4011, 'pxe6'));
  for (const s of [s547, s4011]) s.on('error', (e) => o.onError?.(e));
  return {
    ports: { dhcp: s547.address().port, pxe: s4011.address().port },
    interfaces: ifaces,
    setDecide(d) { decide = d; },
    close: () => Promise.all([s547, s4011].map((s) => new Promise<void>((res) => s.close(() => res())))).then(() => undefined),
  };
}
