// TFTP benchmark: pxepool against tftpd-hpa, atftpd and dnsmasq, each in turn on 127.0.0.1, with
// the same client (bench/lib/tftp-client.ts). Prints a markdown table and writes it into
// docs/benchmarks.md. Usage: npm run bench:tftp [-- --quick] [-- --servers=pxepool,atftpd]

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { clientAddress, tftpGet, tftpGetMany, type GetOptions, type GetResult } from './lib/tftp-client.ts';
import { loadavg, median, writeDocSection } from './lib/report.ts';
import { findAtftpd, startServer, type RunningServer, type ServerKind } from './lib/servers.ts';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const serversArg = args.find((a) => a.startsWith('--servers='))?.slice('--servers='.length);
const WRITE = !args.includes('--no-write') && !serversArg;
const ALL: ServerKind[] = ['pxepool', 'tftpd-hpa', 'atftpd', 'dnsmasq'];
const kinds = (serversArg ? serversArg.split(',') : ALL) as ServerKind[];

const MiB = 1024 * 1024;
const cfg = QUICK
  ? { big: 16 * MiB, rtt: 1 * MiB, runs: 1, manySmall: 100, manyLarge: 10, large: 8 * MiB, lossDeadline: 10_000 }
  : { big: 100 * MiB, rtt: 4 * MiB, runs: 3, manySmall: 500, manyLarge: 50, large: 30 * MiB, lossDeadline: 30_000 };
const BLKSIZES = [512, 1468, 8192];
const WINDOWS = [1, 16, 64];
const RTT_DELAY_MS = 0.5;
const LOCAL = '127.0.0.1';

type Cell = string;
const table = new Map<string, Map<ServerKind, Cell>>();
const rowOrder: string[] = [];
function put(row: string, kind: ServerKind, cell: Cell): void {
  if (!table.has(row)) {
    table.set(row, new Map());
    rowOrder.push(row);
  }
  table.get(row)!.set(kind, cell);
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const mibps = (bytes: number, ms: number): number => bytes / MiB / (ms / 1000);
const secs = (ms: number): string => (ms >= 10_000 ? (ms / 1000).toFixed(1) : (ms / 1000).toFixed(2)) + ' s';
const log = (...xs: unknown[]): void => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...xs);

// --- files -------------------------------------------------------------------------------------

const base = mkdtempSync(path.join(os.tmpdir(), 'pxepool-bench-'));
const root = path.join(base, 'root');
const files: Record<string, Buffer> = {};
function makeFiles(): void {
  execFileSync('mkdir', ['-p', root]);
  const want: Record<string, number> = {
    'big.bin': cfg.big,
    'rtt.bin': cfg.rtt,
    'one.bin': 1 * MiB,
    'large.bin': cfg.large,
    'boot.bin': 16 * 1024,
  };
  for (const [name, size] of Object.entries(want)) {
    files[name] = randomBytes(size);
    writeFileSync(path.join(root, name), files[name]!);
  }
  // tftpd-hpa drops to an unprivileged user and dnsmasq/atftpd may too: everything world-readable.
  chmodSync(base, 0o755);
  chmodSync(root, 0o755);
}

// --- rows ----------------------------------------------------------------------------------------

function base1(s: RunningServer, file: string): GetOptions {
  // generous: a lock-step 100 MiB at blksize 512 takes 25-45 s on a slow day, for every server
  return { host: LOCAL, port: s.port, file, expect: files[file]!, deadlineMs: 180_000 };
}

function failCell(results: GetResult[]): string {
  const bad = results.filter((r) => !r.ok);
  const why = bad[0]?.error ? ` — ${bad[0].error.slice(0, 60)}` : '';
  return `fail (${bad.length}/${results.length})${why}`;
}

async function singleRows(s: RunningServer, delayed: boolean): Promise<void> {
  const file = delayed ? 'rtt.bin' : 'big.bin';
  for (const b of BLKSIZES) {
    for (const w of WINDOWS) {
      const row = `${delayed ? `RTT ${RTT_DELAY_MS} ms: ` : ''}single ${fmtSize(files[file]!.length)} blk ${b} win ${w}`;
      const rates: number[] = [];
      let cell: string | null = null;
      let note = '';
      for (let i = 0; i < cfg.runs; i++) {
        const opts: GetOptions = { ...base1(s, file), blksize: b, tsize: true };
        if (w > 1) opts.windowsize = w;
        if (delayed) opts.ackDelayMs = RTT_DELAY_MS;
        const r = await tftpGet(opts);
        if (!r.ok) {
          cell = failCell([r]);
          break;
        }
        if (w > 1 && r.windowsize === 1) {
          // The server did not acknowledge windowsize: the row would repeat its lock-step row.
          cell = 'no windowsize';
          break;
        }
        if (r.blksize !== b) note = ` (blk ${r.blksize})`;
        rates.push(mibps(r.bytes, r.ms));
      }
      put(row, s.kind, cell ?? `${median(rates).toFixed(1)}${note}`);
      log(s.kind, row, '→', table.get(row)!.get(s.kind));
    }
  }
}

