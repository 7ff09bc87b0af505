// The store's interface, one for both backends (sqlite.ts, postgres.ts), and the schema they
// share. A backend only moves rows: the rules (model.ts) are in the SQL's conditions, so a
// `once` is consumed by one conditional UPDATE and never twice, whichever peer asks first.

import type { Assignment, ClientRecord, ConsumeResult, Seen } from './model.ts';

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  get(mac: string): Promise<ClientRecord | undefined>;
  /** up to `limit` clients, by MAC */
  list(limit: number): Promise<ClientRecord[]>;
  /** every client with an assignment (the peers' last-known copy is refreshed from this) */
  assignments(limit: number): Promise<Map<string, Assignment>>;
  /**
   * true when no other connection wrote since the last assignments(): the caller's copy (which
   * its own writes keep current) is still right and need not be read again. Absent: unknown.
   */
  unchanged?(): boolean | Promise<boolean>;
  /** replaces the assignment, not consumed, generation + 1 */
  put(mac: string, input: { profile: string; mode: Assignment['mode']; expiresAt?: number; uuid?: string }, now: number): Promise<ClientRecord>;
  /** removes the assignment (what the pool saw stays); false when there was none */
  clear(mac: string): Promise<boolean>;
  /** consumes an active `once` (of `generation`, when given) atomically */
  consume(mac: string, generation: number | undefined, now: number, by: string): Promise<ConsumeResult>;
  /**
   * What the pool saw of clients, each already merged by the caller. Past `maxRows` clients
   * in the table only those already in it are updated: forged MACs cannot grow it without end.
   */
  see(reports: readonly { mac: string; seen: Seen }[], maxRows: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Numbered migrations, applied in order, each once, recorded in pxepool_schema. Portable SQL:
 * both SQLite and PostgreSQL run it as written ($n placeholders become ?n for SQLite).
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE clients (
     mac TEXT PRIMARY KEY,
     profile TEXT,
     mode TEXT CHECK (mode IN ('once', 'persistent')),
     expires_at BIGINT,
     consumed_at BIGINT,
     consumed_by TEXT,
     generation BIGINT NOT NULL DEFAULT 0,
     assigned_at BIGINT,
     first_seen BIGINT,
     last_seen BIGINT,
     seen TEXT
   )`,
  `CREATE INDEX clients_assigned ON clients (mac) WHERE profile IS NOT NULL`,
  `ALTER TABLE clients ADD COLUMN uuid TEXT`,
  // Bumped by every change to an assignment (PostgreSQL): a peer reads one number each refresh
  // and every assignment only when it moved. SQLite has PRAGMA data_version for the same.
  `CREATE TABLE pxepool_revision (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)`,
  `INSERT INTO pxepool_revision (id, n) VALUES (1, 0)`,
];

/** PostgreSQL runs a data-modifying WITH exactly once, with the statement it prefixes. */
export const BUMP = `WITH bump AS (UPDATE pxepool_revision SET n = n + 1 WHERE id = 1) `;

export const SQL = {
  get: `SELECT * FROM clients WHERE mac = $1`,
  list: `SELECT * FROM clients ORDER BY mac LIMIT $1`,
  assignments: `SELECT * FROM clients WHERE profile IS NOT NULL ORDER BY mac LIMIT $1`,
  put: `INSERT INTO clients (mac, profile, mode, expires_at, consumed_at, consumed_by, generation, assigned_at, uuid)
        VALUES ($1, $2, $3, $4, NULL, NULL, 1, $5, $6)
        ON CONFLICT (mac) DO UPDATE SET profile = excluded.profile, mode = excluded.mode, expires_at = excluded.expires_at, uuid = excluded.uuid,
          consumed_at = NULL, consumed_by = NULL, generation = clients.generation + 1, assigned_at = excluded.assigned_at
        RETURNING *`,
  clear: `UPDATE clients SET profile = NULL, mode = NULL, expires_at = NULL, consumed_at = NULL, consumed_by = NULL, assigned_at = NULL, uuid = NULL
          WHERE mac = $1 AND profile IS NOT NULL RETURNING mac`,
  // The whole `once` rule in one statement: of two peers racing, exactly one gets the row back.
  consume: `UPDATE clients SET consumed_at = $2, consumed_by = $3
            WHERE mac = $1 AND profile IS NOT NULL AND mode = 'once' AND consumed_at IS NULL
              AND (expires_at IS NULL OR expires_at > $2) AND (CAST($4 AS BIGINT) < 0 OR generation = CAST($4 AS BIGINT))
            RETURNING mac`,
  count: `SELECT COUNT(*) AS n FROM clients`,
  seeKnown: `UPDATE clients SET last_seen = $3, seen = $4, first_seen = COALESCE(first_seen, $2) WHERE mac = $1`,
  see: `INSERT INTO clients (mac, first_seen, last_seen, seen) VALUES ($1, $2, $3, $4)
        ON CONFLICT (mac) DO UPDATE SET first_seen = COALESCE(clients.first_seen, excluded.first_seen),
          last_seen = excluded.last_seen, seen = excluded.seen`,
};

/** A row (either backend) → a record. BIGINTs may come back as strings (pg) or numbers. */
export function recordOf(row: Record<string, unknown>): ClientRecord {
  const n = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
  const r: ClientRecord = { mac: String(row.mac) };
  if (row.profile !== null && row.profile !== undefined) {
    const a: Assignment = { profile: String(row.profile), mode: row.mode === 'once' ? 'once' : 'persistent', generation: n(row.generation) ?? 0, assignedAt: n(row.assigned_at) ?? 0 };
    const e = n(row.expires_at);
    if (e !== undefined) a.expiresAt = e;
    const c = n(row.consumed_at);
    if (c !== undefined) a.consumedAt = c;
    if (row.consumed_by !== null && row.consumed_by !== undefined) a.consumedBy = String(row.consumed_by);
    if (row.uuid !== null && row.uuid !== undefined) a.uuid = String(row.uuid);
    r.assignment = a;
  }
  if (row.seen !== null && row.seen !== undefined) {
    try {
      r.seen = JSON.parse(String(row.seen)) as Seen;
    } catch { /* a row another version wrote: show no inventory rather than fail the list */ }
  }
  return r;
}

/** Why a consume did not take, from the row as it is now (the UPDATE matched nothing). */
export function whyNotConsumed(row: ClientRecord | undefined, generation: number | undefined, now: number): ConsumeResult {
  const a = row?.assignment;
  if (a === undefined) return 'none';
  if (a.mode !== 'once') return 'persistent';
  if (a.consumedAt !== undefined) return 'already';
  if (generation !== undefined && a.generation !== generation) return 'stale';
  if (a.expiresAt !== undefined && a.expiresAt <= now) return 'expired';
  return 'none';
}
