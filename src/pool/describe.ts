// What the configured pool survives, in words, for `pxepool check` (issue 12, item 4). Pure.

import type { PoolConfig } from './config.ts';
import { leaseTimings, PROBE_WAIT_MS } from './takeover.ts';

const net24 = (a: string): string => a.split('.').slice(0, 3).join('.');

export function describeFailover(cfg: PoolConfig | undefined): string[] {
  if (cfg === undefined) return [];
  const n = cfg.peers.length;
  const service = cfg.peers.filter((p) => p.serviceAddress !== undefined || p.serviceAddress6 !== undefined);
  const six = cfg.peers.some((p) => p.serviceAddress6 !== undefined);
  const four = cfg.peers.some((p) => p.serviceAddress !== undefined);
  const lines: string[] = [];
  lines.push(`pool: ${n} peer${n === 1 ? '' : 's'}; a peer silent ${(cfg.heartbeatMs * cfg.deadAfter / 1000).toFixed(1)} s is down and new clients go to the others.`);
  if (service.length > 0) {
    const lease = leaseTimings(cfg.leaseMs, cfg.heartbeatMs);
    lines.push(
      'failover after an answer: service addresses. A dead peer\'s address moves to a survivor (~0.5 s after a crash, ' +
      `~${((lease.renewWindowMs + PROBE_WAIT_MS) / 1000).toFixed(1)} s after a stop or hang, ~${((lease.leaseWaitMs + PROBE_WAIT_MS) / 1000).toFixed(1)} s after a lost host); the client's own retransmissions reach it, and TFTP transfers go on from its next ACK.`,
    );
    lines.push(`  covers: ${four && six ? 'IPv4 and IPv6 clients (one survivor takes both of a dead peer\'s addresses)' : six ? 'IPv6 clients only (IPv4 clients: give every peer a serviceAddress too)' : 'IPv4 clients only (IPv6 clients: give every peer a serviceAddress6 too)'}.`);
    lines.push(`  needs: every peer and its service address on the clients' segment, CAP_NET_ADMIN, ${four ? 'arping (iputils-arping), ' : ''}${six ? 'ndisc6 (ndisc6) and the native helper with CAP_NET_RAW (neighbour advertisements), ' : ''}identical boot trees on every peer.`);
    const subnets = new Set(cfg.peers.map((p) => net24(p.address)));
    if (subnets.size > 1) {
      lines.push(`  warning: the peers' addresses span ${subnets.size} /24 networks (${[...subnets].map((s) => `${s}.0/24`).join(', ')}): an address cannot move across a router; if the peers are routed apart, leave serviceAddress out.`);
    }
  } else {
    lines.push('failover after an answer: none on the wire. What still recovers: UEFI (EDK2) asks the next offer\'s boot server after ~10 s; iPXE scripts from /boot.ipxe name every live peer for each file.');
    lines.push('  what does not: a BIOS iPXE ROM or pxelinux whose server dies after its offer fails its boot. On one segment, give every peer a serviceAddress (docs/pool.md); routed peers cannot have one.');
  }
  return lines;
}
