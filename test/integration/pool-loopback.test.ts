// Three pool peers on loopback exchange real heartbeats: they find each other, notice a peer
// that dies (silently or with a goodbye), drop forged datagrams, and agree on who answers a
// client — checked by running the pure responder with each peer's hooks, as the proxy edge does.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { discover, encode } from '../../src/dhcp/pxe-client.ts';
import { getOption } from '../../src/dhcp/packet.ts';
import { Opt } from '../../src/dhcp/options.ts';
import type { Decision } from '../../src/policy/decision.ts';
import { respond, type ResponderContext } from '../../src/proxy/responder.ts';
import { poolSchema } from '../../src/pool/config.ts';
import { encodeHeartbeat } from '../../src/pool/heartbeat.ts';
import { type Pool, type PoolEvent, startPool } from '../../src/pool/peer.ts';

const SECRET = 'loopback-test-shared-secret';
const base = 50000 + (process.pid % 4000) * 3;
const NAMES = ['pxe-a', 'pxe-b', 'pxe-c'];
// bootAddress only appears in replies (next-server), so placement is visible per peer.
const peers = NAMES.map((name, i) => ({ name, address: '127.0.0.1', port: base + i, bootAddress: `127.0.0.${11 + i}` }));
const loads = new Map(NAMES.map((n) => [n, { tftp: 0, http: 0 }]));
const cfg = (name: string) => poolSchema.parse({ name, peers, secret: SECRET, bind: '127.0.0.1', heartbeatMs: 500, deadAfter: 3 });

const pools = new Map<string, Pool>();
const events = new Map<string, PoolEvent[]>();
const closed = new Set<string>();

async function waitFor(what: string, cond: () => boolean, limitMs: number): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < Math.ceil(limitMs / 20) + 1; i++) {
    if (cond()) return Date.now() - t0;
    await sleep(20);
  }
  assert.fail(`${what}: not within ${limitMs} ms`);
}

const decide = (): Decision => ({ action: 'boot', rule: 'test', profile: 'lab', firmware: 'bios', bootFile: 'undionly.kpxe' });

/** What the proxy edge does for one DISCOVER on 67: respond with the pool's hooks, then gate. */
function offerFrom(pool: Pool, mac: string, xid: number, secs = 0) {
  const ctx: ResponderContext = { serverId: '127.0.0.1', mode: 'proxy', ports: { server: 67, client: 68 }, ipxePriority: pool.ipxePriority, nextServer: pool.nextServer };
  const o = respond(encode(discover({ kind: 'ipxe-bios', mac }, { xid, secs })), { address: '0.0.0.0', port: 68 }, 'dhcp', ctx, decide);
  assert.equal(o.kind, 'reply');
  if (o.kind !== 'reply') throw new Error('unreachable');
  const delay = pool.gate(o, 'dhcp');
  const prio = getOption(o.reply, Opt.IpxeEncap);
  return { delay, priority: prio === undefined ? undefined : prio[2], siaddr: o.reply.siaddr };
}

const MACS = Array.from({ length: 30 }, (_, i) => `52:54:00:12:34:${i.toString(16).padStart(2, '0')}`);

before(async () => {
  for (const name of NAMES) {
    const ev: PoolEvent[] = [];
    events.set(name, ev);
    pools.set(name, await startPool({ config: cfg(name), onEvent: (e) => ev.push(e), load: () => loads.get(name)! }));
  }
});

after(async () => {
  for (const [name, p] of pools) if (!closed.has(name)) await p.close({ goodbye: false });
});

test('all three see each other live within 1.5 s, with agreeing config hashes', async () => {
  const ms = await waitFor('all live', () => [...pools.values()].every((p) => p.live().length === 3), 1500);
  assert.ok(ms <= 1500);
  for (const p of pools.values()) {
    const s = p.status();
    assert.equal(s.configAgreement.agree, true);
    assert.deepEqual(s.live.sort(), NAMES);
    assert.ok(Math.abs(s.ownership.expectedShare - 1 / 3) < 1e-9);
  }
});

test('each client is answered at once by exactly one peer, with the highest 175.1 priority', () => {
  let xid = 1000;
  for (const mac of MACS) {
    const r = NAMES.map((n) => ({ n, ...offerFrom(pools.get(n)!, mac, xid) }));
    const now = r.filter((x) => x.delay === 0);
    assert.equal(now.length, 1, `${mac}: ${JSON.stringify(r)}`);
    assert.equal(now[0]!.priority, 100);
    assert.deepEqual(r.filter((x) => x.delay === null).length, 2);
    for (const p of pools.values()) assert.equal(p.rank(mac).owner, now[0]!.n, 'every peer agrees on the owner');
    xid++;
  }
});

