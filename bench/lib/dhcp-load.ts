// DHCP load generator for bench/dhcp.ts, run inside the bench's client namespace. It builds its
// packets itself (no code shared with pxepool's codec, so a codec bug cannot hide on both
// sides) and keeps N requests outstanding (closed loop), or sends at a fixed rate (open loop),
// for a bounded time. Prints one JSON line: sent, answered, answers/s, latency percentiles.
//
//   node bench/lib/dhcp-load.ts --server 10.99.0.1 --kind discover|request --outstanding 64 --ms 3000
//   node bench/lib/dhcp-load.ts --server 10.99.0.1 --kind discover --rate 20000 --ms 2000

import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    server: { type: 'string' }, client: { type: 'string', default: '0.0.0.0' },
    kind: { type: 'string', default: 'discover' }, outstanding: { type: 'string' }, rate: { type: 'string' },
    ms: { type: 'string', default: '3000' }, timeout: { type: 'string', default: '200' }, macs: { type: 'string', default: '4096' },
  },
});
const server = a.server!;
const kind = a.kind === 'request' ? 'request' : 'discover';
const durationMs = Math.min(Number(a.ms), 60_000);
const timeoutMs = Number(a.timeout);
const nMacs = Math.max(1, Math.min(Number(a.macs), 1 << 20));

const VENDOR = Buffer.from('PXEClient:Arch:00007:UNDI:003016');

/** A PXE DISCOVER (to 67) or boot-server REQUEST (to 4011), as EDK2 sends them. */
function packet(xid: number, macIndex: number): Buffer {
  const b = Buffer.alloc(576);
  b[0] = 1; b[1] = 1; b[2] = 6;
  b.writeUInt32BE(xid >>> 0, 4);
  if (kind === 'discover') b.writeUInt16BE(0x8000, 10);
  else a.client!.split('.').forEach((o, i) => (b[12 + i] = Number(o)));
  b[28] = 0x52; b[29] = 0x54; b[30] = 0x00; b[31] = (macIndex >> 16) & 0xff; b[32] = (macIndex >> 8) & 0xff; b[33] = macIndex & 0xff;
  b.writeUInt32BE(0x63825363, 236);
  let o = 240;
  const opt = (code: number, data: Buffer) => { b[o++] = code; b[o++] = data.length; data.copy(b, o); o += data.length; };
  opt(53, Buffer.from([kind === 'discover' ? 1 : 3]));
  opt(57, Buffer.from([0x05, 0xc0]));
  opt(93, Buffer.from([0, 7]));
  opt(94, Buffer.from([1, 3, 16]));
  const uuid = Buffer.alloc(17); uuid[0] = 0; uuid.writeUInt32BE(macIndex, 13);
  opt(97, uuid);
  opt(55, Buffer.from([1, 3, 6, 43, 54, 60, 66, 67, 97, 128, 129, 130, 131, 132, 133, 134, 135]));
  opt(60, VENDOR);
  b[o++] = 255;
  return b.subarray(0, Math.max(o, 300));
}

const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const port = kind === 'discover' ? 68 : 4011;
// Bound to the wildcard: proxy offers to a DISCOVER are broadcast, and a socket bound to one
// unicast address does not receive broadcasts.
await new Promise<void>((res) => sock.bind(port, '0.0.0.0', () => res()));
sock.setBroadcast(true);
sock.setRecvBufferSize(4 << 20);
sock.setSendBufferSize(4 << 20);

const pending = new Map<number, number>(); // xid → sent at (ms)
const lat: number[] = [];
let sent = 0;
let answered = 0;
let late = 0;
const sendErrors: string[] = [];
let xid = (Math.random() * 2 ** 31) >>> 0;
const t0 = performance.now();
const end = t0 + durationMs;

sock.on('message', (m) => {
  if (m.length < 240 || m[0] !== 2) return;
  const x = m.readUInt32BE(4);
  const at = pending.get(x);
  if (at === undefined) { late++; return; }
  pending.delete(x);
  answered++;
  lat.push(performance.now() - at);
  if (a.outstanding !== undefined && performance.now() < end) send();
});

function send(): void {
  xid = (xid + 1) >>> 0;
  pending.set(xid, performance.now());
  sock.send(packet(xid, sent % nMacs), kind === 'discover' ? 67 : 4011, server, (err) => {
    if (err) sendErrors.push(err.message);
  });
  sent++;
}

// Requests never answered time out and are replaced, so a lost one does not stall the loop.
const sweep = setInterval(() => {
  const now = performance.now();
  for (const [x, at] of pending) {
    if (now - at > timeoutMs) {
      pending.delete(x);
      if (a.outstanding !== undefined && now < end) send();
    }
  }
}, 20);

if (a.outstanding !== undefined) {
  for (let i = 0; i < Math.min(Number(a.outstanding), 4096); i++) send();
} else {
  const rate = Math.min(Number(a.rate), 200_000);
  const tick = setInterval(() => {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due && performance.now() < end) send();
  }, 1);
  setTimeout(() => clearInterval(tick), durationMs);
}

await new Promise((r) => setTimeout(r, durationMs + timeoutMs));
clearInterval(sweep);
sock.close();
lat.sort((x, y) => x - y);
const q = (p: number) => (lat.length === 0 ? null : Number(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!.toFixed(3)));
process.stdout.write(JSON.stringify({ sent, answered, late, sendErrors: sendErrors.length, firstSendError: sendErrors[0], answersPerSec: Math.round(answered / (durationMs / 1000)), p50: q(0.5), p99: q(0.99), max: q(1) }) + '\n');
