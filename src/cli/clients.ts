// `pxepool clients list|show|set|clear|done`: a running server's per-client assignments over its
// HTTP API (/api/v1/clients). The token comes from --token-file or PXEPOOL_TOKEN, never argv
// (other users can read a command line).

import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { formatClient, formatClients, type ClientView } from './clients-format.ts';
import { checkMac, parseExpires } from '../store/validate.ts';

interface Common { url: string; tokenFile?: string; json?: boolean; timeout: number }

function fail(msg: string, code = 1): never {
  process.stderr.write(`pxepool clients: ${msg}\n`);
  process.exit(code);
}

function token(o: Common): string | undefined {
  if (o.tokenFile !== undefined) {
    try {
      return readFileSync(o.tokenFile, 'utf8').trim();
    } catch (err) {
      fail(`--token-file ${o.tokenFile}: ${(err as Error).message}`, 2);
    }
  }
  const env = process.env.PXEPOOL_TOKEN;
  return env === undefined || env === '' ? undefined : env.trim();
}

async function call(o: Common, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const t = token(o);
  let res: Response;
  try {
    res = await fetch(new URL(path, o.url), {
      method,
      headers: { ...(t !== undefined ? { authorization: `Bearer ${t}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(o.timeout),
    });
  } catch (err) {
    fail(`cannot reach ${o.url}: ${(err as Error).message}`);
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = (await res.json()) as Record<string, unknown>;
  } catch {
    fail(`${o.url}${path}: HTTP ${res.status} without a JSON body (is this a pxepool with a store: section?)`);
  }
  return { status: res.status, body: parsed };
}

function macArg(s: string): string {
  const m = checkMac(s);
  if (!m.ok) fail(m.error, 2);
  return m.value;
}

/** Print the answer (JSON or words); exit 1 on an HTTP error, with the server's reason. */
function finish(o: Common, r: { status: number; body: Record<string, unknown> }, words: () => string): void {
  if (r.status >= 400) {
    if (o.json) process.stdout.write(JSON.stringify(r.body, null, 2) + '\n');
    fail(`HTTP ${r.status}: ${String(r.body.error ?? 'error')}`);
  }
  process.stdout.write(o.json ? JSON.stringify(r.body, null, 2) + '\n' : words());
}

const common = (c: Command): Command => c
  .option('--url <url>', 'the server HTTP address', 'http://127.0.0.1:8080')
  .option('--token-file <file>', 'file holding the API token (default: $PXEPOOL_TOKEN)')
  .option('--json', 'print the API answer as JSON')
  .option('--timeout <ms>', 'how long to wait for the server', Number, 5000);

export const clientsCommand = new Command('clients')
  .description('per-client assignments on a running server: list, show, set (once or persistent), clear, done')
  .addHelpText('after', `
Examples:
  pxepool clients list --url http://pxe-a:8080
  PXEPOOL_TOKEN=… pxepool clients set 52:54:00:12:34:56 --profile debian --once --expires 12h
  pxepool clients show 52:54:00:12:34:56 --json
  pxepool clients done 52:54:00:12:34:56 --token-file /etc/pxepool/api-token   # what an installer calls
  pxepool clients clear 52:54:00:12:34:56
`);

common(clientsCommand.command('list').description('every client: its assignment and what the pool saw'))
  .option('--limit <n>', 'at most this many clients', Number, 1000)
  .action(async (o: Common & { limit: number }) => {
    const r = await call(o, 'GET', `/api/v1/clients?limit=${Number.isInteger(o.limit) && o.limit > 0 ? o.limit : 1000}`);
    finish(o, r, () => formatClients((r.body.clients ?? []) as ClientView[], Date.now(), r.body.stale === true));
  });

common(clientsCommand.command('show').description('one client').argument('<mac>'))
  .action(async (mac: string, o: Common) => {
    const r = await call(o, 'GET', `/api/v1/clients/${macArg(mac)}`);
    finish(o, r, () => formatClient(r.body as unknown as ClientView, Date.now()));
  });

common(clientsCommand.command('set').description('assign a profile to a client (replaces its assignment and re-arms a used-up once)').argument('<mac>'))
  .requiredOption('--profile <name>', 'a profile of the server\'s config')
  .option('--once', 'boot it once: after its installer is done (or the profile\'s last file is delivered) no peer answers it')
  .addOption(new Option('--expires <when>', 'stop deciding after this: an ISO time or 30m, 12h, 7d from now'))
  .option('--uuid <uuid>', 'the machine\'s SMBIOS UUID: the assignment also decides for it from another NIC')
  .action(async (mac: string, o: Common & { profile: string; once?: boolean; expires?: string; uuid?: string }) => {
    let expires: string | undefined;
    if (o.expires !== undefined) {
      const t = parseExpires(o.expires, Date.now());
      if (t === undefined) fail(`--expires "${o.expires}" is neither an ISO time nor a duration like 12h`, 2);
      expires = new Date(t).toISOString();
    }
    const r = await call(o, 'PUT', `/api/v1/clients/${macArg(mac)}`, { profile: o.profile, mode: o.once ? 'once' : 'persistent', ...(expires !== undefined ? { expires } : {}), ...(o.uuid !== undefined ? { uuid: o.uuid } : {}) });
    finish(o, r, () => formatClient(r.body as unknown as ClientView, Date.now()));
  });

common(clientsCommand.command('clear').description('remove a client\'s assignment (the rules decide again; what the pool saw stays)').argument('<mac>'))
  .action(async (mac: string, o: Common) => {
    const m = macArg(mac);
    const r = await call(o, 'DELETE', `/api/v1/clients/${m}`);
    finish(o, r, () => `${m}: assignment cleared\n`);
  });

common(clientsCommand.command('done').description('the client\'s installation is done: use up its once assignment, pool-wide').argument('<mac>'))
  .action(async (mac: string, o: Common) => {
    const m = macArg(mac);
    const r = await call(o, 'POST', `/api/v1/clients/${m}/done`);
    finish(o, r, () => `${m}: ${r.body.result === 'already' ? 'was already used up' : r.body.result === 'queued' ? 'used up on this peer; the store is unreachable, it is written when it is back' : 'once assignment used up: no peer answers it until it is set again'}\n`);
  });
