// MAC → values, for tables of 100,000+ entries (host files). Exact addresses live in a Map
// keyed by the 48-bit number (no string hashing of formatted MACs on the hot path); wildcards
// live in a byte trie, so a lookup costs one Map probe plus at most six trie steps no matter
// how many entries there are.
import type { MacPattern } from '../config/values.ts';

interface TrieNode<V> {
  children: Map<number, TrieNode<V>> | undefined;
  values: V[] | undefined;
}

const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** `aa:bb:cc:dd:ee:ff` (as ClientFacts has it) → 48-bit number; undefined if malformed. Hot path: no allocation. */
export function macKey(mac: string): number | undefined {
  if (mac.length !== 17) return undefined;
  let n = 0;
  for (let i = 0; i < 17; i += 3) {
    const hi = HEX_VALUE[mac.charCodeAt(i) & 127]!;
    const lo = HEX_VALUE[mac.charCodeAt(i + 1) & 127]!;
    if (hi < 0 || lo < 0 || mac.charCodeAt(i) > 127 || mac.charCodeAt(i + 1) > 127 || (i < 15 && mac.charCodeAt(i + 2) !== 58)) return undefined;
    n = n * 256 + hi * 16 + lo;
  }
  return n;
}

/** Byte `i` (0 = first, as written) of a 48-bit MAC number. */
function byteAt(mac: number, i: number): number {
  return Math.floor(mac / 2 ** (8 * (5 - i))) % 256;
}

export class MacTable<V> {
  #exact = new Map<number, V[]>();
  #root: TrieNode<V> = { children: undefined, values: undefined };
  #exactEntries = 0;
  #wildcardEntries = 0;

  add(pattern: MacPattern, value: V): void {
    if (pattern.kind === 'exact') this.addExact(pattern.value, value);
    else this.addPrefix(pattern.bytes, value);
  }

  addExact(mac: number, value: V): void {
    const list = this.#exact.get(mac);
    if (list === undefined) this.#exact.set(mac, [value]);
    else list.push(value);
    this.#exactEntries++;
  }

  /** `bytes` is the prefix before the `*`: [0x00, 0x11, 0x22] for 00:11:22:*; [] matches every MAC. */
  addPrefix(bytes: readonly number[], value: V): void {
    let node = this.#root;
    for (const b of bytes) {
      node.children ??= new Map();
      let next = node.children.get(b);
      if (next === undefined) {
        next = { children: undefined, values: undefined };
        node.children.set(b, next);
      }
      node = next;
    }
    (node.values ??= []).push(value);
    this.#wildcardEntries++;
  }

  /**
   * Every value whose pattern matches, most specific first: exact entries, then wildcards from
   * the longest prefix to the shortest; within one pattern, in the order added.
   */
  matches(mac: number): V[] {
    const exact = this.#exact.get(mac);
    const out: V[] = exact === undefined ? [] : exact.slice();
    if (this.#wildcardEntries === 0) return out;
    const path: V[][] = [];
    let node: TrieNode<V> | undefined = this.#root;
    for (let i = 0; node !== undefined; i++) {
      if (node.values !== undefined) path.push(node.values);
      if (i === 6 || node.children === undefined) break;
      node = node.children.get(byteAt(mac, i));
    }
    for (let i = path.length - 1; i >= 0; i--) out.push(...path[i]!);
    return out;
  }

  /** The most specific match: an exact entry, else the longest wildcard (first added wins a tie). */
  get(mac: number): V | undefined {
    const exact = this.#exact.get(mac);
    if (exact !== undefined) return exact[0];
    let best: V | undefined;
    let node: TrieNode<V> | undefined = this.#root;
    for (let i = 0; node !== undefined; i++) {
      if (node.values !== undefined) best = node.values[0];
      if (i === 6 || node.children === undefined) break;
      node = node.children.get(byteAt(mac, i));
    }
    return best;
  }

  /** distinct exact addresses */
  get exactCount(): number { return this.#exact.size; }
  /** exact entries including repeats of the same address */
  get exactEntries(): number { return this.#exactEntries; }
  get wildcardCount(): number { return this.#wildcardEntries; }
}
