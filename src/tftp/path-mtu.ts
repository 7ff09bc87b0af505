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
  for (const l of links) {
    if ((l.family === 'IPv4') !== (type === 'ipv4') || (best && l.prefix <= best.prefix)) continue;
    if (type === 'ipv4' ? !net.isIPv4(l.address) : !net.isIPv6(l.address)) continue;
    const subnet = new net.BlockList();
    subnet.addSubnet(l.address, l.prefix, type);
    if (subnet.check(addr, type)) best = l;
  }
  return best;
}

/**
 * The largest blksize for this client: its link's MTU when it is on one of ours, else that of an
 * Ethernet path (1468 over IPv4, 1448 over IPv6).
 */
export function pathBlksize(client: string, links: readonly Link[]): number {
  const addr = unmapV4(client);
  const family = net.isIPv4(addr) ? 'IPv4' : 'IPv6';
  const link = onLink(addr, links);
  const mtu = link ? link.mtu : ROUTED_MTU;
  return Math.max(MIN_BLKSIZE, mtu - OVERHEAD[family]);
}
