// Startup check of the boot root: the directory must exist, and the files the profiles name
// should be in it. A missing file is only a warning (it may be copied in later, and TFTP/HTTP
// look files up per request), but an admin on a bad day wants to read "pxelinux.0 is missing"
// in the log at start, not work it out from a client's TFTP error.

import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { inProfileRoot, isUrl } from '../policy/policy.ts';

export class BootRootError extends Error {}

/** Missing, unreadable or under a non-directory: all "not there" for a startup check. */
function statOrUndefined(p: string): ReturnType<typeof statSync> {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

/** Profile fields whose value is a file served from the root (when not a URL or template). */
const FILE_FIELDS = ['bios', 'efiIa32', 'efiX64', 'efiArm64', 'ipxe', 'kernel', 'initrd'] as const;

export interface MissingFile { profile: string; field: string; file: string }

/** Which profile files are plain relative paths that do not exist under `root`. */
export function missingBootFiles(config: Config, exists: (p: string) => boolean): MissingFile[] {
  const out: MissingFile[] = [];
  for (const [name, profile] of Object.entries(config.profiles)) {
    for (const field of FILE_FIELDS) {
      const v = profile[field];
      for (const file of v === undefined ? [] : Array.isArray(v) ? v : [v]) {
        if (typeof file !== 'string' || isUrl(file) || file.includes('${') || path.isAbsolute(file)) continue;
        if (!exists(path.join(profile.root ?? config.root, file))) out.push({ profile: name, field, file: inProfileRoot(name, profile, file) });
      }
    }
  }
  return out;
}

/**
 * Makes sure the root is a directory. `create` (the embedded default, where the README promises
 * that one command starts a server) makes an empty one; a root named in a config file or by
 * --root must exist, since a typo there should not silently serve an empty tree.
 */
export function checkBootRoot(config: Config, create: boolean): { created: boolean; missing: MissingFile[] } {
  let st = statOrUndefined(config.root);
  const created = st === undefined && create;
  if (st === undefined) {
    if (!create) {
      throw new BootRootError(`boot root ${config.root} does not exist: create it (mkdir -p ${config.root}) and put the boot files there, or point root: in the config (or --root) at the directory that holds them`);
    }
    mkdirSync(config.root, { recursive: true, mode: 0o755 });
    st = statSync(config.root);
  }
  if (!st.isDirectory()) throw new BootRootError(`boot root ${config.root} is not a directory: point root: in the config (or --root) at the directory that holds the boot files`);
  for (const [name, p] of Object.entries(config.profiles)) {
    if (p.root !== undefined && statOrUndefined(p.root)?.isDirectory() !== true) {
      throw new BootRootError(`profiles.${name}.root: ${p.root} is not a directory: create it and put that profile's boot files there, or remove root: from the profile to serve it from ${config.root}`);
    }
  }
  const missing = missingBootFiles(config, (p) => statOrUndefined(p)?.isFile() === true);
  return { created, missing };
}
