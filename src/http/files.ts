// Boot files over HTTP from the same confined root and cache as TFTP: GET/HEAD, one byte range,
// validators for 304, large files streamed from disk with backpressure.

import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FileCache, OpenedFile } from '../files/cache.ts';
import { isNotFound, openBootRoot, type BootRoot } from '../files/root.ts';

export type FileHandlerOptions = {
  /** the boot root directory, or one already opened with openBootRoot */
  root: string | BootRoot;
  /** per-profile trees under their own first path segment, when `root` is a path */
  mounts?: Readonly<Record<string, string>>;
  cache: FileCache;
  /** URL path prefix the files live under, e.g. "/boot"; default "/" */
  prefix?: string;
};

/** Resolves true when it answered; false when the path names no file, so the caller can route on. */
export type FileHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const TYPES: Record<string, string> = {
  '.ipxe': 'text/plain; charset=utf-8',
  '.cfg': 'text/plain; charset=utf-8',
  '.conf': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.iso': 'application/x-iso9660-image',
};

export function contentTypeFor(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

export type ByteRange = { start: number; end: number };
export type RangeResult = { kind: 'none' } | { kind: 'range'; range: ByteRange } | { kind: 'unsatisfiable' };

/** A Range header longer than this is ignored (whole file): a real one is a few dozen bytes. */
export const MAX_RANGE_HEADER = 200;

/**
 * One `bytes=` range against a file of `size` bytes. Multiple ranges and syntax we do not know are
 * answered with the whole file (RFC 9110 lets a server ignore Range). One pass over the header,
 * each character looked at once (`steps` counts them, for the test that holds it linear): a
 * backtracking pattern here cost 0.45 s for a 16 KB header and stalled every other client.
 */
export function parseRange(header: string | undefined, size: number, steps?: { n: number }): RangeResult {
  if (header === undefined || header.length > MAX_RANGE_HEADER) return { kind: 'none' };
  let i = 0;
  const len = header.length;
  const at = (k: number): number => { if (steps) steps.n++; return header.charCodeAt(k); };
  const isSpace = (c: number): boolean => c === 0x20 || c === 0x09;
  const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
  const skipSpaces = (): void => { while (i < len && isSpace(at(i))) i++; };
  const digits = (): string => { const s0 = i; while (i < len && isDigit(at(i))) i++; return header.slice(s0, i); };
  skipSpaces();
  if (header.slice(i, i + 5).toLowerCase() !== 'bytes') return { kind: 'none' };
  i += 5;
  skipSpaces();
  if (i >= len || at(i) !== 0x3d) return { kind: 'none' };
  i++;
  skipSpaces();
  const a = digits();
  skipSpaces();
  if (i >= len || at(i) !== 0x2d) return { kind: 'none' };
  i++;
  skipSpaces();
  const b = digits();
  skipSpaces();
  if (i !== len) return { kind: 'none' };
  if (a === '' && b === '') return { kind: 'none' };
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', range: { start: Math.max(0, size - n), end: size - 1 } };
  }
  const start = Number(a);
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return { kind: 'none' };
  return { kind: 'range', range: { start, end } };
}

function etagOf(f: OpenedFile): string {
  return `"${f.size.toString(16)}-${Math.floor(f.mtimeMs).toString(16)}"`;
}

function etagMatches(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const weak = (t: string): string => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => weak(t) === weak(etag));
}

