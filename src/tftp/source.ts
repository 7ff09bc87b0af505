// Block sources for the transfer machine: a cached file (zero-copy slices), and a chunked source
// that keeps the next chunk loading while the current one is sent, for files streamed from disk
// and for netascii, which is converted on the fly.

import type { BlockSource } from './transfer.ts';

const CR = 0x0d;
const LF = 0x0a;

export function memorySource(data: Uint8Array): BlockSource {
  return { read: (offset, length) => data.subarray(offset, Math.min(offset + length, data.length)) };
}

/** Size of `data` once converted to netascii (LF → CR LF, CR → CR NUL): tsize must be exact. */
export function netasciiSize(data: Uint8Array): number {
  let extra = 0;
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === LF || b === CR) extra++;
  }
  return data.length + extra;
}

/**
 * A forward-only netascii encoder over a raw reader. `next(size)` yields the next `size` converted
 * bytes (fewer only at end of file). Bytes that expand across a chunk boundary carry over.
 */
export function netasciiEncoder(readRaw: (position: number, length: number) => Promise<Uint8Array> | Uint8Array) {
  let rawPos = 0;
  let carry = -1; // the second byte of a pair that did not fit, or -1
  let eof = false;
  return {
    async next(size: number): Promise<Uint8Array> {
      const out = new Uint8Array(size);
      let n = 0;
      if (carry >= 0 && n < size) {
        out[n++] = carry;
        carry = -1;
      }
      // Bounded: each pass consumes at least one raw byte or reaches end of file.
      while (n < size && !eof) {
        const want = Math.max(1, Math.min(64 * 1024, size - n));
        const raw = await readRaw(rawPos, want);
        if (raw.length === 0) {
          eof = true;
          break;
        }
        rawPos += raw.length;
        for (let i = 0; i < raw.length; i++) {
          const b = raw[i]!;
          if (b === LF || b === CR) {
            const second = b === LF ? LF : 0;
            out[n++] = CR;
            if (n < size) out[n++] = second;
            else carry = second;
          } else {
            out[n++] = b;
          }
          if (n >= size && i + 1 < raw.length) {
            // Give back the raw bytes we could not place; they are re-read next time.
            rawPos -= raw.length - (i + 1);
            break;
          }
        }
      }
      return n === size ? out : out.subarray(0, n);
    },
  };
}

export type ChunkedSource = BlockSource & {
  /** loads the chunks holding [offset, offset+length) (and any before, for sequential sources) */
  fetch(offset: number, length: number): Promise<void>;
  readonly chunkSize: number;
};

/**
 * `load(index, reuse)` returns chunk `index`: exactly `chunkSize` bytes except the last; it may
 * fill `reuse` (a released chunk's buffer) instead of allocating. With
 * `sequential`, chunks are produced strictly in order (netascii) and one that was dropped cannot
 * be produced again; the transfer never rewinds further than one window, and the chunk size is
 * chosen larger than two windows, so keeping the previous chunk suffices.
 */
export function chunkedSource(
  chunkSize: number,
  load: (index: number, reuse: Uint8Array | null) => Promise<Uint8Array>,
  sequential: boolean,
  /**
   * whether a released chunk may be overwritten now, i.e. no datagram that points into it is still
   * queued for sending. Without it chunks are left to the GC: a 100 MiB stream then leaves up to
   * V8's external-memory slack (tens of MB) of dead chunks in the RSS.
   */
  canRecycle?: () => boolean,
): ChunkedSource {
  const chunks = new Map<number, Uint8Array>();
  const spare: Uint8Array[] = [];
  const loading = new Map<number, Promise<void>>();
  let nextSequential = 0;
  let endIndex = Infinity; // index of the first chunk known to be past the end

  function startLoad(k: number): Promise<void> {
    const existing = loading.get(k);
    if (existing) return existing;
    if (chunks.has(k) || k >= endIndex) return Promise.resolve();
    let p: Promise<void>;
    if (sequential) {
      if (k < nextSequential) return Promise.reject(new Error(`netascii chunk ${k} was already released`));
      // Produce every chunk up to k in order, each after the previous one.
      const prev = k > nextSequential ? startLoad(k - 1) : (loading.get(k - 1) ?? Promise.resolve());
      p = prev.then(async () => {
        if (k >= endIndex) return;
        const c = await load(k, null);
        nextSequential = k + 1;
        chunks.set(k, c);
        if (c.length < chunkSize) endIndex = k + 1;
      });
    } else {
      p = load(k, spare.pop() ?? null).then((c) => {
        chunks.set(k, c);
        if (c.length < chunkSize) endIndex = Math.min(endIndex, k + 1);
      });
    }
    const tracked = p.finally(() => loading.delete(k));
    loading.set(k, tracked);
    // Prefetches nobody awaits must not become unhandled rejections; `fetch` re-raises for waiters.
    tracked.catch(() => {});
    return tracked;
  }

  return {
    chunkSize,
    fetch: async (offset, length) => {
      const first = Math.floor(offset / chunkSize);
      const last = Math.floor((offset + Math.max(1, length) - 1) / chunkSize);
      await Promise.all([startLoad(first), last !== first ? startLoad(last) : undefined]);
    },
    read(offset, length) {
      const k = Math.floor(offset / chunkSize);
      if (k >= endIndex) return new Uint8Array(0);
      const c = chunks.get(k);
      if (!c) {
        void startLoad(k).catch(() => {});
        return null;
      }
      const at = offset - k * chunkSize;
      // Read-ahead: the next window's bytes should already be in memory when its ACK arrives.
      if (c.length === chunkSize) void startLoad(k + 1).catch(() => {});
      for (const [old, buf] of chunks) {
        if (old >= k - 1) continue;
        chunks.delete(old);
        if (!sequential && canRecycle && buf.length === chunkSize && spare.length < 2 && canRecycle()) spare.push(buf);
      }
      const end = at + length;
      if (end <= c.length || c.length < chunkSize) return c.subarray(at, Math.min(end, c.length));
      // The block straddles two chunks (chunk size not a multiple of the block size).
      const next = chunks.get(k + 1);
      if (!next) {
        if (k + 1 >= endIndex) return c.subarray(at);
        void startLoad(k + 1).catch(() => {});
        return null;
      }
      const out = new Uint8Array(Math.min(length, c.length - at + next.length));
      out.set(c.subarray(at), 0);
      out.set(next.subarray(0, out.length - (c.length - at)), c.length - at);
      return out;
    },
  };
}
