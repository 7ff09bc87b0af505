// Benchmark TFTP read client. It behaves like a real client (ACK per window, re-ACK of the last
// in-order block on a gap or on its own timeout, RRQ retransmission) and adds what the benchmark
// needs: an ACK delay to emulate a LAN round trip on loopback, seeded loss of received DATA, and
// timings (first reply, whole transfer). Self-contained on purpose: the server's codec is what is
// being measured, so the client does not share it.

import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

export type GetOptions = {
  host: string;
  port: number;
  file: string;
  /** requested options; undefined = not asked */
  blksize?: number;
  windowsize?: number;
  tsize?: boolean;
  /** source address of the client socket (a distinct 127.x.y.z per client looks like a distinct host) */
  localAddress?: string;
  /** each ACK leaves this long after it was decided (emulated half of a LAN round trip and more) */
  ackDelayMs?: number;
  /** percent of received DATA datagrams thrown away before the client looks at them */
  lossPct?: number;
  seed?: number;
  /** silence before the client re-ACKs (or re-sends its RRQ); 1 s like common firmware */
  timeoutMs?: number;
  maxRetries?: number;
  /** hard limit for the whole transfer */
  deadlineMs?: number;
  /** expected file content: length and bytes are checked when given */
  expect?: Uint8Array;
  /** stop right after the first reply (answers ERROR 0 to the server) */
  firstReplyOnly?: boolean;
};

export type GetResult = {
  ok: boolean;
  error?: string;
  bytes: number;
  /** ms from the first RRQ to the last DATA */
  ms: number;
  /** ms from the first RRQ to the first reply (OACK, DATA or ERROR) */
  firstReplyMs: number | null;
  oack: Record<string, string> | null;
  blksize: number;
  windowsize: number;
  dropped: number;
  duplicates: number;
  gapAcks: number;
  timeouts: number;
};

