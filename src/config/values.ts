// Parsers for the small value syntaxes the config and host files share (MACs, UUIDs, IPv4,
// CIDR, sizes). Pure, never throw: each returns a result with a human reason on failure,
// phrased to be appended after "found X" in an error message.

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * A MAC pattern: an exact address, or a prefix of whole bytes followed by `*`.
 * `value` is the 48-bit address (exact) or the prefix bytes packed big-endian (prefix).
 */
export type MacPattern =
  | { kind: 'exact'; value: number; text: string }
  | { kind: 'prefix'; bytes: number[]; text: string };

export const MAC_HINT = 'write aa:bb:cc:dd:ee:ff, or a prefix like aa:bb:cc:* for a wildcard';

const HEX2 = /^[0-9a-f]{1,2}$/;

/** `aa:bb:cc:dd:ee:ff` (also `-` separators, one-digit groups, `aabb.ccdd.eeff`, `aabbccddeeff`) → 48-bit number. */
export function macToNumber(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  let groups: string[];
  if (/^[0-9a-f]{12}$/.test(t)) groups = t.match(/../g) ?? [];
  else if (/^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/.test(t)) groups = t.replace(/\./g, '').match(/../g) ?? [];
  else {
    const sep = t.includes(':') ? ':' : '-';
    groups = t.split(sep);
  }
  if (groups.length !== 6) return undefined;
  let n = 0;
  for (const g of groups) {
    if (!HEX2.test(g)) return undefined;
    n = n * 256 + parseInt(g, 16);
  }
  return n;
}

export function numberToMac(n: number): string {
  return n.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

const CANONICAL_MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

export function parseMacPattern(text: string): Parsed<MacPattern> {
  const t = text.trim().toLowerCase();
  // Host files run to 100,000 lines of this exact form; skip the general parser for them.
  if (CANONICAL_MAC.test(t)) return { ok: true, value: { kind: 'exact', value: Number.parseInt(t.replaceAll(':', ''), 16), text: t } };
  if (t === '') return { ok: false, reason: 'is empty' };
  if (t.includes('*')) {
    const sep = t.includes('-') && !t.includes(':') ? '-' : ':';
    const groups = t.split(sep);
    // `aa:bb:*` and `aa:bb:*:*:*:*` mean the same thing; trailing `*` groups are dropped.
    while (groups.length > 0 && groups[groups.length - 1] === '*') groups.pop();
    if (groups.length >= 6 || groups.some((g) => !/^[0-9a-f]{2}$/.test(g))) {
      return { ok: false, reason: `is not a MAC wildcard (wildcards are whole bytes then *, e.g. 00:11:22:*)` };
    }
    const bytes = groups.map((g) => parseInt(g, 16));
    return { ok: true, value: { kind: 'prefix', bytes, text: bytes.length === 0 ? '*' : `${groups.join(':')}:*` } };
  }
  const n = macToNumber(t);
  if (n === undefined) return { ok: false, reason: 'is not a MAC address' };
  return { ok: true, value: { kind: 'exact', value: n, text: numberToMac(n) } };
}

/** UUID/GUID as lowercase 8-4-4-4-12; accepts braces, upper case, or 32 bare hex digits. */
export function parseUuid(text: string): Parsed<string> {
  const t = text.trim().toLowerCase().replace(/^\{(.*)\}$/, '$1');
  const bare = t.replace(/-/g, '');
  const dashedOk = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(t);
  if (!dashedOk && !/^[0-9a-f]{32}$/.test(t)) {
    return { ok: false, reason: 'is not a UUID (write 8-4-4-4-12 hex digits, e.g. 4c4c4544-0042-3510-8052-b2c04f503232)' };
  }
  return { ok: true, value: `${bare.slice(0, 8)}-${bare.slice(8, 12)}-${bare.slice(12, 16)}-${bare.slice(16, 20)}-${bare.slice(20)}` };
}

/** Dotted-quad IPv4 → 32-bit unsigned number. Leading zeros are refused (octal ambiguity). */
export function ipv4ToNumber(text: string): number | undefined {
  const parts = text.trim().split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const b = Number(p);
    if (b > 255) return undefined;
    n = n * 256 + b;
  }
  return n;
}

