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
  /** the TFTP transfer socket of native/tftp_socket.c; absent in a helper built from older source */
  tftpSocket?: NativeTftpSocket;
  /**
   * Grows the process's descriptor table to hold n descriptors now, so that a storm's sockets
   * never wait for it to grow (see native/tftp_socket.c). Returns the highest fd it holds, or -errno.
   */
  growFdTable?: (n: number) => number;
  /**
   * One unsolicited neighbour advertisement for `address` (ours, on `device`) to all nodes, with
   * the override flag and this device's MAC (native/neighbour_advert.c). Throws with errno text.
   */
  sendNeighbourAdvert?: (device: string, address: string) => void;
}

/** A UDP socket read by the helper on Node's loop; `socket` is an opaque handle. */
export interface NativeTftpSocket {
  /** shared receive slots: onPackets(n) says n of them are filled (see native/tftp_socket.c) */
  rxBuffer: Uint8Array;
  rxSlot: number;
  /** binds address:0; onPackets(n): n datagrams in rxBuffer, or -1: room to send again */
  open(address: string, onPackets: (n: number) => void): { socket: unknown; port: number };
  /** 0, or -1 for an address the helper cannot parse */
  peer(socket: unknown, address: string, port: number): number;
  /** DATA to the peer; datagrams sent, or -errno (-11: the send buffer is full) */
  sendBlocks(socket: unknown, blocks: Uint16Array, payloads: readonly Uint8Array[], count: number): number;
  /** 1 sent, 0 would block, -errno */
  sendTo(socket: unknown, datagram: Uint8Array, address: string, port: number): number;
  arm(socket: unknown, ack: number, blocks: Uint16Array, payloads: readonly Uint8Array[], count: number): void;
  wantWritable(socket: unknown): void;
  /** returns how many windows the armed path sent */
  close(socket: unknown): number;
  /** how long the lone transfer waits for its client's next ACK before sleeping (0 = never) */
  setSpin(microseconds: number): void;
}

type RawHelper = Omit<NativeHelper, 'tftpSocket'> & {
  tsockOpen?: NativeTftpSocket['open'];
  tsockPeer: NativeTftpSocket['peer'];
  tsockSendBlocks: NativeTftpSocket['sendBlocks'];
  tsockSendTo: NativeTftpSocket['sendTo'];
  tsockArm: NativeTftpSocket['arm'];
  tsockWantWritable: NativeTftpSocket['wantWritable'];
  tsockClose: NativeTftpSocket['close'];
  tsockRxBuffer: () => Uint8Array | undefined;
  tsockRxSlot: number;
  tsockSetSpin: (microseconds: number) => void;
};

function tftpSocketOf(m: RawHelper): NativeTftpSocket | undefined {
  if (typeof m.tsockOpen !== 'function' || process.env.PXEPOOL_NO_NATIVE_RECV === '1') return undefined;
  const rxBuffer = m.tsockRxBuffer();
  if (!rxBuffer) return undefined; // loaded first by another thread
  return {
    rxBuffer,
    rxSlot: m.tsockRxSlot,
    open: m.tsockOpen,
    peer: m.tsockPeer,
    sendBlocks: m.tsockSendBlocks,
    sendTo: m.tsockSendTo,
    arm: m.tsockArm,
    wantWritable: m.tsockWantWritable,
    close: m.tsockClose,
    setSpin: m.tsockSetSpin,
  };
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
    const mod = file !== undefined ? (createRequire(import.meta.url)(file) as Partial<RawHelper>) : null;
    // A helper built from an older source lacks the newer functions: treat it as absent for those.
    if (mod && typeof mod.openUdpOnDevice === 'function') {
      const raw = mod as RawHelper;
      const tftpSocket = tftpSocketOf(raw);
      native = { ...raw, ...(tftpSocket ? { tftpSocket } : {}) };
    } else {
      native = null;
    }
  } catch {
    native = null;
  }
  return native;
}
