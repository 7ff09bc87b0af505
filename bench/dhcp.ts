// Benchmark (not a test) for issue 20: pxepool's ProxyDHCP against dnsmasq's (proxy mode), side
// by side in one run, alternating, on one lab segment: each server in a namespace of its own, a
// client namespace running bench/lib/dhcp-load.ts (its own packet builder). Measured: PXE
// DISCOVERs to 67 and boot-server REQUESTs to 4011, with 1 and 64 outstanding (closed loop) and
// an open-loop rate sweep; answers/s, p50/p99 latency, server CPU per 1,000 answers.
// Run as root: node bench/dhcp.ts [--rounds 3] [--ms 3000] [--out results.json]
//   [--log-level info|warn|…] (pxepool's; info logs a line per answer, as deployed)
//   [--only discover-64] (one of discover-1, discover-64, request-1, request-64) [--rates 5000,20000]

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Lab } from '../test/lib/netns.ts';

const { values: a } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, ms: { type: 'string', default: '3000' }, out: { type: 'string' }, 'log-level': { type: 'string', default: 'info' }, only: { type: 'string' }, rates: { type: 'string', default: '2000,5000,10000,20000,40000' } } });
const ROUNDS = Math.min(Number(a.rounds), 10);
const MS = Math.min(Number(a.ms), 20_000);
const RATES = a.rates!.split(',').map(Number).filter((r) => r > 0 && r <= 200_000);
const MAIN = join(import.meta.dirname, '../src/cli/main.ts');
const LOAD = join(import.meta.dirname, 'lib/dhcp-load.ts');
const NET = '10.99.0';
const ADDR = { pxepool: `${NET}.1`, dnsmasq: `${NET}.3` } as const;
type Server = keyof typeof ADDR;

const cpuTicks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 Hz)
};

async function waitUdp(ns: string, port: number, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-Hulnp', `sport = :${port}`], { encoding: 'utf8' });
    if (r.stdout.trim() !== '') return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing listens on UDP ${port} in ${ns}`);
}

const lab = await Lab.create();
const procs: ChildProcess[] = [];
try {
  const px = await lab.addHost('pxepool', { address: `${ADDR.pxepool}/24` });
  const dm = await lab.addHost('dnsmasq', { address: `${ADDR.dnsmasq}/24` });
  const cli = await lab.addHost('client', { address: `${NET}.2/24` });
  const root = join(lab.tmpDir, 'root');
  mkdirSync(root);
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  // The same answer from both: a UEFI x64 client gets snponly.efi from this server.
  writeFileSync(cfg, `server: { name: bench }\nroot: ${root}\nlog: { level: ${a['log-level']} }\nprofiles:\n  lab: { efiX64: snponly.efi, bios: pxelinux.0 }\ndefault: lab\n`);
  // Logs go where a service's go when no one reads them; both servers log every answer.
  const pxepool = spawn('ip', ['netns', 'exec', px.ns, process.execPath, MAIN, 'serve', '--config', cfg, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dnsmasq = spawn('ip', ['netns', 'exec', dm.ns, 'dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${dm.iface.name}`, '--bind-interfaces',
    `--pid-file=${join(lab.tmpDir, 'dnsmasq.pid')}`, `--dhcp-leasefile=${join(lab.tmpDir, 'dnsmasq.leases')}`, `--dhcp-range=${NET}.0,proxy`,
    '--pxe-service=X86-64_EFI,"bench",snponly.efi', '--pxe-service=x86PC,"bench",pxelinux', '--log-facility=-', '--user=root'], { stdio: ['ignore', 'ignore', 'ignore'] });
  procs.push(pxepool, dnsmasq);
  await Promise.all([waitUdp(px.ns, 67), waitUdp(px.ns, 4011), waitUdp(dm.ns, 67), waitUdp(dm.ns, 4011)]);
  const pid: Record<Server, number> = { pxepool: pxepool.pid!, dnsmasq: dnsmasq.pid! };

  const load = (server: Server, args: string[]) => {
    const t0 = cpuTicks(pid[server]);
    const r = spawnSync('ip', ['netns', 'exec', cli.ns, process.execPath, LOAD, '--server', ADDR[server], '--client', `${NET}.2`, ...args], { encoding: 'utf8', timeout: MS + 30_000 });
    const cpu = (cpuTicks(pid[server]) - t0) * 10; // ms
    if (r.status !== 0) throw new Error(`load against ${server} failed: ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { sent: number; answered: number; answersPerSec: number; p50: number; p99: number };
    return { ...res, cpuMsPer1000: res.answered > 0 ? Number(((cpu / res.answered) * 1000).toFixed(1)) : null };
  };

  // Warm both (JIT, caches) before anything is measured.
  for (const s of ['pxepool', 'dnsmasq'] as const) load(s, ['--kind', 'discover', '--outstanding', '16', '--ms', '1500']);

  const closed: Record<string, unknown>[] = [];
  for (const kind of ['discover', 'request'] as const) {
    for (const outstanding of [1, 64]) {
      if (a.only !== undefined && a.only !== `${kind}-${outstanding}`) continue;
      for (let r = 0; r < ROUNDS; r++) {
        for (const s of (r % 2 === 0 ? ['pxepool', 'dnsmasq'] : ['dnsmasq', 'pxepool']) as Server[]) {
          const m = load(s, ['--kind', kind, '--outstanding', String(outstanding), '--ms', String(MS)]);
          closed.push({ server: s, kind, outstanding, round: r + 1, ...m });
          console.log(`${kind.padEnd(8)} ${String(outstanding).padStart(2)} outstanding  ${s.padEnd(7)} round ${r + 1}: ${String(m.answersPerSec).padStart(6)}/s  p50 ${m.p50} ms  p99 ${m.p99} ms  CPU ${m.cpuMsPer1000} ms per 1000`);
        }
      }
    }
  }
  const open: Record<string, unknown>[] = [];
  for (const rate of RATES) {
    for (const s of ['pxepool', 'dnsmasq'] as const) {
      const m = load(s, ['--kind', 'discover', '--rate', String(rate), '--ms', '2000']);
      open.push({ server: s, rate, ...m });
      console.log(`open loop ${String(rate).padStart(6)}/s  ${s.padEnd(7)}: answered ${((m.answered / Math.max(1, m.sent)) * 100).toFixed(1)} %  p50 ${m.p50} ms  p99 ${m.p99} ms  CPU ${m.cpuMsPer1000} ms per 1000`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  console.log('\nmedians (answers/s, p99 ms):');
  for (const kind of ['discover', 'request']) {
    for (const outstanding of [1, 64]) {
      if (a.only !== undefined && a.only !== `${kind}-${outstanding}`) continue;
      const of = (s: Server) => closed.filter((c) => c.server === s && c.kind === kind && c.outstanding === outstanding);
      const [p, d] = [of('pxepool'), of('dnsmasq')];
      const rp = median(p.map((c) => c.answersPerSec as number));
      const rd = median(d.map((c) => c.answersPerSec as number));
      console.log(`  ${kind} ${outstanding}: pxepool ${rp}/s p99 ${median(p.map((c) => c.p99 as number))} | dnsmasq ${rd}/s p99 ${median(d.map((c) => c.p99 as number))} | ratio ${(rp / rd).toFixed(2)}×`);
    }
  }
  if (a.out !== undefined) writeFileSync(a.out, JSON.stringify({ ms: MS, rounds: ROUNDS, closed, open }, null, 2) + '\n');
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await lab.destroy();
}
