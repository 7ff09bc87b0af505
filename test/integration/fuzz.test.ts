// Issue 13: 10,000 fuzzed datagrams per format (DHCPv4 on 67 and 4011, TFTP, pool heartbeats and
// announcements) at a running server on loopback. Nothing may crash it, and every datagram
// must show up exactly once in /metrics (answered, or dropped with a reason). Then it still
// answers a real request and serves a file. DHCPv6 (547 and 4011) is fuzzed through its codec
// and respond6() without sockets: its edge counts no drops in /metrics yet. bench/fuzz.ts runs
// 100,000 and more.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';
import { discover, encode } from '../../src/dhcp/pxe-client.ts';
import { parseDhcp6 } from '../../src/dhcp6/packet.ts';
import { duidLl, respond6 } from '../../src/dhcp6/respond.ts';
import { dhcp6Case, dhcpCase, FUZZ_SECRET, poolCase, rng, tftpCase } from '../lib/fuzz.ts';

const run = promisify(execFile);
const CASES = Number(process.env.PXEPOOL_FUZZ_CASES ?? 10_000);
const base = 52000 + (process.pid % 1500) * 6;
const P = { dhcp: base, pxe: base + 1, client: base + 2, tftp: base + 3, http: base + 4, pool: base + 5 };
const dir = mkdtempSync(join(tmpdir(), 'pxepool-fuzz-'));
let app: App;

before(async () => {
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(30_000, 7));
  const r = parseConfigText(`
root: ${dir}
server: { proxyDhcp: proxy }
tftp: { port: ${P.tftp} }
http: { port: ${P.http} }
log: { level: silent }
profiles:
  lab: { bios: pxelinux.0, efiX64: snponly.efi }
rules:
  - { match: { mac: "02:*" }, action: ignore }
default: lab
pool:
  name: a
  secret: ${FUZZ_SECRET}
  bind: 127.0.0.1
  peers:
    - { name: a, address: 127.0.0.1, port: ${P.pool} }
    - { name: b, address: 127.0.0.1, port: ${P.pool + 1000} }
`, 'fuzz.yaml', { readFile: () => '' });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  if (!r.ok) return;
  app = await serve({ config: r.config, logger: createLogger('silent'), listen: ['127.0.0.1'], ports: { dhcp: P.dhcp, pxe: P.pxe, client: P.client } });
});
after(() => app?.close());

async function metricsText(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${P.http}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}
/** Sum of every sample of `name` (all label sets), optionally only those whose labels match. */
function sum(text: string, name: string, labels?: RegExp): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m === null || m[1] !== name || (labels !== undefined && !labels.test(m[2] ?? ''))) continue;
    n += Number(m[3]);
  }
  return n;
}
async function counted(names: readonly string[]): Promise<number> {
  const text = await app.metrics.registry.metrics();
  return names.reduce((n, name) => n + sum(text, name), 0);
}

/**
 * Sends `n` cases to the server, never more than `window` ahead of what it has counted (so the
 * kernel's socket buffer never overflows and every datagram is seen), then waits for all. The
 * pool's socket has the kernel's default buffer (a heartbeat a peer per interval needs no more).
 */
async function blast(n: number, next: () => { bytes: Uint8Array; port: number }, names: readonly string[], window = 400): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const start = await counted(names);
  const t0 = performance.now();
  try {
    for (let sent = 0; sent < n;) {
      const burst = Math.min(window / 2, n - sent);
      await Promise.all(Array.from({ length: burst }, () => {
        const c = next();
        return new Promise<void>((r) => sock.send(c.bytes, c.port, '127.0.0.1', () => r()));
      }));
      sent += burst;
      while ((await counted(names)) - start < sent - window) {
        assert.ok(performance.now() - t0 < 120_000, `only ${(await counted(names)) - start} of ${sent} counted`);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    while ((await counted(names)) - start < n && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 10));
  } finally {
    sock.close();
  }
  return (await counted(names)) - start;
}

