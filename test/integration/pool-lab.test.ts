// Issue 6's acceptance in network namespaces: three pxepool peers on one segment beside Kea (site
// DHCP, no PXE options), 300 simulated PXE clients (iPXE BIOS, EDK2, iPXE EFI) booting a 1 MiB
// NBP over TFTP, each from its own address. Healthy: every client boots, each peer serves 20–47 %,
// and no peer answers a client it does not own without the client having shown the owner failed
// it. Then one peer SIGKILLed and one SIGSTOPped mid-storm: every client still boots; the killed
// peer rejoins and takes its share back; a forged heartbeat changes nothing.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createPoolLab, logMarks, MiB, neighbourTableFulls, offersByMac, pctl, type Peer, type PoolLab } from '../lib/pool-lab.ts';
import type { StormResult } from '../../src/storm/run.ts';
import { bin, needs, root } from '../lib/require.ts';

const isRoot = process.getuid?.() === 0;
const skip = needs(root(), bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'));
const N = 300;
const MIX = 'bios=50,efi=30,ipxe=20';
// EDK2 collects offers ~4 s; 2 s keeps the run short and is still far above the peers' offer p99.
const COLLECT = '2000';

type Client = StormResult['clients'][number];

function share(map: Record<string, number>, key: string, total: number): number {
  return (map[key] ?? 0) / total;
}

/**
 * Offers each client got from peers other than its owner (from the peers' own logs), sorted
 * into what the design allows — EDK2's one ordered fallback offer from the rank-1 peer, and
 * answers to a retransmitted DISCOVER (the owner was late) — and anything else.
 */
function nonOwnerOffers(pl: PoolLab, clients: Client[], marks: Map<string, number>) {
  const offers = offersByMac(pl.peers, marks);
  const takeovers = new Set<string>();
  // On a starved host a heartbeat can be late, or a peer steps back over its transfer ceiling;
  // a peer that sees a better-ranked one down or busy rightly moves up the order for its clients.
  // Each peer's log is read in order: an offer is explained this way only if, when the peer sent
  // it (or within the 2 s before), it held a peer ranked above itself for that client down or busy.
  const GRACE_MS = 2000;
  const changedAtOffer = new Set<string>(); // `${peer}/${mac}/${better}`
  const changes: string[] = [];
  for (const p of pl.peers) {
    const since = new Map<string, number>(); // peer → when seen down/busy (Infinity-free: start time)
    const until = new Map<string, number>(); // peer → when seen back
    for (const l of p.logs.slice(marks.get(p.name) ?? 0)) {
      const time = typeof l.time === 'number' ? l.time : 0;
      if (l.event === 'pool-takeover') takeovers.add(`${p.name}/${String(l.mac)}`);
      const bad = l.event === 'pool-down' || (l.event === 'pool-health' && l.to !== 'ok');
      const good = l.event === 'pool-up' || (l.event === 'pool-health' && l.to === 'ok');
      if (bad) { since.set(String(l.peer), time); until.delete(String(l.peer)); changes.push(`${p.name} saw ${String(l.peer)} ${String(l.event === 'pool-down' ? 'down' : l.to)}`); }
      if (good && since.has(String(l.peer))) until.set(String(l.peer), time);
      if (l.event === 'answer' && l.port === 67 && typeof l.mac === 'string') {
        for (const [peer] of since) {
          const back = until.get(peer);
          if (back === undefined || time - back <= GRACE_MS) changedAtOffer.add(`${p.name}/${l.mac}/${peer}`);
        }
      }
    }
  }
  let fallback = 0, retransmit = 0, membership = 0, unexplained = 0, clientsWithAny = 0;
  const examples: string[] = [];
  for (const c of clients) {
    const order = pl.orderOf(c.mac);
    const from = (offers.get(c.mac) ?? []).filter((n) => n !== order[0]);
    if (from.length > 0) clientsWithAny++;
    let fallbackLeft = c.family === 'efi' ? 1 : 0;
    for (const n of from) {
      if (takeovers.has(`${n}/${c.mac}`)) retransmit++;
      else if (fallbackLeft > 0 && n === order[1]) { fallback++; fallbackLeft--; }
      else if (order.slice(0, order.indexOf(n)).some((better) => changedAtOffer.has(`${n}/${c.mac}/${better}`))) membership++;
      else { unexplained++; if (examples.length < 5) examples.push(`${c.mac} (${c.family}) owner ${order[0]} offer from ${n}`); }
    }
  }
  return { total: fallback + retransmit + membership + unexplained, fallback, retransmit, membership, unexplained, clientsWithAny, examples, changes };
}

function peerShares(pl: PoolLab, s: StormResult['summary']): Array<{ name: string; offer: number; files: number }> {
  return pl.peers.map((p) => ({ name: p.name, offer: share(s.servers.offer, p.address, s.clients), files: share(s.servers.files, p.address, s.clients) }));
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

describe('pool lab: 3 peers, Kea, 300 PXE clients', { skip, timeout: 240_000 }, () => {
  let pl: PoolLab;

  before(async () => {
    pl = await createPoolLab({ clients: N });
    for (const p of pl.peers) await pl.startPeer(p);
    await pl.waitLive(3, 10_000);
  });
  after(async () => {
    await pl?.destroy();
  });

  test('healthy: 300 clients at once all boot, each peer serves 20–47 %, no unexplained non-owner offer', async (t) => {
    const marks = logMarks(pl.peers);
    const before = await Promise.all(pl.peers.map((p) => pl.status(p)));
    const fulls = neighbourTableFulls();
    const { code, result, stderr } = await pl.storm(['--clients', String(N), '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', '11'], { timeLimitS: 90 });
    const s = result.summary;
    t.diagnostic(`booted ${s.booted}/${N} in ${s.timeToAllBootedMs} ms; first offer p50/p99 ${s.firstOfferMs.p50}/${s.firstOfferMs.p99} ms; NBP p50/p99 ${s.nbpMs.p50}/${s.nbpMs.p99} ms; ${s.mbPerSec} MB/s`);
    // the kernel's ARP table is machine-wide: an overflow drops broadcast DISCOVERs at send (test/lib/pool-lab.ts)
    t.diagnostic(`kernel neighbour table overflows during the storm: ${neighbourTableFulls() - fulls}; its limits lowered from outside ${pl.neighbourLowered()} time(s)`);
    assert.equal(s.failed, 0, `${JSON.stringify(s.failures)}\n${stderr.slice(-2000)}`);
    assert.equal(code, 0);
    assert.equal(s.bytes, N * MiB);
    assert.equal(s.restarts, 0);

    // storm's view: whose offer each client took, who served its files
    for (const x of peerShares(pl, s)) {
      t.diagnostic(`${x.name}: offer chosen ${pct(x.offer)}, files ${pct(x.files)}`);
      assert.ok(x.offer >= 0.2 && x.offer <= 0.47, `${x.name} offer share ${pct(x.offer)}`);
      assert.ok(x.files >= 0.2 && x.files <= 0.47, `${x.name} file share ${pct(x.files)}`);
    }
    const known = new Set(pl.peers.map((p) => p.address));
    for (const c of result.clients) assert.ok(known.has(c.offerServer ?? '') && known.has(c.fileServer ?? ''), JSON.stringify(c));

    // the peers' own view: DISCOVERs they owned and TFTP transfers they completed
    const after = await Promise.all(pl.peers.map((p) => pl.status(p)));
    const owned = after.map((a, i) => a.pool.ownership.owned - before[i]!.pool.ownership.owned);
    const tftpOk = after.map((a, i) => a.tftp.transfersOk - before[i]!.tftp.transfersOk);
    for (const [i, p] of pl.peers.entries()) {
      const o = owned[i]! / owned.reduce((a, b) => a + b, 0);
      const f = tftpOk[i]! / tftpOk.reduce((a, b) => a + b, 0);
      t.diagnostic(`${p.name} /status: owned ${pct(o)} of DISCOVERs, ${pct(f)} of completed TFTP transfers, takeovers ${after[i]!.pool.takeovers.total - before[i]!.pool.takeovers.total}`);
      assert.ok(o >= 0.2 && o <= 0.47, `${p.name} owned ${pct(o)}`);
      assert.ok(f >= 0.2 && f <= 0.47, `${p.name} tftp ${pct(f)}`);
    }

    // offers from peers other than the client's owner
    const d = nonOwnerOffers(pl, result.clients, marks);
    t.diagnostic(`non-owner offers: ${d.total} to ${d.clientsWithAny} clients = ${d.fallback} EDK2 fallback (rank 1, by design) + ${d.retransmit} answers to a retransmitted DISCOVER (owner's offer late) + ${d.membership} from a peer that saw a better-ranked one down or busy (${d.changes.length} membership/health changes logged: ${d.changes.slice(0, 6).join('; ') || 'none'}) + ${d.unexplained} unexplained; storm's same-server duplicates ${s.offersPerClient.duplicates}; DISCOVER retransmits ${s.retransmits.discover}`);
    assert.equal(d.unexplained, 0, d.examples.join('\n'));
    // the offer each iPXE client acted on came from its owner (priority 100 beats a backup's 99)
    const ipxeNotOwner = result.clients.filter((c) => c.family !== 'efi' && pl.peerByAddress(c.offerServer ?? '')?.name !== pl.ownerOf(c.mac));
    t.diagnostic(`iPXE clients that took a non-owner offer: ${ipxeNotOwner.length}`);
  });

  test('failure: SIGKILL one peer and SIGSTOP another mid-storm; every client boots; the killed one rejoins and takes its share back', async (t) => {
    const args = ['--clients', String(N), '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', '21', '--ramp', '4', '--max-restarts', '6'];
    // the same seeded storm with every peer healthy: per client the same MAC, family and power-on time
    const base = await pl.storm(args, { timeLimitS: 90 });
    assert.equal(base.result.summary.failed, 0, JSON.stringify(base.result.summary.failures));

    const [killed, stopped, survivor] = pl.peers as [Peer, Peer, Peer];
    const marks = logMarks(pl.peers);
    let killAt = 0;
    const run = pl.storm(args, { timeLimitS: 120 });
    // ~1 s into the 4 s ramp (from the first DISCOVER the survivor sees): a quarter of the
    // clients are booting, the rest have not powered on yet
    const from = marks.get(survivor.name)!;
    for (let i = 0; i < 300 && !survivor.logs.slice(from).some((l) => l.port === 67); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000));
    killAt = Date.now();
    killed.serve!.proc.kill('SIGKILL');
    stopped.serve!.proc.kill('SIGSTOP');
    const { result } = await run;
    const s = result.summary;
    assert.ok(killAt > 0);

    // power-on wall time per client: the survivor logs every DISCOVER (answered or held back)
    const firstSeen = new Map<string, number>();
    for (const l of survivor.logs.slice(marks.get(survivor.name))) {
      if (l.port === 67 && typeof l.mac === 'string' && !firstSeen.has(l.mac)) firstSeen.set(l.mac, Date.parse(String(l.time)));
    }
    const t0 = Math.min(...result.clients.map((c) => (firstSeen.get(c.mac) ?? Infinity) - (c.startAtMs ?? 0)));
    const killMs = killAt - t0;
    const downAfter = 1750; // deadAfter × heartbeatMs + check interval: when the others have noticed

    const baseByIndex = new Map(base.result.clients.map((c) => [c.index, c]));
    // What the pool decides is over once a boot server has answered the client's 4011 request
    // (every client here asks one); the NBP time after that depends on how many peers share the
    // TFTP load, so it is reported but not what "noticing the failure" is measured by.
    const extra = (c: Client): number => (c.ackMs ?? Infinity) - (baseByIndex.get(c.index)?.ackMs ?? 0);
    const extraNbp = (c: Client): number => (c.nbpMs ?? Infinity) - (baseByIndex.get(c.index)?.nbpMs ?? 0);
    const hit = (c: Client): boolean => [killed.name, stopped.name].includes(pl.ownerOf(c.mac));
    const cut = result.clients.filter((c) => c.restarts > 0);
    const notYet = result.clients.filter((c) => hit(c) && (c.startAtMs ?? 0) > killMs);
    const inWindow = notYet.filter((c) => (c.startAtMs ?? 0) <= killMs + downAfter);
    const afterDetect = notYet.filter((c) => (c.startAtMs ?? 0) > killMs + downAfter);
    const fmt = (cs: Client[]): string => {
      const e = cs.map(extra);
      const n = cs.map(extraNbp);
      return `${cs.length} clients, extra time to 4011 answer p50 ${pctl(e, 0.5)} ms, p99 ${pctl(e, 0.99)} ms (to NBP loaded p50 ${pctl(n, 0.5)}, p99 ${pctl(n, 0.99)} ms)`;
    };
    t.diagnostic(`kill at ${killMs} ms into the storm; booted ${s.booted}/${N}, time to all booted ${s.timeToAllBootedMs} ms (healthy ${base.result.summary.timeToAllBootedMs} ms)`);
    t.diagnostic(`restarts ${s.restarts} (${cut.length} clients; reasons ${JSON.stringify(cut.reduce<Record<string, number>>((m, c) => { const k = (c.restartReason ?? '?').replace(/ on .*/, ''); m[k] = (m[k] ?? 0) + 1; return m; }, {}))}), EDK2 failovers ${s.failovers}, DISCOVER retransmits ${s.retransmits.discover}`);
    t.diagnostic(`cut by the kill (restarted): ${fmt(cut)}`);
    t.diagnostic(`owner dead/wedged, powered on before the others noticed (≤ ${downAfter} ms): ${fmt(inWindow)}`);
    t.diagnostic(`owner dead/wedged, powered on after: ${fmt(afterDetect)}`);
    t.diagnostic(`all clients whose owner died or wedged and had no offer yet: ${fmt(notYet)}`);
    for (const c of [...inWindow].sort((a, b) => extra(b) - extra(a)).slice(0, 2)) {
      t.diagnostic(`slowest in window: ${c.family} ${c.mac} order ${pl.orderOf(c.mac).join('>')} start ${c.startAtMs} ms, ack ${c.ackMs} (healthy ${baseByIndex.get(c.index)?.ackMs}), offer ${c.offerServer}, 4011 ${c.bootServer}, restarts ${c.restarts} (${c.restartReason ?? '-'}), failovers ${c.failovers}, retransmits ${JSON.stringify(c.retransmits)}`);
      for (const p of pl.peers) {
        const lines = p.logs.slice(marks.get(p.name)).filter((l) => l.mac === c.mac).map((l) => `${String(l.time).slice(17, 23)} ${String(l.event)} ${String(l.port ?? '')} ${String(l.reason ?? '')} next=${String(l.nextServer ?? '')}`);
        t.diagnostic(`  ${p.name}: ${lines.join(' | ')}`);
      }
    }
    assert.equal(s.failed, 0, JSON.stringify(s.failures));
    assert.ok(notYet.length > 20, 'the kill landed mid-ramp');
    // once the survivors know, a dead owner costs a client nothing noticeable
    const e99 = pctl(afterDetect.map(extra), 0.99);
    assert.ok(e99 !== null && e99 < 500, `extra p99 after detection ${e99} ms`);

    // rejoin: the wedged peer resumes, the killed peer restarts
    stopped.serve!.proc.kill('SIGCONT');
    await pl.startPeer(killed);
    const ms = await pl.waitLive(3, 10_000);
    t.diagnostic(`all three live again ${ms} ms after the restart`);
    // The resumed peer still holds the TFTP transfers it was serving when it froze (their clients
    // went elsewhere); counted as load they put it over its ceiling, so it steps back (ranked last)
    // until its TFTP server gives them up. Wait for that, bounded, and report it.
    const t1 = Date.now();
    let steppedBack: string[] = [];
    for (let i = 0; i < 120; i++) {
      const views = await Promise.all(pl.peers.map((p) => pl.status(p)));
      steppedBack = [...new Set(views.flatMap((v) => v.pool.peers.filter((x) => x.steppedBack || !['ok'].includes(x.health)).map((x) => `${x.name} (${x.health}, ${x.tftp} tftp)`)))];
      if (steppedBack.length === 0) break;
      if (i === 0) t.diagnostic(`after resuming: stepped back ${steppedBack.join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    t.diagnostic(`every peer ok again ${Date.now() - t1} ms after the rejoin`);
    assert.deepEqual(steppedBack, []);
    const marks2 = logMarks(pl.peers);
    const st0 = await pl.status(killed);
    const follow = await pl.storm(['--clients', '150', '--mix', MIX, '--edk2-collect-ms', COLLECT, '--seed', '31'], { timeLimitS: 60 });
    const fs = follow.result.summary;
    assert.equal(fs.failed, 0, JSON.stringify(fs.failures));
    for (const x of peerShares(pl, fs)) t.diagnostic(`follow-up storm (150 clients): ${x.name} offer chosen ${pct(x.offer)}, files ${pct(x.files)}`);
    // ownership, as the rejoined peer itself counts it, and as the ranking predicts it
    const st1 = await pl.status(killed);
    const ownedShare = (st1.pool.ownership.owned - st0.pool.ownership.owned) / (st1.pool.ownership.discovers - st0.pool.ownership.discovers);
    const mine = follow.result.clients.filter((c) => pl.ownerOf(c.mac) === killed.name);
    const offered = offersByMac(pl.peers, marks2);
    const answered = mine.filter((c) => (offered.get(c.mac) ?? []).includes(killed.name)).length;
    t.diagnostic(`rejoined ${killed.name}: owned ${pct(ownedShare)} of the DISCOVERs it saw; ranking gives it ${mine.length}/150 clients, it offered to ${answered} of them`);
    assert.ok(ownedShare >= 0.2 && ownedShare <= 0.47, `${killed.name} owns ${pct(ownedShare)}`);
    assert.equal(answered, mine.length);
    const d = nonOwnerOffers(pl, follow.result.clients, marks2);
    t.diagnostic(`follow-up non-owner offers: ${d.fallback} fallback + ${d.retransmit} retransmit + ${d.membership} membership change + ${d.unexplained} unexplained`);
    assert.equal(d.unexplained, 0, d.examples.join('\n'));
  });

  test('a forged heartbeat (wrong secret) changes nothing and is counted as bad-mac', async (t) => {
    // independent of how the failure test ended
    for (const p of pl.peers) {
      if (p.serve === undefined || p.serve.proc.exitCode !== null || p.serve.proc.signalCode !== null) await pl.startPeer(p);
      else p.serve.proc.kill('SIGCONT');
    }
    await pl.waitLive(3, 10_000);
    const target = pl.peers[0]!;
    const metric = async (): Promise<number> => {
      const m = /pxepool_pool_heartbeats_rejected_total\{reason="bad-mac"\} (\d+)/.exec(await pl.metrics(target));
      return m === null ? 0 : Number(m[1]);
    };
    const before = await metric();
    // a "leaving" heartbeat in pxe-b's name: if believed, pxe-b would be down at once
    await pl.forgeHeartbeat(target, pl.peers[1]!.name);
    await new Promise((r) => setTimeout(r, 2_000));
    const after = await metric();
    t.diagnostic(`bad-mac rejections on ${target.name}: ${before} → ${after}`);
    assert.equal(after, before + 1);
    for (const p of pl.peers) assert.equal((await pl.status(p)).pool.live.length, 3, `${p.name} still sees 3 live`);
  });
});
