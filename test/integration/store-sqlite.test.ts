// The store suite against the embedded node:sqlite backend, in a temporary file, and its
// migrations from an older schema.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS, type Store } from '../../src/store/store.ts';
import { Deployments } from '../../src/store/deployments.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { storeSuite } from '../lib/store-suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
storeSuite('sqlite', async () => openSqliteStore(join(dir, 'sub', 'pxepool.db')), false);

test('a store written by an older pxepool (schema 2) is migrated to the current schema and keeps its rows', async () => {
  const file = join(dir, 'old.db');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE pxepool_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
  for (const [i, sql] of MIGRATIONS.slice(0, 2).entries()) { db.exec(sql); db.prepare('INSERT INTO pxepool_schema VALUES (?, 0)').run(i + 1); }
  db.prepare("INSERT INTO clients (mac, profile, mode, generation, assigned_at) VALUES ('52:54:00:00:09:01', 'debian', 'once', 3, 5)").run();
  db.close();
  const s = openSqliteStore(file);
  try {
    assert.deepEqual((await s.get('52:54:00:00:09:01'))?.assignment, { profile: 'debian', mode: 'once', generation: 3, assignedAt: 5 });
    assert.equal((await s.put('52:54:00:00:09:01', { profile: 'debian', mode: 'once', uuid: '4c4c4544-0042-3510-8052-b2c04f503232' }, 6)).assignment?.uuid, '4c4c4544-0042-3510-8052-b2c04f503232');
  } finally { await s.close(); }
  const check = new DatabaseSync(file);
  assert.deepEqual(check.prepare('SELECT version FROM pxepool_schema ORDER BY version').all().map((r) => Number((r as { version: number }).version)), MIGRATIONS.map((_, i) => i + 1));
  check.close();
});

test('a peer re-reads the assignments only when another connection wrote (the read is synchronous)', async () => {
  const file = join(dir, 'shared.db');
  const mine = openSqliteStore(file);
  const theirs = openSqliteStore(file);
  let reads = 0;
  const counted: Store = { ...mine, unchanged: mine.unchanged!, assignments: (n) => { reads++; return mine.assignments(n); } };
  const d = new Deployments({ open: async () => counted, peer: 'pxe-a' });
  try {
    await d.sync();
    assert.equal(reads, 1);
    await d.put('52:54:00:00:0a:01', { profile: 'debian', mode: 'once' }, 1);
    await d.sync();
    await d.sync();
    assert.equal(reads, 1, 'its own writes are in its copy already: no re-read');
    assert.equal(d.lookup('52:54:00:00:0a:01', 2)?.state, 'active');
    await theirs.put('52:54:00:00:0a:02', { profile: 'debian', mode: 'persistent' }, 1);
    await d.sync();
    assert.equal(reads, 2, 'another connection wrote: read again');
    assert.equal(d.lookup('52:54:00:00:0a:02', 2)?.profile, 'debian');
    await theirs.consume('52:54:00:00:0a:01', undefined, 3, 'pxe-b');
    await d.sync();
    assert.equal(d.lookup('52:54:00:00:0a:01', 4)?.state, 'consumed');
  } finally {
    await d.close();
    await theirs.close();
  }
});

test('a store from a newer pxepool is refused, not guessed at', () => {
  const file = join(dir, 'new.db');
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE pxepool_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
  db.prepare('INSERT INTO pxepool_schema VALUES (?, 0)').run(MIGRATIONS.length + 1);
  db.close();
  assert.throws(() => openSqliteStore(file), /newer than this pxepool knows.*upgrade pxepool/);
});
