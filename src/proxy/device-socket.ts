// Optional native helper (native/udp_device.c, built by scripts/build-native.sh): a UDP socket
// bound to one network device, so a multi-homed server receives only that interface's
// broadcasts. Absent helper = undefined; callers fall back to an unbound wildcard socket.

import dgram from 'node:dgram';
import { loadNative } from '../native/helper.ts';

export function deviceBindingAvailable(): boolean {
  return loadNative() !== null;
}

/** A dgram socket bound to address:port on `device` only, or undefined without the helper. */
export async function bindOnDevice(device: string, address: string, port: number, rcvbuf: number): Promise<dgram.Socket | undefined> {
  const n = loadNative();
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
