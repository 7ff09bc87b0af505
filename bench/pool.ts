// Benchmark (not a test) of the pool: the topology of test/integration/pool-lab.test.ts with
// 1,000 clients. Three storms, each hard-limited:
//   1. 1,000 clients at once, every peer healthy: time to all booted, per-peer share, offers
//      from non-owners.
//   2. the same 1,000 powered on over RAMP s, healthy: the baseline for 3.
//   3. the same ramped storm with pxe-a SIGKILLed KILL_AFTER ms after the first DISCOVER:
//      failover delay (kill → survivors mark it down → first takeover offer for one of its
//      clients) and the extra time its clients needed, per client against run 2.
// Run as root: node bench/pool.ts [clients]   (needs kea-dhcp4; everything lives in namespaces)

import { createPoolLab, failoverTimes, logMarks, neighbourTableFulls, offersByMac, pctl, waitFirstDiscover, type PoolLab } from '../test/lib/pool-lab.ts';
import type { StormResult } from '../src/storm/run.ts';

const N = Number(process.argv[2] ?? 1000);
const MIX = 'bios=50,efi=30,ipxe=20';
const COLLECT = '3000';
const RAMP = 5;
const KILL_AFTER = 1500;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
type Client = StormResult['clients'][number];

// Kernel neighbour-table overflows (machine-wide) and outside lowerings of its limits, per storm:
// an overflow drops the storm's broadcast DISCOVERs at send, which looks like servers not answering.
let fullsAt = 0, loweredAt = 0;
function lab(pl: PoolLab): string {
  const f = neighbourTableFulls(), l = pl.neighbourLowered();
  const out = `kernel neighbour table overflows ${f - fullsAt}; its limits lowered from outside ${l - loweredAt} time(s)`;
  fullsAt = f;
  loweredAt = l;
  return out;
}

function report(pl: PoolLab, title: string, r: StormResult, marks: Map<string, number>): void {
  const s = r.summary;
  console.log(`\n## ${title}`);
  console.log(`booted ${s.booted}/${s.clients}${s.failed ? ` FAILED ${JSON.stringify(s.failures)}` : ''}; time to all booted ${s.timeToAllBootedMs ?? '-'} ms; wall ${s.wallMs} ms; ${s.mbPerSec} MB/s`);
  console.log(`first offer p50/p99 ${s.firstOfferMs.p50}/${s.firstOfferMs.p99} ms; 4011 answered p50/p99 ${pctl(r.clients.flatMap((c) => (c.ackMs === undefined ? [] : [c.ackMs])), 0.5)}/${pctl(r.clients.flatMap((c) => (c.ackMs === undefined ? [] : [c.ackMs])), 0.99)} ms; NBP p50/p99 ${s.nbpMs.p50}/${s.nbpMs.p99} ms`);
  for (const p of pl.peers) {
    console.log(`  ${p.name}: offer chosen ${pct((s.servers.offer[p.address] ?? 0) / s.clients)}, files ${pct((s.servers.files[p.address] ?? 0) / s.clients)}`);
  }
  const offers = offersByMac(pl.peers, marks);
  let nonOwner = 0, ipxeNonOwner = 0;
  for (const c of r.clients) {
    const n = (offers.get(c.mac) ?? []).filter((x) => x !== pl.ownerOf(c.mac)).length;
    nonOwner += n;
    if (c.family !== 'efi') ipxeNonOwner += n;
  }
  console.log(`offers from non-owners: ${nonOwner} (to iPXE clients ${ipxeNonOwner}; the rest are EDK2's rank-1 fallback offers); same-server duplicates ${s.offersPerClient.duplicates}; DISCOVER retransmits ${s.retransmits.discover}; restarts ${s.restarts}; EDK2 failovers ${s.failovers}`);
  console.log(`lab: ${lab(pl)}`);
}

