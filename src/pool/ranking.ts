// Which peer owns a client, and who backs it up, computed alike on every peer from nothing but
// the client's MAC and the peer list: weighted rendezvous (highest random weight) hashing.
// For score = -w / ln(u) with u uniform on (0,1), the peer with the highest score wins with
// probability w / Σw, and removing a peer moves only the clients it owned.

import { createHash } from 'node:crypto';

export interface RankPeer {
  name: string;
  weight: number;
  /** over its transfer ceiling or draining: ranked after every peer that is not */
  steppedBack?: boolean;
}

const TWO_POW_52 = 2 ** 52;

/**
 * u in (0,1) from (mac, peer). SHA-256 rather than a fast non-cryptographic hash: it is the
 * same on every platform and Node version, and well mixed for MACs that differ in one byte.
 */
export function unitHash(mac: string, peer: string): number {
  const d = createHash('sha256').update(mac.toLowerCase()).update('\0').update(peer).digest();
  // 52 bits: 20 from the first word, 32 from the second; +0.5 keeps u away from 0 and 1.
  const hi = d.readUInt32BE(0) >>> 12;
  const lo = d.readUInt32BE(4);
  return (hi * 2 ** 32 + lo + 0.5) / TWO_POW_52;
}

export function rendezvousScore(mac: string, peer: string, weight: number): number {
  return -weight / Math.log(unitHash(mac, peer));
}

/**
 * The peers in preference order for `mac`: pinned peers first (in pin order), then the rest by
 * descending score; stepped-back peers after all others, in the same order among themselves.
 * Names in `pins` that are not among `peers` are skipped.
 */
export function rankPeers(mac: string, peers: readonly RankPeer[], pins: readonly string[] = []): string[] {
  const scored = peers.map((p) => ({ p, s: rendezvousScore(mac, p.name, p.weight), pin: pins.indexOf(p.name) }));
  scored.sort((a, b) => {
    const sa = a.p.steppedBack === true ? 1 : 0;
    const sb = b.p.steppedBack === true ? 1 : 0;
    if (sa !== sb) return sa - sb;
    const pa = a.pin < 0 ? Infinity : a.pin;
    const pb = b.pin < 0 ? Infinity : b.pin;
    if (pa !== pb) return pa - pb;
    if (a.s !== b.s) return b.s - a.s;
    // Equal scores are all but impossible; names keep the order total and identical everywhere.
    return a.p.name < b.p.name ? -1 : a.p.name > b.p.name ? 1 : 0;
  });
  return scored.map((x) => x.p.name);
}

/** Expected share of clients each peer owns: weight / Σ weight over the peers that are not stepped back. */
export function expectedShares(peers: readonly RankPeer[]): Map<string, number> {
  const active = peers.filter((p) => p.steppedBack !== true);
  const pool = active.length > 0 ? active : peers;
  const total = pool.reduce((s, p) => s + p.weight, 0);
  return new Map(peers.map((p) => [p.name, pool.includes(p) && total > 0 ? p.weight / total : 0]));
}
