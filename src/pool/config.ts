// The `pool:` config section. Every peer carries the same section (except `name` and `bind`),
// and the parts that must agree across the pool are hashed into every heartbeat, so a peer
// running a different peer list or different timings is reported instead of silently ranking
// clients differently from the others.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalIpv6 } from '../config/values.ts';

export const DEFAULT_POOL_PORT = 4012;

/** An IPv4 address, or a global/ULA IPv6 one in its one RFC 5952 spelling. */
const ip46 = (what: string) => z.string().transform((v, ctx) => {
  const t = v.trim();
  if (/^\d+\.\d+\.\d+\.\d+$/.test(t) && z.ipv4().safeParse(t).success) return t;
  const c = canonicalIpv6(t);
  if (c !== undefined && !/^(fe[89ab]|ff)/.test(c) && c !== '::1') return c;
  ctx.addIssue({ code: 'custom', message: `${what}: an IPv4 address like 10.0.0.11, or a global or ULA IPv6 address like fd00::11` });
  return z.NEVER;
});
const isV6 = (a: string): boolean => a.includes(':');

export const poolPeerSchema = z.strictObject({
  name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
  /** where this peer receives heartbeats (every peer of one family: IPv6 for IPv6-only networks) */
  address: ip46('the peer\'s own address'),
  port: z.number().int().min(1).max(65535).optional().default(DEFAULT_POOL_PORT),
  /** relative capacity: share of clients owned and room for transfers */
  weight: z.number().positive().max(1000).optional().default(1),
  /** address clients use for TFTP/HTTP on this peer when it differs from `address` */
  bootAddress: z.ipv4().optional(),
  /**
   * An address on the clients' segment that no host owns: this peer adds it to its interface
   * and names it to clients; when the peer dies a survivor takes it over (docs/pool.md).
   */
  serviceAddress: z.ipv4({ message: 'an unused IPv4 address on the clients\' segment (an IPv6 one goes in serviceAddress6)' }).optional(),
  /**
   * The same for IPv6 clients (ProxyDHCPv6, TFTP and HTTP over IPv6; needs server.address6):
   * an unused global or ULA address in the clients' prefix.
   */
  serviceAddress6: z.string().transform((v, ctx) => {
    const c = canonicalIpv6(v);
    if (c === undefined || /^(fe[89ab]|ff)/.test(c) || c === '::' || c === '::1') {
      ctx.addIssue({ code: 'custom', message: 'an unused global or ULA IPv6 address in the clients\' prefix, like fd00::20 (not link-local, multicast or loopback)' });
      return z.NEVER;
    }
    return c;
  }).optional(),
});

