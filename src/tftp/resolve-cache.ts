// Name → resolved file, reused for a second. A boot storm asks for the same few names hundreds
// of times within a second. Each resolution is a realpath and a stat on the libuv thread pool
// (4 threads), so 500 RRQs queue ~1000 pool jobs and the last client waits for all of them.
// Successful resolutions are reused for `ttlMs` (concurrent misses share one), which makes a
// storm's hot path free of pool hops. Confinement is unaffected: the reused answer is a real
// path that was inside the root; a file replaced or a symlink swapped is seen at most `ttlMs`
// late. The resolver and the clock are given, so the rules are tested without a file system.

import type { ResolveResult } from '../files/root.ts';

export interface ResolveCache {
  /** the resolution, from the cache when fresh (failures are never kept) */
  get(name: string): Promise<ResolveResult>;
  /** a settled, fresh resolution without waiting for a microtask: the storm's common case */
  now(name: string): ResolveResult | undefined;
}

export function createResolveCache(resolve: (name: string) => Promise<ResolveResult>, clock: () => number, o: { ttlMs?: number; max?: number } = {}): ResolveCache {
  const ttl = o.ttlMs ?? 1000;
  const max = o.max ?? 4096;
  const entries = new Map<string, { at: number; result: Promise<ResolveResult>; value?: ResolveResult }>();
  return {
    get(name) {
      const t = clock();
      const hit = entries.get(name);
      if (hit && t - hit.at < ttl) return hit.result;
      if (entries.size >= max) entries.clear();
      const result = resolve(name);
      const entry: { at: number; result: Promise<ResolveResult>; value?: ResolveResult } = { at: t, result };
      entries.set(name, entry);
      void result.then(
        (r) => {
          if (!r.ok && entries.get(name)?.result === result) entries.delete(name);
          else entry.value = r;
        },
        () => entries.delete(name),
      );
      return result;
    },
    now(name) {
      const hit = entries.get(name);
      return hit && clock() - hit.at < ttl ? hit.value : undefined;
    },
  };
}
