// Issue 13, defect 9: slow HTTP clients must not hold every slot. Real sockets on loopback, a real
// client (curl) for the requests that must still be served.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { startHttpServer, type HttpServer } from '../../src/http/server.ts';
import { createMetrics } from '../../src/observe/metrics.ts';
import { ConnectionLimiter } from '../../src/http/limits.ts';

const run = promisify(execFile);
let srv: HttpServer;
const refused: string[] = [];

before(async () => {
  srv = await startHttpServer({
    host: '127.0.0.1', port: 0, metrics: createMetrics(), status: () => ({ ok: true }),
    maxPerAddress: 32, headersTimeoutMs: 1000, onRefused: (r) => refused.push(r),
  });
});
after(() => srv?.close());

function slow(local: string): Promise<{ sock: net.Socket; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = net.connect({ host: '127.0.0.1', port: srv.port, localAddress: local }, () => {
      sock.write('GET /status HTTP/1.1\r\nHost: x\r\n'); // and never the end of the headers
      resolve({ sock, closed });
    });
    const closed = new Promise<number>((r) => sock.on('close', () => r(performance.now() - t0)));
    sock.on('error', () => { /* reset by the server: expected */ });
    sock.once('error', reject);
  });
}

test('one address holds at most its share of connections; others are still served; slow headers are cut on time', { timeout: 30_000 }, async () => {
  const held = await Promise.all(Array.from({ length: 200 }, () => slow('127.0.0.1')));
  // Past 32, the server closed them at once.
  const early = await Promise.race([Promise.all(held.slice(40).map((h) => h.closed)), new Promise<'open'>((r) => setTimeout(() => r('open'), 500))]);
  assert.notEqual(early, 'open', 'connections past the per-address share stayed open');
  assert.ok(refused.filter((r) => r === 'per-address').length >= 160, `${refused.length} refused`);
  // Another client address is served meanwhile (curl, from 127.0.0.2).
  const ok = await run('curl', ['-sf', '--max-time', '5', '--interface', '127.0.0.2', `http://127.0.0.1:${srv.port}/status`]);
  assert.match(ok.stdout, /"ok": true/);
  // The 32 that stayed are closed by the header deadline (1 s), not tens of seconds later.
  const lasted = await Promise.all(held.slice(0, 32).map((h) => h.closed));
  assert.ok(Math.max(...lasted) < 3_000, `a slow connection lasted ${Math.round(Math.max(...lasted))} ms with a 1 s header deadline`);
  // And the address that was cut off is served again.
  const again = await run('curl', ['-sf', '--max-time', '5', `http://127.0.0.1:${srv.port}/status`]);
  assert.match(again.stdout, /"ok": true/);
});

test('the limiter counts per address and frees on release', () => {
  const l = new ConnectionLimiter(2);
  assert.equal(l.admit('a'), true);
  assert.equal(l.admit('a'), true);
  assert.equal(l.admit('a'), false);
  assert.equal(l.admit('b'), true);
  l.release('a');
  assert.equal(l.admit('a'), true);
  l.release('a'); l.release('a'); l.release('b');
  assert.equal(l.addresses, 0);
});
