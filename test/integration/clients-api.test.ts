// /api/v1/clients on a real serve over loopback, with the embedded SQLite store: the token rule,
// every kind of bad input refused with a reason and nothing written, a once used up by `done`
// and by the delivery of the profile's last file, what explain and /boot.ipxe then say, and the
// CLI against it.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { bootRequest, tftpGet } from '../lib/operator-client.ts';

const run = promisify(execFile);
const base = 43000 + (process.pid % 700) * 4;
const P = { dhcp: base, pxe: base + 1, tftp: base + 2, http: base + 3 };
const URL_BASE = `http://127.0.0.1:${P.http}`;
const dir = mkdtempSync(join(tmpdir(), 'pxepool-clients-'));
const TOKEN = 'a'.repeat(20) + 'secret-token';
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
let app: App;

function config(extra: string, http: number, tftp: number) {
  const r = parseConfigText(`root: ${dir}
tftp: { port: ${tftp} }
http: { port: ${http} }
store: { path: ${join(dir, 'state', 'pxepool.db')}, refreshMs: 200 }
${extra}
profiles:
  lab: { bios: pxelinux.0 }
  debian: { bios: debian.0, kernel: vmlinuz, initrd: [initrd.gz] }
rules:
  - { match: { mac: "52:54:00:aa:*" }, profile: lab }
default: ignore
`, 'clients.yaml', { readFile: () => '' });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r.ok ? r.config : undefined!;
}