function fmtSize(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : `${n / 1024} KiB`;
}

async function manyRow(s: RunningServer, row: string, n: number, file: string, extra: Partial<GetOptions>): Promise<void> {
  const { results, wallMs } = await tftpGetMany(n, (i) => ({
    ...base1(s, file),
    blksize: 1468,
    tsize: true,
    localAddress: clientAddress(i),
    seed: 1000 + i,
    ...extra,
  }));
  const ok = results.filter((r) => r.ok);
  const times = ok.map((r) => r.ms);
  const bytes = ok.reduce((a, r) => a + r.bytes, 0);
  const fails = n - ok.length;
  const failText = fails ? `, **${failCell(results)}**` : ', 0 fail';
  const cell =
    ok.length === 0
      ? failCell(results)
      : `${extra.lossPct ? '' : `${mibps(bytes, wallMs).toFixed(1)} MiB/s, `}p50 ${secs(pct(times, 50))}, p99 ${secs(pct(times, 99))}${failText}`;
  put(row, s.kind, cell);
  log(s.kind, row, '→', cell);
}

async function burstRow(s: RunningServer): Promise<void> {
  const n = 500;
  const row = `burst ${n} RRQs (16 KiB): first reply`;
  const { results } = await tftpGetMany(n, (i) => ({
    ...base1(s, 'boot.bin'),
    blksize: 1468,
    tsize: true,
    localAddress: clientAddress(i),
    deadlineMs: 20_000,
  }));
  const first = results.filter((r) => r.firstReplyMs !== null).map((r) => r.firstReplyMs!);
  const fails = results.filter((r) => !r.ok).length;
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
  const cell = `p50 ${ms(pct(first, 50))}, p99 ${ms(pct(first, 99))}${fails ? `, **${failCell(results)}**` : ', 0 fail'}`;
  put(row, s.kind, cell);
  log(s.kind, row, '→', cell);
}

