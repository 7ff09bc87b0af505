// The operator's view on a real serve over loopback (issue 19): the dashboard's pages and their
// headers, /api/v1/explain from what this peer saw of a client (offer, 4011, each file, how it
// ended), the live snapshot, and the event stream's bounds (subscribers, a reader that stalls).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createSseHub } from '../../src/http/sse.ts';
import { bootRequest, relayedDiscover, tftpGet } from '../lib/operator-client.ts';
import { udpPeer } from '../lib/udp.ts';
import { discover, encode } from '../../src/dhcp/pxe-client.ts';
import { encodeIp, encodeU8, MessageType, Opt } from '../../src/dhcp/options.ts';

const base = 46000 + (process.pid % 900) * 4;
const P = { dhcp: base, pxe: base + 1, tftp: base + 2, http: base + 3 };
const URL_BASE = `http://127.0.0.1:${P.http}`;
const dir = mkdtempSync(join(tmpdir(), 'pxepool-operator-'));
const KNOWN = { kind: 'ipxe-bios' as const, mac: '52:54:00:aa:00:01' };
const IGNORED = { kind: 'ipxe-bios' as const, mac: '52:54:00:bb:00:01' };
let app: App;

before(async () => {
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(3000, 5));
  const r = parseConfigText(`root: ${dir}\ntftp: { port: ${P.tftp} }\nhttp: { port: ${P.http} }\nprofiles:\n  lab: { bios: pxelinux.0 }\nrules:\n  - { match: { mac: "52:54:00:aa:*" }, profile: lab }\ndefault: ignore\n`, 'x.yaml', { readFile: () => '' });
  assert.ok(r.ok);
  if (!r.ok) return;
  app = await serve({ config: r.config, logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: P.dhcp, pxe: P.pxe } });
});
after(async () => { await app?.close(); });