const started = Date.now();
const pl = await createPoolLab({ clients: N });
const hardStop = setTimeout(() => { console.error('bench: overall limit reached'); void pl.destroy().then(() => process.exit(1)); }, 15 * 60_000);
try {
  for (const p of pl.peers) await pl.startPeer(p);
  await pl.waitLive(3, 10_000);
  console.log(`# pool benchmark: 3 peers, Kea, ${N} clients (${MIX}), 1 MiB NBP over TFTP, EDK2 window ${COLLECT} ms`);

  lab(pl);
  let marks = logMarks(pl.peers);
  const once = await pl.storm(['--clients', String(N), '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', '101'], { timeLimitS: 240 });
  report(pl, `${N} clients at once, all peers healthy`, once.result, marks);

  const ramped = ['--clients', String(N), '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', '202', '--ramp', String(RAMP), '--max-restarts', '6'];
  marks = logMarks(pl.peers);
  const base = await pl.storm(ramped, { timeLimitS: 240 });
  report(pl, `${N} clients over ${RAMP} s, all peers healthy (baseline)`, base.result, marks);

  const [victim, ...survivors] = pl.peers;
  marks = logMarks(pl.peers);
  const run = pl.storm(ramped, { timeLimitS: 240 });
  await waitFirstDiscover(survivors[0]!, marks);
  await sleep(KILL_AFTER);
  const killAt = Date.now();
  victim!.serve!.proc.kill('SIGKILL');
  const fail = (await run).result;
  report(pl, `${N} clients over ${RAMP} s, ${victim!.name} SIGKILLed ${KILL_AFTER} ms after the first DISCOVER`, fail, marks);

  // failover delay, from the survivors' own logs (all namespaces share one clock)
  const owned = new Set(fail.clients.filter((c) => pl.ownerOf(c.mac) === victim!.name).map((c) => c.mac));
  const { down, takeover, firstOffer } = failoverTimes(survivors, marks, victim!.name, killAt, owned);
  const firstSeen = new Map<string, number>();
  for (const l of survivors[0]!.logs.slice(marks.get(survivors[0]!.name))) {
    if (l.port === 67 && typeof l.mac === 'string' && !firstSeen.has(l.mac)) firstSeen.set(l.mac, Date.parse(String(l.time)));
  }
  const t0 = Math.min(...fail.clients.map((c) => (firstSeen.get(c.mac) ?? Infinity) - (c.startAtMs ?? 0)));
  const killMs = killAt - t0;
  const baseBy = new Map(base.result.clients.map((c) => [c.index, c]));
  const ex = (cs: Client[], k: 'ackMs' | 'nbpMs'): string => {
    const v = cs.map((c) => (c[k] ?? Infinity) - (baseBy.get(c.index)?.[k] ?? 0));
    return `p50 ${pctl(v, 0.5)} ms, p99 ${pctl(v, 0.99)} ms`;
  };
  const victimClients = fail.clients.filter((c) => owned.has(c.mac));
  const before = victimClients.filter((c) => (c.startAtMs ?? 0) <= killMs);
  const during = victimClients.filter((c) => (c.startAtMs ?? 0) > killMs && (firstSeen.get(c.mac) ?? Infinity) <= down);
  const afterDown = victimClients.filter((c) => (firstSeen.get(c.mac) ?? 0) > down);
  console.log(`\n## failover of ${victim!.name}`);
  console.log(`kill at ${killMs} ms into the storm; survivors marked it down after ${down - killAt} ms; first takeover offer for one of its clients after ${takeover - killAt} ms; first survivor offer of any kind to one of its clients after ${firstOffer - killAt} ms`);
  console.log(`its ${victimClients.length} clients: powered on before the kill ${before.length} (restarted: ${before.filter((c) => c.restarts > 0).length}), during detection ${during.length}, after ${afterDown.length}`);
  console.log(`extra time to 4011 answer / to NBP vs baseline — before kill: ${ex(before, 'ackMs')} / ${ex(before, 'nbpMs')}; during detection: ${ex(during, 'ackMs')} / ${ex(during, 'nbpMs')}; after: ${ex(afterDown, 'ackMs')} / ${ex(afterDown, 'nbpMs')}`);
  console.log(`\nbench wall time ${Math.round((Date.now() - started) / 1000)} s`);
} finally {
  clearTimeout(hardStop);
  await pl.destroy();
}
