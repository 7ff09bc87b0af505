// The storm's name cache (src/tftp/resolve-cache.ts) with a fake resolver and clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResolveCache } from '../../../src/tftp/resolve-cache.ts';
import type { ResolveResult } from '../../../src/files/root.ts';

const okFile = (name: string): ResolveResult => ({ ok: true, file: { absPath: `/root/${name}`, size: 1, mtimeMs: 0 } } as unknown as ResolveResult);

test('concurrent misses share one resolution; a fresh hit needs no microtask; it expires after the TTL', async () => {
  let calls = 0;
  let now = 0;
  const c = createResolveCache(async (n) => { calls++; return okFile(n); }, () => now, { ttlMs: 1000 });
  const [a, b] = await Promise.all([c.get('x'), c.get('x')]);
  assert.equal(calls, 1);
  assert.deepEqual(a, b);
  assert.deepEqual(c.now('x'), a);
  now = 999;
  await c.get('x');
  assert.equal(calls, 1);
  now = 1000;
  assert.equal(c.now('x'), undefined);
  await c.get('x');
  assert.equal(calls, 2);
});

test('failures are not kept: the next request resolves again', async () => {
  let calls = 0;
  const c = createResolveCache(async () => { calls++; return { ok: false, reason: 'not-found' } as unknown as ResolveResult; }, () => 0);
  await c.get('missing');
  await new Promise((r) => setImmediate(r));
  await c.get('missing');
  assert.equal(calls, 2);
  assert.equal(c.now('missing'), undefined);
});

test('bounded: past max names the cache starts over', async () => {
  let calls = 0;
  const c = createResolveCache(async (n) => { calls++; return okFile(n); }, () => 0, { max: 2 });
  await c.get('a'); await c.get('b'); await c.get('c');
  await c.get('a');
  assert.equal(calls, 4, 'a was dropped when the cache filled');
});
