// `pxepool explain --pool` against a real pool (issue 19): three peers in their own network
// namespaces, one of them killed, one simulated EDK2 client booted through the survivors; the
// CLI, run on the segment, asks every peer and merges: rank order and owner, each peer's verdict
// (the killed one "down: <error>"), what each saw, which file came from whom, how the boot ended.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, run, type Host } from '../lib/netns.ts';
import { MAIN, startServe, type ServeProc } from '../lib/serve-proc.ts';
import { needs, root } from '../lib/require.ts';
import { rankPeers } from '../../src/pool/ranking.ts';
import type { MergedExplain } from '../../src/observe/explain-merge.ts';
import type { StormResult } from '../../src/storm/run.ts';

const skip = needs(root());
const SECRET = 'explain-pool-test-secret-0123456';
const NAMES = ['pxe-a', 'pxe-b', 'pxe-c'];
const addr = (i: number): string => `10.79.1.${11 + i}`;
const CLIENT = '10.79.1.50';

let lab: Lab;
let client: Host;
const procs = new Map<string, ServeProc>();
const cfgOf = new Map<string, string>();

before(async () => {
  if (skip !== false) return;
  lab = await Lab.create();
  const rootDir = join(lab.tmpDir, 'boot');
  mkdirSync(rootDir);
  writeFileSync(join(rootDir, 'bootx64.efi'), Buffer.alloc(64 * 1024, 9));
  const peers = NAMES.map((n, i) => `    - { name: ${n}, address: ${addr(i)} }`).join('\n');
  for (const [i, name] of NAMES.entries()) {
    const host = await lab.addHost(name, { address: `${addr(i)}/24` });
    const cfg = join(lab.tmpDir, `${name}.yaml`);
    writeFileSync(cfg, `root: ${rootDir}\nserver: { name: ${name} }\nhttp: { port: 8080 }\nprofiles:\n  lab: { efiX64: bootx64.efi }\ndefault: lab\npool:\n  name: ${name}\n  secret: "${SECRET}"\n  bind: ${addr(i)}\n  peers:\n${peers}\n`);
    cfgOf.set(name, cfg);
    procs.set(name, await startServe(['--config', cfg], { ns: host.ns }));
  }
  // the default route lets the client's 255.255.255.255 DISCOVER leave
  client = await lab.addHost('client', { address: `${CLIENT}/24`, gateway: '10.79.1.254' });
  for (const name of NAMES) {
    const p = procs.get(name)!;
    for (const other of NAMES.filter((n) => n !== name)) await p.waitForLog((l) => l.event === 'pool-up' && l.peer === other, 10_000);
  }
});

after(async () => {
  for (const p of procs.values()) await p.stop();
  await lab?.destroy();
});

test('explain --pool: three peers, one down', { skip, timeout: 90_000 }, async () => {
  const victim = procs.get('pxe-c')!;
  victim.proc.kill('SIGKILL');
  await Promise.all(['pxe-a', 'pxe-b'].map((n) => procs.get(n)!.waitForLog((l) => l.event === 'pool-down' && l.peer === 'pxe-c', 10_000)));

  // One EDK2 client: DISCOVER, the 4011 request (which tells the peer its address), the NBP over TFTP.
  const storm = await run('ip', ['netns', 'exec', client.ns, process.execPath, MAIN, 'storm', '--interface', 'eth0', '--clients', '1', '--mix', 'efi=100',
    '--no-dhcp-wait', '--edk2-collect-ms', '600', '--time-limit', '30', '--no-progress', '--json', '--per-client', '--seed', '7'], { timeoutMs: 45_000 });
  const result = JSON.parse(storm.stdout) as StormResult;
  const c = result.clients[0]!;
  assert.equal(result.summary.booted, 1, storm.stdout.slice(0, 2000) + storm.stderr.slice(0, 2000));

  const explain = (extra: string[]) => run('ip', ['netns', 'exec', client.ns, process.execPath, MAIN, 'explain', '--config', cfgOf.get('pxe-a')!, '--pool', '--mac', c.mac, '--timeout', '1500', ...extra], { timeoutMs: 20_000 });
  const t0 = Date.now();
  const j = await explain(['--json']);
  const askedMs = Date.now() - t0;
  assert.equal(j.code, 0, j.stderr);
  const m = JSON.parse(j.stdout) as MergedExplain;
  const order = rankPeers(c.mac, NAMES.map((name) => ({ name, weight: 1 })));
  assert.deepEqual(m.order, order);
  assert.equal(m.owner, order.find((n) => n !== 'pxe-c'));
  assert.deepEqual(m.peers.map((p) => [p.peer, p.state]), [['pxe-a', 'up'], ['pxe-b', 'up'], ['pxe-c', 'down']]);
  assert.match(m.peers[2]!.error ?? '', /ECONNREFUSED|no answer within/);
  // The owner answers; the live backup sends EDK2 only its late, ordered fallback offer.
  for (const p of m.peers.slice(0, 2)) {
    if (p.peer === m.owner) assert.match(`${p.verdict}: ${p.reason}`, /^answer: owner/);
    else assert.match(`${p.verdict}: ${p.reason}`, /^answer: fallback offer after 300 ms/);
  }
  // EDK2 gets the owner's offer and the backup's ordered fallback; it asks one boot server on 4011.
  assert.ok(m.timeline.some((e) => e.kind === 'offer' && e.peer === m.owner), JSON.stringify(m.timeline));
  const acks = m.timeline.filter((e) => e.kind === 'ack');
  assert.equal(acks.length >= 1, true, JSON.stringify(m.timeline));
  assert.ok(m.files.length >= 1, JSON.stringify(m.timeline));
  const nbp = m.files.at(-1)!;
  assert.equal(nbp.file, 'bootx64.efi');
  assert.equal(nbp.result, 'ok');
  assert.equal(nbp.peer, acks.at(-1)!.peer, 'the file came from the peer that answered 4011');
  assert.equal(m.lastBoot, `fetched bootx64.efi from ${nbp.peer}: ok (the last file seen)`);

  const t = await explain([]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`rank order: ${order.join(' > ')}; owner now: ${m.owner}`));
  assert.match(t.stdout, /  pxe-c: down: /);
  assert.match(t.stdout, /files fetched:\n(  .*\n)*  bootx64\.efi from pxe-[ab] over tftp: ok\n/);
  console.log(`explain --pool answered in ${askedMs} ms with pxe-c down:\n${t.stdout}`);
});
