// A boot file's bytes for a startup check, or undefined when it is missing, not a regular file,
// or too big to be a boot loader or kernel (a check must not read a disk image into memory).
import { readFileSync, statSync } from 'node:fs';

const MAX = 128 * 1024 * 1024;

export function readSmallFile(p: string): Uint8Array | undefined {
  try {
    const st = statSync(p);
    if (!st.isFile() || st.size > MAX) return undefined;
    return readFileSync(p);
  } catch {
    return undefined;
  }
}
