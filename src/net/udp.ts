// Binding UDP sockets, for every server here (ProxyDHCP, TFTP, the pool, the relay): one way to
// bind and wait, and the device-bound socket of the optional native helper
// (native/udp_device.c, built by scripts/build-native.sh), so a multi-homed host receives only
// one interface's broadcasts. Without the helper bindOnDevice gives undefined and callers fall
// back to an unbound wildcard socket.

import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import { loadNative } from '../native/helper.ts';

/**
 * dgram's `lookup` for sockets that only ever send to IP literals: the default dns.lookup answers
 * a literal on the next tick, so every datagram would wait for a nextTick (and leave after
 * whatever else the handler does) instead of going out when send() is called.
 */
export const literalLookup = ((address: string, opts: dns.LookupOneOptions, cb: (err: NodeJS.ErrnoException | null, a: string, f: number) => void) => {
  const family = isIP(address);
  if (family !== 0) cb(null, address, family);
  else dns.lookup(address, opts, cb); // a name (not sent to here, but not refused either)
}) as unknown as NonNullable<dgram.SocketOptions['lookup']>;

/** bind, resolved once listening, rejected with the socket's first error */
export function bindSocket(sock: dgram.Socket, opts: dgram.BindOptions): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

export function deviceBindingAvailable(): boolean {
  return loadNative() !== null;
}

/** A dgram socket bound to address:port on `device` only, or undefined without the helper. */
export async function bindOnDevice(device: string, address: string, port: number, rcvbuf: number): Promise<dgram.Socket | undefined> {
  const n = loadNative();
  if (n === null) return undefined;
  const fd = n.openUdpOnDevice(device, address, port, rcvbuf);
  const s = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  await bindSocket(s, { fd });
  s.setBroadcast(true);
  return s;
}

/** Why a bind failed, in words an operator can act on ('' when there is nothing to add). */
export function bindHint(code: string | undefined, holder: string): string {
  if (code === 'EADDRINUSE') return ` (${holder})`;
  if (code === 'EACCES') return ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)';
  if (code === 'EADDRNOTAVAIL') return ' (no interface has this address)';
  return '';
}
