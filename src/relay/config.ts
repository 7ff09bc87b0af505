// The `relay:` section of the pxepool config, and the same settings as given on the command
// line. The schema is plain zod so it can be plugged into config/schema.ts as is.
import { z } from 'zod';
import { isIpv4 } from '../config/values.ts';

const ipv4 = z.string().trim().refine(isIpv4, { message: 'expected an IPv4 address like 192.168.1.10' });
const name = z.string().trim().min(1);

/** A PXE target as written: an IPv4 address or the name of a pool. */
const target = z.string().trim().min(1);

export const relayPoolSchema = z.strictObject({
  /** in order of preference: the first live peer is chosen */
  peers: z.array(ipv4).min(1),
  /** a peer is dead after this many different clients' DISCOVERs went unanswered … */
  misses: z.number().int().min(1).max(1000).default(1),
  /** … each for at least this long (ms) */
  // Short enough that the client's first retransmission (iPXE: after ~1 s) already goes to the
  // next peer; a false "dead" costs only a probe copy, since dead peers ranked first still get one.
  answerWithinMs: z.number().int().min(100).max(600_000).default(800),
});

export const relaySchema = z.strictObject({
  /** client-facing interfaces (more than one needs the native device-binding helper) */
  interfaces: z.array(name).min(1).optional(),
  /** site DHCP servers: every request is forwarded to each of them */
  dhcpServers: z.array(ipv4).default([]),
  /** dhcrelay `-ch` style files: `MAC  server-IP  # comment`, wildcards like 00:11:22:* */
  hostsFiles: z.array(z.string().min(1)).default([]),
  /** PXE target for clients not in a host file: an address or a pool name; none = DHCP servers only */
  default: target.optional(),
  pools: z.record(name, relayPoolSchema).default({}),
  /** forward to PXE targets only requests from PXE/HTTP-boot firmware (option 60) */
  pxeOnlyToPxe: z.boolean().default(true),
  option82: z.strictObject({
    enabled: z.boolean().default(false),
    /** remote-id sub-option text (RFC 3046 sub-option 2); circuit-id is the interface name */
    remoteId: z.string().min(1).max(255).optional(),
    /**
     * A request that already carries option 82 but has giaddr 0 came through an agent we cannot
     * vouch for (RFC 3046 §2.1): dropped unless the client segment is trusted.
     */
    trustDownstream: z.boolean().default(false),
  }).prefault({}),
  /** requests that already crossed this many relays are dropped (RFC 1542 §4.1.1 allows ≤ 16) */
  maxHops: z.number().int().min(1).max(16).default(4),
  /**
   * How a reply to a client that has no address yet is delivered when it did not ask for
   * broadcast: broadcast (always works) or unicast to yiaddr (needs an ARP entry we cannot add).
   */
  replyDelivery: z.enum(['broadcast', 'unicast']).default('broadcast'),
  queue: z.strictObject({
    /** packets waiting to be handled; beyond this new packets are dropped and counted */
    maxPending: z.number().int().min(1).max(1_000_000).default(4096),
  }).prefault({}),
}).superRefine((r, ctx) => {
  const check = (t: string | undefined, path: (string | number)[]) => {
    if (t === undefined || isIpv4(t) || Object.hasOwn(r.pools, t)) return;
    const names = Object.keys(r.pools);
    ctx.addIssue({ code: 'custom', path, message: `"${t}" is neither an IPv4 address nor a pool (${names.length === 0 ? 'no pools are defined' : `pools: ${names.join(', ')}`})` });
  };
  check(r.default, ['default']);
});

export type RelayConfig = z.output<typeof relaySchema>;
export type RelayPool = z.output<typeof relayPoolSchema>;

/** Parse a `relay:` value; errors as `path: message` lines. */
export function parseRelayConfig(input: unknown): { ok: true; value: RelayConfig } | { ok: false; errors: string[] } {
  const r = relaySchema.safeParse(input ?? {});
  if (r.success) return { ok: true, value: r.data };
  return {
    ok: false,
    errors: r.error.issues.map((i) => `relay${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`),
  };
}