test(`DHCPv4: ${CASES} fuzzed requests on 67 and 4011, each answered or dropped with a reason`, { timeout: 180_000 }, async () => {
  const r = rng(1301);
  const names = ['pxepool_dhcp_replies_total', 'pxepool_dhcp_dropped_total'];
  const seen = await blast(CASES, () => { const c = dhcpCase(r); return { bytes: c.bytes, port: c.via === 'dhcp' ? P.dhcp : P.pxe }; }, names);
  const text = await metricsText();
  assert.equal(seen, CASES, 'every datagram counted once');
  assert.equal(sum(text, 'pxepool_dhcp_malformed_total', /reason="internal"/), 0, 'respond() threw');
  console.log(`# dhcp fuzz: ${CASES} cases; dropped by reason: ${text.split('\n').filter((l) => l.startsWith('pxepool_dhcp_dropped_total{')).map((l) => l.replace('pxepool_dhcp_dropped_total', '')).join(' ')}`);
  assert.ok(sum(text, 'pxepool_dhcp_dropped_total', /reason="malformed"/) > 0 && sum(text, 'pxepool_dhcp_replies_total') > 0, 'the cases reach both the parser\'s errors and the replies');
  // Still serving: a well-formed DISCOVER is answered.
  const c = dgram.createSocket('udp4');
  await new Promise<void>((res) => c.bind(P.client, '127.0.0.1', () => res()));
  const before = sum(await metricsText(), 'pxepool_dhcp_replies_total');
  c.send(encode(discover({ kind: 'ipxe-bios', mac: '52:54:00:aa:bb:cc', uuid: '11111111-2222-3333-4444-555555555555' }, { xid: 77 })), P.dhcp, '127.0.0.1');
  for (let i = 0; i < 100 && sum(await metricsText(), 'pxepool_dhcp_replies_total') === before; i++) await new Promise((res) => setTimeout(res, 20));
  c.close();
  assert.equal(sum(await metricsText(), 'pxepool_dhcp_replies_total'), before + 1);
});

test(`TFTP: ${CASES} fuzzed datagrams on the listening port, each counted by what became of it`, { timeout: 180_000 }, async () => {
  const r = rng(1302);
  const seen = await blast(CASES, () => ({ bytes: tftpCase(r), port: P.tftp }), ['pxepool_tftp_requests_total']);
  const text = await metricsText();
  assert.equal(seen, CASES, 'every datagram counted once');
  console.log(`# tftp fuzz: ${CASES} cases; ${text.split('\n').filter((l) => l.startsWith('pxepool_tftp_requests_total{')).map((l) => l.replace('pxepool_tftp_requests_total', '')).join(' ')}`);
  // Still serving, to a real client.
  const out = join(dir, 'got.bin');
  await run('tftp', ['127.0.0.1', String(P.tftp), '-m', 'binary', '-c', 'get', 'pxelinux.0', out], { timeout: 20_000 });
  assert.equal(readFileSync(out).length, 30_000);
});

test(`pool: ${CASES} fuzzed heartbeats and announcements, each accepted or rejected with a reason`, { timeout: 180_000 }, async () => {
  const r = rng(1303);
  const names = ['pxepool_pool_heartbeats_received_total', 'pxepool_pool_heartbeats_rejected_total', 'pxepool_pool_announcements_received_total'];
  const seen = await blast(CASES, () => ({ bytes: poolCase(r, Date.now()), port: P.pool }), names, 64);
  const text = await metricsText();
  assert.equal(seen, CASES, 'every datagram counted once');
  console.log(`# pool fuzz: ${CASES} cases; rejected: ${text.split('\n').filter((l) => l.startsWith('pxepool_pool_heartbeats_rejected_total{')).map((l) => l.replace('pxepool_pool_heartbeats_rejected_total', '')).join(' ')}`);
  assert.ok(sum(text, 'pxepool_pool_heartbeats_rejected_total', /reason="bad-mac"/) > 0, 'signatures were checked');
});

test(`DHCPv6: ${CASES} fuzzed Solicits and 4011 Requests through the codec and respond6(), each answered or dropped with a reason`, () => {
  const r = rng(1304);
  const ctx = { serverDuid: duidLl('52:54:00:aa:bb:cc'), serverAddress: 'fd77:0:0:1::11', httpPort: 8080 };
  const sources = ['fe80::5054:ff:fe65:1%eth0', 'fe80::ff:fe00:1%eth0', 'fd77::1:1234:5678:9abc:def0'];
  const by = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    const c = dhcp6Case(r, ctx.serverDuid);
    const p = parseDhcp6(c.bytes);
    const o = p.ok ? respond6(p.message, c.via, sources[i % sources.length]!, ctx, (f) => (f.mac.startsWith('02:')
      ? { action: 'ignore', rule: 'rules[0]', reason: 'fuzz' }
      : { action: 'boot', rule: 'default', profile: 'lab', firmware: f.firmware, bootFile: 'snponly.efi' })) : undefined;
    const k = o === undefined ? `malformed-${p.ok ? '' : p.reason}` : o.kind === 'reply' ? 'reply' : o.reason;
    by.set(k, (by.get(k) ?? 0) + 1);
  }
  console.log(`# dhcp6 fuzz: ${CASES} cases; ${[...by].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // Not vacuous: the cases reach answers, every kind of drop, and the parser's errors.
  for (const k of ['reply', 'policy', 'no-mac', 'not-for-us', 'malformed-truncated-option']) assert.ok((by.get(k) ?? 0) > 0, `${k}: ${JSON.stringify([...by])}`);
});
