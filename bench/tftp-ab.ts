// Interleaved A/B of the single-transfer rows: every server runs at once (each on its own port),
// and the runs go round-robin — pxepool, tftpd-hpa, atftpd, dnsmasq, pxepool, … — so that a
// machine whose speed drifts over minutes (a shared VM: the lock-step rows are bound by how fast
// an idle vCPU wakes up, not by the server) drifts for every server alike. bench/tftp.ts runs the
// servers one after the other, minutes apart; this is the fair comparison of those rows.
// Usage: npm run bench:tftp-ab [-- --rounds 7] [-- --no-write] [-- --rows 2,4]

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tftpGet } from './lib/tftp-client.ts';
import { loadavg, median, writeDocSection } from './lib/report.ts';
import { findAtftpd, startServer, type RunningServer, type ServerKind } from './lib/servers.ts';

const args = process.argv.slice(2);
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] ?? 7) || 7;
const WRITE = !args.includes('--no-write') && !args.includes('--rows');
const MiB = 1024 * 1024;
const log = (...xs: unknown[]): void => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...xs);

// [label, file size, blksize, windowsize, ACK delay ms (an emulated LAN round trip, as in bench/tftp.ts)]
const ALL_ROWS: Array<[string, number, number, number, number?]> = [
  ['lock-step blk 512 (8 MiB)', 8 * MiB, 512, 1],
  ['lock-step blk 1468 (32 MiB)', 32 * MiB, 1468, 1],
  ['lock-step blk 8192 (32 MiB)', 32 * MiB, 8192, 1],
  ['windowed blk 1468 win 16 (100 MiB)', 100 * MiB, 1468, 16],
  ['windowed blk 1468 win 64 (100 MiB)', 100 * MiB, 1468, 64],
  ['RTT 0.5 ms: lock-step blk 1468 (4 MiB)', 4 * MiB, 1468, 1, 0.5],
  ['RTT 0.5 ms: blk 512 win 16 (4 MiB)', 4 * MiB, 512, 16, 0.5],
  ['RTT 0.5 ms: blk 1468 win 16 (4 MiB)', 4 * MiB, 1468, 16, 0.5],
  ['RTT 0.5 ms: blk 8192 win 64 (4 MiB)', 4 * MiB, 8192, 64, 0.5],
];
// --rows 2,4: only those rows (1-based), e.g. to iterate on one; the document is then not written.
const pick = args.includes('--rows') ? (args[args.indexOf('--rows') + 1] ?? '').split(',').map(Number) : null;
const ROWS = pick ? ALL_ROWS.filter((_, i) => pick.includes(i + 1)) : ALL_ROWS;

const base = mkdtempSync(path.join(os.tmpdir(), 'pxepool-ab-'));
const root = path.join(base, 'root');
mkdirSync(root);
chmodSync(base, 0o755);
chmodSync(root, 0o755);
const files = new Map<number, Buffer>();
for (const [, size] of ROWS) {
  if (files.has(size)) continue;
  const data = randomBytes(size);
  files.set(size, data);
  writeFileSync(path.join(root, `f${size}`), data);
  chmodSync(path.join(root, `f${size}`), 0o644);
}

const atftpd = findAtftpd();
const kinds: ServerKind[] = ['pxepool', 'tftpd-hpa', ...(atftpd ? (['atftpd'] as const) : []), 'dnsmasq'];
const servers: RunningServer[] = [];
const cleanup = async () => {
  for (const s of servers) await s.stop().catch(() => {});
  rmSync(base, { recursive: true, force: true });
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const q = (xs: number[], f: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(f * xs.length))]!;

try {
  for (const k of kinds) servers.push(await startServer(k, root, atftpd));
  const loadBefore = loadavg();
  const started = new Date();
  // rate[row][kind] = MiB/s per run; cpu[row][kind] = server CPU seconds per run
  const rate = new Map<string, Map<ServerKind, number[]>>();
  const cpu = new Map<string, Map<ServerKind, number[]>>();
  const note = new Map<string, Map<ServerKind, string>>();
  for (const s of servers) await tftpGet({ host: '127.0.0.1', port: s.port, file: `f${32 * MiB}`, blksize: 1468, deadlineMs: 120_000 });
  for (let round = 0; round < ROUNDS; round++) {
    for (const [label, size, blk, win, delay] of ROWS) {
      for (const s of servers) {
        if (note.get(label)?.get(s.kind) === 'no windowsize') continue;
        const c0 = s.cpuSeconds();
        const r = await tftpGet({
          host: '127.0.0.1', port: s.port, file: `f${size}`, blksize: blk, tsize: true,
          ...(win > 1 ? { windowsize: win } : {}), ...(delay ? { ackDelayMs: delay } : {}),
          expect: files.get(size)!, deadlineMs: 180_000,
        });
        const n = note.get(label) ?? note.set(label, new Map()).get(label)!;
        if (!r.ok) { n.set(s.kind, `fail: ${r.error?.slice(0, 40)}`); continue; }
        if (win > 1 && r.windowsize === 1) { n.set(s.kind, 'no windowsize'); continue; }
        if (r.blksize !== blk) n.set(s.kind, `blk ${r.blksize}`);
        const rr = rate.get(label) ?? rate.set(label, new Map()).get(label)!;
        (rr.get(s.kind) ?? rr.set(s.kind, []).get(s.kind)!).push(r.bytes / MiB / (r.ms / 1000));
        const cc = cpu.get(label) ?? cpu.set(label, new Map()).get(label)!;
        (cc.get(s.kind) ?? cc.set(s.kind, []).get(s.kind)!).push(s.cpuSeconds() - c0);
      }
    }
    log(`round ${round + 1}/${ROUNDS} done`);
  }
  const cell = (label: string, k: ServerKind) => {
    const xs = rate.get(label)?.get(k);
    const n = note.get(label)?.get(k);
    if (!xs || xs.length === 0) return n ?? '-';
    const c = median(cpu.get(label)!.get(k)!);
    return `**${median(xs).toFixed(1)}** (${q(xs, 0.25).toFixed(1)}–${q(xs, 0.75).toFixed(1)}), cpu ${c.toFixed(2)} s${n ? `, ${n}` : ''}`;
  };
  const md =
    `| row | ${kinds.join(' | ')} |\n|---|${kinds.map(() => '---').join('|')}|\n` +
    ROWS.map(([label]) => `| ${label} | ${kinds.map((k) => cell(label, k)).join(' | ')} |`).join('\n') + '\n';
  console.log(md);
  const loadAfter = loadavg();
  if (WRITE) {
    const docPath = writeDocSection('tftp-ab', [
      '### TFTP single transfers, interleaved',
      '',
      `Command: \`npm run bench:tftp-ab\` (bench/tftp-ab.ts), ${ROUNDS} rounds. Measured ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC,`,
      `load average before / after: ${loadBefore} / ${loadAfter}. All servers run at once on their own ports`,
      '(default settings, as in the table above) and the runs go round-robin over them, so a drift of',
      'the machine hits every server alike. Cells: MiB/s median **bold** (interquartile range), the',
      'server\'s CPU seconds per download (median; tftpd-hpa\'s forked children are sampled, a lower',
      'bound), and "blk N" where the server granted a smaller block than asked.',
      '',
      md,
    ], 'tftp-bench');
    log(`wrote ${docPath}`);
  }
} finally {
  await cleanup();
}
