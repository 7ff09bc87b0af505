// A throwaway PostgreSQL for tests: initdb in a temporary directory as an unprivileged user
// (postgres refuses to run as root), listening on a unix socket in that directory only (no TCP
// at all), stopped and removed by stop().

import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, root, type Need } from './require.ts';

const PG_BIN = '/usr/lib/postgresql/15/bin';

export const POSTGRES_NEEDS: readonly Need[] = [
  root(),
  bin(`${PG_BIN}/initdb`, 'postgresql-15'),
  bin(`${PG_BIN}/pg_ctl`, 'postgresql-15'),
  bin('/usr/sbin/runuser', 'util-linux'),
];

export interface TestPostgres {
  url: string;
  dir: string;
  /** stops the server (the data stays: start() brings it back) */
  halt(): void;
  start(): void;
  /** stops it and removes the directory */
  stop(): void;
}

export function startPostgres(): TestPostgres {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-pg-'));
  // nobody: an account every Debian has, which owns nothing else here.
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  chownSync(dir, uid, -1);
  const as = (cmd: string, args: string[]) => execFileSync('runuser', ['-u', 'nobody', '--', `${PG_BIN}/${cmd}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  as('initdb', ['-D', join(dir, 'data'), '-U', 'pxepool', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const opts = `-c listen_addresses='' -c unix_socket_directories=${dir} -c fsync=off -c max_connections=40`;
  const start = () => { as('pg_ctl', ['-D', join(dir, 'data'), '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '30', 'start']); };
  const halt = () => { as('pg_ctl', ['-D', join(dir, 'data'), '-m', 'immediate', '-w', '-t', '30', 'stop']); };
  start();
  return {
    url: `postgres://pxepool@localhost/postgres?host=${encodeURIComponent(dir)}`,
    dir, halt, start,
    stop() {
      try { halt(); } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
