// The serve app's side of the store: which backend the config names, the API token file, and
// what a peer reports of each client. Kept out of serve.ts so that file only wires it in.

import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { DEFAULT_STORE_PATH } from '../config/schema.ts';
import { Deployments } from '../store/deployments.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { openPostgresStore } from '../store/postgres.ts';
import type { Logger } from '../observe/log.ts';

/** undefined: the config has no store: section (the rules alone decide). */
export function createDeployments(config: Config, peer: string, logger: Logger): Deployments | undefined {
  const s = config.store;
  if (s === undefined) return undefined;
  const where = s.url !== undefined ? s.url.replace(/\/\/[^@/]*@/, '//…@') : (s.path ?? DEFAULT_STORE_PATH);
  return new Deployments({
    peer,
    refreshMs: s.refreshMs,
    open: async () => {
      const store = s.url !== undefined
        ? await openPostgresStore({ url: s.url, onError: (err) => logger.warn({ event: 'store-error', err }, `store: ${err.message}`) })
        : openSqliteStore(s.path ?? DEFAULT_STORE_PATH);
      logger.info({ event: 'store-open', kind: store.kind, at: where }, `store: ${store.kind} at ${where}`);
      return store;
    },
    // Said once per outage, not once per refresh.
    onError: (what, err) => logger.error({ event: 'store-unreachable', what, at: where, err: err.message }, `store ${where} unreachable: deciding from this peer's last known assignments; admin writes are refused until it is back`),
    onConsumed: (mac, how) => logger.info({ event: 'once-consumed', mac, how }, `once assignment of ${mac} used up (${how}): no peer answers it until it is re-armed`),
  });
}

/** The API's bearer token, read once at start; undefined when none is configured. */
export function readApiToken(config: Config): string | undefined {
  const file = config.api?.tokenFile;
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`api.tokenFile ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (text.length < 16) throw new Error(`api.tokenFile ${file}: the token must be at least 16 characters (e.g. openssl rand -hex 32 > ${file})`);
  return text;
}
