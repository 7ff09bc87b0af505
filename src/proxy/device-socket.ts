// Optional native helper (native/udp_device.c, built by scripts/build-native.sh): a UDP socket
// bound to one network device, so a multi-homed server receives only that interface's
// broadcasts. Absent helper = undefined; callers fall back to an unbound wildcard socket.

import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Native { openUdpOnDevice(device: string, address: string, port: number, rcvbuf: number): number }

let native: Native | null | undefined;

function load(): Native | null {
  if (native !== undefined) return native;
  const path = fileURLToPath(new URL('../../native/build/Release/udp_device.node', import.meta.url));
  // From dist/src/proxy the helper is one level further up.
  const alt = fileURLToPath(new URL('../../../native/build/Release/udp_device.node', import.meta.url));
  const file = existsSync(path) ? path : existsSync(alt) ? alt : undefined;
  try {
    native = file !== undefined ? (createRequire(import.meta.url)(file) as Native) : null;
  } catch {
    native = null;
  }
  return native;
}

export function deviceBindingAvailable(): boolean {
  return load() !== null;
}

/** A dgram socket bound to address:port on `device` only, or undefined without the helper. */
export async function bindOnDevice(device: string, address: string, port: number, rcvbuf: number): Promise<dgram.Socket | undefined> {
  const n = load();
  if (n === null) return undefined;
  const fd = n.openUdpOnDevice(device, address, port, rcvbuf);
  const s = dgram.createSocket({ type: 'udp4' });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind({ fd }, () => { s.off('error', reject); resolve(); });
  });
  s.setBroadcast(true);
  return s;
}
