// The store suite against a real PostgreSQL this file starts (test/lib/postgres.ts), and what a
// peer does while that server is down.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { Deployments, StoreDown } from '../../src/store/deployments.ts';
import { storeSuite } from '../lib/store-suite.ts';
import { needs } from '../lib/require.ts';
import { POSTGRES_NEEDS, startPostgres, type TestPostgres } from '../lib/postgres.ts';

const skip = needs(...POSTGRES_NEEDS);
let pg: TestPostgres | undefined;
before(() => { if (skip === false) pg = startPostgres(); });
after(() => pg?.stop());

storeSuite('postgres', () => openPostgresStore({ url: pg!.url, timeoutMs: 3000 }), skip);

test('postgres down: the peer keeps deciding from its copy, refuses admin writes, queues a done and writes it when the store is back', { skip, timeout: 90_000 }, async () => {
  const peer = (name: string) => new Deployments({ open: () => openPostgresStore({ url: pg!.url, timeoutMs: 1000, onError: () => undefined }), peer: name, refreshMs: 60_000 });
  const a = peer('pxe-a');
  const b = peer('pxe-b');
  await a.start();
  await b.start();
  try {
    const now = Date.now();
    await a.put('52:54:00:00:05:01', { profile: 'debian', mode: 'once' }, now);
    await a.put('52:54:00:00:05:02', { profile: 'debian', mode: 'persistent' }, now);
    await b.sync();
    assert.equal(b.lookup('52:54:00:00:05:01', now)?.state, 'active');
    pg!.halt();
    await b.sync();
    assert.equal(b.reachable, false);
    assert.equal(b.lookup('52:54:00:00:05:02', now)?.state, 'active', 'assigned before the outage: still decides');
    await assert.rejects(b.put('52:54:00:00:05:03', { profile: 'debian', mode: 'once' }, now), StoreDown);
    assert.equal(await b.done('52:54:00:00:05:01', now + 1), 'queued');
    assert.equal(b.lookup('52:54:00:00:05:01', now + 1)?.state, 'consumed', 'this peer goes quiet at once');
    const listed = await b.list(10);
    assert.equal(listed.stale, true);
    pg!.start();
    // Bounded: the pool reconnects within a few rounds or the test fails.
    for (let i = 0; i < 20 && !b.reachable; i++) { await b.sync(); if (!b.reachable) await new Promise((r) => setTimeout(r, 250)); }
    assert.equal(b.reachable, true);
    await a.sync();
    assert.equal(a.lookup('52:54:00:00:05:01', now + 2)?.state, 'consumed', 'the queued consume reached the store and the other peer');
    assert.equal(a.lookup('52:54:00:00:05:01', now + 2)?.consumedAt, now + 1);
    assert.equal(await a.done('52:54:00:00:05:01', now + 3), 'already');
  } finally {
    await a.close();
    await b.close();
  }
});
