// Two serve peers on loopback sharing one real PostgreSQL: a once armed through one peer is
// answered by the other, used up when that peer delivers the last file, and from then on
// neither answers; with PostgreSQL stopped, a client assigned before still boots from either
// peer's last-known copy while admin writes are refused (503), and they work again after.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { bootRequest, tftpGet } from '../lib/operator-client.ts';
import { needs } from '../lib/require.ts';
import { POSTGRES_NEEDS, startPostgres, type TestPostgres } from '../lib/postgres.ts';

const skip = needs(...POSTGRES_NEEDS);
const base = 47000 + (process.pid % 500) * 8;
const PEERS = [0, 1].map((i) => ({ dhcp: base + i * 4, pxe: base + i * 4 + 1, tftp: base + i * 4 + 2, http: base + i * 4 + 3 }));
const dir = mkdtempSync(join(tmpdir(), 'pxepool-pgpool-'));
const TOKEN = 'pool-token-0123456789abcdef';
let pg: TestPostgres | undefined;
const apps: App[] = [];

before(async () => {
  if (skip !== false) return;
  pg = startPostgres();
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(3000, 5));
  writeFileSync(join(dir, 'token'), TOKEN);
  for (const [i, p] of PEERS.entries()) {
    const r = parseConfigText(`root: ${dir}
server: { name: peer-${i} }
tftp: { port: ${p.tftp} }
http: { port: ${p.http} }
store: { url: "${pg.url}", refreshMs: 200 }
api: { tokenFile: ${join(dir, 'token')} }
profiles:
  lab: { bios: pxelinux.0 }
default: ignore
`, `peer-${i}.yaml`, { readFile: () => '' });
    assert.ok(r.ok);
    if (!r.ok) return;
    apps.push(await serve({ config: r.config, logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: p.dhcp, pxe: p.pxe } }));
  }
});
after(async () => {
  for (const a of apps) await a.close();
  pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const put = (peer: number, mac: string, body: unknown) => fetch(`http://127.0.0.1:${PEERS[peer]!.http}/api/v1/clients/${mac}`, {
  method: 'PUT', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000),
});

/** Bounded: true as soon as `f` holds, false after `ms`. */
async function within(ms: number, f: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  for (let i = 0; i < 200 && Date.now() < until; i++) {
    if (f()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return f();
}

test('a once armed on peer 0 boots through peer 1, is used up by its delivery, and then no peer answers', { skip, timeout: 60_000 }, async () => {
  const mac = '52:54:00:ee:00:01';
  assert.equal((await put(0, mac, { profile: 'lab', mode: 'once' })).status, 200);
  assert.ok(await within(3000, () => apps[1]!.deployments!.lookup(mac, Date.now())?.state === 'active'), 'peer 1 learned the assignment');
  assert.ok(await bootRequest('127.0.0.7', '127.0.0.1', PEERS[1]!.pxe, { kind: 'ipxe-bios', mac }, 0x8001), 'peer 1 answers the armed client');
  const got = await tftpGet('127.0.0.7', '127.0.0.1', PEERS[1]!.tftp, 'pxelinux.0');
  assert.ok(got.ok);
  assert.ok(await within(3000, () => apps[0]!.deployments!.lookup(mac, Date.now())?.state === 'consumed'), 'peer 0 learned it was used up');
  for (const [i, p] of PEERS.entries()) {
    assert.equal(await bootRequest('127.0.0.7', '127.0.0.1', p.pxe, { kind: 'ipxe-bios', mac }, 0x8010 + i), false, `peer ${i} stays quiet`);
  }
  const shown = (await (await fetch(`http://127.0.0.1:${PEERS[0]!.http}/api/v1/clients/${mac}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { assignment: { consumedBy: string } };
  assert.equal(shown.assignment.consumedBy, 'peer-1');
});

test('PostgreSQL stopped: a client assigned before boots from both peers, admin writes get 503 and nothing is written; back, writes work', { skip, timeout: 90_000 }, async () => {
  const mac = '52:54:00:ee:00:02';
  assert.equal((await put(0, mac, { profile: 'lab', mode: 'persistent' })).status, 200);
  assert.ok(await within(3000, () => apps[1]!.deployments!.lookup(mac, Date.now()) !== undefined));
  pg!.halt();
  assert.ok(await within(5000, () => apps.every((a) => !a.deployments!.reachable)), 'both peers noticed');
  for (const [i, p] of PEERS.entries()) {
    assert.ok(await bootRequest('127.0.0.8', '127.0.0.1', p.pxe, { kind: 'ipxe-bios', mac }, 0x8100 + i), `peer ${i} still boots it`);
  }
  const refused = await put(1, '52:54:00:ee:00:03', { profile: 'lab' });
  assert.equal(refused.status, 503);
  assert.match(((await refused.json()) as { error: string }).error, /store unreachable.*nothing was written/);
  pg!.start();
  assert.ok(await within(15_000, () => apps.every((a) => a.deployments!.reachable)), 'both peers reconnected');
  const before = await fetch(`http://127.0.0.1:${PEERS[1]!.http}/api/v1/clients/52:54:00:ee:00:03`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(before.status, 404, 'the refused write left nothing behind');
  assert.equal((await put(1, '52:54:00:ee:00:03', { profile: 'lab' })).status, 200);
  const st = (await (await fetch(`http://127.0.0.1:${PEERS[0]!.http}/status`)).json()) as { store: { kind: string; reachable: boolean } };
  assert.deepEqual([st.store.kind, st.store.reachable], ['postgres', true]);
});
