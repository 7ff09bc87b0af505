// Hostile client strings against the operator's view (issue 19): a DISCOVER and a 4011 request
// whose hostname (option 12) and vendor class (option 60) are markup, script and terminal
// escapes, and TFTP requests for files named likewise. In Chromium the dashboard must show them
// as text (no element injected, no handler run, no dialog), and `explain --pool` must print them
// with their control characters neutralised. The assignments panel too: a store row (written by
// another connection, as another pxepool or a database admin could) whose profile, MAC text, UUID
// and consumer are markup (the config and the API refuse such a profile name), the hostile
// hostname and vendor class in what the pool saw, and the API's refusal of a MAC typed as
// markup, all shown as text.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { Browser } from 'puppeteer-core';
import { serve, type App } from '../../src/app/serve.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { loadConfig } from '../../src/config/load.ts';
import { bootRequest, relayedDiscover, tftpGet } from '../lib/operator-client.ts';
import { chromium, launchChromium } from '../lib/browser.ts';
import { needs } from '../lib/require.ts';
import { MAIN } from '../lib/serve-proc.ts';

const skip = needs(chromium());
const run = promisify(execFile);
const base = 47000 + (process.pid % 900) * 5;
const P = { dhcp: base, pxe: base + 1, tftp: base + 2, http: base + 3, pool: base + 4 };
const dir = mkdtempSync(join(tmpdir(), 'pxepool-hostile-'));
const cfgFile = join(dir, 'pxepool.yaml');
const MAC = '52:54:00:aa:66:01';
const ID = { kind: 'ipxe-bios' as const, mac: MAC };

const HOST = `<script>document.title='pwned-host'</script>`;
const VENDOR = `PXEClient"><img src=x onerror="document.title='pwned-vendor'">\u001b[31m\u0007`;
const FILE = `"><img src=x onerror=document.title='pwned-file'>.0`;
const MISSING = `\u001b[2J<svg onload=document.title='pwned-missing'>.0`;
const PROFILE = `<img src=x onerror="document.title='pwned-profile'">`;
const MAC_TEXT = `<svg onload=document.title='pwned-mac'>\u001b[1m`;
const BY = `<iframe src=javascript:alert('pwned-by')>`;
const UUID_TEXT = `"><script>alert('pwned-uuid')</script>`;
const TYPED = `<img src=x onerror=alert('typed')>`;
const TOKEN = 'hostile-strings-test-api-token-0001';
const dbFile = join(dir, 'state', 'pxepool.db');
/** what the page shows for a string: control characters as '?', the rest as it came */
const shown = (x: string): string => x.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
let app: App;
let browser: Browser | undefined;

before(async () => {
  if (skip !== false) return;
  writeFileSync(join(dir, FILE), Buffer.alloc(700, 1));
  writeFileSync(join(dir, 'token'), TOKEN);
  writeFileSync(cfgFile, `root: ${dir}
tftp: { port: ${P.tftp} }
http: { port: ${P.http} }
store: { path: ${dbFile}, refreshMs: 200 }
api: { tokenFile: ${join(dir, 'token')}, publicRead: true }
profiles:
  lab: { bios: pxelinux.0 }
default: lab
pool:
  name: solo
  secret: "hostile-strings-test-secret-01"
  bind: 127.0.0.1
  peers:
    - { name: solo, address: 127.0.0.1, port: ${P.pool} }
`);
  const r = loadConfig(cfgFile);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  app = await serve({ config: r.config, configPath: cfgFile, logger: pino({ level: 'silent' }), listen: ['127.0.0.1'], ports: { dhcp: P.dhcp, pxe: P.pxe } });
  assert.ok(await relayedDiscover('127.0.0.2', '127.0.0.1', P.dhcp, ID, 0x6001, { hostname: HOST, vendorClass: VENDOR }), 'offer');
  assert.ok(await bootRequest('127.0.0.3', '127.0.0.1', P.pxe, ID, 0x6002, { hostname: HOST, vendorClass: VENDOR }), '4011 ACK');
  const got = await tftpGet('127.0.0.3', '127.0.0.1', P.tftp, FILE);
  assert.ok(got.ok, JSON.stringify(got));
  assert.equal((await tftpGet('127.0.0.3', '127.0.0.1', P.tftp, MISSING)).ok, false);
  // The API refuses such a profile or MAC; the store is written directly, as another writer could.
  const other = openSqliteStore(dbFile);
  await other.put(MAC, { profile: 'lab', mode: 'persistent' }, Date.now());
  await other.put(MAC_TEXT, { profile: PROFILE, mode: 'once', uuid: UUID_TEXT }, Date.now());
  assert.equal(await other.consume(MAC_TEXT, undefined, Date.now(), BY), 'consumed');
  await other.close();
});

after(async () => {
  await browser?.close();
  await app?.close();
});

