// Boot-root confinement shared by TFTP and HTTP. The lexical part is pure; the edge part resolves
// symlinks with realpath and refuses anything whose real location leaves the root.

import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';

export type PathRefusal =
  | 'empty'
  | 'too-long'
  | 'nul'
  | 'absolute'
  | 'escape'
  | 'symlink-escape'
  | 'not-found'
  | 'directory'
  | 'not-regular'
  | 'io';

/** Refusals that mean "nothing here" rather than "not allowed"; TFTP answers them with ERROR 1. */
export function isNotFound(reason: PathRefusal): boolean {
  return reason === 'not-found' || reason === 'directory' || reason === 'empty';
}

export type NormalizeResult = { ok: true; relPath: string } | { ok: false; reason: PathRefusal };

const MAX_PATH = 4096;

/**
 * Turns a client's file name into a clean relative path, or refuses it. Backslashes become `/`
 * (Windows-built menus ask for `boot\x64\wdsnbp.com`), leading slashes are dropped so
 * `/pxelinux.0` means the root's pxelinux.0, and `..` may not climb above the root.
 */
export function normalizeBootPath(requested: string): NormalizeResult {
  if (requested.length === 0) return { ok: false, reason: 'empty' };
  if (requested.length > MAX_PATH) return { ok: false, reason: 'too-long' };
  if (requested.includes('\0')) return { ok: false, reason: 'nul' };
  const slashed = requested.replaceAll('\\', '/');
  // A drive letter or UNC prefix names another filesystem, never a file in our root.
  if (/^[A-Za-z]:/.test(slashed) || slashed.startsWith('//')) return { ok: false, reason: 'absolute' };
  const out: string[] = [];
  for (const seg of slashed.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return { ok: false, reason: 'escape' };
      out.pop();
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return { ok: false, reason: 'empty' };
  return { ok: true, relPath: out.join('/') };
}

export type ResolvedFile = {
  /** real path, symlinks resolved, inside the root */
  absPath: string;
  size: number;
  mtimeMs: number;
  ino: number;
  dev: number;
};

export type ResolveResult = ({ ok: true } & ResolvedFile) | { ok: false; reason: PathRefusal };

function isInside(realRoot: string, candidate: string): boolean {
  const rel = path.relative(realRoot, candidate);
  return rel !== '' && !rel.startsWith('..' + path.sep) && rel !== '..' && !path.isAbsolute(rel);
}

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

/** A root whose own real path is computed once, so each lookup costs one realpath and one stat. */
export type BootRoot = { readonly realRoot: string; resolve(requested: string): Promise<ResolveResult> };

/**
 * `mounts` are further trees, each served under a first path segment of its own
 * (`{ lab: '/srv/lab' }` serves /srv/lab/pxelinux.0 as `lab/pxelinux.0`): per-profile roots.
 * A mount shadows a directory of the same name in the main root. `..` is resolved lexically
 * before the mount is chosen, so `lab/../x` is the main root's `x`, and each tree confines its
 * own symlinks.
 */
export async function openBootRoot(root: string, mounts: Readonly<Record<string, string>> = {}): Promise<BootRoot> {
  const realRoot = await realDir(root);
  const realMounts = new Map<string, string>();
  for (const [name, dir] of Object.entries(mounts)) realMounts.set(name, await realDir(dir));
  if (realMounts.size === 0) return { realRoot, resolve: (requested) => resolveIn(realRoot, requested) };
  return {
    realRoot,
    resolve: async (requested) => {
      const norm = normalizeBootPath(requested);
      if (!norm.ok) return norm;
      const slash = norm.relPath.indexOf('/');
      const first = slash < 0 ? norm.relPath : norm.relPath.slice(0, slash);
      const mount = realMounts.get(first);
      if (mount === undefined) return resolveRel(realRoot, norm.relPath);
      // the mount point itself is a directory, never a file
      return slash < 0 ? { ok: false, reason: 'directory' } : resolveRel(mount, norm.relPath.slice(slash + 1));
    },
  };
}

async function realDir(dir: string): Promise<string> {
  const real = await realpath(dir);
  const st = await stat(real);
  if (!st.isDirectory()) throw new Error(`boot root ${dir} is not a directory`);
  return real;
}

/** One-shot form: resolves the root too. Never throws. */
export async function resolveBootPath(root: string, requested: string): Promise<ResolveResult> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return { ok: false, reason: 'io' };
  }
  return resolveIn(realRoot, requested);
}

async function resolveIn(realRoot: string, requested: string): Promise<ResolveResult> {
  const norm = normalizeBootPath(requested);
  return norm.ok ? resolveRel(realRoot, norm.relPath) : norm;
}

/** `relPath` is already normalized (normalizeBootPath). */
async function resolveRel(realRoot: string, relPath: string): Promise<ResolveResult> {
  const joined = path.join(realRoot, relPath);
  let real: string;
  try {
    real = await realpath(joined);
  } catch (e) {
    const code = errno(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return { ok: false, reason: 'not-found' };
    // A symlink loop can only be a trap: no boot file lives at the end of one.
    if (code === 'ELOOP') return { ok: false, reason: 'symlink-escape' };
    return { ok: false, reason: 'io' };
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: real === realRoot ? 'directory' : 'symlink-escape' };
  try {
    const st = await stat(real);
    if (st.isDirectory()) return { ok: false, reason: 'directory' };
    if (!st.isFile()) return { ok: false, reason: 'not-regular' };
    return { ok: true, absPath: real, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, dev: st.dev };
  } catch (e) {
    return { ok: false, reason: errno(e) === 'ENOENT' ? 'not-found' : 'io' };
  }
}
