// Benchmark (not a test) for issue 5: `pxepool storm` against pxepool (1 and 3 peers) and against
// dnsmasq in proxy mode, side by side in one run, on the pool-lab topology (test/lib/pool-lab.ts:
// one bridge, Kea as site DHCP without PXE options, each server in its own namespace, one storm
// namespace with an address per client). Every client boots a 1 MiB NBP and then fetches a
// 30 MiB kernel + initrd (vmlinuz 10 MiB + initrd.img 20 MiB of random bytes) over TFTP from the
// server that served its NBP. For each size N:
//   a. pxepool, 1 peer (a pool of one)
//   b. pxepool, 3 peers
//   c. dnsmasq, ProxyDHCP + its own TFTP (--tftp-max raised to pxepool's default of 2000 transfers)
//   d. pxepool, 3 peers, pxe-a SIGKILLed KILL_AFTER ms after the first DISCOVER reached the pool
//   e. as d, the peers with service addresses (issue 12) and the storm's firmware not allowed to
//      restart (as real firmware): a dead peer's address, and its transfers, move to a survivor
// Each (N, scenario) gets a fresh lab, destroyed after it (and on failure, Ctrl-C or the
// overall limit). Storms are bounded by --time-limit; the whole script by the sum of them.
// Run as root: node bench/storm.ts [--sizes 100,500,1000] [--scenarios a,b,c,d]
//   [--time-limit S (per storm; default from N)] [--out results.json]

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createPoolLab, DNSMASQ_ADDRESS, failoverTimes, logMarks, MiB, pctl, serviceAddressOf, waitFirstDiscover, type PoolLab,
} from '../test/lib/pool-lab.ts';
import type { StormResult, StormSummary } from '../src/storm/run.ts';
import { runOk } from '../test/lib/netns.ts';

const MIX = 'bios=50,efi=30,ipxe=20';
const COLLECT = '3000';
const KILL_AFTER = 1500;
const MAX_RESTARTS = '6';
const SEED = '505';
const FILES = { 'vmlinuz': 10 * MiB, 'initrd.img': 20 * MiB } as const;
const DNSMASQ_TFTP_MAX = 2000;
/** default storm time limit: 60 s plus every client's 31 MiB at this aggregate rate (well below what the lab reaches) */
const FLOOR_MB_PER_S = 15;
/** lab set-up (namespaces, 1,000 addresses, Kea, servers) and teardown, per run */
const SETUP_S = 90;

type Scenario = 'a' | 'b' | 'c' | 'd' | 'e';
const TITLES: Record<Scenario, string> = {
  a: 'pxepool, 1 peer',
  b: 'pxepool, 3 peers',
  c: 'dnsmasq proxy (dnsmasq TFTP)',
  d: `pxepool, 3 peers, pxe-a SIGKILLed ${KILL_AFTER} ms after the first DISCOVER`,
  e: `pxepool, 3 peers with service addresses, pxe-a SIGKILLed ${KILL_AFTER} ms after the first DISCOVER, no restarts`,
};

const { values: argv } = parseArgs({
  options: {
    sizes: { type: 'string', default: '100,500,1000' },
    scenarios: { type: 'string', default: 'a,b,c,d' },
    'time-limit': { type: 'string' },
    out: { type: 'string' },
  },
  strict: true,
});
const sizes = argv.sizes.split(',').map((x) => Number(x.trim()));
const scenarios = argv.scenarios.split(',').map((x) => x.trim()) as Scenario[];
if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 25_000)) throw new Error(`--sizes: want integers in 1..25000, got ${argv.sizes}`);
if (scenarios.some((s) => !(s in TITLES))) throw new Error(`--scenarios: want a subset of a,b,c,d,e, got ${argv.scenarios}`);
const totalFileBytes = MiB + Object.values(FILES).reduce((a, b) => a + b, 0);
const timeLimitOf = (n: number): number =>
  argv['time-limit'] !== undefined ? Number(argv['time-limit']) : 60 + Math.ceil((n * totalFileBytes) / 1e6 / FLOOR_MB_PER_S);
