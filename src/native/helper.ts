// The optional native helper (native/*.c, built by scripts/build-native.sh). Every caller has a
// pure-Node fallback: the helper makes pxepool faster or multi-homed, never required.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface NativeHelper {
  /** a UDP socket bound to address:port on one device (SO_BINDTODEVICE); returns its fd */
  openUdpOnDevice(device: string, address: string, port: number, rcvbuf: number): number;
  /** a bound UDP socket (address family from the literal); returns its fd */
  openUdp(address: string, port: number): number;
  /**
   * TFTP DATA datagrams for blocks[i] with payloads[i], i < count (≤ 64), in one sendmmsg.
   * Returns how many left, or -errno when none did.
   */
  sendBlocks(fd: number, address: string, port: number, blocks: Uint16Array, payloads: readonly Uint8Array[], count: number): number;
}

let native: NativeHelper | null | undefined;

export function loadNative(): NativeHelper | null {
  if (native !== undefined) return native;
  if (process.env.PXEPOOL_NO_NATIVE === '1') return (native = null);
  const here = fileURLToPath(new URL('../../native/build/Release/udp_device.node', import.meta.url));
  // From dist/src/native the helper is one level further up.
  const built = fileURLToPath(new URL('../../../native/build/Release/udp_device.node', import.meta.url));
  const file = existsSync(here) ? here : existsSync(built) ? built : undefined;
  try {
    const mod = file !== undefined ? (createRequire(import.meta.url)(file) as Partial<NativeHelper>) : null;
    // A helper built from an older source lacks the newer functions: treat it as absent for those.
    native = mod && typeof mod.openUdpOnDevice === 'function' ? (mod as NativeHelper) : null;
  } catch {
    native = null;
  }
  return native;
}
