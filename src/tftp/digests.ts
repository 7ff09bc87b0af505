// SHA-256 (first 16 bytes) per file version (path, size, mtime), computed once, in the
// background: a pool successor resumes a transfer only from a file with the same content.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { ResolvedFile } from '../files/root.ts';

export interface DigestCache {
  /** the digest when known, else a promise of it (null: the file could not be read) */
  of(r: ResolvedFile): string | Promise<string | null>;
}

export function createDigestCache(onKnown: () => void, max = 512): DigestCache {
  const digests = new Map<string, string | Promise<string | null>>();
  return {
    of(r) {
      const k = `${r.absPath}|${r.size}|${r.mtimeMs}`;
      const have = digests.get(k);
      if (have !== undefined) return have;
      if (digests.size >= max) digests.delete(digests.keys().next().value!);
      const p = new Promise<string | null>((resolve) => {
        const h = createHash('sha256');
        createReadStream(r.absPath).on('data', (c) => h.update(c)).on('error', () => resolve(null)).on('end', () => {
          const d = h.digest().subarray(0, 16).toString('hex');
          digests.set(k, d);
          resolve(d);
          try { onKnown(); } catch { /* the caller's business */ }
        });
      });
      digests.set(k, p);
      return p;
    },
  };
}
