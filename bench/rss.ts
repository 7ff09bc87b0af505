// Memory under a boot storm (issue 20): pxepool's TFTP server (bench/lib/pxepool-server.ts, its
// defaults) with N transfers running at once on loopback, each client from its own address and
// slowed by an ACK delay so that all N overlap; prints the server's peak RSS (VmHWM and the
// sampled process tree), how many transfers completed, and how many ran at once at the peak.
// The client is one Node process: 2,000 clients × 4 blocks per ACK delay is what it can keep up
// with at about 300 ms (27,000 datagrams/s each way on 2 cores); shorter delays measure the client.
// Usage: node bench/rss.ts [--clients 2000] [--mib 1] [--ack-delay-ms 300] [--blksize 1468] [--windowsize 4]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { clientAddress, tftpGetMany } from './lib/tftp-client.ts';
import { loadavg } from './lib/report.ts';
import { startServer } from './lib/servers.ts';

const { values: a } = parseArgs({ options: {
  clients: { type: 'string', default: '2000' }, mib: { type: 'string', default: '1' }, 'ack-delay-ms': { type: 'string', default: '300' },
  blksize: { type: 'string', default: '1468' }, windowsize: { type: 'string', default: '4' },
} });
const n = Math.min(Number(a.clients), 4000);
const size = Math.min(Number(a.mib), 64) * 1024 * 1024;
const root = mkdtempSync(path.join(os.tmpdir(), 'pxepool-rss-'));
const file = Buffer.alloc(size);
for (let i = 0; i < size; i++) file[i] = (i * 31 + 7) & 255;
writeFileSync(path.join(root, 'kernel.bin'), file);
const before = loadavg();
const s = await startServer('pxepool', root, null);
// An interrupted run must not leave the server behind.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void s.stop().finally(() => { rmSync(root, { recursive: true, force: true }); process.exit(130); }));
const baseline = s.peakRssMb();
try {
  const t0 = Date.now();
  const r = await tftpGetMany(n, (i) => ({
    host: '127.0.0.1', port: s.port, file: 'kernel.bin', blksize: Number(a.blksize), windowsize: Number(a.windowsize), tsize: true,
    localAddress: clientAddress(i), ackDelayMs: Number(a['ack-delay-ms']), timeoutMs: 1000, maxRetries: 5, deadlineMs: 300_000, expect: file,
  }));
  const ok = r.results.filter((x) => x.ok).length;
  const ends = r.results.map((x) => x.ms).sort((x, y) => x - y);
  // All started together, so at the moment the first finished, every transfer had started.
  const overlapAtFirstEnd = r.results.filter((x) => x.ms >= ends[0]!).length;
  console.log(JSON.stringify({
    clients: n, fileMiB: size / 1024 / 1024, ackDelayMs: Number(a['ack-delay-ms']), blksize: Number(a.blksize), windowsize: Number(a.windowsize),
    completed: ok, failed: n - ok, errors: [...new Set(r.results.filter((x) => !x.ok).map((x) => x.error))].slice(0, 5),
    runningAtOnceAtFirstEnd: overlapAtFirstEnd, wallMs: Math.round(r.wallMs), firstEndMs: Math.round(ends[0] ?? 0), lastEndMs: Math.round(ends.at(-1) ?? 0),
    serverRssIdleMb: Number(baseline.toFixed(1)), serverPeakRssMb: Number(s.peakRssMb().toFixed(1)), serverCpuS: Number(s.cpuSeconds().toFixed(1)),
    loadavgBefore: before, loadavgAfter: loadavg(), elapsedS: Math.round((Date.now() - t0) / 1000),
  }, null, 2));
} finally {
  await s.stop();
  rmSync(root, { recursive: true, force: true });
}
