// Bounded in-memory file cache shared by TFTP and HTTP. A boot storm asks for the same few files
// hundreds of times: each version (real path + mtime + size) is read from disk once, concurrent
// misses share that one read, and the least recently used versions leave when bytes run out.
// Files above the per-file cap are never loaded whole; they are read in chunks on demand.

import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { ResolvedFile } from './root.ts';

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;

export type FileCacheOptions = {
  /** total bytes kept in memory; default 256 MiB */
  maxBytes?: number;
  /** larger files are streamed from disk; default min(64 MiB, maxBytes) */
  maxFileBytes?: number;
};

type FileInfo = { absPath: string; size: number; mtimeMs: number };

export type MemoryFile = FileInfo & { kind: 'memory'; data: Buffer; close(): Promise<void> };
export type StreamFile = FileInfo & {
  kind: 'stream';
  /**
   * up to `length` bytes at `position`; shorter only at end of file. With `into` (at least
   * `length` bytes) the bytes land there instead of a new buffer, so a streaming reader can recycle
   * its chunks rather than leave one garbage buffer per chunk for the GC.
   */
  read(position: number, length: number, into?: Buffer): Promise<Buffer>;
  close(): Promise<void>;
};
export type OpenedFile = MemoryFile | StreamFile;

export type OpenResult = { ok: true; file: OpenedFile } | { ok: false; reason: 'not-regular' | 'io' };

export type FileCacheStats = {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
  streamed: number;
  evictions: number;
};

export type FileCache = {
  open(file: ResolvedFile): Promise<OpenResult>;
  /** the file at once when it is in memory (counted as a hit), else undefined: call open */
  openCached(file: ResolvedFile): OpenResult | undefined;
  stats(): FileCacheStats;
  clear(): void;
};

const noClose = async (): Promise<void> => {};

// O_NOFOLLOW: the path was resolved by realpath; if its last component became a symlink since,
// refuse rather than follow it out of the root.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0);

async function readExactly(handle: FileHandle, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const buf = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
  let got = 0;
  // Bounded: every pass either advances or stops at end of file.
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

export function createFileCache(opts: FileCacheOptions = {}): FileCache {
  const maxBytes = Math.max(0, opts.maxBytes ?? DEFAULT_CACHE_BYTES);
  const maxFileBytes = Math.min(opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, maxBytes);
  // Map iteration order is insertion order: re-inserting on a hit makes the first key the LRU one.
  const entries = new Map<string, { info: FileInfo; data: Buffer }>();
  const keyByPath = new Map<string, string>();
  const inflight = new Map<string, Promise<{ info: FileInfo; data: Buffer } | OpenResult>>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  let streamed = 0;
  let evictions = 0;

  const keyOf = (f: FileInfo): string => `${f.absPath}\0${f.mtimeMs}\0${f.size}`;

  function drop(key: string): void {
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    bytes -= e.data.length;
    if (keyByPath.get(e.info.absPath) === key) keyByPath.delete(e.info.absPath);
  }

  function insert(key: string, info: FileInfo, data: Buffer): void {
    const old = keyByPath.get(info.absPath);
    if (old !== undefined && old !== key) drop(old); // an older version of the same file is dead weight
    for (const k of entries.keys()) {
      if (bytes + data.length <= maxBytes) break;
      drop(k);
      evictions++;
    }
    entries.set(key, { info, data });
    keyByPath.set(info.absPath, key);
    bytes += data.length;
  }

  function memoryFile(info: FileInfo, data: Buffer): MemoryFile {
    return { kind: 'memory', ...info, data, close: noClose };
  }

  /** The file opened read-only and checked to be a regular file; closed again on any failure. */
  async function openRegular(file: ResolvedFile): Promise<{ ok: true; handle: FileHandle; size: number; mtimeMs: number } | { ok: false; reason: 'io' | 'not-regular' }> {
    let handle: FileHandle;
    try {
      handle = await open(file.absPath, OPEN_FLAGS);
    } catch {
      return { ok: false, reason: 'io' };
    }
    try {
      const st = await handle.stat();
      if (st.isFile()) return { ok: true, handle, size: st.size, mtimeMs: st.mtimeMs };
      await handle.close().catch(() => {});
      return { ok: false, reason: 'not-regular' };
    } catch {
      await handle.close().catch(() => {});
      return { ok: false, reason: 'io' };
    }
  }

  async function load(file: ResolvedFile): Promise<{ info: FileInfo; data: Buffer } | OpenResult> {
    const o = await openRegular(file);
    if (!o.ok) return o;
    const { handle } = o;
    try {
      // Key by what we actually read, in case the file changed since it was resolved.
      const info: FileInfo = { absPath: file.absPath, size: o.size, mtimeMs: o.mtimeMs };
      const data = await readExactly(handle, 0, o.size);
      if (data.length !== o.size) return { ok: false, reason: 'io' }; // truncated under us
      return { info, data };
    } catch {
      return { ok: false, reason: 'io' };
    } finally {
      await handle.close().catch(() => {});
    }
  }

  async function openStream(file: ResolvedFile): Promise<OpenResult> {
    const o = await openRegular(file);
    if (!o.ok) return o;
    const { handle } = o;
    streamed++;
    let closed = false;
    const f: StreamFile = {
      kind: 'stream',
      absPath: file.absPath,
      size: o.size,
      mtimeMs: o.mtimeMs,
      read: (position, length, into) => readExactly(handle, position, length, into),
      close: async () => {
        if (closed) return;
        closed = true;
        await handle.close().catch(() => {});
      },
    };
    return { ok: true, file: f };
  }

  async function openFile(file: ResolvedFile): Promise<OpenResult> {
    if (file.size > maxFileBytes) return openStream(file);
    const key = keyOf(file);
    const hit = entries.get(key);
    if (hit) {
      hits++;
      entries.delete(key);
      entries.set(key, hit);
      return { ok: true, file: memoryFile(hit.info, hit.data) };
    }
    let p = inflight.get(key);
    if (!p) {
      misses++;
      p = load(file);
      inflight.set(key, p);
      void p.finally(() => inflight.delete(key));
      const loaded = await p;
      if ('data' in loaded && loaded.data.length <= maxFileBytes) insert(keyOf(loaded.info), loaded.info, loaded.data);
    } else {
      hits++;
    }
    const r = await p;
    if (!('data' in r)) return r;
    // The file grew past the cap between stat and read: serve this read, but do not keep it.
    return { ok: true, file: memoryFile(r.info, r.data) };
  }

  function openCached(file: ResolvedFile): OpenResult | undefined {
    if (file.size > maxFileBytes) return undefined;
    const key = keyOf(file);
    const hit = entries.get(key);
    if (!hit) return undefined;
    hits++;
    entries.delete(key);
    entries.set(key, hit);
    return { ok: true, file: memoryFile(hit.info, hit.data) };
  }

  return {
    open: openFile,
    openCached,
    stats: () => ({ entries: entries.size, bytes, maxBytes, hits, misses, streamed, evictions }),
    clear: () => {
      entries.clear();
      keyByPath.clear();
      bytes = 0;
    },
  };
}
