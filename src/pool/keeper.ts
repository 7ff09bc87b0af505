// The address keeper: a small child process of `pxepool serve` that outlives a crash of it.
// The server tells it, after every change, which service addresses it holds and the signed
// goodbye heartbeats it would send if it stopped now (one per peer, the next sequence number).
// When the server dies without a goodbye (SIGKILL, a crash, the OOM killer), the keeper's stdin
// closes: it deletes those addresses and sends those goodbyes, so the survivors know at once that
// the addresses are free, instead of waiting out the kernel lease (seconds a booting client may
// not have: an iPXE ROM gives up on its TFTP server about 12 s after its first request).
//
// The same when the server stops talking without dying (SIGSTOP, a debugger, a hung event
// loop): after `fenceAfterMs` of silence — when the server itself would no longer renew its lease
// — the keeper deletes the addresses and says goodbye, and the survivors take over at once
// rather than after the lease. A server that wakes up finds its addresses gone (it renews only
// what the kernel still lists) and rejoins; the keeper tells it the sequence number it used.
//
// It holds no secret: the goodbyes arrive already signed. If the keeper dies too, or is stopped
// with the server (a frozen cgroup, a paused VM), nothing is lost but time: the lease still
// expires and the survivors take over after it.
//
// Protocol on stdin: one JSON object per line, at least every heartbeat,
//   { "held": [{ "dev", "address", "prefixlen" }], "goodbyes": [{ "host", "port", "hex" }],
//     "seq": <the goodbyes' sequence number>, "fenceAfterMs": <silence that fences> }
// and on stdout, after a fence: { "fenced": <seq> }

import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';

interface State {
  held: { dev: string; address: string; prefixlen: number }[];
  goodbyes: { host: string; port: number; hex: string }[];
  seq?: number;
  fenceAfterMs?: number;
}

let state: State = { held: [], goodbyes: [] };
let done = false;
let heardAt = performance.now();
let fenced = false;

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  heardAt = performance.now();
  fenced = false;
  try {
    const s = JSON.parse(line) as State;
    if (Array.isArray(s.held) && Array.isArray(s.goodbyes)) state = s;
  } catch {
    // a torn line from a dying parent: keep the last good state
  }
});
setInterval(() => {
  const after = state.fenceAfterMs;
  if (done || fenced || after === undefined || state.held.length === 0) return;
  const silent = performance.now() - heardAt;
  if (silent <= after) return;
  fenced = true;
  void fence(`the server has been silent for ${Math.round(silent)} ms`);
}, 50);
rl.on('close', () => void release('the server exited'));
// systemd stops what is left of the unit with SIGTERM once the server is gone; a keeper asked
// to stop while its server still runs just leaves (the server releases its own addresses).
process.on('SIGTERM', () => {
  if (process.stdin.readableEnded || !parentAlive()) void release('SIGTERM after the server exited');
  else process.exit(0);
});

function parentAlive(): boolean {
  try {
    process.kill(process.ppid, 0);
    return process.ppid !== 1;
  } catch {
    return false;
  }
}

function ipDel(a: State['held'][number]): Promise<void> {
  return new Promise((resolve) => {
    execFile('ip', ['addr', 'del', `${a.address}/${a.prefixlen}`, 'dev', a.dev], { timeout: 2_000 }, () => resolve());
  });
}

/** Deletes what the server held and sends its goodbyes. */
async function letGo(why: string): Promise<void> {
  const s = state;
  // Addresses first: a survivor that hears the goodbye probes at once and must find them free.
  await Promise.all(s.held.map(ipDel));
  const socks = { udp4: dgram.createSocket('udp4'), udp6: dgram.createSocket('udp6') };
  await Promise.all(s.goodbyes.map((g) => new Promise<void>((resolve) => {
    socks[g.host.includes(':') ? 'udp6' : 'udp4'].send(Buffer.from(g.hex, 'hex'), g.port, g.host, () => resolve());
  })));
  socks.udp4.close();
  socks.udp6.close();
  process.stderr.write(`pxepool keeper: ${why}: released ${s.held.map((a) => a.address).join(', ') || 'nothing'}, told ${s.goodbyes.length} peer(s)\n`);
}

async function fence(why: string): Promise<void> {
  await letGo(why);
  if (state.seq !== undefined) process.stdout.write(`${JSON.stringify({ fenced: state.seq })}\n`);
}

async function release(why: string): Promise<void> {
  if (done) return;
  done = true;
  // Bounded: whatever happens, the keeper is gone in a few seconds.
  setTimeout(() => process.exit(0), 4_000).unref();
  await letGo(why);
  process.exit(0);
}
