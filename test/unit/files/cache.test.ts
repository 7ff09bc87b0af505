import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createFileCache } from '../../../src/files/cache.ts';
import { resolveBootPath } from '../../../src/files/root.ts';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'pxepool-cache-'));
  for (const [n, size] of [
    ['a', 1000],
    ['b', 1000],
    ['c', 1000],
    ['big', 5000],
  ] as const) {
    await writeFile(path.join(root, n), Buffer.alloc(size, n.charCodeAt(0)));
  }
});
after(async () => rm(root, { recursive: true, force: true }));

async function resolved(name: string) {
  const r = await resolveBootPath(root, name);
  assert.ok(r.ok);
  return r;
}

test('concurrent opens of one file read it once', async () => {
  const cache = createFileCache({ maxBytes: 10_000, maxFileBytes: 2000 });
  const r = await resolved('a');
  const all = await Promise.all(Array.from({ length: 50 }, () => cache.open(r)));
  assert.ok(all.every((o) => o.ok && o.file.kind === 'memory' && o.file.data.length === 1000));
  const s = cache.stats();
  assert.equal(s.misses, 1);
  assert.equal(s.hits, 49);
  assert.equal(s.bytes, 1000);
});

test('LRU by bytes: the least recently used file leaves first', async () => {
  const cache = createFileCache({ maxBytes: 2500, maxFileBytes: 2000 });
  await cache.open(await resolved('a'));
  await cache.open(await resolved('b'));
  await cache.open(await resolved('a')); // a is now most recent
  await cache.open(await resolved('c')); // evicts b
  assert.equal(cache.stats().entries, 2);
  assert.equal(cache.stats().evictions, 1);
  const before = cache.stats().misses;
  await cache.open(await resolved('a'));
  assert.equal(cache.stats().misses, before, 'a stayed');
  await cache.open(await resolved('b'));
  assert.equal(cache.stats().misses, before + 1, 'b was evicted');
  assert.ok(cache.stats().bytes <= 2500);
});

test('a changed file (new mtime/size) is a new version; the old one is dropped', async () => {
  const cache = createFileCache({ maxBytes: 10_000, maxFileBytes: 2000 });
  const first = await cache.open(await resolved('c'));
  assert.ok(first.ok && first.file.kind === 'memory');
  await writeFile(path.join(root, 'c'), Buffer.alloc(1200, 0x7a));
  await utimes(path.join(root, 'c'), new Date(), new Date(Date.now() + 5000));
  const second = await cache.open(await resolved('c'));
  assert.ok(second.ok && second.file.kind === 'memory' && second.file.data.length === 1200);
  assert.equal(cache.stats().entries, 1);
  assert.equal(cache.stats().bytes, 1200);
});

test('files above the per-file cap are streamed in chunks, never cached', async () => {
  const cache = createFileCache({ maxBytes: 10_000, maxFileBytes: 2000 });
  const o = await cache.open(await resolved('big'));
  assert.ok(o.ok && o.file.kind === 'stream');
  const part = await o.file.read(4000, 2000);
  assert.equal(part.length, 1000);
  assert.equal(part[0], 'b'.charCodeAt(0));
  await o.file.close();
  assert.equal(cache.stats().entries, 0);
  assert.equal(cache.stats().streamed, 1);
});

test('openCached answers at once for a file in memory, and only then', async () => {
  const cache = createFileCache({ maxBytes: 10_000, maxFileBytes: 2000 });
  const a = await resolved('a');
  assert.equal(cache.openCached(a), undefined, 'not loaded yet');
  assert.ok((await cache.open(a)).ok);
  const hit = cache.openCached(a);
  assert.ok(hit?.ok && hit.file.kind === 'memory' && hit.file.data.length === 1000);
  assert.equal(cache.stats().hits, 1);
  assert.equal(cache.openCached(await resolved('big')), undefined, 'streamed files never come from memory');
});
