// IPv6 service addresses across real processes and kernels (issues 12 and 17): two peers in
// their own namespaces on one segment, each holding an IPv6 service address it names to IPv6
// clients. A SIGKILLed peer's address moves to the survivor (probed with ndisc6, added without
// DAD, announced by unsolicited neighbour advertisements so the client's neighbour entry moves
// at once), a client fetches from it over TFTP, a download in flight goes on from the client's
// next ACK, and at no sampled instant do two namespaces hold the address.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAddress6, Lab, type Host, run, runOk } from '../lib/netns.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';

const SECRET = 'failover6-netns-shared-secret-0123';
const V6 = 'fd78:0:0:1';
const PEERS = [
  { name: 'pxe-a', address: '10.79.1.11', address6: `${V6}::11`, service: `${V6}::a11` },
  { name: 'pxe-b', address: '10.79.1.12', address6: `${V6}::12`, service: `${V6}::a12` },
] as const;

function requireTools(): void {
  assert.equal(process.getuid?.(), 0, 'pool-failover6-netns needs root (network namespaces, ip addr)');
  const pkg: Record<string, string> = { ip: 'iproute2', arping: 'iputils-arping', ndisc6: 'ndisc6', curl: 'curl', tftp: 'tftp-hpa', nft: 'nftables', tc: 'iproute2' };
  for (const t of Object.keys(pkg)) {
    try { execFileSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t}`], { stdio: 'ignore' }); } catch { assert.fail(`pool-failover6-netns needs ${t} (Debian: ${pkg[t]})`); }
  }
}

let lab: Lab;
let client: Host;
const hosts = new Map<string, Host>();
const serves = new Map<string, ServeProc>();
const FILE = Buffer.alloc(256 * 1024);
for (let i = 0; i < FILE.length; i++) FILE[i] = (i * 151 + 3) & 255;
const BIG = Buffer.alloc(4 << 20);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 7919 + 11) & 255;
const rootOf = (name: string): string => join(lab.tmpDir, `boot-${name}`);

function config(name: string): string {
  const me = PEERS.find((p) => p.name === name)!;
  return `
root: ${rootOf(name)}
server:
  name: ${name}
  address6: "${me.address6}"
http:
  port: 8080
profiles:
  lab:
    efiX64: snponly.efi
default: lab
pool:
  name: ${name}
  secret: "${SECRET}"
  bind: ${me.address}
  heartbeatMs: 500
  peers:
${PEERS.map((p) => `    - { name: ${p.name}, address: ${p.address}, serviceAddress6: "${p.service}" }`).join('\n')}
`;
}

async function start(name: string): Promise<ServeProc> {
  const file = join(lab.tmpDir, `${name}.yaml`);
  writeFileSync(file, config(name));
  const s = await startServe(['--config', file], { ns: hosts.get(name)!.ns, readyTimeoutMs: 15_000 });
  serves.set(name, s);
  return s;
}

async function holders(address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(PEERS.map(async (p) => {
    const r = await runOk('ip', ['-j', '-6', 'addr', 'show'], { ns: hosts.get(p.name)!.ns });
    if (r.includes(`"${address}"`)) out.push(p.name);
  }));
  return out.sort();
}

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
  const events = [...serves].map(([n, sp]) => `${n}: ${sp.logs.filter((l) => String(l.event).startsWith('pool-') || String(l.event).startsWith('tftp-')).slice(-12).map((l) => `${String(l.time).slice(11, 23)} ${String(l.event)} ${String(l.address ?? l.peer ?? '')} ${String(l.reason ?? l.detail ?? '')}`).join(' | ')}`);
  assert.fail(`not within ${limitMs} ms; holders ${JSON.stringify(await Promise.all(PEERS.map(async (p) => [p.service, await holders(p.service)])))}\n${events.join('\n')}`);
}

async function fetchVia(address: string, path = 'snponly.efi'): Promise<Buffer> {
  const out = join(lab.tmpDir, `fetch-${Date.now()}`);
  await runOk('curl', ['-sf', '-g', '--max-time', '20', `tftp://[${address}]/${path}`, '-o', out], { ns: client.ns, timeoutMs: 25_000 });
  return readFileSync(out);
}

async function clientNeighbour(address: string): Promise<{ mac?: string; state?: string[] }> {
  const r = await run('ip', ['-j', '-6', 'neigh', 'show', address], { ns: client.ns });
  const list = JSON.parse(r.stdout || '[]') as { lladdr?: string; state?: string[] }[];
  return { ...(list[0]?.lladdr !== undefined ? { mac: list[0].lladdr.toLowerCase() } : {}), ...(list[0]?.state !== undefined ? { state: list[0].state } : {}) };
}

async function crash(name: string): Promise<void> {
  const s = serves.get(name)!;
  s.proc.kill('SIGKILL');
  await s.stop();
  serves.delete(name);
}

before(async () => {
  requireTools();
  lab = await Lab.create();
  for (const p of PEERS) hosts.set(p.name, await lab.addHost(p.name, { address: `${p.address}/16` }));
  client = await lab.addHost('client', { address: '10.79.1.50/16' });
  for (const p of PEERS) await addAddress6(hosts.get(p.name)!, `${p.address6}/64`);
  await addAddress6(client, `${V6}::50/64`);
  for (const p of PEERS) {
    mkdirSync(rootOf(p.name));
    writeFileSync(join(rootOf(p.name), 'snponly.efi'), FILE);
    writeFileSync(join(rootOf(p.name), 'big.bin'), BIG);
  }
});

after(async () => {
  for (const s of serves.values()) await s.stop();
  await lab?.destroy();
});

test('each peer takes its own IPv6 service address (deprecated, so never a source of its own) and serves TFTP from it', async () => {
  await Promise.all(PEERS.map((p) => start(p.name)));
  const ms = await watch(async () => {
    const [a, b] = await Promise.all(PEERS.map((p) => holders(p.service)));
    return a!.join() === 'pxe-a' && b!.join() === 'pxe-b';
  }, 15_000);
  console.log(`# both IPv6 service addresses held ${ms} ms after start`);
  const info = await runOk('ip', ['-6', 'addr', 'show', 'dev', hosts.get('pxe-a')!.iface.name], { ns: hosts.get('pxe-a')!.ns });
  assert.match(info, new RegExp(`${PEERS[0].service}/64 scope global (nodad )?deprecated`), info);
  for (const p of PEERS) assert.ok((await fetchVia(p.service)).equals(FILE), `file via ${p.service}`);
  assert.equal((await clientNeighbour(PEERS[0].service)).mac, hosts.get('pxe-a')!.iface.mac.toLowerCase());
  const st = JSON.parse(await runOk('curl', ['-sf', `http://${PEERS[0].address}:8080/status`], { ns: client.ns })) as { pool: { serviceAddresses: { held: string[]; holders: Record<string, string | null> } } };
  assert.deepEqual(st.pool.serviceAddresses.held, [PEERS[0].service]);
  assert.deepEqual(st.pool.serviceAddresses.holders, { [PEERS[0].service]: 'pxe-a', [PEERS[1].service]: 'pxe-b' });
});

test('SIGKILL: the survivor takes the dead peer\'s IPv6 address and its neighbour advertisement moves the client at once', async () => {
  // The client has just talked to pxe-a: its entry is fresh, and would point at the dead MAC
  // for tens of seconds without an advertisement.
  assert.ok((await fetchVia(PEERS[0].service)).equals(FILE));
  assert.equal((await clientNeighbour(PEERS[0].service)).mac, hosts.get('pxe-a')!.iface.mac.toLowerCase());
  const t0 = Date.now();
  await crash('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-b', 15_000);
  const moved = Date.now() - t0;
  console.log(`# ${PEERS[0].service} held by pxe-b ${moved} ms after pxe-a was killed (keeper path)`);
  assert.ok(moved < 4_000, `the keeper's goodbye should spare the lease wait (${moved} ms)`);
  await watch(async () => (await clientNeighbour(PEERS[0].service)).mac === hosts.get('pxe-b')!.iface.mac.toLowerCase(), 2_000);
  console.log(`# the client's neighbour entry for ${PEERS[0].service} names pxe-b's MAC ${Date.now() - t0} ms after the kill, without it sending anything`);
  assert.ok((await fetchVia(PEERS[0].service)).equals(FILE), 'the survivor serves the dead peer\'s IPv6 address');
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
});

test('an IPv6 TFTP transfer survives its server: SIGKILLed mid-download, the survivor goes on from the client\'s next ACK (tftp-hpa -6)', async () => {
  for (const p of PEERS) await runOk('tc', ['qdisc', 'add', 'dev', hosts.get(p.name)!.iface.name, 'root', 'tbf', 'rate', '6mbit', 'burst', '16kb', 'latency', '400ms'], { ns: hosts.get(p.name)!.ns });
  try {
    const out = join(lab.tmpDir, 'big.out');
    const script = `binary\nrexmt 1\ntimeout 60\nget big.bin ${out}\nquit\n`;
    const t0 = Date.now();
    const dl = run('sh', ['-c', `printf '${script}' | tftp -6 ${PEERS[0].service}`], { ns: client.ns, timeoutMs: 90_000 });
    await new Promise((r) => setTimeout(r, 2_000));
    await crash('pxe-a');
    const r = await dl;
    const took = Date.now() - t0;
    assert.equal(r.code, 0, `tftp: ${r.stdout} ${r.stderr}`);
    assert.ok(readFileSync(out).equals(BIG), 'the client has exactly the file');
    const b = serves.get('pxe-b')!;
    const resumed = b.logs.find((l) => l.event === 'tftp-resumed');
    assert.ok(resumed, `pxe-b resumed the transfer: ${JSON.stringify(b.logs.filter((l) => String(l.event).startsWith('tftp') || String(l.event).startsWith('pool-address')).slice(-8))}`);
    assert.equal(String(resumed.client).startsWith(V6), true, 'an IPv6 client');
    console.log(`# 4 MiB download from [${PEERS[0].service}], its server killed at 2 s: complete and identical after ${took} ms; resumed from block ${String(resumed.fromBlock)}`);
  } finally {
    for (const p of PEERS) await run('tc', ['qdisc', 'del', 'dev', hosts.get(p.name)!.iface.name, 'root'], { ns: hosts.get(p.name)!.ns });
  }
  await start('pxe-a');
  await watch(async () => (await holders(PEERS[0].service)).join() === 'pxe-a', 20_000);
  assert.ok(serves.get('pxe-b')!.logs.some((l) => l.event === 'pool-address-released' && l.reason === 'handoff' && l.address === PEERS[0].service), 'handed back');
});
