// Service addresses across real processes, kernels and ARP (issue 12, item 1): two peers in
// their own namespaces on one segment, each holding a service address it names to clients.
// A SIGKILLed peer leaves its address in its kernel (as a crashed daemon does) and a SIGSTOPped
// one wakes up believing it serves; through both, the address moves to the survivor, a client
// (curl, TFTP) fetches from it, and at no sampled instant do two namespaces hold it. The
// returning peer gets its address back by handoff. Bad configs and a foreign holder are refused.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type Host, run, runOk } from '../lib/netns.ts';
import { MAIN, startServe, type ServeProc } from '../lib/serve-proc.ts';

const SECRET = 'failover-netns-shared-secret-0123';
const PEERS = [
  { name: 'pxe-a', address: '10.78.1.11', service: '10.78.2.11' },
  { name: 'pxe-b', address: '10.78.1.12', service: '10.78.2.12' },
] as const;

// A missing privilege or tool fails the run with its name: no silent skip.
function requireTools(): void {
  assert.equal(process.getuid?.(), 0, 'pool-failover-netns needs root (network namespaces, ip addr)');
  const pkg: Record<string, string> = { ip: 'iproute2', arping: 'iputils-arping', curl: 'curl', tftp: 'tftp-hpa', nft: 'nftables' };
  for (const t of Object.keys(pkg)) {
    try { execFileSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: 'ignore' }); } catch { assert.fail(`pool-failover-netns needs ${t} (Debian: ${pkg[t]})`); }
  }
}

let lab: Lab;
let client: Host;
const hosts = new Map<string, Host>();
const serves = new Map<string, ServeProc>();
const FILE = Buffer.alloc(512 * 1024);
for (let i = 0; i < FILE.length; i++) FILE[i] = (i * 151 + 3) & 255;
const BIG = Buffer.alloc(4 << 20);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7919 + 11) & 255;
const rootOf = (name: string): string => join(lab.tmpDir, `boot-${name}`);

function config(name: string, extra: { service?: (p: (typeof PEERS)[number]) => string } = {}): string {
  const me = PEERS.find((p) => p.name === name)!;
  return `
root: ${rootOf(name)}
server:
  name: ${name}
http:
  port: 8080
profiles:
  lab:
    bios: pxelinux.0
default: lab
pool:
  name: ${name}
  secret: "${SECRET}"
  bind: ${me.address}
  heartbeatMs: 500
  peers:
${PEERS.map((p) => `    - { name: ${p.name}, address: ${p.address}, serviceAddress: ${extra.service?.(p) ?? p.service} }`).join('\n')}
`;
}

async function start(name: string): Promise<ServeProc> {
  const file = join(lab.tmpDir, `${name}.yaml`);
  writeFileSync(file, config(name));
  const s = await startServe(['--config', file], { ns: hosts.get(name)!.ns, readyTimeoutMs: 15_000 });
  serves.set(name, s);
  return s;
}

/** which peer namespaces hold `address` right now, from their kernels */
async function holders(address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(PEERS.map(async (p) => {
    const r = await runOk('ip', ['-j', '-4', 'addr', 'show'], { ns: hosts.get(p.name)!.ns });
    if (r.includes(`"${address}"`)) out.push(p.name);
  }));
  return out.sort();
}