export function isIpv4(text: string): boolean {
  return ipv4ToNumber(text) !== undefined;
}

/**
 * An IPv6 address in text (no zone, no embedded IPv4) as 16 bytes, or undefined. Written by hand
 * rather than with node:net so config and codecs stay pure.
 */
export function parseIpv6(text: string): Uint8Array | undefined {
  const a = text.trim().toLowerCase();
  if (!/^[0-9a-f:]{2,39}$/.test(a)) return undefined;
  const halves = a.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  if (halves.length === 2 ? fill < 1 : head.length !== 8) return undefined;
  const all = [...head, ...Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  return out;
}

/** 16 bytes as RFC 5952 text: lower case, no leading zeros, the longest run of 2+ zero groups as `::`. */
export function formatIpv6(b: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** One spelling per IPv6 address (RFC 5952), so addresses compare as strings; undefined if not one. */
export function canonicalIpv6(text: string): string | undefined {
  const b = parseIpv6(text);
  return b === undefined ? undefined : formatIpv6(b);
}

/** Whether `a` lies in `net`/`prefixlen` (both IPv6 text). */
export function ipv6InPrefix(a: string, net: string, prefixlen: number): boolean {
  const x = parseIpv6(a);
  const y = parseIpv6(net);
  if (x === undefined || y === undefined) return false;
  for (let bit = 0; bit < Math.min(128, prefixlen); bit++) {
    const m = 0x80 >> (bit & 7);
    if ((x[bit >> 3]! & m) !== (y[bit >> 3]! & m)) return false;
  }
  return true;
}

export interface Cidr { network: number; prefix: number; text: string }

export function cidrContains(c: Cidr, ip: number): boolean {
  if (c.prefix === 0) return true;
  const size = 2 ** (32 - c.prefix);
  return Math.floor(ip / size) === Math.floor(c.network / size);
}

export function parseCidr(text: string): Parsed<Cidr> {
  const t = text.trim();
  const [addr = '', len, extra] = t.split('/');
  const ip = ipv4ToNumber(addr);
  const prefix = len === undefined ? 32 : /^[0-9]{1,2}$/.test(len) ? Number(len) : NaN;
  if (ip === undefined || extra !== undefined || !(prefix >= 0 && prefix <= 32)) {
    return { ok: false, reason: 'is not an IPv4 subnet (write e.g. 10.1.20.0/24)' };
  }
  const size = 2 ** (32 - prefix);
  const network = Math.floor(ip / size) * size;
  if (network !== ip) {
    const fixed = `${[24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join('.')}/${prefix}`;
    return { ok: false, reason: `has host bits set (write ${fixed})` };
  }
  return { ok: true, value: { network, prefix, text: `${addr}/${prefix}` } };
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kib: 1024, kb: 1000,
  m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2,
  g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3,
};

/** `268435456`, `256MiB`, `256 MB`, `1g` → bytes. */
export function parseSize(v: unknown): Parsed<number> {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? { ok: true, value: v } : { ok: false, reason: 'is not a whole number of bytes' };
  }
  if (typeof v !== 'string') return { ok: false, reason: 'is not a size' };
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  const unit = SIZE_UNITS[(m?.[2] ?? '?').toLowerCase()];
  if (!m || unit === undefined) return { ok: false, reason: 'is not a size (write e.g. 268435456, 256MiB, 1GiB)' };
  return { ok: true, value: Math.round(Number(m[1]) * unit) };
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate to `word`, if it is close enough to be a plausible typo. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c.toLowerCase() === lower) return c;
    const d = editDistance(lower, c.toLowerCase());
    if (d < bestD) { bestD = d; best = c; }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestD <= limit ? best : undefined;
}