test('a retransmitted DISCOVER brings the backups in, staggered by rank', () => {
  const mac = MACS[0]!;
  const xid = 77;
  const first = NAMES.map((n) => offerFrom(pools.get(n)!, mac, xid).delay);
  assert.deepEqual(first.filter((d) => d === null).length, 2);
  // The tracker ignores copies closer than 300 ms; a real client resends after ~1 s.
  return sleep(350).then(() => {
    const again = NAMES.map((n) => offerFrom(pools.get(n)!, mac, xid).delay).sort();
    assert.deepEqual(again, [0, 40, 80]);
  });
});

/** What the ProxyDHCPv6 edge asks the pool for a client's Solicit (facts as respond6 makes them). */
function solicitGate(pool: Pool, mac: string, xid: number, elapsedSecs = 0) {
  const facts = { mac, xid, messageType: 1, arch: 7, firmware: 'efi-x64', isIpxe: false, secs: elapsedSecs } as unknown as Parameters<Pool['gate6']>[0];
  return pool.gate6(facts, { action: 'boot', rule: 'test', profile: 'lab', firmware: 'efi-x64', bootFile: 'snponly.efi' }, true);
}

test('IPv6: each Solicit is answered by its owner alone, with no delayed fallback from the backups; a second transmission brings them in', () => {
  let xid = 0x300000;
  for (const mac of MACS) {
    const r = NAMES.map((n) => solicitGate(pools.get(n)!, mac, xid));
    assert.deepEqual(r.filter((d) => d === 0).length, 1, `${mac}: one answer at once`);
    assert.deepEqual(r.filter((d) => d === null).length, 2, `${mac}: the backups hold back (an EDK2 DHCPv6 client takes no late Advertise)`);
    xid++;
  }
  const mac = MACS[1]!;
  const more = NAMES.map((n) => solicitGate(pools.get(n)!, mac, 0x3fffff, 0));
  assert.equal(more.filter((d) => d === null).length, 2);
  const late = NAMES.map((n) => solicitGate(pools.get(n)!, mac, 0x3ffffe, 30));
  assert.deepEqual([...late].sort(), [0, 40, 80], 'elapsed time of 30 s is evidence: backups come in staggered by rank');
  const direct = NAMES.map((n) => pools.get(n)!.gate6({ mac, xid: 9, secs: 0, isIpxe: false, firmware: 'efi-x64' } as unknown as Parameters<Pool['gate6']>[0], { action: 'boot', rule: 'test', profile: 'lab', firmware: 'efi-x64', bootFile: 'snponly.efi' }, false));
  assert.deepEqual(direct, [0, 0, 0], 'a 4011 Request naming us is ours');
});

test('file traffic follows spare capacity; an overloaded peer steps back and loses ownership', async () => {
  const a = pools.get('pxe-a')!;
  const b = pools.get('pxe-b')!;
  loads.get('pxe-b')!.tftp = 50;
  await waitFor('pxe-a sees the load of pxe-b', () => a.status().peers.find((p) => p.name === 'pxe-b')!.tftp === 50, 1500);
  await waitFor('pxe-b sees its own load', () => b.status().peers.find((p) => p.self)!.tftp === 50, 1500);
  let xid = 9000;
  for (const mac of MACS) {
    const owner = a.rank(mac).owner!;
    const r = offerFrom(pools.get(owner)!, mac, xid++);
    // Never the loaded peer; an idle owner names itself (127.0.0.1, the server id) or, once its
    // own recent placements outweigh the slack, the other idle peer.
    if (owner === 'pxe-b') assert.ok(['127.0.0.11', '127.0.0.13'].includes(r.siaddr), `${mac}: ${r.siaddr}`);
    else assert.ok(['127.0.0.1', '127.0.0.11', '127.0.0.13'].includes(r.siaddr), `${mac}: ${r.siaddr}`);
  }
  loads.get('pxe-b')!.tftp = 70;
  await waitFor('pxe-b stepped back everywhere', () => [...pools.values()].every((p) => p.status().peers.find((x) => x.name === 'pxe-b')!.steppedBack), 1500);
  for (const mac of MACS) for (const p of pools.values()) assert.notEqual(p.rank(mac).owner, 'pxe-b');
  loads.get('pxe-b')!.tftp = 0;
  await waitFor('pxe-b back', () => [...pools.values()].every((p) => !p.status().peers.find((x) => x.name === 'pxe-b')!.steppedBack), 1500);
  assert.ok(events.get('pxe-b')!.some((e) => e.type === 'step-back' && e.health === 'busy'));
});

