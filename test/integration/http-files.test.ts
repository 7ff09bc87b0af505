// The HTTP file handler behind a plain Node http server on 127.0.0.1, driven by curl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createFileCache } from '../../src/files/cache.ts';
import { createFileHandler, parseRange } from '../../src/http/files.ts';

const run = promisify(execFile);
let base: string;
let root: string;
let srv: http.Server;
let url: string;
const big = randomBytes(3 * 1024 * 1024 + 5);
const small = Buffer.from('#!ipxe\nchain http://x/y\n');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

before(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'pxepool-http-'));
  root = path.join(base, 'root');
  await import('node:fs/promises').then((fs) => fs.mkdir(root));
  await writeFile(path.join(root, 'big.bin'), big);
  await writeFile(path.join(root, 'boot.ipxe'), small);
  await writeFile(path.join(base, 'secret'), 'outside');
  await symlink(path.join(base, 'secret'), path.join(root, 'link'));
  await import('node:fs/promises').then((fs) => fs.mkdir(path.join(base, 'lab')));
  await writeFile(path.join(base, 'lab', 'vmlinuz'), 'lab kernel');
  // A 1 MiB cache cap makes big.bin a streamed file and boot.ipxe a cached one.
  const handler = createFileHandler({ root, mounts: { lab: path.join(base, 'lab') }, cache: createFileCache({ maxBytes: 1024 * 1024 }) });
  srv = http.createServer((req, res) => {
    handler(req, res).then(
      (handled) => {
        if (!handled) res.writeHead(404).end('no such file\n');
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => srv.close(r));
  await rm(base, { recursive: true, force: true });
});

async function curl(...args: string[]) {
  const r = await run('curl', ['-sS', '--max-time', '20', '-D', '-', '-o', path.join(base, 'body'), ...args], {
    encoding: 'utf8',
  });
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(r.stdout)?.[1]);
  const headers = Object.fromEntries(
    r.stdout
      .split('\r\n')
      .slice(1)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const body = await readFile(path.join(base, 'body')).catch(() => Buffer.alloc(0));
  return { status, headers, body };
}

test('GET streams a large file intact, with length, type and validators', async () => {
  const r = await curl(`${url}/big.bin`);
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(big.length));
  assert.equal(r.headers['content-type'], 'application/octet-stream');
  assert.ok(r.headers['etag'] && r.headers['last-modified']);
  assert.equal(sha(r.body), sha(big));
});

test('iPXE scripts are text/plain; HEAD sends headers only', async () => {
  const g = await curl(`${url}/boot.ipxe`);
  assert.equal(g.headers['content-type'], 'text/plain; charset=utf-8');
  assert.deepEqual(g.body, small);
  const h = await curl('-I', `${url}/boot.ipxe`);
  assert.equal(h.status, 200);
  assert.equal(h.headers['content-length'], String(small.length));
});

test('single ranges give 206, unsatisfiable ones 416', async () => {
  const r = await curl('-r', '1000-1999', `${url}/big.bin`);
  assert.equal(r.status, 206);
  assert.equal(r.headers['content-range'], `bytes 1000-1999/${big.length}`);
  assert.deepEqual(r.body, big.subarray(1000, 2000));
  const tail = await curl('-r', '-10', `${url}/big.bin`);
  assert.deepEqual(tail.body, big.subarray(big.length - 10));
  const bad = await curl('-r', `${big.length + 5}-`, `${url}/big.bin`);
  assert.equal(bad.status, 416);
  assert.equal(bad.headers['content-range'], `bytes */${big.length}`);
});

test('If-None-Match and If-Modified-Since give 304', async () => {
  const g = await curl(`${url}/boot.ipxe`);
  const etag = g.headers['etag']!;
  assert.equal((await curl('-H', `If-None-Match: ${etag}`, `${url}/boot.ipxe`)).status, 304);
  assert.equal((await curl('-H', 'If-None-Match: "other"', `${url}/boot.ipxe`)).status, 200);
  assert.equal((await curl('-H', `If-Modified-Since: ${g.headers['last-modified']}`, `${url}/boot.ipxe`)).status, 304);
  assert.equal((await curl('-H', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT', `${url}/boot.ipxe`)).status, 200);
});

test('escapes are forbidden, misses fall through, other methods get 405', async () => {
  assert.equal((await curl('--path-as-is', `${url}/../secret`)).status, 403);
  assert.equal((await curl(`${url}/..%2fsecret`)).status, 403);
  assert.equal((await curl(`${url}/link`)).status, 403);
  assert.equal((await curl(`${url}/boot.ipxe%00.txt`)).status, 403);
  assert.equal((await curl(`${url}/nope`)).status, 404);
  const p = await curl('-X', 'POST', `${url}/boot.ipxe`);
  assert.equal(p.status, 405);
  assert.equal(p.headers['allow'], 'GET, HEAD');
});

test('parseRange', () => {
  assert.deepEqual(parseRange('bytes=0-0', 10), { kind: 'range', range: { start: 0, end: 0 } });
  assert.deepEqual(parseRange('bytes=5-100', 10), { kind: 'range', range: { start: 5, end: 9 } });
  assert.deepEqual(parseRange('bytes=0-1,3-4', 10), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange(undefined, 10), { kind: 'none' });
});

test('a per-profile root is served under /<profile>/ next to the main root', async () => {
  const r = await curl(`${url}/lab/vmlinuz`);
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'lab kernel');
  assert.equal((await curl(`${url}/boot.ipxe`)).status, 200);
  assert.equal((await curl('--path-as-is', `${url}/lab/../../secret`)).status, 403);
  assert.equal((await curl(`${url}/lab/nope`)).status, 404);
});
