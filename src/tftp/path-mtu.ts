// The largest block a client's path carries without IP fragmentation (RFC 2348 lets the server
// lower the blksize a client asks for). A lost fragment loses the whole block, and some firmware
// drops fragments outright, so a block is never larger than one frame of the link it crosses.
// Pure: the edge (links.ts) supplies the host's interfaces.

import net from 'node:net';

export type Link = {
  name: string;
  family: 'IPv4' | 'IPv6';
  /** the interface's own address */
  address: string;
  /** prefix length of its subnet */
  prefix: number;
  mtu: number;
};

/** IP + UDP + TFTP DATA header bytes */
const OVERHEAD = { IPv4: 20 + 8 + 4, IPv6: 40 + 8 + 4 } as const;
/** a routed client's path is assumed to be Ethernet: its MTU is unknown to us */
const ROUTED_MTU = 1500;
const MIN_BLKSIZE = 8;

/** An IPv4 client seen on a dual-stack socket (`::ffff:10.0.0.5`) is an IPv4 client. */
export function unmapV4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** The link a client is directly on, if any (the longest matching prefix). */
export function onLink(client: string, links: readonly Link[]): Link | null {
  const unmapped = unmapV4(client);
  // A scoped literal (fe80::1%eth0) matches on its address; the zone is the link's business.
  const addr = unmapped.includes('%') ? unmapped.slice(0, unmapped.indexOf('%')) : unmapped;
  const type = net.isIPv4(addr) ? 'ipv4' : net.isIPv6(addr) ? 'ipv6' : null;
  if (type === null) return null;
  let best: Link | null = null;
  for (const { link: l, subnet } of subnetsOf(links)) {
    if ((l.family === 'IPv4') !== (type === 'ipv4') || (best && l.prefix <= best.prefix)) continue;
    if (subnet.check(addr, type)) best = l;
  }
  return best;
}

/** each link with its subnet as a BlockList, built once per links snapshot */
function subnetsOf(links: readonly Link[]): ReadonlyArray<{ link: Link; subnet: net.BlockList }> {
  let built = subnets.get(links);
  if (built === undefined) {
    built = [];
    for (const link of links) {
      const type = link.family === 'IPv4' ? 'ipv4' : 'ipv6';
      if (type === 'ipv4' ? !net.isIPv4(link.address) : !net.isIPv6(link.address)) continue;
      const subnet = new net.BlockList();
      subnet.addSubnet(link.address, link.prefix, type);
      built.push({ link, subnet });
    }
    subnets.set(links, built);
  }
  return built;
}

const subnets = new WeakMap<readonly Link[], Array<{ link: Link; subnet: net.BlockList }>>();

/**
 * The largest blksize for this client: its link's MTU when it is on one of ours, else that of an
 * Ethernet path (1468 over IPv4, 1448 over IPv6).
 */
export function pathBlksize(client: string, links: readonly Link[]): number {
  // A storm asks this for hundreds of addresses a second, and matching builds a BlockList per
  // link: answers are kept per links snapshot (the edge replaces the snapshot when links change).
  let memo = memos.get(links);
  if (memo === undefined) memos.set(links, (memo = new Map()));
  const hit = memo.get(client);
  if (hit !== undefined) return hit;
  if (memo.size >= MEMO_MAX) memo.clear();
  const v = computeBlksize(client, links);
  memo.set(client, v);
  return v;
}

const memos = new WeakMap<readonly Link[], Map<string, number>>();
const MEMO_MAX = 65536;

function computeBlksize(client: string, links: readonly Link[]): number {
  const addr = unmapV4(client);
  const family = net.isIPv4(addr) ? 'IPv4' : 'IPv6';
  const link = onLink(addr, links);
  const mtu = link ? link.mtu : ROUTED_MTU;
  return Math.max(MIN_BLKSIZE, mtu - OVERHEAD[family]);
}