before(async () => {
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(3000, 5));
  writeFileSync(join(dir, 'debian.0'), Buffer.alloc(2000, 6));
  writeFileSync(join(dir, 'vmlinuz'), Buffer.alloc(5000, 7));
  writeFileSync(join(dir, 'initrd.gz'), Buffer.alloc(7000, 8));
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  app = await serve({ config: config(`api: { tokenFile: ${join(dir, 'token')} }`, P.http, P.tftp), logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: P.dhcp, pxe: P.pxe } });
});
after(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(method: string, path: string, o: { token?: string | null; body?: string; type?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? TOKEN}`;
  if (o.body !== undefined) headers['content-type'] = o.type ?? 'application/json';
  const res = await fetch(URL_BASE + path, { method, headers, ...(o.body !== undefined ? { body: o.body } : {}), signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
const listed = async () => ((await api('GET', '/api/v1/clients')).body.clients as { mac: string }[]).map((c) => c.mac);

test('no token or a wrong one: 401 for reads and writes, and nothing is written', async () => {
  for (const token of [null, 'wrong-token-wrong-token']) {
    const r = await api('GET', '/api/v1/clients', { token });
    assert.equal(r.status, 401);
    const w = await api('PUT', '/api/v1/clients/52:54:00:00:00:01', { token, body: '{"profile":"lab"}' });
    assert.equal(w.status, 401);
    assert.match(String(w.body.error), token === null ? /missing bearer token/ : /wrong token/);
    assert.equal((await api('POST', '/api/v1/clients/52:54:00:00:00:01/done', { token })).status, 401);
  }
  assert.deepEqual(await listed(), []);
});

test('bad input: 4xx with a reason, nothing written', async () => {
  const cases: [string, string, { body?: string; type?: string }, number, RegExp][] = [
    ['PUT', '/api/v1/clients/52:54:00:zz:00:01', { body: '{"profile":"lab"}' }, 400, /not a MAC address/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: '{"profile":"nope"}' }, 400, /no profile "nope" \(profiles: lab, debian\)/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: '{"profile":' }, 400, /not JSON/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: 'profile=lab', type: 'application/x-www-form-urlencoded' }, 415, /application\/json/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: JSON.stringify({ profile: 'lab', pad: 'x'.repeat(10_000) }) }, 413, /larger than 4096 bytes/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: '{"profile":"lab","mode":"always"}' }, 400, /mode/],
    ['PUT', '/api/v1/clients/52:54:00:00:00:02', { body: '{"profile":"lab","expires":"2001-01-01T00:00:00Z"}' }, 400, /in the past/],
    ['POST', '/api/v1/clients/52:54:00:00:00:02/done', {}, 404, /no client 52:54:00:00:00:02/],
    ['DELETE', '/api/v1/clients/52:54:00:00:00:02', {}, 404, /no assignment/],
    ['GET', '/api/v1/clients/52:54:00:00:00:02', {}, 404, /no client/],
  ];
  for (const [method, path, o, status, re] of cases) {
    const r = await api(method, path, o);
    assert.equal(r.status, status, `${method} ${path} ${o.body?.slice(0, 40)}`);
    assert.match(String(r.body.error), re);
  }
  assert.deepEqual(await listed(), []);
});

test('a once assignment beats the rules, is answered, and `done` uses it up: no ACK, explain says so, iPXE is told it is not served', async () => {
  const mac = '52:54:00:aa:00:10';
  const put = await api('PUT', `/api/v1/clients/${mac}`, { body: '{"profile":"debian","mode":"once"}' });
  assert.equal(put.status, 200);
  assert.equal((put.body.assignment as { state: string }).state, 'active');
  assert.ok(await bootRequest('127.0.0.5', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac }, 0x7001), '4011 ACK while armed');
  const ex = (await (await fetch(`${URL_BASE}/api/v1/explain?mac=${mac}`)).json()) as { rule: string; profile: string; assignment: { mode: string } };
  assert.equal(ex.rule, 'assignment:once');
  assert.equal(ex.profile, 'debian');
  assert.equal(ex.assignment.mode, 'once');
  const script = await (await fetch(`${URL_BASE}/boot.ipxe?mac=${mac}&platform=pcbios`)).text();
  assert.match(script, /^kernel vmlinuz/m, 'the assigned profile, not the rule\'s');

  const done = await api('POST', `/api/v1/clients/${mac}/done`);
  assert.deepEqual(done.body, { mac, result: 'consumed' });
  assert.deepEqual((await api('POST', `/api/v1/clients/${mac}/done`)).body, { mac, result: 'already' });
  assert.equal(await bootRequest('127.0.0.5', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac }, 0x7002), false, 'no answer once used up');
  const ex2 = (await (await fetch(`${URL_BASE}/api/v1/explain?mac=${mac}`)).json()) as { verdict: string; reason: string };
  assert.equal(ex2.verdict, 'ignore');
  assert.match(ex2.reason, /used up/);
  assert.match(await (await fetch(`${URL_BASE}/boot.ipxe?mac=${mac}&platform=pcbios`)).text(), /not served/);
  const shown = await api('GET', `/api/v1/clients/${mac}`);
  assert.equal((shown.body.assignment as { state: string }).state, 'consumed');
  assert.equal((shown.body.seen as { firmware: string }).firmware, 'bios', 'the inventory has what the pool saw');

  // Re-armed: answered again; cleared: the rules decide again (lab).
  await api('PUT', `/api/v1/clients/${mac}`, { body: '{"profile":"debian","mode":"once"}' });
  assert.ok(await bootRequest('127.0.0.5', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac }, 0x7003));
  assert.equal((await api('DELETE', `/api/v1/clients/${mac}`)).status, 200);
  const ex3 = (await (await fetch(`${URL_BASE}/api/v1/explain?mac=${mac}`)).json()) as { rule: string; profile: string };
  assert.equal(ex3.rule, 'rules[0]');
  assert.equal(ex3.profile, 'lab');
});

test('a once is used up when the profile\'s last file reaches the client (TFTP)', async () => {
  const mac = '52:54:00:cc:00:01';
  await api('PUT', `/api/v1/clients/${mac}`, { body: '{"profile":"lab","mode":"once"}' });
  assert.ok(await bootRequest('127.0.0.6', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac }, 0x7101));
  const got = await tftpGet('127.0.0.6', '127.0.0.1', P.tftp, 'pxelinux.0');
  assert.ok(got.ok);
  const shown = await api('GET', `/api/v1/clients/${mac}`);
  const a = shown.body.assignment as { state: string; consumedBy: string };
  assert.equal(a.state, 'consumed');
  assert.equal((shown.body.seen as { file: string }).file, 'pxelinux.0');
  assert.equal(await bootRequest('127.0.0.6', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac }, 0x7102), false);
  const inv = (await api('GET', '/api/v1/inventory')).body.clients as { mac: string; firmware: string }[];
  assert.ok(inv.some((c) => c.mac === mac && c.firmware === 'bios'));
});

test('an assignment with a uuid decides for that machine from another NIC, and only with that UUID', async () => {
  const UUID = '4c4c4544-0042-3510-8052-b2c04f503232';
  assert.equal((await api('PUT', '/api/v1/clients/52:54:00:ab:00:01', { body: JSON.stringify({ profile: 'lab', uuid: UUID }) })).status, 200);
  assert.ok(await bootRequest('127.0.0.9', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac: '52:54:00:bb:00:09', uuid: UUID }, 0x7201), 'another NIC of that machine is answered');
  assert.equal(await bootRequest('127.0.0.9', '127.0.0.1', P.pxe, { kind: 'ipxe-bios', mac: '52:54:00:bb:00:09', uuid: '00000000-0000-0000-0000-000000000001' }, 0x7202), false, 'another UUID: the rules decide (default ignore)');
  assert.equal((await api('DELETE', '/api/v1/clients/52:54:00:ab:00:01')).status, 200);
});

test('pxepool clients: set, list (table and --json), show, done, clear; a wrong token exits 1 with the reason', async () => {
  const env = { ...process.env, PXEPOOL_TOKEN: TOKEN };
  const cli = (...args: string[]) => run(process.execPath, [MAIN, 'clients', ...args, '--url', URL_BASE], { env, timeout: 20_000 });
  const mac = '52:54:00:dd:00:01';
  const set = await cli('set', mac, '--profile', 'debian', '--once', '--expires', '2h');
  assert.match(set.stdout, /assignment: profile debian, once, active/);
  assert.match(set.stdout, /expires 20\d\d-/);
  const table = await cli('list');
  assert.match(table.stdout, /^mac +profile +mode +state/);
  assert.match(table.stdout, new RegExp(`^${mac} +debian +once +active +in 2h`, 'm'));
  const json = JSON.parse((await cli('list', '--json')).stdout) as { clients: { mac: string; assignment?: { profile: string } }[] };
  assert.equal(json.clients.find((c) => c.mac === mac)?.assignment?.profile, 'debian');
  assert.match((await cli('done', mac)).stdout, /used up/);
  assert.match((await cli('show', mac)).stdout, /once, consumed/);
  assert.match((await cli('clear', mac)).stdout, /cleared/);
  await assert.rejects(run(process.execPath, [MAIN, 'clients', 'list', '--url', URL_BASE], { env: { ...process.env, PXEPOOL_TOKEN: 'not-the-token-at-all' }, timeout: 20_000 }), (err: { code: number; stderr: string }) => err.code === 1 && /HTTP 401: wrong token/.test(err.stderr));
  await assert.rejects(cli('set', 'nonsense', '--profile', 'debian'), (err: { code: number; stderr: string }) => err.code === 2 && /not a MAC address/.test(err.stderr));
});

test('no token configured: the write API is off (403); reads too, unless api.publicRead', async () => {
  const q = { dhcp: base + 500, pxe: base + 501, tftp: base + 502, http: base + 503 };
  for (const publicRead of [false, true]) {
    const other = await serve({ config: config(`api: { publicRead: ${publicRead} }`, q.http, q.tftp), logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: q.dhcp, pxe: q.pxe } });
    try {
      const w = await fetch(`http://127.0.0.1:${q.http}/api/v1/clients/52:54:00:00:00:09`, { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"profile":"lab"}' });
      assert.equal(w.status, 403);
      assert.match(((await w.json()) as { error: string }).error, /write API is off/);
      const r = await fetch(`http://127.0.0.1:${q.http}/api/v1/clients`);
      assert.equal(r.status, publicRead ? 200 : 403);
    } finally {
      await other.close();
    }
  }
  assert.ok(!(await listed()).includes('52:54:00:00:00:09'));
});
