// Small UDP helpers for tests that play a client or a relay agent.
import dgram from 'node:dgram';

export interface UdpPeer {
  sock: dgram.Socket;
  port: number;
  /** next datagram matching pred, or undefined after timeoutMs */
  next(pred?: (msg: Buffer, rinfo: dgram.RemoteInfo) => boolean, timeoutMs?: number): Promise<{ msg: Buffer; rinfo: dgram.RemoteInfo } | undefined>;
  send(bytes: Uint8Array, port: number, address: string): Promise<void>;
  close(): Promise<void>;
}

export async function udpPeer(address: string, port = 0, opts: { broadcast?: boolean } = {}): Promise<UdpPeer> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const queue: { msg: Buffer; rinfo: dgram.RemoteInfo }[] = [];
  const waiters = new Set<() => void>();
  sock.on('message', (msg, rinfo) => { queue.push({ msg, rinfo }); for (const w of waiters) w(); });
  await new Promise<void>((r) => sock.bind(port, address, () => r()));
  if (opts.broadcast) sock.setBroadcast(true);
  return {
    sock,
    port: sock.address().port,
    next(pred = () => true, timeoutMs = 2000) {
      return new Promise((resolve) => {
        const look = (): boolean => {
          const i = queue.findIndex((q) => pred(q.msg, q.rinfo));
          if (i < 0) return false;
          const [hit] = queue.splice(i, 1);
          done(hit);
          return true;
        };
        const timer = setTimeout(() => done(undefined), timeoutMs);
        const w = (): void => { look(); };
        const done = (v: { msg: Buffer; rinfo: dgram.RemoteInfo } | undefined): void => { clearTimeout(timer); waiters.delete(w); resolve(v); };
        waiters.add(w);
        look();
      });
    },
    send(bytes, p, a) {
      return new Promise((resolve, reject) => sock.send(bytes, p, a, (err) => (err ? reject(err) : resolve())));
    },
    close() {
      return new Promise((r) => sock.close(() => r()));
    },
  };
}