test('a forged heartbeat (wrong secret) is dropped, counted, and changes nothing', async () => {
  const a = pools.get('pxe-a')!;
  const before = a.status().heartbeats.rejected['bad-mac'] ?? 0;
  const forged = encodeHeartbeat({
    peer: 'pxe-b', instance: 'f'.repeat(32), epoch: Date.now(), echo: '0'.repeat(32), seq: 1, ts: Date.now(), health: 'leaving',
    tftp: 0, http: 0, weight: 1, configHash: '0'.repeat(32), held: [],
  }, 'an-attacker-guessing-the-secret');
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.send(forged, base, '127.0.0.1', () => r()));
  await new Promise<void>((r) => s.send(Buffer.from('hello'), base, '127.0.0.1', () => r()));
  s.close();
  await waitFor('rejection counted', () => (a.status().heartbeats.rejected['bad-mac'] ?? 0) === before + 1, 1000);
  assert.ok((a.status().heartbeats.rejected['malformed'] ?? 0) >= 1);
  assert.ok(a.live().includes('pxe-b'), 'a forged goodbye does not take pxe-b down');
  assert.ok(events.get('pxe-a')!.some((e) => e.type === 'rejected' && e.reason === 'bad-mac'));
});

test('a peer killed without a goodbye is seen down within 2 s; its clients move to the next in rank', async () => {
  // Find a client owned by pxe-c so that we can watch it move.
  const owned = MACS.find((m) => pools.get('pxe-c')!.rank(m).owner === 'pxe-c')!;
  assert.ok(owned !== undefined);
  const heir = pools.get('pxe-a')!.rank(owned).order.filter((n) => n !== 'pxe-c')[0]!;

  await pools.get('pxe-c')!.close({ goodbye: false });
  closed.add('pxe-c');
  // Before the survivors declare it down, files must already stop going to the silent peer.
  await sleep(900);
  assert.ok(['pxe-a', 'pxe-b'].every((n) => pools.get(n)!.live().includes('pxe-c')), 'still inside the detection window');
  let probe = 7000;
  for (const mac of MACS) {
    for (const n of ['pxe-a', 'pxe-b']) {
      const r = offerFrom(pools.get(n)!, mac, probe++);
      if (r.delay !== null) assert.notEqual(r.siaddr, '127.0.0.13', `${n} placed ${mac} on the silent pxe-c`);
    }
  }
  const ms = 900 + await waitFor('pxe-c down on both', () => ['pxe-a', 'pxe-b'].every((n) => !pools.get(n)!.live().includes('pxe-c')), 2500);
  assert.ok(ms <= 2000, `took ${ms} ms`);
  for (const n of ['pxe-a', 'pxe-b']) assert.ok(events.get(n)!.some((e) => e.type === 'down' && e.peer === 'pxe-c'));

  for (const n of ['pxe-a', 'pxe-b']) assert.equal(pools.get(n)!.rank(owned).owner, heir);
  const heirPool = pools.get(heir)!;
  const r = offerFrom(heirPool, owned, 5000);
  assert.equal(r.delay, 0, 'the heir answers at once: the owner is known dead');
  assert.equal(r.priority, 100);
  assert.ok(heirPool.status().takeovers.total >= 1);
  const other = pools.get(heir === 'pxe-a' ? 'pxe-b' : 'pxe-a')!;
  assert.equal(offerFrom(other, owned, 5000).delay, null);
  assert.equal(solicitGate(heirPool, owned, 0x123456), 0, 'over IPv6 too, the heir answers at once');
  assert.equal(solicitGate(other, owned, 0x123456), null);
});

test('a peer that leaves with a goodbye is down at once', async () => {
  await pools.get('pxe-b')!.close();
  closed.add('pxe-b');
  const ms = await waitFor('pxe-b down on pxe-a', () => !pools.get('pxe-a')!.live().includes('pxe-b'), 1000);
  assert.ok(ms < 300, `took ${ms} ms`);
  assert.ok(events.get('pxe-a')!.some((e) => e.type === 'down' && e.peer === 'pxe-b' && e.reason === 'leaving'));
  assert.deepEqual(pools.get('pxe-a')!.live(), ['pxe-a']);
});
