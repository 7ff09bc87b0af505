// The long fuzz run (issue 13): 100,000 cases per format by default through the pure decoders and
// decisions — respond() for DHCPv4 on 67 and 4011, the TFTP packet parser, option negotiation and
// admission, the heartbeat and announcement verifiers, the DHCPv6 codec and respond6() on 547 and
// 4011 (pure only: the DHCPv6 edge counts no drops in /metrics yet) — then the same number over real sockets
// against a running server (test/integration/fuzz.test.ts with PXEPOOL_FUZZ_CASES), which checks
// that every datagram is counted once in /metrics. Nothing may throw. Not part of CI (CI runs
// 10,000 per format over sockets).
// Usage: npm run bench:fuzz [-- --cases 200000] [-- --seed 7] [-- --no-sockets]

import { spawnSync } from 'node:child_process';
import { respond, STANDARD_PORTS, type ResponderContext } from '../src/proxy/responder.ts';
import type { Decision } from '../src/policy/decision.ts';
import type { ClientFacts } from '../src/dhcp/facts-types.ts';
import { parsePacket } from '../src/tftp/packet.ts';
import { negotiate } from '../src/tftp/options.ts';
import { admit } from '../src/tftp/admission.ts';
import { HeartbeatVerifier } from '../src/pool/heartbeat.ts';
import { AnnounceVerifier, isAnnouncement } from '../src/pool/announce.ts';
import { encodeDhcp6, parseDhcp6 } from '../src/dhcp6/packet.ts';
import { duidLl, respond6, type Responder6Context } from '../src/dhcp6/respond.ts';
import { dhcp6Case, dhcpCase, FUZZ_SECRET, poolCase, rng, tftpCase } from '../test/lib/fuzz.ts';

const args = process.argv.slice(2);
const arg = (name: string, dflt: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const CASES = arg('--cases', 100_000);
const SEED = arg('--seed', 1);

function tally(): { add(k: string): void; text(): string } {
  const m = new Map<string, number>();
  return {
    add: (k) => { m.set(k, (m.get(k) ?? 0) + 1); },
    text: () => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', '),
  };
}

function run(name: string, one: (i: number) => string): void {
  const t = tally();
  const t0 = performance.now();
  for (let i = 0; i < CASES; i++) {
    try {
      t.add(one(i));
    } catch (err) {
      console.error(`${name}: case ${i} (seed ${SEED}) threw: ${(err as Error).stack ?? String(err)}`);
      process.exitCode = 1;
      return;
    }
  }
  const ms = performance.now() - t0;
  console.log(`${name}: ${CASES} cases in ${(ms / 1000).toFixed(1)} s (${Math.round(CASES / (ms / 1000))}/s), no exception — ${t.text()}`);
}

const ctx: ResponderContext = { serverId: '10.0.0.2', mode: 'proxy', ports: STANDARD_PORTS };
const decide = (f: ClientFacts): Decision => (f.mac.startsWith('02:')
  ? { action: 'ignore', rule: 'rules[0]', reason: 'fuzz' }
  : { action: 'boot', rule: 'default', profile: 'lab', firmware: f.firmware, bootFile: f.firmware === 'bios' ? 'pxelinux.0' : 'snponly.efi', rootPath: 'r'.repeat(f.xid % 300) });
{
  const r = rng(SEED * 1000 + 1);
  run('dhcp (respond)', () => {
    const c = dhcpCase(r);
    const o = respond(c.bytes, { address: r() < 0.5 ? '0.0.0.0' : '10.0.0.9', port: r() < 0.5 ? 68 : 67 }, c.via, ctx, decide);
    if (o.kind === 'reply' && o.bytes.length > 1472) throw new Error(`a ${o.bytes.length}-byte reply`);
    return o.kind === 'reply' ? 'reply' : o.reason;
  });
}
{
  const r = rng(SEED * 1000 + 2);
  run('tftp (parse, negotiate, admit)', () => {
    const p = parsePacket(tftpCase(r));
    if (!p.ok) return `malformed`;
    if (p.value.op !== 'RRQ') return p.value.op.toLowerCase();
    const n = negotiate(p.value.options, { maxBlksize: 1468, maxWindowsize: 64 }, Math.floor(r() * 1e7));
    if (n.blksize < 8 || n.blksize > 65464 || n.windowsize < 1) throw new Error(`negotiated ${n.blksize}/${n.windowsize}`);
    const a = admit({ address: '10.0.0.9', port: 1000, file: p.value.filename }, { total: 5, unconfirmed: 5, oldestUnconfirmed: undefined, ofClient: [], has: () => false }, { maxTransfers: 10, maxPerClient: 4, maxUnconfirmed: 5 });
    return `rrq-${a.verdict}`;
  });
}
{
  const r = rng(SEED * 1000 + 3);
  const hb = new HeartbeatVerifier({ secret: FUZZ_SECRET, peers: ['b'], self: 'a', selfInstance: 'ef'.repeat(16), skewMs: 30_000 });
  const ann = new AnnounceVerifier({ secret: FUZZ_SECRET, peers: ['b'], skewMs: 30_000, instanceOf: () => 'ab'.repeat(16) });
  run('pool (heartbeat and announcement verifiers)', () => {
    const now = Date.now();
    const bytes = poolCase(r, now);
    if (isAnnouncement(bytes)) { const v = ann.verify(bytes, now); return v.ok ? 'announce-ok' : `announce-${v.reason}`; }
    const v = hb.verify(bytes, now);
    return v.ok ? 'ok' : v.reason;
  });
}
{
  const r = rng(SEED * 1000 + 4);
  const ctx6: Responder6Context = { serverDuid: duidLl('52:54:00:aa:bb:cc'), serverAddress: 'fd77:0:0:1::11', httpPort: 8080 };
  // EUI-64 sources carry a MAC (one of them one the policy ignores); the last carries none.
  const sources = ['fe80::5054:ff:fe65:1%eth0', 'fd77::1:5054:ff:fe66:1', 'fe80::ff:fe00:1%eth0', 'fd77::1:1234:5678:9abc:def0'];
  let largest = { reply: 0, request: 0 };
  run('dhcp6 (parse, respond6)', () => {
    const c = dhcp6Case(r, ctx6.serverDuid);
    const p = parseDhcp6(c.bytes);
    if (!p.ok) return `malformed-${p.reason}`;
    const o = respond6(p.message, c.via, sources[Math.floor(r() * sources.length)]!, ctx6, decide, () => undefined);
    if (o.kind !== 'reply') return o.reason;
    const n = encodeDhcp6(o.message).length;
    if (n > largest.reply) largest = { reply: n, request: c.bytes.length };
    return 'reply';
  });
  console.log(`dhcp6: largest reply ${largest.reply} bytes (to a ${largest.request}-byte request)`);
}

if (!args.includes('--no-sockets') && process.exitCode !== 1) {
  console.log(`over sockets: ${CASES} cases per format against a running server (test/integration/fuzz.test.ts)`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--test', 'test/integration/fuzz.test.ts'], { env: { ...process.env, PXEPOOL_FUZZ_CASES: String(CASES) }, encoding: 'utf8' });
  for (const line of (r.stdout ?? '').split('\n')) if (/^# (dhcp|tftp|pool) fuzz|^ℹ (pass|fail)/.test(line)) console.log(line);
  console.log(`over sockets: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (r.status !== 0) { console.error(r.stdout, r.stderr); process.exitCode = 1; }
}