test('the dashboard shows hostile hostnames, vendor classes and file names as text', { skip, timeout: 90_000 }, async () => {
  browser = await launchChromium({ tmpDir: dir });
  const page = await browser.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.setViewport({ width: 390, height: 844 }); // a phone
  await page.goto(`http://127.0.0.1:${P.http}/`, { waitUntil: 'domcontentloaded', timeout: 15_000 });
  assert.equal(new URL(page.url()).pathname, '/pxepool/');
  await page.waitForSelector(`#decisions tbody tr[data-mac="${MAC}"]`, { timeout: 10_000 });
  await page.type('#mac', MAC);
  await page.click('#filter button');
  await page.waitForFunction(() => document.querySelectorAll('#timeline li').length >= 4, { timeout: 10_000 });
  // The assignments panel (api.publicRead: listed without a token), with what the pool saw of
  // MAC (written behind, at the store's next refresh); the MAC filter off to see both rows.
  await page.click('#mac', { count: 3 });
  await page.keyboard.press('Backspace');
  await page.waitForFunction((h) => document.querySelectorAll('#assignments tbody tr[data-mac]').length === 2 && (document.querySelector('#assignments')?.textContent ?? '').includes(h), { timeout: 10_000 }, HOST);
  // A MAC typed as markup, sent with the token: the API's refusal quotes it, shown as text.
  await page.type('#token', TOKEN);
  await page.click('#token-form button[type="submit"]');
  await page.type('#assign-mac', TYPED);
  await page.click('#assign-set');
  await page.waitForFunction(() => /is not a MAC address/.test(document.querySelector('#assign-result')?.textContent ?? ''), { timeout: 10_000 });
  const seen = await page.evaluate(() => ({
    title: document.title,
    injected: document.querySelectorAll('main img, main svg, main script, main iframe, main object, [onerror], [onload]').length,
    scripts: [...document.scripts].map((s) => s.getAttribute('src')),
    decisions: document.querySelector('#decisions')!.textContent,
    timeline: document.querySelector('#timeline')!.textContent,
    verdict: document.querySelector('#verdict')!.textContent,
    bootEnd: document.querySelector('#boot-end')!.textContent,
    assignments: document.querySelector('#assignments')!.textContent,
    rows: [...document.querySelectorAll('#assignments tbody tr[data-mac]')].map((tr) => (tr as HTMLElement).dataset.mac),
    profiles: [...document.querySelectorAll('#assign-profile option')].map((o) => o.textContent),
    result: document.querySelector('#assign-result')!.textContent,
  }));
  const shot = join(dir, 'dashboard-hostile.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  assert.equal(seen.title, 'pxepool', 'no injected handler ran');
  assert.equal(seen.injected, 0, 'no element from client data');
  assert.deepEqual(seen.scripts, ['/pxepool/dashboard.js']);
  assert.deepEqual(dialogs, []);
  assert.ok(seen.decisions!.includes(HOST), 'the hostname is shown, as text');
  assert.ok(seen.decisions!.includes(shown(VENDOR)), 'the vendor class is shown, as text, its escapes neutralised');
  assert.doesNotMatch(`${seen.decisions}${seen.timeline}${seen.verdict}${seen.bootEnd}`, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assert.ok(seen.decisions!.includes(FILE) || seen.timeline!.includes(FILE), 'the file name is shown, as text');
  assert.ok(seen.timeline!.includes(FILE));
  assert.ok(seen.timeline!.includes(shown(MISSING)), 'the refused file too');
  assert.match(seen.verdict!, /^this peer now: answer/);
  // The assignments panel: every store string as text, control characters as '?'.
  assert.deepEqual(seen.rows, [MAC, MAC_TEXT].sort(), 'the row keys are the MACs as stored');
  for (const x of [PROFILE, shown(MAC_TEXT), BY, UUID_TEXT, HOST, shown(VENDOR)]) assert.ok(seen.assignments!.includes(x), `shown as text: ${x}`);
  assert.doesNotMatch(seen.assignments!, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character but the markup\'s newlines');
  assert.deepEqual(seen.profiles, ['lab']);
  assert.ok(seen.result!.includes(`"${TYPED}" is not a MAC address`), seen.result!);
});

test('explain --pool prints the same strings with their control characters neutralised', { skip, timeout: 30_000 }, async () => {
  const { stdout } = await run(process.execPath, [MAIN, 'explain', '--config', cfgFile, '--pool', '--mac', MAC, '--timeout', '3000'], { timeout: 20_000 });
  assert.doesNotMatch(stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, 'no control character but newline');
  assert.match(stdout, /solo: answer: owner/);
  assert.ok(stdout.includes(`TFTP ${FILE}: ok`), stdout);
  assert.ok(stdout.includes(`TFTP ?[2J<svg onload=document.title='pwned-missing'>.0: not-found`), stdout);
  // JSON-quoted, escapes written out as text: \u001b is six printable characters
  assert.ok(stdout.includes('vendor "PXEClient\\"><img src=x onerror=\\"document.title=\'pwned-vendor\'\\">\\u001b[31m\\u0007"'), stdout);
});
