// The socket of one TFTP transfer (its TID), in three strengths:
//  - 'native': the helper's own socket (native/tftp_socket.c). Receiving bypasses dgram, a window
//    leaves in one GSO/sendmmsg call, and the next window can be pre-armed to leave the moment its
//    ACK arrives, before JavaScript runs (see the header of tftp_socket.c for why).
//  - 'batched': a dgram socket on a descriptor the helper opened, so windows leave in one call.
//  - 'node': plain dgram, one send per datagram. Always available.
// Every strength delivers datagrams in the order the transfer produced them.

import dgram from 'node:dgram';
import { closeSync } from 'node:fs';
import net from 'node:net';
import type { NativeHelper, NativeTftpSocket } from '../native/helper.ts';
import { encodeDataHeader } from './packet.ts';
import { bindSocket } from '../net/udp.ts';

/**
 * A datagram arrived: `buf[off, off+len)`. `fromPeer` is whether it came from the transfer's
 * client (its address and port). `fired` is whether it was the armed ACK and its window already
 * left. The native path keeps at most 1024 bytes of a datagram: a client sends ACKs and short
 * ERRORs, and a stranger's junk needs no more to be answered.
 */
export type PacketHandler = (
  buf: Uint8Array,
  off: number,
  len: number,
  fromPeer: boolean,
  address: string,
  port: number,
  fired: boolean,
) => void;

export type SendPath = 'native' | 'batched' | 'node';

export interface TransferSocket {
  readonly path: SendPath;
  readonly port: number;
  /** DATA blocks[i]/payloads[i], i < n (≤ 64), to the client; returns how many left in one batch */
  sendData(blocks: Uint16Array, payloads: readonly Uint8Array[], n: number): number;
  /** one datagram (OACK, ERROR) to any address */
  send(datagram: Uint8Array, port: number, address: string): void;
  /** nothing is queued, so no datagram still points into a buffer the caller might reuse */
  idle(): boolean;
  /**
   * Send this window as soon as ACK `ack` arrives from the client (native only; n = 0 disarms).
   * The payloads must stay unchanged until the next arm or close.
   */
  arm(ack: number, blocks: readonly number[], payloads: readonly Uint8Array[], n: number): void;
  close(): void;
}

export type OpenOptions = {
  host: string;
  peerAddress: string;
  peerPort: number;
  onPacket: PacketHandler;
  onError?: (err: Error) => void;
  native: NativeHelper | null;
  /** false: never the helper's own socket (keeps the batched dgram path) */
  nativeReceive?: boolean;
  /** bind this local port instead of an ephemeral one (a transfer resumed on its old TID) */
  localPort?: number;
};

const literalLookup = ((address: string, _opts: unknown, cb: (err: Error | null, a: string, f: number) => void) => {
  cb(null, address, address.includes(':') ? 6 : 4);
}) as unknown as NonNullable<dgram.SocketOptions['lookup']>;

/** The strongest path this helper allows (a transfer falls back a step for an address it cannot parse). */
export function transferSocketPath(native: NativeHelper | null, nativeReceive: boolean): SendPath {
  return native?.tftpSocket && nativeReceive ? 'native' : native ? 'batched' : 'node';
}

export async function openTransferSocket(o: OpenOptions): Promise<TransferSocket> {
  if (o.localPort === undefined && transferSocketPath(o.native, o.nativeReceive !== false) === 'native') {
    const s = openNative(o.native!.tftpSocket!, o);
    if (s) return s;
  }
  return openDgram(o);
}

// Queued when the kernel's send buffer is full; sent in order once it has room.
type Pending = { block: number; payload: Uint8Array } | { datagram: Uint8Array; port: number; address: string };
/** more than a few windows waiting means the client's path is not draining: drop, the timer resends */
const MAX_PENDING = 4 * 64;

// Shared by every native socket (all calls are synchronous on the loop's thread): a burst opens
// hundreds of sockets, and per-socket typed arrays were a visible share of its garbage.
const scratchBlocks = new Uint16Array(new ArrayBuffer(128));
const payloads: Uint8Array[] = [];
let rxView: DataView | null = null;

