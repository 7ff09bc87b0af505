// The dashboard's assignments panel in a real browser (issue 19's last item): Debian's Chromium,
// headless, against serves on loopback. With an SQLite store and a token (reads need it, as
// api.publicRead is off): an assignment created through the API is listed once the operator's
// token is in, with what the pool saw of the client; a wrong token shows the API's refusal; the
// operator sets and clears assignments through the page and the API then returns them; the MAC
// filter narrows the list. With api.publicRead the list shows without a token, read-only, and a
// write with a wrong token is refused with the reason and writes nothing. Without a store the
// panel says so. The token never reaches a cookie or storage. Screenshots under the temporary
// directory, their paths printed.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, Page } from 'puppeteer-core';
import { serve, type App } from '../../src/app/serve.ts';
import { loadConfig } from '../../src/config/load.ts';
import { relayedDiscover } from '../lib/operator-client.ts';
import { chromium, launchChromium } from '../lib/browser.ts';
import { needs } from '../lib/require.ts';

const skip = needs(chromium());
const base = 48600 + (process.pid % 550) * 12;
const dir = mkdtempSync(join(tmpdir(), 'pxepool-assign-'));
const TOKEN = 'dashboard-assignments-token-0123456789';
const WRONG = 'not-the-token-not-the-token';
const MAC1 = '52:54:00:bb:00:01';
const MAC2 = '52:54:00:bb:00:02';
const UUID = '4c4c4544-0042-3510-8052-b2c04f503232';
const HOSTNAME = 'lab-pc-17';

interface Peer { app: App; http: number; dhcp: number }
const peers: Record<'tokenRead' | 'publicRead' | 'noStore', Peer | undefined> = { tokenRead: undefined, publicRead: undefined, noStore: undefined };
let browser: Browser | undefined;

async function start(i: number, name: string, extra: string): Promise<Peer> {
  const P = { dhcp: base + i * 4, pxe: base + i * 4 + 1, tftp: base + i * 4 + 2, http: base + i * 4 + 3 };
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `root: ${dir}
server: { name: ${name} }
tftp: { port: ${P.tftp} }
http: { port: ${P.http} }
${extra}
profiles:
  lab: { bios: pxelinux.0 }
  debian: { bios: debian.0 }
default: lab
`);
  const r = loadConfig(file);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) throw new Error('config');
  const app = await serve({ config: r.config, configPath: file, logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: P.dhcp, pxe: P.pxe } });
  return { app, http: P.http, dhcp: P.dhcp };
}

async function api(peer: Peer, method: string, path: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: Record<string, any> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${o.token ?? TOKEN}` };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${peer.http}${path}`, { method, headers, ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}), signal: AbortSignal.timeout(3000) });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

