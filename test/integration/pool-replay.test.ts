// Issue 13, defect 1, over real sockets: heartbeats recorded from a peer's earlier run and
// replayed to a freshly started peer must neither displace the running peer nor make a dead
// one look live. The recording is made by a relay that sits between the two peers, so the
// datagrams are exactly what a capture on the segment would hold (authentic, in the clock
// window, echoing the receiver's earlier run).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { poolSchema } from '../../src/pool/config.ts';
import { type Pool, startPool } from '../../src/pool/peer.ts';

const SECRET = 'replay-test-shared-secret';
const base = 46000 + (process.pid % 3000) * 3;
const X = base;
const Y = base + 1;
const RELAY = base + 2;

// Y sends to "x" at the relay; the relay forwards to X and records. X sends to Y directly.
const cfgX = () => poolSchema.parse({
  name: 'x', secret: SECRET, bind: '127.0.0.1', heartbeatMs: 200, deadAfter: 3,
  peers: [{ name: 'x', address: '127.0.0.1', port: X }, { name: 'y', address: '127.0.0.1', port: Y }],
});
const cfgY = () => poolSchema.parse({
  name: 'y', secret: SECRET, bind: '127.0.0.1', heartbeatMs: 200, deadAfter: 3,
  peers: [{ name: 'x', address: '127.0.0.1', port: RELAY }, { name: 'y', address: '127.0.0.1', port: Y }],
});

const relay = dgram.createSocket('udp4');
let recording: Buffer[] | undefined;
relay.on('message', (m) => {
  recording?.push(Buffer.from(m));
  relay.send(m, X, '127.0.0.1');
});
await new Promise<void>((r) => relay.bind(RELAY, '127.0.0.1', () => r()));
const open: Pool[] = [];
after(async () => {
  for (const p of open) await p.close({ goodbye: false });
  relay.close();
});

async function start(cfg: ReturnType<typeof cfgX>): Promise<Pool> {
  const p = await startPool({ config: cfg });
  open.push(p);
  return p;
}
async function kill(p: Pool): Promise<void> {
  open.splice(open.indexOf(p), 1);
  await p.close({ goodbye: false });
}
async function waitFor(what: string, cond: () => boolean, limitMs: number): Promise<void> {
  for (let i = 0; i <= limitMs / 20; i++) {
    if (cond()) return;
    await sleep(20);
  }
  assert.fail(`${what}: not within ${limitMs} ms`);
}
async function replay(datagrams: readonly Buffer[], rounds: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  for (let r = 0; r < rounds; r++) {
    for (const d of datagrams) await new Promise<void>((done) => s.send(d, X, '127.0.0.1', () => done()));
    await sleep(100);
  }
  s.close();
}
const yRow = (p: Pool) => p.status().peers.find((v) => v.name === 'y')!;

test('a recording of an earlier run replayed to a fresh peer does not displace the running peer', async () => {
  // Run 1 of both, recorded.
  recording = [];
  let x = await start(cfgX());
  let y = await start(cfgY());
  await waitFor('x and y see each other', () => x.live().includes('y') && y.live().includes('x'), 3000);
  await sleep(1000);
  const run1 = recording;
  recording = undefined;
  assert.ok(run1.length >= 4, `recorded ${run1.length} datagrams`);
  await kill(x);
  await kill(y);

  // Run 2: a new y, then a fresh x that is fed the recording of run 1.
  y = await start(cfgY());
  x = await start(cfgX());
  // The attack of the report: the running y is known, then the recording arrives. (The other
  // order, recording first, is the unit test "a fresh receiver fed an old run first".)
  await waitFor('x sees the running y', () => x.live().includes('y') && yRow(x).instance === y.instance, 3000);
  await replay(run1, 20);
  await sleep(600);
  assert.ok(x.live().includes('y'), 'y stays live on x');
  assert.equal(yRow(x).instance, y.instance, 'x follows the running y, not the recording');
  assert.ok(y.live().includes('x'), 'x stays live on y');
  const rej = x.status().heartbeats.rejected;
  const refused = (rej['replay'] ?? 0) + (rej['unconfirmed'] ?? 0);
  assert.ok(refused >= run1.length * 20, `replayed datagrams refused: ${JSON.stringify(rej)}`);
});

test('a recording of a killed peer replayed to a fresh peer never makes it look live', async () => {
  for (const p of [...open]) await kill(p);
  recording = [];
  const x1 = await start(cfgX());
  const y = await start(cfgY());
  await waitFor('x and y see each other', () => x1.live().includes('y') && y.live().includes('x'), 3000);
  await sleep(1000);
  const rec = recording;
  recording = undefined;
  await kill(y);
  await kill(x1);

  const x = await start(cfgX());
  const replaying = replay(rec, 20);
  for (let i = 0; i < 20; i++) {
    assert.ok(!x.live().includes('y'), `the dead y is live on x after ${i * 100} ms of replay`);
    await sleep(100);
  }
  await replaying;
  assert.ok((x.status().heartbeats.rejected['unconfirmed'] ?? 0) >= rec.length, JSON.stringify(x.status().heartbeats.rejected));
});
