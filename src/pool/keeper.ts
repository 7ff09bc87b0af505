// The address keeper: a small child process of `pxepool serve` that outlives a crash of it.
// The server tells it, after every change, which service addresses it holds and the signed
// goodbye heartbeats it would send if it stopped now (one per peer, the next sequence number).
// When the server dies without a goodbye (SIGKILL, a crash, the OOM killer), the keeper's stdin
// closes: it deletes those addresses and sends those goodbyes, so the survivors know at once that
// the addresses are free, instead of waiting out the kernel lease (seconds a booting client may
// not have: an iPXE ROM gives up on its TFTP server about 12 s after its first request).
//
// It holds no secret: the goodbyes arrive already signed. If the keeper dies too, nothing is
// lost but time: the lease still expires and the survivors take over after it.
//
// Protocol on stdin: one JSON object per line,
//   { "held": [{ "dev", "address", "prefixlen" }], "goodbyes": [{ "host", "port", "hex" }] }

import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { createInterface } from 'node:readline';

interface State {
  held: { dev: string; address: string; prefixlen: number }[];
  goodbyes: { host: string; port: number; hex: string }[];
}

let state: State = { held: [], goodbyes: [] };
let done = false;

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  try {
    const s = JSON.parse(line) as State;
    if (Array.isArray(s.held) && Array.isArray(s.goodbyes)) state = s;
  } catch {
    // a torn line from a dying parent: keep the last good state
  }
});
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

async function release(why: string): Promise<void> {
  if (done) return;
  done = true;
  // Bounded: whatever happens, the keeper is gone in a few seconds.
  setTimeout(() => process.exit(0), 4_000).unref();
  // Addresses first: a survivor that hears the goodbye probes at once and must find them free.
  await Promise.all(state.held.map(ipDel));
  const sock = dgram.createSocket('udp4');
  await Promise.all(state.goodbyes.map((g) => new Promise<void>((resolve) => {
    sock.send(Buffer.from(g.hex, 'hex'), g.port, g.host, () => resolve());
  })));
  sock.close();
  process.stderr.write(`pxepool keeper: ${why}: released ${state.held.map((a) => a.address).join(', ') || 'nothing'}, told ${state.goodbyes.length} peer(s)\n`);
  process.exit(0);
}
