// Option negotiation for read requests: RFC 2347 (framework), 2348 (blksize),
// 2349 (timeout, tsize), 7440 (windowsize). Pure.

import type { OptionList } from './packet.ts';

export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const DEFAULT_BLKSIZE = 512;
export const WINDOWSIZE_MAX = 65535;

export type NegotiationLimits = {
  /** largest block we will send; the default 1468 fills a 1500-byte Ethernet frame */
  maxBlksize: number;
  maxWindowsize: number;
};

export type Negotiated = {
  blksize: number;
  windowsize: number;
  /** seconds, only when the client asked for an acceptable value */
  timeoutSec: number | null;
  /** options to acknowledge, in the client's order; empty = send no OACK, start with DATA 1 */
  oack: Array<readonly [string, string]>;
};

// Strict decimal: "1e3", " 12", "0x10" and friends are not numbers on this wire.
function parseDecimal(text: string): number | null {
  if (!/^[0-9]{1,10}$/.test(text)) return null;
  return Number(text);
}

/**
 * Decides what to accept. `size` is the exact number of bytes the transfer will carry
 * (null when unknown, e.g. netascii streamed from disk): tsize is then declined rather than guessed.
 * Unknown, malformed or repeated options are ignored, as RFC 2347 allows.
 */
export function negotiate(requested: OptionList, limits: NegotiationLimits, size: number | null): Negotiated {
  const maxBlk = Math.max(BLKSIZE_MIN, Math.min(BLKSIZE_MAX, Math.floor(limits.maxBlksize)));
  const maxWin = Math.max(1, Math.min(WINDOWSIZE_MAX, Math.floor(limits.maxWindowsize)));
  const out: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutSec: null, oack: [] };
  const seen = new Set<string>();
  for (const [rawName, value] of requested) {
    const name = rawName.toLowerCase();
    if (seen.has(name)) continue;
    seen.add(name);
    const n = parseDecimal(value);
    switch (name) {
      case 'blksize':
        // Below 8 is invalid; above our cap we answer with the cap (RFC 2348 lets the server lower it).
        if (n === null || n < BLKSIZE_MIN) break;
        out.blksize = Math.min(n, maxBlk);
        out.oack.push(['blksize', String(out.blksize)]);
        break;
      case 'windowsize':
        if (n === null || n < 1) break;
        out.windowsize = Math.min(n, WINDOWSIZE_MAX, maxWin);
        out.oack.push(['windowsize', String(out.windowsize)]);
        break;
      case 'timeout':
        // RFC 2349: the server must not change the value; decline out-of-range ones instead.
        if (n === null || n < 1 || n > 255) break;
        out.timeoutSec = n;
        out.oack.push(['timeout', String(n)]);
        break;
      case 'tsize':
        // On a read request the client sends 0 and we reply with the real size.
        if (n === null || size === null) break;
        out.oack.push(['tsize', String(size)]);
        break;
      default:
        break;
    }
  }
  return out;
}