before(async () => {
  if (skip !== false) return;
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(3000, 5));
  writeFileSync(join(dir, 'debian.0'), Buffer.alloc(2000, 6));
  writeFileSync(join(dir, 'token'), `${TOKEN}\n`);
  const api1 = `api: { tokenFile: ${join(dir, 'token')} }`;
  peers.tokenRead = await start(0, 'pxe-store', `store: { path: ${join(dir, 'a', 'pxepool.db')}, refreshMs: 200 }\n${api1}`);
  peers.publicRead = await start(1, 'pxe-public', `store: { path: ${join(dir, 'b', 'pxepool.db')}, refreshMs: 200 }\napi: { tokenFile: ${join(dir, 'token')}, publicRead: true }`);
  peers.noStore = await start(2, 'pxe-plain', '');
  const a = peers.tokenRead;
  // An assignment made through the API, and the client booting (so the pool saw it).
  const put = await api(a, 'PUT', `/api/v1/clients/${MAC1}`, { body: { profile: 'debian', mode: 'once', uuid: UUID } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.ok(await relayedDiscover('127.0.0.2', '127.0.0.1', a.dhcp, { kind: 'ipxe-bios', mac: MAC1 }, 0x7001, { hostname: HOSTNAME }), 'offer');
  const b = await api(peers.publicRead, 'PUT', `/api/v1/clients/${MAC1}`, { body: { profile: 'lab' } });
  assert.equal(b.status, 200);
});

after(async () => {
  await browser?.close();
  for (const p of Object.values(peers)) await p?.app.close();
});

async function open(peer: Peer): Promise<Page> {
  browser ??= await launchChromium({ tmpDir: dir });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1100 });
  await page.goto(`http://127.0.0.1:${peer.http}/pxepool/`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  await page.waitForSelector('#assignments-section[data-store]', { timeout: 10_000 });
  return page;
}
const text = (page: Page, sel: string): Promise<string> => page.$eval(sel, (e) => e.textContent ?? '');
/** the assignments table's rows, as the page shows them */
const rows = (page: Page) => page.$$eval('#assignments tbody tr[data-mac]', (trs) => trs.map((tr) => ({ mac: (tr as HTMLElement).dataset.mac, state: (tr as HTMLElement).dataset.state, cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '') })));
async function typeToken(page: Page, token: string): Promise<void> {
  await page.click('#token', { count: 3 });
  await page.type('#token', token);
  await page.click('#token-form button[type="submit"]');
}
async function shot(page: Page, name: string): Promise<string> {
  const path = join(dir, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

test('with a store and a token: the list, a wrong token, set and clear through the page', { skip, timeout: 120_000 }, async () => {
  const a = peers.tokenRead!;
  const page = await open(a);
  // Reads need the token here (api.publicRead is off): nothing listed, the panel says why.
  await page.waitForFunction(() => /needs the API token/.test(document.querySelector('#assign-note')?.textContent ?? ''), { timeout: 10_000 });
  assert.equal((await rows(page)).length, 0);
  assert.equal(await page.$eval('#assign-set', (b) => (b as HTMLButtonElement).disabled), true, 'no writing without a token');
  const shots = [await shot(page, 'assignments-no-token.png')];

  await typeToken(page, WRONG);
  await page.waitForFunction(() => /refused the token: wrong token/.test(document.querySelector('#assign-note')?.textContent ?? ''), { timeout: 10_000 });
  assert.equal(await page.$eval('#assign-note', (e) => e.className), 'result-bad');
  assert.equal(await text(page, '#token-state'), 'no token', 'a refused token is forgotten');
  shots.push(await shot(page, 'assignments-wrong-token.png'));

  await typeToken(page, TOKEN);
  await page.waitForSelector(`#assignments tbody tr[data-mac="${MAC1}"]`, { timeout: 10_000 });
  // What the pool saw reaches the store behind the decision (one refresh): wait for the hostname.
  await page.waitForFunction((h) => (document.querySelector('#assignments tbody tr')?.textContent ?? '').includes(h), { timeout: 10_000 }, HOSTNAME);
  const [r1] = await rows(page);
  assert.equal(r1!.mac, MAC1);
  assert.equal(r1!.state, 'active');
  assert.deepEqual(r1!.cells.slice(0, 5), [MAC1, UUID, 'debian', 'once', 'armed']);
  assert.match(r1!.cells[6]!, /s ago by pxe-store/, 'seen last');
  assert.match(r1!.cells[7]!, /boot debian · assignment:once/, 'its last decision');
  assert.ok(r1!.cells[9]!.includes(HOSTNAME), 'its hostname');
  assert.equal(await page.$eval('#assign-set', (b) => (b as HTMLButtonElement).disabled), false);

  // Set one through the page: the API then returns it.
  await page.type('#assign-mac', MAC2);
  await page.select('#assign-profile', 'lab');
  await page.select('#assign-mode', 'once');
  await page.type('#assign-expires', '12h');
  const before = Date.now();
  await page.click('#assign-set');
  await page.waitForFunction((m) => (document.querySelector('#assign-result')?.textContent ?? '').startsWith(`set: ${m} boots lab (once`), { timeout: 10_000 }, MAC2);
  const got = await api(a, 'GET', `/api/v1/clients/${MAC2}`);
  assert.equal(got.status, 200);
  assert.equal(got.body.assignment.profile, 'lab');
  assert.equal(got.body.assignment.mode, 'once');
  assert.equal(got.body.assignment.state, 'active');
  assert.ok(Math.abs(got.body.assignment.expiresAt - (before + 12 * 3600_000)) < 60_000, `expires in 12 h: ${got.body.assignment.expiresAt}`);
  await page.waitForSelector(`#assignments tbody tr[data-mac="${MAC2}"]`, { timeout: 10_000 });
  assert.deepEqual((await rows(page)).map((r) => r.mac), [MAC1, MAC2]);

  // Filtered by MAC, like the rest of the page.
  await page.type('#mac', 'bb:00:02');
  await page.waitForFunction(() => document.querySelectorAll('#assignments tbody tr[data-mac]').length === 1, { timeout: 5000 });
  assert.deepEqual((await rows(page)).map((r) => r.mac), [MAC2]);
  shots.push(await shot(page, 'assignments-set.png'));
  await page.click('#mac', { count: 3 });
  await page.keyboard.press('Backspace');

  // Change one: click its MAC (the form is filled in), make it persistent.
  await page.waitForSelector(`#assignments tbody tr[data-mac="${MAC1}"] button.mac`);
  await page.click(`#assignments tbody tr[data-mac="${MAC1}"] button.mac`);
  assert.equal(await page.$eval('#assign-mac', (e) => (e as HTMLInputElement).value), MAC1);
  assert.equal(await page.$eval('#assign-uuid', (e) => (e as HTMLInputElement).value), UUID);
  await page.select('#assign-mode', 'persistent');
  await page.click('#assign-set');
  await page.waitForFunction((m) => (document.querySelector('#assign-result')?.textContent ?? '') === `set: ${m} boots debian (persistent)`, { timeout: 10_000 }, MAC1);
  const changed = await api(a, 'GET', `/api/v1/clients/${MAC1}`);
  assert.deepEqual([changed.body.assignment.profile, changed.body.assignment.mode, changed.body.assignment.uuid], ['debian', 'persistent', UUID]);

  // Clear it: the API has no assignment for it any more (what the pool saw stays).
  await page.click('#assign-clear');
  await page.waitForFunction((m) => (document.querySelector('#assign-result')?.textContent ?? '') === `cleared: ${m} (the rules decide again)`, { timeout: 10_000 }, MAC1);
  const cleared = await api(a, 'GET', `/api/v1/clients/${MAC1}`);
  assert.equal(cleared.status, 200);
  assert.equal(cleared.body.assignment, undefined);
  assert.equal(cleared.body.seen.hostname, HOSTNAME);
  await page.waitForFunction((m) => document.querySelector(`#assignments tbody tr[data-mac="${m}"]`) === null, { timeout: 10_000 }, MAC1);
  await page.click('#assign-all');
  await page.waitForSelector(`#assignments tbody tr[data-mac="${MAC1}"][data-state="none"]`, { timeout: 5000 });

  // A refusal is shown with the API's reason.
  await page.click('#assign-mac', { count: 3 });
  await page.type('#assign-mac', 'not-a-mac');
  await page.click('#assign-set');
  await page.waitForFunction(() => /is not a MAC address/.test(document.querySelector('#assign-result')?.textContent ?? ''), { timeout: 10_000 });

  // The token went nowhere but the page's memory.
  const kept = await page.evaluate(() => ({ cookie: document.cookie, session: sessionStorage.length, local: localStorage.length, field: (document.querySelector('#token') as HTMLInputElement).value }));
  assert.deepEqual(kept, { cookie: '', session: 0, local: 0, field: '' });
  shots.push(await shot(page, 'assignments-cleared.png'));
  console.log(`screenshots: ${shots.join(' ')}`);
  await page.close();
});

test('api.publicRead: listed without a token, read-only; a wrong token is refused on write', { skip, timeout: 60_000 }, async () => {
  const b = peers.publicRead!;
  const page = await open(b);
  await page.waitForSelector(`#assignments tbody tr[data-mac="${MAC1}"]`, { timeout: 10_000 });
  assert.match(await text(page, '#assign-note'), /^Read-only: type the API token/);
  assert.equal(await page.$eval('#assign-set', (e) => (e as HTMLButtonElement).disabled), true);
  assert.equal(await page.$eval('#assign-clear', (e) => (e as HTMLButtonElement).disabled), true);
  await typeToken(page, WRONG);
  await page.type('#assign-mac', MAC2);
  await page.click('#assign-set');
  await page.waitForFunction(() => /refused the token: wrong token/.test(document.querySelector('#assign-result')?.textContent ?? ''), { timeout: 10_000 });
  assert.equal((await api(b, 'GET', `/api/v1/clients/${MAC2}`)).status, 404, 'nothing written');
  assert.equal(await page.$eval('#assign-set', (e) => (e as HTMLButtonElement).disabled), true, 'read-only again');
  console.log(`screenshot: ${await shot(page, 'assignments-public-wrong-token.png')}`);
  await page.close();
});

test('without a store the panel says so', { skip, timeout: 60_000 }, async () => {
  const page = await open(peers.noStore!);
  assert.equal(await page.$eval('#assignments-section', (e) => (e as HTMLElement).dataset.store), 'none');
  assert.match(await text(page, '#assign-note'), /^No store configured on this peer/);
  assert.equal(await page.$eval('#assign-controls', (e) => (e as HTMLElement).hidden), true);
  await page.close();
});