/** Samples the holders of every service address every ~50 ms until `until` says stop; fails on two at once. */
async function watch(until: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < limitMs) {
    for (const p of PEERS) {
      const h = await holders(p.service);
      assert.ok(h.length <= 1, `${p.service} held by ${h.join(' and ')} at +${Date.now() - t0} ms`);
    }
    if (await until()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  const events = [...serves].map(([n, sp]) => `${n}: ${sp.logs.filter((l) => String(l.event).startsWith('pool-') || String(l.event).startsWith('tftp-')).slice(-12).map((l) => `${String(l.time).slice(11, 23)} ${String(l.event)} ${String(l.address ?? l.peer ?? '')} ${String(l.reason ?? '')}`).join(' | ')}`);
  assert.fail(`not within ${limitMs} ms; holders ${JSON.stringify(await Promise.all(PEERS.map(async (p) => [p.service, await holders(p.service)])))}\n${events.join('\n')}`);
}

async function fetchVia(address: string, path = 'pxelinux.0'): Promise<Buffer> {
  const out = join(lab.tmpDir, `fetch-${Date.now()}`);
  await runOk('curl', ['-sf', '--max-time', '20', `tftp://${address}/${path}`, '-o', out], { ns: client.ns, timeoutMs: 25_000 });
  return readFileSync(out);
}

async function macOf(name: string): Promise<string> {
  return hosts.get(name)!.iface.mac.toLowerCase();
}
async function clientNeighbour(address: string): Promise<string | undefined> {
  const r = await run('ip', ['-j', 'neigh', 'show', address], { ns: client.ns });
  const list = JSON.parse(r.stdout || '[]') as { lladdr?: string }[];
  return list[0]?.lladdr?.toLowerCase();
}

before(async () => {
  requireTools();
  lab = await Lab.create();
  for (const p of PEERS) hosts.set(p.name, await lab.addHost(p.name, { address: `${p.address}/16` }));
  client = await lab.addHost('client', { address: '10.78.1.50/16' });
  // One tree per peer, with the same files (as a pool must serve identical trees).
  for (const p of PEERS) {
    mkdirSync(rootOf(p.name));
    writeFileSync(join(rootOf(p.name), 'pxelinux.0'), FILE);
    writeFileSync(join(rootOf(p.name), 'big.bin'), BIG);
  }
});

after(async () => {
  for (const s of serves.values()) { s.proc.kill('SIGCONT'); await s.stop(); }
  await lab?.destroy();
});

test('each peer takes its own service address and serves TFTP from it', async () => {
  await Promise.all(PEERS.map((p) => start(p.name)));
  const ms = await watch(async () => {
    const [a, b] = await Promise.all(PEERS.map((p) => holders(p.service)));
    return a!.join() === 'pxe-a' && b!.join() === 'pxe-b';
  }, 15_000);
  console.log(`# both service addresses held ${ms} ms after start`);
  for (const p of PEERS) assert.ok((await fetchVia(p.service)).equals(FILE), `file via ${p.service}`);
  assert.equal(await clientNeighbour(PEERS[0].service), await macOf('pxe-a'));
});

/** SIGKILL a server, and with `keeper` also its address keeper (a crash that takes both). */
async function crash(name: string, o: { keeper: boolean }): Promise<void> {
  const s = serves.get(name)!;
  const pid = s.proc.pid!;
  const kids = (await run('pgrep', ['-P', String(pid)])).stdout.split('\n').filter((x) => x !== '').map(Number);
  assert.ok(kids.length >= 1, `${name} runs an address keeper`);
  if (o.keeper) for (const k of kids) process.kill(k, 'SIGKILL');
  s.proc.kill('SIGKILL');
  await s.stop();
  serves.delete(name);
}

test('SIGKILL: the keeper deletes the dead server\'s address and says goodbye; the survivor takes it at once and the client follows', async () => {
  const t0 = Date.now();
  await crash('pxe-a', { keeper: false });
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-b', 15_000);
  const moved = Date.now() - t0;
  console.log(`# ${PEERS[0].service} held by pxe-b ${moved} ms after pxe-a was killed (keeper path)`);
  assert.ok(moved < 4_000, `the keeper's goodbye should spare the lease wait (${moved} ms)`);
  assert.ok(serves.get('pxe-b')!.logs.some((l) => l.event === 'pool-down' && l.peer === 'pxe-a' && l.reason === 'leaving'), 'the goodbye came from the keeper');
  assert.ok((await fetchVia(PEERS[0].service)).equals(FILE), 'the survivor serves the dead peer\'s address');
  assert.equal(await clientNeighbour(PEERS[0].service), await macOf('pxe-b'), 'the client\'s ARP entry moved (gratuitous ARP)');
  const st = JSON.parse(await runOk('curl', ['-sf', `http://${PEERS[1].address}:8080/status`], { ns: client.ns })) as { pool: { serviceAddresses: { held: string[] } } };
  assert.deepEqual(st.pool.serviceAddresses.held.sort(), [PEERS[0].service, PEERS[1].service]);
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
});

test('SIGKILL of the server and its keeper: the address stays in the dead peer\'s kernel until its lease runs out, then moves', async () => {
  const t0 = Date.now();
  await crash('pxe-a', { keeper: true });
  // Its kernel still holds the address until the lease runs out: nobody may claim it before.
  assert.deepEqual(await holders(PEERS[0].service), ['pxe-a'], 'a killed daemon leaves its address behind');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-b', 15_000);
  console.log(`# ${PEERS[0].service} held by pxe-b ${Date.now() - t0} ms after pxe-a and its keeper were killed (lease path)`);
  assert.ok((await fetchVia(PEERS[0].service)).equals(FILE));
});

test('the restarted peer gets its address back by handoff, never two holders', async () => {
  const t0 = Date.now();
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
  console.log(`# handed back to pxe-a ${Date.now() - t0} ms after its restart`);
  assert.ok((await fetchVia(PEERS[0].service)).equals(FILE));
  assert.ok(serves.get('pxe-b')!.logs.some((l) => l.event === 'pool-address-released' && l.reason === 'handoff'));
});

test('SIGSTOP for 8 s: the stopped peer\'s address moves, and on SIGCONT it does not take it back by itself', async () => {
  const b = serves.get('pxe-b')!;
  b.proc.kill('SIGSTOP');
  const t0 = Date.now();
  await watch(async () => (await holders(PEERS[1].service)).join() === 'pxe-a', 15_000);
  const moved = Date.now() - t0;
  console.log(`# ${PEERS[1].service} held by pxe-a ${moved} ms after pxe-b was stopped (keeper fence)`);
  // The keeper saw its server silent, deleted the address and said goodbye: no lease wait. (The
  // survivor may have marked pxe-b down for silence a moment before the goodbye came, so its
  // log is not the witness; the keeper's own line is.)
  assert.match(b.stderr(), new RegExp(`pxepool keeper: the server has been silent for \\d+ ms: released ${PEERS[1].service.replaceAll('.', '\\.')}`), 'the keeper fenced the stopped server');
  assert.ok(moved < 4_000, `the keeper's fence should spare the lease wait (${moved} ms)`);
  assert.ok((await fetchVia(PEERS[1].service)).equals(FILE));
  while (Date.now() - t0 < 8_000) await watch(async () => true, 1000);
  const seenBefore = serves.get('pxe-a')!.logs.length;
  b.proc.kill('SIGCONT');
  // For a while after waking, exactly pxe-a holds it (pxe-b's lease is gone, it may not renew).
  // Looked at 1.5 s after SIGCONT: the handoff back may start 3 s after pxe-b is seen live again
  // (stableMs), and with the keeper's goodbye that is its first heartbeat after waking.
  await watch(async () => false, 1_500).catch((e: Error) => { if (!/not within/.test(e.message)) throw e; });
  assert.deepEqual(await holders(PEERS[1].service), ['pxe-a']);
  // Its heartbeats after waking are newer than the keeper's goodbye (none dropped as replays).
  await watch(async () => serves.get('pxe-a')!.logs.slice(seenBefore).some((l) => l.event === 'pool-up' && l.peer === 'pxe-b'), 5_000);
  // Then the handoff gives it back.
  await watch(async () => (await holders(PEERS[1].service)).join() === 'pxe-b', 20_000);
  assert.ok((await fetchVia(PEERS[1].service)).equals(FILE));
});

test('a clean stop releases the address at once, and the survivor takes it without waiting out a lease', async () => {
  const t0 = Date.now();
  await serves.get('pxe-b')!.stop('SIGTERM');
  serves.delete('pxe-b');
  assert.deepEqual(await holders(PEERS[1].service), [], 'released on shutdown');
  await watch(async () => (await holders(PEERS[1].service)).join() === 'pxe-a', 10_000);
  console.log(`# after a clean stop, ${PEERS[1].service} held by pxe-a ${Date.now() - t0} ms later`);
  await start('pxe-b');
  await watch(async () => (await holders(PEERS[1].service)).join() === 'pxe-b', 20_000);
});

test('a TFTP transfer survives its server: SIGKILLed mid-download, the survivor goes on from the client\'s next ACK (tftp-hpa)', async () => {
  // Slow the peers' sending side so the download takes seconds (lock-step, 512-byte blocks).
  for (const p of PEERS) await runOk('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '6mbit', 'burst', '16kb', 'latency', '400ms'], { ns: hosts.get(p.name)!.ns });
  try {
    const out = join(lab.tmpDir, 'big.out');
    const script = `binary\nrexmt 1\ntimeout 60\nget big.bin ${out}\nquit\n`;
    const t0 = Date.now();
    const dl = run('sh', ['-c', `printf '${script}' | tftp ${PEERS[0].service}`], { ns: client.ns, timeoutMs: 90_000 });
    // Running, and announced to the other peer (every heartbeat), before the kill.
    await new Promise((r) => setTimeout(r, 2_000));
    const st = JSON.parse(await runOk('curl', ['-sf', `http://${PEERS[0].address}:8080/status`], { ns: client.ns })) as { tftp: { activeTransfers: number } };
    assert.equal(st.tftp.activeTransfers, 1, 'the download is running on pxe-a (and nothing else)');
    await crash('pxe-a', { keeper: false });
    const r = await dl;
    const took = Date.now() - t0;
    assert.equal(r.code, 0, `tftp: ${r.stdout} ${r.stderr}`);
    assert.ok(readFileSync(out).equals(BIG), 'the client has exactly the file');
    const b = serves.get('pxe-b')!;
    const resumed = b.logs.find((l) => l.event === 'tftp-resumed');
    assert.ok(resumed, `pxe-b resumed the transfer: ${JSON.stringify(b.logs.filter((l) => String(l.event).startsWith('tftp') || String(l.event).startsWith('pool-address')).slice(-8))}`);
    console.log(`# 4 MiB download from ${PEERS[0].service}, its server killed at 2 s: complete and identical after ${took} ms; resumed from block ${String(resumed.fromBlock)}`);
  } finally {
    for (const p of PEERS) await run('tc', ['qdisc', 'del', 'dev', 'eth0', 'root'], { ns: hosts.get(p.name)!.ns });
  }
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
});

test('a transfer whose file differs on the survivor is not resumed: the client gets a TFTP error, the survivor says why', async () => {
  for (const p of PEERS) await runOk('tc', ['qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', '6mbit', 'burst', '16kb', 'latency', '400ms'], { ns: hosts.get(p.name)!.ns });
  try {
    // pxe-b gets its own, different copy of the file (its root is a separate directory).
    writeFileSync(join(rootOf('pxe-b'), 'big.bin'), Buffer.from(BIG).fill(7, 1000, 2000));
    const out = join(lab.tmpDir, 'big2.out');
    const dl = run('sh', ['-c', `printf 'binary\\nrexmt 1\\ntimeout 30\\nget big.bin ${out}\\nquit\\n' | tftp ${PEERS[0].service}`], { ns: client.ns, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    await crash('pxe-a', { keeper: false });
    const r = await dl;
    assert.match(r.stdout + r.stderr, /differs/i, `the client is told: ${r.stdout} ${r.stderr}`);
    const b = serves.get('pxe-b')!;
    await b.waitForLog((l) => l.event === 'tftp-resume-mismatch', 10_000);
  } finally {
    for (const p of PEERS) await run('tc', ['qdisc', 'del', 'dev', 'eth0', 'root'], { ns: hosts.get(p.name)!.ns });
    writeFileSync(join(rootOf('pxe-b'), 'big.bin'), BIG);
  }
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
});

test('`pxepool release-addresses` (the unit\'s ExecStopPost) removes a killed daemon\'s addresses at once', async () => {
  await crash('pxe-a', { keeper: true });
  assert.deepEqual(await holders(PEERS[0].service), ['pxe-a']);
  const out = await runOk(process.execPath, [MAIN, 'release-addresses', '--config', join(lab.tmpDir, 'pxe-a.yaml')], { ns: hosts.get('pxe-a')!.ns, timeoutMs: 15_000 });
  assert.match(out, new RegExp(`released ${PEERS[0].service.replaceAll('.', '\\.')} from eth0`));
  assert.deepEqual(await holders(PEERS[0].service), []);
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-b', 15_000);
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
});

test('a serviceAddress outside every subnet of the peer is refused at start, naming it', async () => {
  const file = join(lab.tmpDir, 'bad.yaml');
  // Run from the client namespace (the peers hold the ports), binding its heartbeat socket there.
  writeFileSync(file, config('pxe-a').replace(PEERS[0].service, '192.168.99.5').replace(`bind: ${PEERS[0].address}`, 'bind: 10.78.1.50'));
  const r = await run(process.execPath, [MAIN, 'serve', '--config', file], { ns: client.ns, timeoutMs: 15_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /serviceAddress 192\.168\.99\.5 is outside every subnet/);
});

test('a service address answered by a host that is not a pool peer is not taken, and that is said', async () => {
  await Promise.all([...serves.values()].map((s) => s.stop()));
  serves.clear();
  // The client namespace squats on pxe-a's address before the pool starts.
  await runOk('ip', ['addr', 'add', `${PEERS[0].service}/16`, 'dev', 'eth0'], { ns: client.ns });
  try {
    const a = await start('pxe-a');
    await start('pxe-b');
    const line = await a.waitForLog((l) => l.event === 'pool-address-foreign', 20_000);
    assert.equal(line.address, PEERS[0].service);
    assert.equal(line.mac, client.iface.mac.toLowerCase());
    assert.deepEqual(await holders(PEERS[0].service), [], 'no peer added the squatted address');
  } finally {
    await runOk('ip', ['addr', 'del', `${PEERS[0].service}/16`, 'dev', 'eth0'], { ns: client.ns });
  }
});


