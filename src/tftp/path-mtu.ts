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

function v4ToInt(a: string): number {
  const p = a.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6ToBytes(a: string): number[] | null {
  const zone = a.indexOf('%');
  const s = zone >= 0 ? a.slice(0, zone) : a;
  if (!net.isIPv6(s)) return null;
  let head = s;
  let tail = '';
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const groups = (x: string): number[] => {
    if (x === '') return [];
    const out: number[] = [];
    for (const g of x.split(':')) {
      if (g.includes('.')) {
        const n = v4ToInt(g);
        out.push(n >>> 16, n & 0xffff);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = groups(head);
  const t = groups(tail);
  const all = dbl >= 0 ? [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  if (all.length !== 8) return null;
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function samePrefix(a: number[], b: number[], prefix: number): boolean {
  for (let bit = 0; bit < prefix; bit += 8) {
    const take = Math.min(8, prefix - bit);
    const mask = (0xff << (8 - take)) & 0xff;
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** An IPv4 client seen on a dual-stack socket (`::ffff:10.0.0.5`) is an IPv4 client. */
export function unmapV4(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m ? m[1]! : address;
}

/** The link a client is directly on, if any (the longest matching prefix). */
export function onLink(client: string, links: readonly Link[]): Link | null {
  const addr = unmapV4(client);
  let best: Link | null = null;
  if (net.isIPv4(addr)) {
    const c = v4ToInt(addr);
    for (const l of links) {
      if (l.family !== 'IPv4' || !net.isIPv4(l.address)) continue;
      const mask = l.prefix === 0 ? 0 : (~0 << (32 - l.prefix)) >>> 0;
      if (((c & mask) >>> 0) === ((v4ToInt(l.address) & mask) >>> 0) && (!best || l.prefix > best.prefix)) best = l;
    }
    return best;
  }
  const c = v6ToBytes(addr);
  if (!c) return null;
  for (const l of links) {
    if (l.family !== 'IPv6') continue;
    const b = v6ToBytes(l.address);
    if (b && samePrefix(c, b, l.prefix) && (!best || l.prefix > best.prefix)) best = l;
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