/** mulberry32: tiny, seedable, good enough to decide which datagram to drop. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// One shared delay line for ACKs. Node timers have a 1 ms granularity, far too coarse for a
// 0.5 ms round trip, so due ACKs are polled from setImmediate while any are queued. The poll
// phase still runs between immediates, so received datagrams are not held up.
const delayed: Array<{ due: number; fn: () => void }> = [];
let pumping = false;
function pump(): void {
  const now = performance.now();
  let i = 0;
  while (i < delayed.length && delayed[i]!.due <= now) i++;
  if (i > 0) for (const d of delayed.splice(0, i)) d.fn();
  if (delayed.length > 0) setImmediate(pump);
  else pumping = false;
}
function later(ms: number, fn: () => void): void {
  // Constant delay per caller keeps the queue ordered by due time (FIFO).
  delayed.push({ due: performance.now() + ms, fn });
  if (!pumping) {
    pumping = true;
    setImmediate(pump);
  }
}

function request(file: string, opts: GetOptions): Buffer {
  const parts = [file, 'octet'];
  if (opts.blksize !== undefined) parts.push('blksize', String(opts.blksize));
  if (opts.windowsize !== undefined) parts.push('windowsize', String(opts.windowsize));
  if (opts.tsize) parts.push('tsize', '0');
  const body = Buffer.from(parts.join('\0') + '\0', 'latin1');
  return Buffer.concat([Buffer.from([0, 1]), body]);
}

function ack(block: number): Buffer {
  return Buffer.from([0, 4, (block >> 8) & 0xff, block & 0xff]);
}

function parseOack(msg: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const strs = msg.subarray(2).toString('latin1').split('\0');
  for (let i = 0; i + 1 < strs.length; i += 2) if (strs[i]) out[strs[i]!.toLowerCase()] = strs[i + 1]!;
  return out;
}

export function tftpGet(opts: GetOptions): Promise<GetResult> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const maxRetries = opts.maxRetries ?? 8;
  const delay = opts.ackDelayMs ?? 0;
  const lossRate = (opts.lossPct ?? 0) / 100;
  const rand = prng(opts.seed ?? 1);
  const expect = opts.expect;

  return new Promise<GetResult>((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    const res: GetResult = {
      ok: false,
      bytes: 0,
      ms: 0,
      firstReplyMs: null,
      oack: null,
      blksize: 512,
      windowsize: 1,
      dropped: 0,
      duplicates: 0,
      gapAcks: 0,
      timeouts: 0,
    };
    let t0 = 0;
    let serverPort = -1;
    /** absolute number of blocks received in order */
    let got = 0;
    /** in-order blocks since our last ACK */
    let sinceAck = 0;
    let gapReported = false;
    let lastAck: Buffer | null = null;
    let retries = 0;
    let finished = false;
    let timer: NodeJS.Timeout | null = null;
    const rrq = request(opts.file, opts);
    const hard = setTimeout(() => end(false, `deadline ${opts.deadlineMs} ms`), opts.deadlineMs ?? 120_000);

    function end(ok: boolean, error?: string): void {
      if (finished) return;
      finished = true;
      res.ok = ok;
      if (error !== undefined) res.error = error;
      res.ms = performance.now() - t0;
      clearTimeout(hard);
      if (timer) clearTimeout(timer);
      // Give delayed ACKs (the final one above all) time to leave before the socket goes.
      const close = () => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      };
      if (delay > 0) setTimeout(close, Math.ceil(delay) + 5);
      else setImmediate(close);
      resolve(res);
    }

    function send(buf: Buffer): void {
      if (serverPort < 0) return;
      const port = serverPort;
      const out = () => {
        if (!finished || buf[1] === 4) sock.send(buf, port, opts.host, () => {});
      };
      if (delay > 0) later(delay, out);
      else out();
    }

    function sendAck(block: number): void {
      lastAck = ack(block & 0xffff);
      sinceAck = 0;
      send(lastAck);
    }

    // One lazy timer: progress only moves `quietSince`; the timer re-arms itself for the rest.
    let quietSince = 0;
    function armTimer(): void {
      quietSince = performance.now();
      if (!timer) timer = setTimeout(onTimeout, timeoutMs);
    }

    function onTimeout(): void {
      timer = null;
      if (finished) return;
      const quiet = performance.now() - quietSince;
      if (quiet < timeoutMs) {
        timer = setTimeout(onTimeout, Math.max(1, Math.ceil(timeoutMs - quiet)));
        return;
      }
      if (++retries > maxRetries) {
        end(false, `timeout after ${maxRetries} retries (${got} blocks)`);
        return;
      }
      res.timeouts++;
      if (serverPort < 0) sock.send(rrq, opts.port, opts.host);
      else if (lastAck) send(lastAck);
      armTimer();
    }

    sock.on('error', (err) => end(false, String(err)));
    sock.on('message', (msg, rinfo) => {
      if (finished || msg.length < 4) return;
      if (serverPort >= 0 && rinfo.port !== serverPort) return; // not our transfer's TID
      const op = msg[1]!;
      if (res.firstReplyMs === null) res.firstReplyMs = performance.now() - t0;
      if (op === 5) {
        const code = (msg[2]! << 8) | msg[3]!;
        end(false, `ERROR ${code}: ${msg.subarray(4).toString('latin1').replace(/\0.*$/s, '')}`);
        return;
      }
      if (serverPort < 0) serverPort = rinfo.port;
      if (opts.firstReplyOnly) {
        sock.send(Buffer.from([0, 5, 0, 0, 0]), serverPort, opts.host);
        end(true);
        return;
      }
      if (op === 6) {
        if (got > 0 || res.oack) {
          // A repeated OACK means our ACK 0 was lost or late: answer it again.
          if (got === 0) sendAck(0);
          return;
        }
        res.oack = parseOack(msg);
        if (res.oack.blksize) res.blksize = Number(res.oack.blksize);
        if (res.oack.windowsize) res.windowsize = Number(res.oack.windowsize);
        retries = 0;
        sendAck(0);
        armTimer();
        return;
      }
      if (op !== 3) return;
      if (lossRate > 0 && rand() < lossRate) {
        res.dropped++;
        return;
      }
      const block = (msg[2]! << 8) | msg[3]!;
      const expected = (got + 1) & 0xffff;
      if (block !== expected) {
        // Behind us: a retransmission we already have. Ahead: a gap.
        const behind = ((got & 0xffff) - block) & 0xffff;
        if (behind < 0x8000) {
          res.duplicates++;
          // A lock-step client answers a duplicate with its ACK again (RFC 1350); a windowed one
          // waits for the block it is missing.
          if (res.windowsize === 1) sendAck(got);
        } else if (!gapReported) {
          gapReported = true;
          res.gapAcks++;
          sendAck(got);
        }
        return;
      }
      const payload = msg.length - 4;
      if (expect) {
        const at = got * res.blksize;
        if (at + payload > expect.length || Buffer.compare(msg.subarray(4), expect.subarray(at, at + payload)) !== 0) {
          end(false, `content mismatch at block ${got + 1}`);
          return;
        }
      }
      got++;
      res.bytes += payload;
      gapReported = false;
      retries = 0;
      sinceAck++;
      if (payload < res.blksize) {
        sendAck(got);
        if (expect && res.bytes !== expect.length) end(false, `short file: ${res.bytes} of ${expect.length}`);
        else end(true);
        return;
      }
      if (sinceAck >= res.windowsize) sendAck(got);
      armTimer();
    });

    sock.bind({ port: 0, address: opts.localAddress ?? '127.0.0.1' }, () => {
      t0 = performance.now();
      sock.send(rrq, opts.port, opts.host);
      armTimer();
    });
  });
}

/** A distinct loopback source address per client index, so per-address limits see many hosts. */
export function clientAddress(i: number): string {
  return `127.10.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

export type ManyResult = {
  results: GetResult[];
  wallMs: number;
};

/** Starts all transfers at once (the storm case) and waits for every one, each bounded by its deadline. */
export async function tftpGetMany(n: number, make: (i: number) => GetOptions): Promise<ManyResult> {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: n }, (_, i) => tftpGet(make(i))));
  return { results, wallMs: performance.now() - t0 };
}
