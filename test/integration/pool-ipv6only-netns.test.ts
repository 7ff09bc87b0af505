// A pool on an IPv6-only network (issue 17: "a requirement on IPv6-only networks"): two peers
// whose hosts have no IPv4 address at all. They serve ProxyDHCPv6 alone (ProxyDHCP over IPv4 is
// off, said at start), send their heartbeats over IPv6, answer each client from one peer, and
// when the owner is SIGKILLed the survivor takes its IPv6 service address and answers its clients.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAddress6, Lab, type Host, runOk } from '../lib/netns.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { bin, needs, root } from '../lib/require.ts';
import { rankPeers } from '../../src/pool/ranking.ts';

const skip = needs(root(), bin('/usr/bin/ndisc6', 'ndisc6'), bin('/usr/bin/arping', 'iputils-arping'), bin('/usr/bin/curl', 'curl'));
const PROBE = join(import.meta.dirname, '../lib/dhcp6-probe.ts');
const SECRET = 'ipv6-only-pool-shared-secret-0123';
const P6 = 'fd79:0:0:1';
const PEERS = [
  { name: 'pxe-a', address: `${P6}::11`, service: `${P6}::a11` },
  { name: 'pxe-b', address: `${P6}::12`, service: `${P6}::a12` },
] as const;

let lab: Lab;
const hosts = new Map<string, Host>();
const serves = new Map<string, ServeProc>();
let client: Host;
const NBP = Buffer.alloc(8192, 7);

async function start(name: string): Promise<ServeProc> {
  const me = PEERS.find((p) => p.name === name)!;
  const dir = join(lab.tmpDir, `root-${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'snponly.efi'), NBP);
  const cfg = join(lab.tmpDir, `${name}.yaml`);
  writeFileSync(cfg, `server: { name: ${name}, address6: "${me.address}" }\nroot: ${dir}\nhttp: { port: 8080 }\nlog: { level: debug }\nprofiles:\n  lab: { efiX64: snponly.efi }\ndefault: lab\npool:\n  name: ${name}\n  secret: "${SECRET}"\n  heartbeatMs: 500\n  peers:\n${PEERS.map((p) => `    - { name: ${p.name}, address: "${p.address}", serviceAddress6: "${p.service}" }`).join('\n')}\n`);
  const s = await startServe(['--config', cfg], { ns: hosts.get(name)!.ns, readyTimeoutMs: 15_000 });
  serves.set(name, s);
  return s;
}

const probe = async (): Promise<{ advertise?: { url: string } }> => JSON.parse((await runOk(process.execPath, [PROBE, '--iface', client.iface.name, '--ms', '4000'], { ns: client.ns })).trim()) as { advertise?: { url: string } };

before(async () => {
  lab = await Lab.create();
  for (const p of PEERS) {
    const h = await lab.addHost(p.name);
    await addAddress6(h, `${p.address}/64`);
    hosts.set(p.name, h);
  }
  // The probe's Solicit comes from this MAC's EUI-64 link-local address.
  client = await lab.addHost('client', { mac: '52:54:00:79:00:01' });
  await addAddress6(client, `${P6}::50/64`);
});

after(async () => {
  for (const s of serves.values()) await s.stop();
  await lab?.destroy();
});

test('no IPv4 anywhere: both peers start, say ProxyDHCP over IPv4 is off, find each other by IPv6 heartbeats and hold their IPv6 service addresses', { skip, timeout: 60_000 }, async () => {
  const [a, b] = await Promise.all(PEERS.map((p) => start(p.name)));
  for (const s of [a!, b!]) {
    assert.ok(s.logs.some((l) => l.event === 'ipv4-off'), 'said at start');
    await s.waitForLog((l) => l.event === 'listen' && l.service === 'proxydhcp6', 10_000);
  }
  await a!.waitForLog((l) => l.event === 'pool-up' && l.peer === 'pxe-b', 10_000);
  await b!.waitForLog((l) => l.event === 'pool-up' && l.peer === 'pxe-a', 10_000);
  await Promise.all(PEERS.map((p) => serves.get(p.name)!.waitForLog((l) => l.event === 'pool-address-added' && l.address === p.service, 15_000)));
  const st = JSON.parse(await runOk('curl', ['-sf', '-g', `http://[${PEERS[0].address}]:8080/status`], { ns: client.ns })) as { pool: { live: string[]; listen: { address: string } } };
  assert.deepEqual(st.pool.live.sort(), ['pxe-a', 'pxe-b']);
  assert.equal(st.pool.listen.address, '::', 'heartbeats on IPv6');
});

test('one Advertise per Solicit, from the owner, naming its IPv6 service address; with the owner SIGKILLed, the survivor answers and serves the dead peer\'s address', { skip, timeout: 60_000 }, async () => {
  const owner = rankPeers('52:54:00:79:00:01', PEERS.map((p) => ({ name: p.name, weight: 1 })))[0]!;
  const other = PEERS.find((p) => p.name !== owner)!;
  const ownerPeer = PEERS.find((p) => p.name === owner)!;
  const r = await probe();
  assert.equal(r.advertise?.url, `tftp://[${ownerPeer.service}]/snponly.efi`);
  const answered = (n: string) => serves.get(n)!.logs.filter((l) => l.event === 'answer' && l.port === 547 && l.mac === '52:54:00:79:00:01').length;
  assert.equal(answered(owner), 1);
  assert.equal(answered(other.name), 0, 'the backup held back');

  serves.get(owner)!.proc.kill('SIGKILL');
  await serves.get(owner)!.stop();
  serves.delete(owner);
  await serves.get(other.name)!.waitForLog((l) => l.event === 'pool-address-added' && l.address === ownerPeer.service, 10_000);
  const r2 = await probe();
  assert.equal(r2.advertise?.url, `tftp://[${other.service}]/snponly.efi`, 'the survivor answers, naming its own service address');
  const out = join(lab.tmpDir, 'nbp');
  await runOk('curl', ['-sf', '-g', '--max-time', '10', `tftp://[${ownerPeer.service}]/snponly.efi`, '-o', out], { ns: client.ns });
  assert.ok(readFileSync(out).equals(NBP), 'the dead peer\'s IPv6 service address is served by the survivor');
});