function openNative(api: NativeTftpSocket, o: OpenOptions): TransferSocket | null {
  const rx = api.rxBuffer;
  const slot = api.rxSlot;
  const view = (rxView ??= new DataView(rx.buffer, rx.byteOffset, rx.byteLength));
  const blocks = scratchBlocks;
  const pending: Pending[] = [];
  let closed = false;
  let handle: unknown;

  const drain = (): void => {
    while (pending.length > 0 && !closed) {
      const head = pending[0]!;
      if ('datagram' in head) {
        const r = api.sendTo(handle, head.datagram, head.address, head.port);
        if (r === 0) break;
        pending.shift(); // sent, or an error that sending again would not cure
        continue;
      }
      let n = 0;
      while (n < pending.length && n < 64) {
        const p = pending[n]!;
        if (!('block' in p)) break;
        blocks[n] = p.block;
        payloads[n] = p.payload;
        n++;
      }
      const r = api.sendBlocks(handle, blocks, payloads, n);
      payloads.length = 0;
      if (r === 0 || r === -11) break;
      pending.splice(0, r > 0 ? r : n); // an error other than a full buffer: like loss, the timer resends
    }
    if (pending.length > 0 && !closed) api.wantWritable(handle);
  };

  const onPackets = (n: number): void => {
    if (closed) return;
    if (n < 0) {
      drain();
      return;
    }
    for (let i = 0; i < n && !closed; i++) {
      const base = i * slot;
      const len = view.getUint16(base, true);
      const flags = rx[base + 2]!;
      const fromPeer = (flags & 1) !== 0;
      const port = view.getUint16(base + 4, true);
      // The client's own address is known; a stranger's is decoded only to answer it.
      const address = fromPeer ? o.peerAddress : addressOf(rx, base + 8, rx[base + 3]!);
      o.onPacket(rx, base + 32, len, fromPeer, address, port, (flags & 2) !== 0);
    }
  };

  let opened: { socket: unknown; port: number };
  try {
    opened = api.open(o.host, onPackets);
  } catch {
    return null;
  }
  handle = opened.socket;
  if (api.peer(handle, o.peerAddress, o.peerPort) < 0) {
    // e.g. a scoped IPv6 literal the helper does not parse: dgram handles it
    api.close(handle);
    return null;
  }
  return {
    path: 'native',
    port: opened.port,
    sendData(b, p, n) {
      if (closed || n === 0) return 0;
      let sent = 0;
      if (pending.length === 0) {
        const r = api.sendBlocks(handle, b, p, n);
        if (r > 0) sent = r;
        else if (r < 0 && r !== -11) return 0; // not the send buffer: like loss, the timer resends
      }
      if (sent < n) {
        for (let i = sent; i < n && pending.length < MAX_PENDING; i++) pending.push({ block: b[i]!, payload: p[i]! });
        api.wantWritable(handle);
      }
      return sent;
    },
    send(datagram, port, address) {
      if (closed) return;
      if (pending.length === 0) {
        const r = api.sendTo(handle, datagram, address, port);
        if (r !== 0) return;
      }
      if (pending.length < MAX_PENDING) pending.push({ datagram, port, address });
      api.wantWritable(handle);
    },
    idle: () => pending.length === 0,
    arm(ack, b, p, n) {
      if (closed) return;
      for (let i = 0; i < n; i++) blocks[i] = b[i]!;
      api.arm(handle, ack, blocks, p, n);
    },
    close() {
      if (closed) return;
      closed = true;
      pending.length = 0;
      api.close(handle);
    },
  };
}

function addressOf(buf: Uint8Array, off: number, family: number): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((buf[off + i]! << 8) | buf[off + i + 1]!).toString(16));
  // Not the canonical compressed form, but a literal net and dgram accept, which is all it is for.
  return parts.join(':');
}

async function openDgram(o: OpenOptions): Promise<TransferSocket> {
  const native = o.native;
  const family = net.isIPv6(o.host) ? 'udp6' : 'udp4';
  // Replies always go to an IP literal: skip dns.lookup, whose callback costs a nextTick per datagram.
  const sock = dgram.createSocket({ type: family, lookup: literalLookup });
  // With the helper the socket is opened there, so its descriptor is known for sendmmsg.
  let fd = -1;
  if (native) {
    try {
      fd = native.openUdp(o.host, o.localPort ?? 0);
    } catch {
      fd = -1;
    }
  }
  if (fd >= 0) {
    try {
      sock.bind({ fd }); // adopts the bound descriptor synchronously (throws on failure)
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  } else {
    await bindSocket(sock, { port: o.localPort ?? 0, address: o.host });
  }
  sock.on('error', (err) => o.onError?.(err));
  sock.on('message', (msg, rinfo) => {
    const fromPeer = rinfo.port === o.peerPort && rinfo.address === o.peerAddress;
    o.onPacket(msg, 0, msg.length, fromPeer, rinfo.address, rinfo.port, false);
  });
  let closed = false;
  const one = (block: number, payload: Uint8Array) => sock.send([encodeDataHeader(block), payload], o.peerPort, o.peerAddress);
  return {
    path: fd >= 0 ? 'batched' : 'node',
    port: sock.address().port,
    sendData(blocks, payloads, n) {
      if (closed) return 0;
      let sent = 0;
      // Only while libuv holds nothing queued for this socket: datagrams must leave in order.
      if (fd >= 0 && native && sock.getSendQueueCount() === 0) {
        const r = native.sendBlocks(fd, o.peerAddress, o.peerPort, blocks, payloads, n);
        if (r > 0) sent = r;
      }
      // What the kernel did not take now (a full send buffer) libuv queues and sends when it can.
      for (let i = sent; i < n; i++) one(blocks[i]!, payloads[i]!);
      return sent;
    },
    send(datagram, port, address) {
      if (!closed) sock.send(datagram, port, address);
    },
    idle: () => sock.getSendQueueCount() === 0,
    arm() {},
    close() {
      if (closed) return;
      closed = true;
      // Let a final ERROR datagram leave before the socket goes.
      setImmediate(() => sock.close());
    },
  };
}
