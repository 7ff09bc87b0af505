// /api/v1/clients and /api/v1/inventory: the pool's per-client assignments over HTTP (issue 18).
// Writes need the bearer token from api.tokenFile; with none configured they are off, and so
// are reads unless api.publicRead. Every body is size-capped and checked (store/validate.ts)
// before anything is written.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Deployments, StoreDown } from '../store/deployments.ts';
import { MAX_BODY_BYTES, checkAssignment, checkMac } from '../store/validate.ts';
import { assignmentState, type ClientRecord } from '../store/model.ts';

export const CLIENTS_PATH = '/api/v1/clients';
export const INVENTORY_PATH = '/api/v1/inventory';
const MAX_LIST = 10_000;

export interface ClientsApiOptions {
  deployments: Deployments;
  /** the bearer token; undefined: the write API is off */
  token: string | undefined;
  publicRead: boolean;
  /** the profiles an assignment may name (the running config's) */
  profiles: () => readonly string[];
}

const HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" };

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { ...HEADERS, ...extra, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Equal tokens, in time that does not depend on where they differ (hashes have one length). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The body up to `max` bytes; undefined when it is longer (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) { resolve(undefined); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) { req.pause(); resolve(undefined); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function shown(r: ClientRecord, now: number): unknown {
  return r.assignment === undefined ? r : { ...r, assignment: { ...r.assignment, state: assignmentState(r.assignment, now) } };
}

export function createClientsApi(o: ClientsApiOptions): { routes(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> } {
  const authorized = (req: IncomingMessage, write: boolean): { ok: true } | { ok: false; status: number; error: string } => {
    if (!write && o.publicRead) return { ok: true };
    if (o.token === undefined) {
      return { ok: false, status: 403, error: write ? 'the write API is off: no api.tokenFile is configured' : 'the clients API is off: no api.tokenFile is configured and api.publicRead is false' };
    }
    const h = req.headers.authorization ?? '';
    const m = /^Bearer +(\S+)\s*$/i.exec(h);
    if (m === null) return { ok: false, status: 401, error: 'missing bearer token (Authorization: Bearer TOKEN)' };
    if (!tokenMatches(m[1]!, o.token)) return { ok: false, status: 401, error: 'wrong token' };
    return { ok: true };
  };

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const now = Date.now();
    const write = method !== 'GET' && method !== 'HEAD';
    const auth = authorized(req, write);
    if (!auth.ok) { send(res, auth.status, { error: auth.error }, auth.status === 401 ? { 'www-authenticate': 'Bearer' } : {}); return; }

    if (path === CLIENTS_PATH || path === INVENTORY_PATH) {
      if (write) { send(res, 405, { error: 'method not allowed' }, { allow: 'GET' }); return; }
      const asked = Number(url.searchParams.get('limit') ?? 1000);
      const limit = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_LIST) : 1000;
      const { clients, stale } = await o.deployments.list(limit);
      if (path === INVENTORY_PATH) send(res, 200, { stale, clients: clients.filter((c) => c.seen !== undefined).map((c) => ({ mac: c.mac, ...c.seen })) });
      else send(res, 200, { stale, clients: clients.map((c) => shown(c, now)) });
      return;
    }
    const m = /^\/api\/v1\/clients\/([^/]+)(\/done)?$/.exec(path);
    if (m === null) { send(res, 404, { error: 'not found' }); return; }
    let raw: string;
    try { raw = decodeURIComponent(m[1]!); } catch { raw = m[1]!; }
    const mac = checkMac(raw);
    if (!mac.ok) { send(res, mac.status, { error: mac.error }); return; }
    if (m[2] !== undefined) {
      if (method !== 'POST') { send(res, 405, { error: 'method not allowed' }, { allow: 'POST' }); return; }
      const r = await o.deployments.done(mac.value, now);
      if (r === 'consumed' || r === 'already') send(res, 200, { mac: mac.value, result: r });
      else if (r === 'queued') send(res, 202, { mac: mac.value, result: r, note: 'the store is unreachable: this peer no longer answers the client and writes the consume when the store is back' });
      else if (r === 'none') send(res, 404, { error: `no client ${mac.value} with an assignment` });
      else send(res, 409, { mac: mac.value, result: r, error: r === 'persistent' ? 'a persistent assignment is not used up by done; clear it instead' : `the assignment is ${r}` });
      return;
    }
    switch (method) {
      case 'GET': case 'HEAD': {
        const { record, stale } = await o.deployments.get(mac.value);
        if (record === undefined) send(res, 404, { error: `no client ${mac.value}` });
        else send(res, 200, { ...(shown(record, now) as object), stale });
        return;
      }
      case 'PUT': {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') { send(res, 415, { error: 'send the body as application/json' }); return; }
        const body = await readBody(req, MAX_BODY_BYTES);
        if (body === undefined) { send(res, 413, { error: `body larger than ${MAX_BODY_BYTES} bytes` }, { connection: 'close' }); return; }
        const a = checkAssignment(body, o.profiles(), now);
        if (!a.ok) { send(res, a.status, { error: a.error }); return; }
        send(res, 200, shown(await o.deployments.put(mac.value, a.value, now), now));
        return;
      }
      case 'DELETE': {
        if (await o.deployments.clear(mac.value)) send(res, 200, { mac: mac.value, cleared: true });
        else send(res, 404, { error: `no assignment for ${mac.value}` });
        return;
      }
    }
    send(res, 405, { error: 'method not allowed' }, { allow: 'GET, PUT, DELETE' });
  }

  return {
    async routes(req, res, url) {
      if (url.pathname !== CLIENTS_PATH && url.pathname !== INVENTORY_PATH && !url.pathname.startsWith(`${CLIENTS_PATH}/`)) return false;
      try {
        await handle(req, res, url);
      } catch (err) {
        if (!(err instanceof StoreDown)) throw err;
        if (!res.headersSent) send(res, 503, { error: `${err.message}: nothing was written`, retry: true }, { 'retry-after': '5' });
      }
      return true;
    },
  };
}
