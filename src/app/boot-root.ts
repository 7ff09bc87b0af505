// Startup check of the boot root: the directory must exist, and the files the profiles name
// should be in it. A missing file is only a warning (it may be copied in later, and TFTP/HTTP
// look files up per request), but an admin on a bad day wants to read "pxelinux.0 is missing"
// in the log at start, not work it out from a client's TFTP error.

import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/schema.ts';
import { inProfileRoot, isUrl } from '../policy/policy.ts';
import { peSignature } from '../files/pe-signature.ts';

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

/** What Secure Boot firmware (or shim, for the kernel) would refuse to run. */
export interface UnsignedFile { profile: string; field: string; file: string; why: string }

/** Files a `secureBoot: true` profile hands to the firmware, or through shim and GRUB: all must be signed. */
const SIGNED_FIELDS = ['efiIa32', 'efiX64', 'efiArm64', 'kernel'] as const;

/**
 * The EFI boot files and kernels of Secure Boot profiles that carry no signature at all, or are
 * no EFI image. `read` gives a file's bytes, or undefined when it is not there (missingBootFiles
 * reports those).
 */
export function unsignedBootFiles(config: Config, read: (p: string) => Uint8Array | undefined): UnsignedFile[] {
  const out: UnsignedFile[] = [];
  for (const [name, profile] of Object.entries(config.profiles)) {
    if (profile.secureBoot !== true) continue;
    for (const field of SIGNED_FIELDS) {
      const file = profile[field];
      if (typeof file !== 'string' || isUrl(file) || file.includes('${') || path.isAbsolute(file)) continue;
      const bytes = read(path.join(profile.root ?? config.root, file));
      if (bytes === undefined) continue;
      const v = peSignature(bytes);
      const shown = inProfileRoot(name, profile, file);
      if (v.kind === 'not-pe') out.push({ profile: name, field, file: shown, why: 'not an EFI (PE) image, so Secure Boot firmware will not run it' });
      else if (!v.signed) {
        out.push({ profile: name, field, file: shown, why: v.ipxe
          ? 'an unsigned iPXE build: Secure Boot firmware refuses it ("Access Denied"); serve Debian\'s signed shim (shim-signed) and boot media (pxepool media --secure-boot), see docs/media.md'
          : 'unsigned: Secure Boot firmware (or shim, for a kernel) refuses it; use a signed build (Debian: shim-signed, grub-efi-amd64-signed, linux-image-*)' });
      }
    }
  }
  return out;
}
