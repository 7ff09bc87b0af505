// The host's links for path-mtu.ts: addresses from the kernel (getifaddrs), MTUs from sysfs.
// Read at most once per LINKS_TTL_MS, so an interface added or re-configured is seen soon
// without a read per request.

import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Link } from './path-mtu.ts';

const LINKS_TTL_MS = 10_000;

function mtuOf(name: string, fallback: number): number {
  try {
    const n = Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
    return Number.isInteger(n) && n >= 68 ? n : fallback;
  } catch {
    return fallback;
  }
}

export function readLinks(): Link[] {
  const links: Link[] = [];
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (!addrs) continue;
    // Without sysfs (not Linux) assume Ethernet, and loopback's usual 65536.
    const mtu = mtuOf(name, addrs.some((a) => a.internal) ? 65536 : 1500);
    for (const a of addrs) {
      const prefix = Number(a.cidr?.split('/')[1]);
      if (!Number.isInteger(prefix)) continue;
      links.push({ name, family: a.family, address: a.address, prefix, mtu });
    }
  }
  return links;
}

/** readLinks, cached for LINKS_TTL_MS */
export function linkReader(now: () => number, read: () => Link[] = readLinks): () => Link[] {
  let at = -Infinity;
  let cached: Link[] = [];
  return () => {
    const t = now();
    if (t - at >= LINKS_TTL_MS) {
      cached = read();
      at = t;
    }
    return cached;
  };
}