export const poolSchema = z
  .strictObject({
    /** this peer's name; it may also appear in `peers` */
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    peers: z.array(poolPeerSchema).min(1),
    secret: z.string().min(16, 'the shared secret needs at least 16 characters').optional(),
    /** file holding the shared secret (surrounding whitespace is ignored) */
    secretFile: z.string().min(1).optional(),
    /** local address for the heartbeat socket; the port is this peer's `port` */
    bind: z.union([z.literal('::'), ip46('bind')]).optional(),
    heartbeatMs: z.number().int().min(50).max(60_000).optional().default(500),
    /** a peer silent for this many heartbeat intervals is down */
    deadAfter: z.number().int().min(2).max(100).optional().default(3),
    /** delay per rank for backup offers once the owner has failed a client */
    staggerMs: z.number().int().min(0).max(2_000).optional().default(40),
    /** transfers per unit of weight above which a peer steps back (ranked last, not placed) */
    maxTransfers: z.number().int().min(1).max(1_000_000).optional().default(64),
    /** accepted clock difference between peers for heartbeat timestamps */
    skewMs: z.number().int().min(1_000).max(600_000).optional().default(30_000),
    /**
     * DISCOVER `secs` at or above this is evidence an earlier attempt failed. Not lower than
     * ~10: iPXE already sends secs 4 in its first DISCOVER (docs/firmware.md).
     */
    evidenceSecs: z.number().int().min(1).max(65535).optional().default(12),
    /** how many backups always send a late, ordered fallback offer to EDK2 (UEFI PXE) clients */
    fallbackOffers: z.number().int().min(0).max(8).optional().default(1),
    /** delay per rank for those EDK2 fallback offers (EDK2 collects offers for ~4 s) */
    fallbackStaggerMs: z.number().int().min(0).max(3_000).optional().default(300),
    /**
     * Lifetime of a held service address in the kernel; renewed every heartbeat. A peer that
     * dies or stops loses its addresses after this long, and only then may a survivor take them.
     */
    leaseMs: z.number().int().min(2_000).max(60_000).optional().default(2_000),
  })
  .superRefine((p, ctx) => {
    if ((p.secret === undefined) === (p.secretFile === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of secret or secretFile', path: ['secret'] });
    }
    const families = new Set(p.peers.map((peer) => (isV6(peer.address) ? 'IPv6' : 'IPv4')));
    if (families.size > 1) ctx.addIssue({ code: 'custom', message: 'give every peer an address of one family (all IPv4 or all IPv6): heartbeats go out of one socket', path: ['peers'] });
    if (p.bind !== undefined && families.size === 1 && isV6(p.bind) !== families.has('IPv6')) {
      ctx.addIssue({ code: 'custom', message: `bind ${p.bind} is not of the peers' family (${[...families][0]})`, path: ['bind'] });
    }
    const names = new Set<string>();
    const endpoints = new Set<string>();
    p.peers.forEach((peer, i) => {
      if (names.has(peer.name)) ctx.addIssue({ code: 'custom', message: `peer name "${peer.name}" is listed twice`, path: ['peers', i, 'name'] });
      names.add(peer.name);
      const ep = `${isV6(peer.address) ? `[${peer.address}]` : peer.address}:${peer.port}`;
      if (endpoints.has(ep)) ctx.addIssue({ code: 'custom', message: `two peers share ${ep}`, path: ['peers', i, 'port'] });
      endpoints.add(ep);
    });
    // serviceAddress and serviceAddress6 follow the same rules: every peer or none, each its own.
    const counts = (['serviceAddress', 'serviceAddress6'] as const).map((field) => {
      const withField = p.peers.filter((peer) => peer[field] !== undefined).length;
      const seen = new Map<string, number>();
      p.peers.forEach((peer, i) => {
        const a = peer[field];
        if (a === undefined) {
          if (withField > 0) ctx.addIssue({ code: 'custom', message: `give every peer a ${field}, or none (${withField} of ${p.peers.length} have one)`, path: ['peers', i] });
          return;
        }
        const clash = seen.get(a);
        if (clash !== undefined) ctx.addIssue({ code: 'custom', message: `${field} ${a} is also peer ${clash}'s: each peer needs its own`, path: ['peers', i, field] });
        seen.set(a, i);
        if (field === 'serviceAddress' && p.peers.some((q) => q.address === a || q.bootAddress === a)) {
          ctx.addIssue({ code: 'custom', message: `serviceAddress ${a} is a peer's own address; pick an unused address on the clients' segment`, path: ['peers', i, field] });
        }
      });
      return withField;
    });
    const [withService, withService6] = counts as [number, number];
    if ((withService > 0 || withService6 > 0) && !p.peers.some((peer) => peer.name === p.name)) {
      ctx.addIssue({ code: 'custom', message: `with service addresses, this peer ("${p.name}") must be listed in peers with its own serviceAddress`, path: ['name'] });
    }
    if ((withService > 0 || withService6 > 0) && p.leaseMs < 4 * p.heartbeatMs) {
      ctx.addIssue({ code: 'custom', message: `leaseMs must be at least 4 heartbeats (${4 * p.heartbeatMs}): an address is renewed every heartbeat`, path: ['leaseMs'] });
    }
    if (p.fallbackOffers > 0 && p.fallbackOffers * p.fallbackStaggerMs >= 3_500) {
      ctx.addIssue({ code: 'custom', message: 'fallbackOffers × fallbackStaggerMs must stay under EDK2\'s ~3.8 s offer window', path: ['fallbackStaggerMs'] });
    }
  })
  // Heartbeats listen on every address of the peers' family unless told otherwise.
  .transform((p) => ({ ...p, bind: p.bind ?? (p.peers.some((peer) => isV6(peer.address)) ? '::' : '0.0.0.0') }));


export type PoolConfig = z.output<typeof poolSchema>;
export type PoolConfigInput = z.input<typeof poolSchema>;
export type PoolPeerConfig = z.output<typeof poolPeerSchema>;

/** The peer list with this peer in it: a peer not listed in its own config ranks with weight 1. */
export function poolMembers(cfg: PoolConfig): PoolPeerConfig[] {
  if (cfg.peers.some((p) => p.name === cfg.name)) return cfg.peers;
  return [...cfg.peers, { name: cfg.name, address: cfg.bind, port: DEFAULT_POOL_PORT, weight: 1 }];
}

/**
 * Digest of everything that must be equal on every peer for them to rank clients alike.
 * `extra` lets the caller fold in the boot policy, so two peers that would answer the same
 * client differently are also reported. Order-insensitive in the peer list.
 */
export function poolConfigHash(cfg: PoolConfig, extra = ''): Uint8Array {
  const peers = [...cfg.peers]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((p) => [p.name, p.address, p.port, p.weight, p.bootAddress ?? null, p.serviceAddress ?? null, p.serviceAddress6 ?? null]);
  const agreed = {
    peers,
    heartbeatMs: cfg.heartbeatMs, deadAfter: cfg.deadAfter, staggerMs: cfg.staggerMs, maxTransfers: cfg.maxTransfers,
    evidenceSecs: cfg.evidenceSecs, fallbackOffers: cfg.fallbackOffers, fallbackStaggerMs: cfg.fallbackStaggerMs,
    leaseMs: cfg.leaseMs,
    extra,
  };
  return new Uint8Array(createHash('sha256').update(JSON.stringify(agreed)).digest().subarray(0, 16));
}
