// The pool's store: PostgreSQL through `pg`. Every call has a deadline, so a store that stops
// answering costs the caller seconds, never a hung decision (decisions never wait on it anyway:
// see view.ts).

import pg from 'pg';
import { BUMP, MIGRATIONS, SQL, recordOf, whyNotConsumed, type Store } from './store.ts';
import type { Assignment } from './model.ts';

export interface PostgresOptions {
  url: string;
  /** per query and per connection attempt */
  timeoutMs?: number;
  onError?: (err: Error) => void;
}

// Any number: one lock id for pxepool's migrations, so peers starting together take turns.
const MIGRATION_LOCK = 0x70786570;

export async function openPostgresStore(o: PostgresOptions): Promise<Store> {
  const timeout = o.timeoutMs ?? 3000;
  const pool = new pg.Pool({ connectionString: o.url, max: 4, connectionTimeoutMillis: timeout, query_timeout: timeout, statement_timeout: timeout, idleTimeoutMillis: 10_000 });
  // An idle connection dropped by the server must not take the process down.
  pool.on('error', (err) => o.onError?.(err));
  await migrate(pool);
  const one = async (sql: string, args: unknown[]) => (await pool.query(sql, args)).rows as Record<string, unknown>[];
  const revision = async () => String((await one('SELECT n FROM pxepool_revision WHERE id = 1', []))[0]?.n);
  let readAt: string | undefined;
  return {
    kind: 'postgres',
    async unchanged() { return readAt !== undefined && (await revision()) === readAt; },
    async get(mac) {
      const r = await one(SQL.get, [mac]);
      return r[0] === undefined ? undefined : recordOf(r[0]);
    },
    async list(limit) { return (await one(SQL.list, [limit])).map(recordOf); },
    async assignments(limit) {
      // Read before the rows: a change made while they are read moves it again.
      const at = await revision();
      const out = new Map<string, Assignment>();
      for (const r of await one(SQL.assignments, [limit])) {
        const rec = recordOf(r);
        if (rec.assignment !== undefined) out.set(rec.mac, rec.assignment);
      }
      readAt = at;
      return out;
    },
    async put(mac, a, now) { return recordOf((await one(BUMP + SQL.put, [mac, a.profile, a.mode, a.expiresAt ?? null, now, a.uuid ?? null]))[0]!); },
    async clear(mac) { return (await one(BUMP + SQL.clear, [mac])).length > 0; },
    async consume(mac, generation, now, by) {
      if ((await one(BUMP + SQL.consume, [mac, now, by, generation ?? -1])).length > 0) return 'consumed';
      const r = await one(SQL.get, [mac]);
      return whyNotConsumed(r[0] === undefined ? undefined : recordOf(r[0]), generation, now);
    },
    async see(reports, maxRows) {
      await inTransaction(pool, (err) => o.onError?.(err), async (c) => {
        const full = Number((await c.query(SQL.count)).rows[0].n) >= maxRows;
        for (const { mac, seen } of reports) await c.query(full ? SQL.seeKnown : SQL.see, [mac, seen.firstSeen, seen.lastSeen, JSON.stringify(seen)]);
      });
    },
    async close() { await pool.end(); },
  };
}

/**
 * `body` in one transaction on one connection, rolled back if it throws. Between two statements
 * the server may go away; unheard, that connection's 'error' would end the process.
 */
async function inTransaction(pool: pg.Pool, onError: (err: Error) => void, body: (c: pg.PoolClient) => Promise<void>): Promise<void> {
  const c = await pool.connect();
  c.on('error', onError);
  try {
    await c.query('BEGIN');
    await body(c);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.off('error', onError);
    c.release();
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  await inTransaction(pool, () => undefined, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS pxepool_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const have = Number((await c.query('SELECT COALESCE(MAX(version), 0) AS v FROM pxepool_schema')).rows[0].v);
    if (have > MIGRATIONS.length) throw new Error(`store schema version ${have} is newer than this pxepool knows (${MIGRATIONS.length}): upgrade pxepool`);
    for (let v = have + 1; v <= MIGRATIONS.length; v++) {
      await c.query(MIGRATIONS[v - 1]!);
      await c.query('INSERT INTO pxepool_schema (version, applied_at) VALUES ($1, $2)', [v, Date.now()]);
    }
  });
}