async function get(path: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(URL_BASE + path, { redirect: 'manual', signal: AbortSignal.timeout(3000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

test('/ leads to the dashboard; the page allows no inline script and loads its own', async () => {
  const root = await get('/');
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/pxepool/');
  const page = await get('/pxepool/');
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  assert.deepEqual([...page.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]), ['<script src="/pxepool/dashboard.js">']);
  assert.doesNotMatch(page.text, /https?:\/\//, 'nothing from elsewhere');
  const js = await get('/pxepool/dashboard.js');
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.doesNotMatch(js.text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/, 'client data goes in as text only');
  assert.equal((await get('/pxepool/dashboard.css')).status, 200);
  assert.equal((await get('/pxelinux.0')).status, 200, 'boot files still served');
});

test('explain: offer, 4011, each file with its outcome, how the boot ended, the verdict now', async () => {
  assert.ok(await relayedDiscover('127.0.0.2', '127.0.0.1', P.dhcp, KNOWN, 0x5001, { hostname: 'lab-one' }), 'offer');
  assert.ok(await bootRequest('127.0.0.3', '127.0.0.1', P.pxe, KNOWN, 0x5002), '4011 ACK');
  const got = await tftpGet('127.0.0.3', '127.0.0.1', P.tftp, 'pxelinux.0');
  assert.ok(got.ok && got.data.length === 3000, JSON.stringify(got));
  const missing = await tftpGet('127.0.0.3', '127.0.0.1', P.tftp, 'ldlinux.c32');
  assert.equal(missing.ok, false);
  const x = JSON.parse((await get(`/api/v1/explain?mac=${KNOWN.mac.toUpperCase().replaceAll(':', '-')}`)).text) as { verdict: string; known: boolean; reason: string; facts: { hostname: string }; events: { kind: string; file?: string; result?: string; port?: number }[]; lastBoot: string };
  assert.equal(x.verdict, 'answer');
  assert.equal(x.known, true);
  assert.equal(x.facts.hostname, 'lab-one');
  assert.deepEqual(x.events.map((e) => `${e.kind}${e.port !== undefined ? `@${e.port}` : ''}${e.file !== undefined ? ` ${e.file}` : ''}${e.result !== undefined ? ` ${e.result}` : ''}`), [
    'offer@67 pxelinux.0', 'ack@4011 pxelinux.0', 'file pxelinux.0 ok', 'file ldlinux.c32 not-found',
  ]);
  assert.equal(x.lastBoot, 'failed fetching ldlinux.c32: not-found');
});

test('an ignored client: the event and the verdict say which rule; a bad MAC is refused', async () => {
  assert.equal(await relayedDiscover('127.0.0.2', '127.0.0.1', P.dhcp, IGNORED, 0x5003), false);
  const x = JSON.parse((await get(`/api/v1/explain?mac=${IGNORED.mac}`)).text) as { verdict: string; reason: string; events: { kind: string; reason: string }[] };
  assert.equal(x.verdict, 'ignore');
  assert.match(x.reason, /^default: /);
  assert.deepEqual(x.events.map((e) => e.kind), ['ignore']);
  const bad = await get('/api/v1/explain?mac=%3Cscript%3E');
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('content-type'), 'application/json');
  assert.equal((await get('/api/v1/nothing')).status, 404);
});

test('a client that never asks 4011: its REQUEST to the site DHCP server names the address its TFTP read comes from', async () => {
  const rom = { kind: 'ipxe-bios' as const, mac: '52:54:00:aa:00:02' };
  const req = discover(rom, { xid: 0x5004, giaddr: '127.0.0.2', hops: 1 });
  req.options = req.options.map((o) => (o.code === Opt.MessageType ? { code: o.code, data: encodeU8(MessageType.Request) } : o));
  req.options.push({ code: Opt.RequestedIp, data: encodeIp('127.0.0.4') }, { code: Opt.ServerId, data: encodeIp('127.0.0.9') });
  const relay = await udpPeer('127.0.0.2', P.dhcp);
  try { await relay.send(encode(req), P.dhcp, '127.0.0.1'); } finally { await relay.close(); }
  // the REQUEST is for the site server: nothing comes back, but the address is learned (give the server a moment)
  let kinds: string[] = [];
  for (let i = 0; i < 40 && kinds.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const got = await tftpGet('127.0.0.4', '127.0.0.1', P.tftp, 'pxelinux.0');
    assert.ok(got.ok);
    const x = JSON.parse((await get(`/api/v1/explain?mac=${rom.mac}`)).text) as { events: { kind: string; file?: string; result?: string }[] };
    kinds = x.events.map((e) => `${e.kind} ${e.file} ${e.result}`);
  }
  assert.deepEqual(kinds.slice(0, 1), ['file pxelinux.0 ok']);
});

test('the snapshot: status, transfers, the latest events of every client', async () => {
  const s = JSON.parse((await get('/api/v1/state')).text) as { status: { name: string }; transfers: unknown[]; recent: { mac: string }[]; clients: { macs: number } };
  assert.ok(Array.isArray(s.transfers));
  assert.equal(s.clients.macs, 3);
  assert.ok(s.recent.some((e) => e.mac === IGNORED.mac) && s.recent.some((e) => e.mac === KNOWN.mac));
});

function openStream(): Promise<{ status: number; first: Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${URL_BASE}/api/v1/events`, (res) => {
      let buf = '';
      const first = new Promise<string>((r) => {
        res.setEncoding('utf8').on('data', (d: string) => { buf += d; if (buf.includes('\n\n', buf.indexOf('event: state'))) r(buf); });
      });
      resolve({ status: res.statusCode ?? 0, first, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

test('event stream: a snapshot at once; at most 16 dashboards; they are not the pool\'s load', async () => {
  const streams = [];
  try {
    for (let i = 0; i < 16; i++) streams.push(await openStream());
    assert.ok(streams.every((s) => s.status === 200));
    assert.match(await streams[0]!.first, /event: state\ndata: \{"at":/);
    const refused = await openStream();
    streams.push(refused);
    assert.equal(refused.status, 503);
    assert.equal(app.http!.active(), 0, 'open dashboards are not transfers');
    assert.match((await get('/metrics')).text, /^pxepool_dashboard_streams 16$/m);
  } finally {
    for (const s of streams) s.close();
  }
});

test('a subscriber that stops reading is cut off, not buffered for without end', async () => {
  const hub = createSseHub({ maxSubscribers: 2, maxBufferBytes: 64 * 1024 });
  const server = http.createServer((req, res) => { hub.subscribe(req, res, {}); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const req = http.get(`http://127.0.0.1:${port}/`, (res) => res.pause());
  req.on('error', () => undefined);
  try {
    for (let i = 0; i < 100 && hub.subscribers() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(hub.subscribers(), 1);
    const chunk = 'x'.repeat(60 * 1024);
    // Loopback socket buffers take a few MiB before the stream's own buffer grows: bounded at 64 MiB.
    for (let i = 0; i < 1024 && hub.dropped() === 0; i++) {
      hub.broadcast('state', chunk);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(hub.dropped(), 1);
    assert.equal(hub.subscribers(), 0);
  } finally {
    req.destroy();
    hub.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