async function benchServer(kind: ServerKind, atftpd: string | null): Promise<void> {
  // A fresh server for every group of rows: a server that wedges under one row (dnsmasq after
  // hitting its transfer limit keeps serving stale duplicates) must not fail the rows after it.
  let cpu = 0;
  let peakMb = 0;
  let startFailure: string | null = null;
  const t0 = performance.now();
  const group = async (warm: string, fn: (s: RunningServer) => Promise<void>): Promise<void> => {
    if (startFailure) return;
    let s: RunningServer;
    try {
      s = await startServer(kind, root, atftpd);
    } catch (err) {
      startFailure = String(err);
      log(kind, 'not started:', startFailure);
      return;
    }
    current = s;
    const cpu0 = s.cpuSeconds();
    try {
      // One untimed download of the row's file first, as a server in service has done before a
      // storm: it loads caches and, for pxepool, compiles the hot path. Counted in CPU and RSS.
      await tftpGet({ ...base1(s, warm), blksize: 1468, deadlineMs: 30_000 });
      await fn(s);
    } finally {
      cpu += s.cpuSeconds() - cpu0;
      peakMb = Math.max(peakMb, s.peakRssMb());
      log(kind, `row group: cpu ${(s.cpuSeconds() - cpu0).toFixed(1)} s, peak RSS ${s.peakRssMb().toFixed(1)} MB`);
      await s.stop();
      current = null;
    }
  };
  await group('big.bin', (s) => singleRows(s, false));
  await group('rtt.bin', (s) => singleRows(s, true));
  await group('one.bin', (s) =>
    manyRow(s, `concurrent ${cfg.manySmall} × 1 MiB (blk 1468)`, cfg.manySmall, 'one.bin', { deadlineMs: 120_000 }),
  );
  await group('large.bin', (s) =>
    manyRow(s, `concurrent ${cfg.manyLarge} × ${fmtSize(cfg.large)} (blk 1468)`, cfg.manyLarge, 'large.bin', {
      deadlineMs: 180_000,
    }),
  );
  for (const loss of [2, 10]) {
    await group('one.bin', (s) =>
      manyRow(s, `loss ${loss}%: 20 × 1 MiB (blk 1468, win 16 if granted)`, 20, 'one.bin', {
        windowsize: 16,
        lossPct: loss,
        deadlineMs: cfg.lossDeadline,
      }),
    );
  }
  await group('boot.bin', (s) => burstRow(s));
  const failure = startFailure as string | null;
  if (failure) put('server', kind, `not run: ${failure.slice(0, 80)}`);
  put('server CPU seconds (all rows)', kind, cpu.toFixed(1));
  put('server peak RSS (MB, highest row group)', kind, peakMb.toFixed(1));
  log(kind, `done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

let current: RunningServer | null = null;
async function cleanup(): Promise<void> {
  await current?.stop().catch(() => {});
  rmSync(base, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
process.on('SIGTERM', () => void cleanup().then(() => process.exit(143)));

function version(kind: ServerKind, atftpd: string | null): string {
  try {
    if (kind === 'pxepool') return `pxepool ${JSON.parse(readFileSync('package.json', 'utf8')).version} (Node ${process.version})`;
    if (kind === 'dnsmasq') return execFileSync('dnsmasq', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
    if (kind === 'atftpd') return `atftpd ${execFileSync(atftpd!, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0]}`;
    return `tftpd-hpa ${execFileSync('dpkg-query', ['-W', '-f=${Version}', 'tftpd-hpa'], { encoding: 'utf8' })}`;
  } catch {
    return kind;
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = loadavg();
  makeFiles();
  const atftpd = findAtftpd();
  log(`root ${root}; quick=${QUICK}; servers ${kinds.join(', ')}; load ${loadBefore}`);
  for (const kind of kinds) {
    if (kind === 'atftpd' && !atftpd) {
      put('server', kind, 'not run: atftpd binary not found (apt-get download atftpd; dpkg -x)');
      continue;
    }
    await benchServer(kind, atftpd);
  }
  const loadAfter = loadavg();
  const header = `| row | ${kinds.join(' | ')} |\n|---|${kinds.map(() => '---').join('|')}|\n`;
  const body = rowOrder.map((r) => `| ${r} | ${kinds.map((k) => table.get(r)!.get(k) ?? '').join(' | ')} |`).join('\n');
  const md = header + body + '\n';
  console.log(md);
  if (!WRITE) return;
  const cmd = `npm run bench:tftp${QUICK ? ' -- --quick' : ''}`;
  const docPath = writeDocSection('tftp-bench', [
    '## TFTP',
    '',
    `Command: \`${cmd}\` (bench/tftp.ts). Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC on`,
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Linux ${os.release()}, loopback only.`,
    `Load average before / after: ${loadBefore} / ${loadAfter}.`,
    '',
    `Servers: ${kinds.map((k) => version(k, atftpd)).join('; ')}. Each runs alone as a child process on`,
    '127.0.0.1 with its default settings, one after the other, with the same benchmark client.',
    '',
    'Cells: single-transfer rows are MiB/s, the median of',
    `${cfg.runs} runs; "no windowsize" means the server did not acknowledge the option (its lock-step row applies);`,
    '"(blk N)" means the server granted a smaller block than requested. Concurrent rows give the aggregate',
    'rate (all bytes / wall time), p50/p99 of the per-transfer time and failures; every transfer has a',
    'deadline and counts as a failure past it.',
    '',
    md,
    'How the rows are made:',
    '',
    `- single: one download of a ${fmtSize(cfg.big)} file (blksize, windowsize and tsize requested), content checked.`,
    `- RTT ${RTT_DELAY_MS} ms: the client holds every ACK for ${RTT_DELAY_MS} ms before sending it (netem is not`,
    `  available here). These rows download a ${fmtSize(cfg.rtt)} file, so that a lock-step run at blksize 512`,
    '  stays in seconds; the rate is steady after the first few blocks.',
    '- concurrent and loss rows start every client at once, each from its own loopback address',
    '  (127.10.x.y), so per-address limits see distinct hosts as on a LAN. Loss rows drop the given',
    '  share of received DATA in the client (seeded per client) and recover like a real client: re-ACK the',
    '  last in-order block at a gap, and after 1 s of silence.',
    '- burst: 500 clients send an RRQ (blksize 1468, tsize) at the same moment; the cell is the time to',
    '  the first reply (OACK/DATA/ERROR), and the transfers must then complete.',
    '- Every group of rows (single, RTT, each concurrent, each loss row, burst) gets a freshly started',
    '  server, so a server wedged by one row does not fail the next, and one untimed warm-up download of',
    '  the group\'s file (caches loaded, JIT warm), as a server in service would have had.',
    '- CPU seconds: user + system time of the server process summed over all rows (for tftpd-hpa, which',
    '  forks a child per transfer that it does not wait for, the children are sampled every 100 ms, so',
    '  its figure is a lower bound). Peak RSS: the highest VmHWM of the server process, or of the sampled',
    '  proportional set size (Pss) summed over its process tree if higher, across the row groups.',
    '',
    'Caveats: loopback hides the wire (no serialisation delay, no NIC offloads); the client is a Node',
    'process on the same 2 cores as the server, and other engineers\' test runs were sharing the',
    'machine (see the load averages), so absolute numbers move by ±20% between runs; compare columns',
    'within one run. dnsmasq serves TFTP on port 69 only.',
  ]);
  log(`wrote ${docPath}`);
}

try {
  await main();
} finally {
  await cleanup();
}
