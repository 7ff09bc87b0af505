// `pxepool storm` in relay mode on loopback against pxepool's own server (`serve --listen`):
// every client boots, and pxepool's per-client transfer limit shows up when all clients share
// one address but not when each has its own.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { runStorm } from '../../src/storm/run.ts';

const base = 21000 + (process.pid % 4000) * 2;
const P = { dhcp: base, pxe: base + 1, tftp: 31000 + (process.pid % 4000), http: 41000 + (process.pid % 4000) };
const dir = mkdtempSync(join(tmpdir(), 'pxepool-storm-'));
const MiB = 1 << 20;
let srv: ServeProc;

before(async () => {
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(MiB, 1));
  writeFileSync(join(dir, 'snponly.efi'), Buffer.alloc(MiB, 2));
  writeFileSync(join(dir, 'boot.ipxe'), '#!ipxe\nexit\n');
  writeFileSync(join(dir, 'pxepool.yaml'), `
root: ${dir}
profiles:
  lab:
    bios: pxelinux.0
    efiX64: snponly.efi
    ipxe: http://\${server}/boot.ipxe
default: lab
`);
  srv = await startServe(['--config', join(dir, 'pxepool.yaml'), '--listen', '127.0.0.1', '--dhcp-port', String(P.dhcp), '--pxe-port', String(P.pxe), '--tftp-port', String(P.tftp), '--http-port', String(P.http)]);
});

after(async () => {
  await srv?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const relay = { mode: 'relay' as const, relay: '127.0.0.2', servers: ['127.0.0.1'], serverPort: P.dhcp };

test('relay mode: 60 mixed clients boot from pxepool, one address each', { timeout: 60_000 }, async () => {
  const { summary: s, clients } = await runStorm({
    clients: 60, transport: relay, mix: { bios: 40, efi: 40, ipxe: 20 }, pxePort: P.pxe, tftpPort: P.tftp,
    tuning: { edk2CollectMs: 300 }, timeLimitMs: 40_000, seed: 3,
  });
  assert.equal(s.failed, 0, JSON.stringify(s.failures));
  assert.equal(s.booted, 60);
  assert.deepEqual(s.servers.offer, { '127.0.0.1': 60 });
  assert.equal(s.offersPerClient.dhcpMean, 0, 'no site DHCP server on loopback');
  assert.ok(s.nbpMs.p50 !== null && s.timeToAllBootedMs !== null);
  assert.ok(new Set(clients.map((c) => c.bootFile)).size >= 2, 'TFTP and HTTP boot files');
  // iPXE clients get the script over HTTP; EDK2 gets snponly.efi over TFTP (the BIOS iPXE ROM
  // says iPXE in option 77, so the ipxe profile applies to it too)
  for (const c of clients) {
    if (c.family === 'efi') assert.equal(c.bytes, MiB, c.mac);
    else assert.match(c.bootFile ?? '', /^http:\/\/127\.0\.0\.1:\d+\/boot\.ipxe$/);
  }
  // The storm's counts against pxepool's own records: per client, every proxy offer it
  // received is one `answer` line on port 67, and every client that got a 4011 answer has one
  // there; TFTP: one whole NBP per EDK2 client plus its aborted size probe.
  const answers = (mac: string, port: number) => srv.logs.filter((l) => l.event === 'answer' && l.port === port && l.mac === mac).length;
  for (const c of clients) {
    assert.equal(c.proxyOffers, answers(c.mac, 67), `${c.mac} (${c.family}): offers received vs pxepool's answers on 67`);
    if (c.ackMs !== undefined) assert.ok(answers(c.mac, 4011) >= 1 + c.retransmits.request - c.retransmits.request, `${c.mac}: 4011 answer logged`);
    else assert.equal(answers(c.mac, 4011), 0, `${c.mac}: no 4011 answer logged for a client that got none`);
  }
  const status = (await (await fetch(`http://127.0.0.1:${P.http}/status`)).json()) as { tftp: { transfersOk: number; probes: number } };
  const efi = clients.filter((c) => c.family === 'efi').length;
  assert.equal(status.tftp.transfersOk, efi, 'one NBP transfer per EDK2 client');
  assert.equal(status.tftp.probes, efi, "one aborted size probe per EDK2 client (EDK2's tsize query)");
});

test('relay mode, all clients on one address: pxepool\'s per-IP TFTP limit turns into restarts', { timeout: 60_000 }, async () => {
  const { summary: s } = await runStorm({
    clients: 40, transport: { ...relay, address: '127.0.0.2' }, mix: { efi: 1 }, pxePort: P.pxe, tftpPort: P.tftp,
    tuning: { edk2CollectMs: 100 }, timeLimitMs: 40_000, seed: 4, maxRestarts: 15,
  });
  assert.ok(s.restarts > 0, 'some transfers refused and restarted');
  assert.equal(s.booted + s.failed, 40);
  assert.ok(s.booted > 0);
});

test('the hard time limit ends a storm against a server that never answers', { timeout: 20_000 }, async () => {
  const t0 = Date.now();
  const { summary: s } = await runStorm({
    clients: 5, transport: { mode: 'relay', relay: '127.0.0.2', servers: ['127.0.0.1'], serverPort: P.dhcp + 7 }, mix: { bios: 1 },
    timeLimitMs: 1500, seed: 5,
  });
  assert.ok(Date.now() - t0 < 4000);
  assert.equal(s.failed, 5);
  assert.deepEqual(s.failures, { 'time limit': 5 });
  assert.ok(s.retransmits.discover >= 5);
});