const overallS = sizes.reduce((t, n) => t + scenarios.length * (timeLimitOf(n) + 20 + SETUP_S), 0);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
const sec = (ms: number | null): string => (ms === null || !Number.isFinite(ms) ? '-' : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const p3 = (p: { p50: number | null; p95: number | null; p99: number | null }): string => `${sec(p.p50)} / ${sec(p.p95)} / ${sec(p.p99)}`;

interface Row {
  n: number;
  scenario: Scenario;
  summary?: StormSummary;
  error?: string;
  wallS: number;
  extra?: Record<string, unknown>;
}

function shares(map: Record<string, number>, total: number, name: (addr: string) => string): string {
  const e = Object.entries(map).sort((a, b) => a[0].localeCompare(b[0]));
  return e.length === 0 ? '-' : e.map(([k, v]) => `${name(k)} ${pct(v / total)}`).join(', ');
}

function report(title: string, r: StormResult, name: (addr: string) => string, wallS: number, code: number | null): void {
  const s = r.summary;
  const failures = Object.entries(s.failures).map(([k, v]) => `${v}× ${k}`).join('; ');
  console.log(`\n## ${title}`);
  console.log(`booted ${s.booted}/${s.clients}${s.failed ? `, FAILED ${s.failed}: ${failures}` : ''}; time to all booted ${sec(s.timeToAllBootedMs)}${s.timeToAllBootedMs === null ? ` (last booted at ${sec(s.timeToLastBootedMs)})` : ''}; storm exit ${code}`);
  console.log(`time to NBP p50/p95/p99 ${p3(s.nbpMs)}; to last file ${p3(s.lastFileMs)}; first offer p50/p99 ${sec(s.firstOfferMs.p50)} / ${sec(s.firstOfferMs.p99)}`);
  console.log(`offer chosen: ${shares(s.servers.offer, s.clients, name)}; files: ${shares(s.servers.files, s.clients, name)}`);
  console.log(`duplicates ${s.offersPerClient.duplicates}; DISCOVER retransmits ${s.retransmits.discover}; 4011 retransmits ${s.retransmits.request}; TFTP retransmits ${s.retransmits.tftp}; restarts ${s.restarts}; EDK2 failovers ${s.failovers}`);
  console.log(`${(s.bytes / 1e9).toFixed(2)} GB at ${s.mbPerSec} MB/s aggregate; storm wall ${sec(s.wallMs)}; run wall (with lab set-up and teardown) ${wallS.toFixed(0)} s`);
}

let current: PoolLab | undefined;

async function runOne(n: number, sc: Scenario, blobs: Record<string, Buffer>): Promise<Row> {
  const t0 = Date.now();
  const nPeers = sc === 'a' ? 1 : sc === 'c' ? 0 : 3;
  const timeLimitS = timeLimitOf(n);
  const title = `${n} clients: (${sc}) ${TITLES[sc]}`;
  const pl = await createPoolLab({ peers: nPeers, clients: n, serviceAddresses: sc === 'e' });
  current = pl;
  try {
    for (const [f, b] of Object.entries(blobs)) writeFileSync(join(pl.root, f), b);
    const names = new Map<string, string>([['10.77.1.1', 'kea'], [DNSMASQ_ADDRESS, 'dnsmasq'], ...pl.peers.map((p) => [p.address, p.name] as [string, string]), ...pl.peers.map((p, i) => [serviceAddressOf(i), `${p.name}'s service address`] as [string, string])]);
    const name = (a: string): string => names.get(a) ?? a;
    let dnsmasqLines: (() => string[]) | undefined;
    if (sc === 'c') {
      const d = await pl.startDnsmasq({ tftpMax: DNSMASQ_TFTP_MAX });
      dnsmasqLines = () => d.proc.lines;
    } else {
      for (const p of pl.peers) await pl.startPeer(p);
      await pl.waitLive(nPeers, 15_000);
      if (sc === 'e') {
        // Every peer holds its own service address before the storm starts.
        for (let i = 0; i < 150; i++) {
          const views = await Promise.all(pl.peers.map((p) => pl.status(p).catch(() => undefined)));
          if (views.every((v, k) => (v as { pool?: { serviceAddresses?: { held: string[] } } } | undefined)?.pool?.serviceAddresses?.held.includes(serviceAddressOf(k)) === true)) break;
          await sleep(100);
        }
      }
    }
    const marks = logMarks(pl.peers);
    const args = ['--clients', String(n), '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', SEED,
      '--files', Object.keys(FILES).join(','), '--max-restarts', sc === 'e' ? '0' : MAX_RESTARTS];
    // one progress line every ~30 s, so a long storm shows it is alive
    let lastShown = 0;
    const onStderr = (chunk: string): void => {
      for (const line of chunk.split('\n')) {
        const m = /^storm: (\d+(?:\.\d+)?)s /.exec(line);
        if (m !== null && Number(m[1]) - lastShown >= 30) {
          lastShown = Number(m[1]);
          console.log(`  … ${line.slice(7)}`);
        }
      }
    };
    const run = pl.storm(args, { timeLimitS, progress: true, onStderr });
    let kill: { at: number; sawDiscover: boolean } | undefined;
    if (sc === 'd' || sc === 'e') {
      const sawDiscover = await waitFirstDiscover(pl.peers[1]!, marks);
      await sleep(KILL_AFTER);
      kill = { at: Date.now(), sawDiscover };
      pl.peers[0]!.serve!.proc.kill('SIGKILL');
    }
    const { code, result } = await run;
    const wallS = (Date.now() - t0) / 1000;
    report(title, result, name, wallS, code);
    const extra: Record<string, unknown> = {};
    if (kill !== undefined) {
      const victim = pl.peers[0]!;
      const owned = new Set(result.clients.filter((c) => pl.ownerOf(c.mac) === victim.name).map((c) => c.mac));
      const ft = failoverTimes(pl.peers.slice(1), marks, victim.name, kill.at, owned);
      const mine = result.clients.filter((c) => owned.has(c.mac));
      const nbp = mine.flatMap((c) => (c.nbpMs === undefined ? [] : [c.nbpMs]));
      const others = result.clients.filter((c) => !owned.has(c.mac)).flatMap((c) => (c.nbpMs === undefined ? [] : [c.nbpMs]));
      Object.assign(extra, { downAfterMs: ft.down - kill.at, takeoverAfterMs: ft.takeover - kill.at, victimClients: mine.length, victimBooted: mine.filter((c) => c.phase === 'done').length });
      console.log(`kill: ${victim.name} SIGKILLed ${KILL_AFTER} ms after the first DISCOVER${kill.sawDiscover ? '' : ' (none seen within 10 s!)'}; survivors marked it down after ${sec(ft.down - kill.at)}; first takeover offer for one of its clients after ${sec(ft.takeover - kill.at)}`);
      for (const p of pl.peers.slice(1)) {
        const st = await pl.status(p).catch(() => undefined) as { tftp?: { resumed?: number; awaitingResume?: number; errors?: Record<string, number> } } | undefined;
        console.log(`${p.name}: transfers resumed ${st?.tftp?.resumed ?? '?'}, still waiting ${st?.tftp?.awaitingResume ?? '?'}, errors ${JSON.stringify(st?.tftp?.errors ?? {})}`);
        const resumedAt = new Map(p.logs.filter((l) => l.event === 'tftp-resumed').map((l) => [String(l.client), l]));
        const failedResumed = p.logs.filter((l) => l.msg === 'tftp transfer failed' && resumedAt.has(String(l.client)));
        for (const l of failedResumed.slice(0, 4)) {
          const r = resumedAt.get(String(l.client))!;
          const ip = String(l.client).split(':')[0]!;
          const peerNeigh = await runOk('ip', ['neigh', 'show', ip], { ns: p.host.ns }).catch((e: Error) => e.message);
          const clientNeigh = await runOk('ip', ['neigh', 'show', serviceAddressOf(0)], { ns: pl.client.ns }).catch((e: Error) => e.message);
          console.log(`  neighbours: ${p.name} → ${ip}: ${peerNeigh.trim() || 'none'}; client → ${serviceAddressOf(0)}: ${clientNeigh.trim() || 'none'}`);
          console.log(`  resumed then failed: ${String(l.client)} ${String(l.file)} from block ${String(r.fromBlock)} at ${String(r.time).slice(11, 23)}: ${String(l.reason)} ${String(l.detail)}; packets ${String(l.packets)} retransmits ${String(l.retransmits)} bytes ${String(l.bytes)} after ${Math.round(Number(l.durationMs))} ms; failed at ${String(l.time).slice(11, 23)}`);
        }
      }
      console.log(`its ${mine.length} clients: booted ${mine.filter((c) => c.phase === 'done').length}, restarted ${mine.filter((c) => c.restarts > 0).length}; NBP p50/p99 ${sec(pctl(nbp, 0.5))} / ${sec(pctl(nbp, 0.99))} (other clients ${sec(pctl(others, 0.5))} / ${sec(pctl(others, 0.99))})`);
    }
    if (dnsmasqLines !== undefined) {
      const notable = dnsmasqLines().filter((l) => /warning|restricting|failed|cannot|error/i.test(l) && !/User aborted/.test(l));
      if (notable.length > 0) console.log(`dnsmasq: ${notable.length} notable log lines, e.g.\n  ${notable.slice(0, 3).join('\n  ')}`);
    }
    // Who failed and where they were: the first thing to read when a row is not all green.
    const failedClients = result.clients.filter((c) => c.phase === 'failed').map((c) => ({
      family: c.family, mac: c.mac, owner: pl.ownerOf(c.mac), offer: name(c.offerServer ?? ''), bootServer: name(c.bootServer ?? ''),
      fileServer: name(c.fileServer ?? ''), failure: c.failure, startAtMs: c.startAtMs, retransmits: c.retransmits, failovers: c.failovers,
    }));
    if (failedClients.length > 0) {
      const by = (k: 'owner' | 'offer' | 'bootServer' | 'fileServer'): string => JSON.stringify(failedClients.reduce<Record<string, number>>((m, c) => { m[c[k]] = (m[c[k]] ?? 0) + 1; return m; }, {}));
      console.log(`failed clients by owner ${by('owner')}; by offer ${by('offer')}; by 4011 server ${by('bootServer')}; by file server ${by('fileServer')}`);
    }
    return { n, scenario: sc, summary: result.summary, wallS, extra: { ...extra, failedClients } };
  } catch (e) {
    const wallS = (Date.now() - t0) / 1000;
    console.log(`\n## ${title}\nRUN FAILED after ${wallS.toFixed(0)} s: ${(e as Error).message.slice(0, 2000)}`);
    return { n, scenario: sc, error: (e as Error).message, wallS };
  } finally {
    current = undefined;
    await pl.destroy();
  }
}

const started = Date.now();
console.log(`# storm benchmark: node bench/storm.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
console.log(`sizes ${sizes.join(', ')}; scenarios ${scenarios.join(', ')}; mix ${MIX}; EDK2 window ${COLLECT} ms; seed ${SEED}; max restarts ${MAX_RESTARTS}; ` +
  `files: 1 MiB NBP + ${Object.entries(FILES).map(([f, b]) => `${f} ${b / MiB} MiB`).join(' + ')} over TFTP; Kea as site DHCP; dnsmasq --tftp-max=${DNSMASQ_TFTP_MAX}`);
console.log(`storm time limits: ${sizes.map((n) => `${n} → ${timeLimitOf(n)} s`).join(', ')}; overall limit ${overallS} s`);

const hardStop = setTimeout(() => {
  console.error('bench: overall limit reached');
  void Promise.race([current?.destroy(), sleep(15_000)]).then(() => process.exit(1));
}, overallS * 1000);

const blobs = Object.fromEntries(Object.entries(FILES).map(([f, b]) => [f, randomBytes(b)]));
const rows: Row[] = [];
try {
  for (const n of sizes) for (const sc of scenarios) rows.push(await runOne(n, sc, blobs));
} finally {
  clearTimeout(hardStop);
}

console.log('\n## summary\n');
console.log('| clients | scenario | booted | time to all booted | NBP p50 / p99 | last file p50 / p99 | restarts | DISCOVER re-sends | MB/s | run wall |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const s = r.summary;
  if (s === undefined) {
    console.log(`| ${r.n} | ${r.scenario} | run failed | | | | | | | ${r.wallS.toFixed(0)} s |`);
    continue;
  }
  console.log(`| ${r.n} | ${r.scenario}: ${TITLES[r.scenario]} | ${s.booted}/${s.clients} | ${sec(s.timeToAllBootedMs)} | ${sec(s.nbpMs.p50)} / ${sec(s.nbpMs.p99)} | ${sec(s.lastFileMs.p50)} / ${sec(s.lastFileMs.p99)} | ${s.restarts} | ${s.retransmits.discover} | ${s.mbPerSec} | ${r.wallS.toFixed(0)} s |`);
}
if (argv.out !== undefined) writeFileSync(argv.out, JSON.stringify({ args: process.argv.slice(2), mix: MIX, collectMs: Number(COLLECT), seed: Number(SEED), rows }, null, 2) + '\n');
console.log(`\nbench wall time ${Math.round((Date.now() - started) / 1000)} s`);
process.exitCode = rows.every((r) => r.summary !== undefined) ? 0 : 1;