function requestPath(url: string | undefined, prefix: string): string | null {
  if (!url) return null;
  const q = url.search(/[?#]/);
  const raw = q >= 0 ? url.slice(0, q) : url;
  if (!raw.startsWith(prefix)) return null;
  try {
    // Decoded so "%2e%2e%2f" meets the same `..` check as "../", and "%00" the NUL check.
    return decodeURIComponent(raw.slice(prefix.length));
  } catch {
    return null;
  }
}

export function createFileHandler(opts: FileHandlerOptions): FileHandler {
  const prefix = opts.prefix ? opts.prefix.replace(/\/?$/, '/') : '/';
  let rootP: Promise<BootRoot> | null = typeof opts.root === 'string' ? null : Promise.resolve(opts.root);
  const getRoot = (): Promise<BootRoot> => (rootP ??= openBootRoot(opts.root as string, opts.mounts));

  return async (req, res) => {
    const rel = requestPath(req.url, prefix);
    if (rel === null) {
      if (req.url?.startsWith(prefix)) {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('Bad request path\n');
        return true;
      }
      return false;
    }
    const root = await getRoot();
    const resolved = await root.resolve(rel);
    if (!resolved.ok) {
      if (isNotFound(resolved.reason)) return false;
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end(`Forbidden (${resolved.reason})\n`);
      return true;
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('Method not allowed\n');
      return true;
    }
    const opened = await opts.cache.open(resolved);
    if (!opened.ok) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Cannot read file\n');
      return true;
    }
    const file = opened.file;
    try {
      await respond(req, res, file, method === 'HEAD');
    } finally {
      await file.close();
    }
    return true;
  };
}

async function respond(req: IncomingMessage, res: ServerResponse, file: OpenedFile, head: boolean): Promise<void> {
  const etag = etagOf(file);
  const lastModified = new Date(Math.floor(file.mtimeMs / 1000) * 1000).toUTCString();
  // Canonical header case on purpose: HTTP says names are case-insensitive, but GRUB's http
  // module looks for "Content-Length: " byte for byte, and without it reads until the
  // connection closes, which keep-alive postpones past its timeout (docs/firmware.md).
  const common = {
    ETag: etag,
    'Last-Modified': lastModified,
    'Accept-Ranges': 'bytes',
    'Content-Type': contentTypeFor(file.absPath),
  };

  // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
  const inm = req.headers['if-none-match'];
  const ims = req.headers['if-modified-since'];
  let notModified = false;
  if (inm !== undefined) notModified = etagMatches(inm, etag);
  else if (ims !== undefined) {
    const t = Date.parse(ims);
    notModified = !Number.isNaN(t) && Math.floor(file.mtimeMs / 1000) * 1000 <= t;
  }
  if (notModified) {
    res.writeHead(304, { ETag: etag, 'Last-Modified': lastModified }).end();
    return;
  }

  let range = parseRange(req.headers.range, file.size);
  const ifRangeHeader = req.headers['if-range'];
  const ifRange = Array.isArray(ifRangeHeader) ? ifRangeHeader[0] : ifRangeHeader;
  if (range.kind !== 'none' && ifRange !== undefined) {
    // A stale validator means the client's partial copy is of another version: send it all.
    const fresh = ifRange.startsWith('"') || ifRange.startsWith('W/') ? ifRange === etag : ifRange === lastModified;
    if (!fresh) range = { kind: 'none' };
  }
  if (range.kind === 'unsatisfiable') {
    res.writeHead(416, { ...common, 'Content-Range': `bytes */${file.size}`, 'Content-Length': 0 }).end();
    return;
  }
  const { start, end } = range.kind === 'range' ? range.range : { start: 0, end: file.size - 1 };
  const length = Math.max(0, end - start + 1);
  const headers: Record<string, string | number> = { ...common, 'Content-Length': length };
  if (range.kind === 'range') headers['Content-Range'] = `bytes ${start}-${end}/${file.size}`;
  res.writeHead(range.kind === 'range' ? 206 : 200, headers);
  if (head || length === 0) {
    res.end();
    return;
  }
  if (file.kind === 'memory') {
    res.end(file.data.subarray(start, end + 1));
    return;
  }
  await pipeline(streamChunks(file, start, end + 1), res).catch(() => {
    // The client went away mid-download; nothing to answer any more.
    res.destroy();
  });
}

const STREAM_CHUNK = 256 * 1024;

async function* streamChunks(
  file: Extract<OpenedFile, { kind: 'stream' }>,
  from: number,
  to: number,
): AsyncGenerator<Buffer> {
  // Bounded by the byte count: every chunk advances or the file ended early.
  for (let pos = from; pos < to; ) {
    const chunk = await file.read(pos, Math.min(STREAM_CHUNK, to - pos));
    if (chunk.length === 0) return;
    pos += chunk.length;
    yield chunk;
  }
}
