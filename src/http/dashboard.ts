// The operator's view over HTTP: the dashboard under /pxepool/ (and `/` redirecting to it), and
// /api/v1: state (one snapshot), events (the same snapshot, live, as Server-Sent Events) and
// explain?mac=. The snapshot and explain answers come from the serve app.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-assets.ts';
import { createSseHub } from './sse.ts';
import { normaliseMac } from '../app/explain-client.ts';

export const DASHBOARD_PATH = '/pxepool/';

/** The page may load its own script, style and API and nothing else; no inline script. */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };
const API = { ...SECURITY, 'content-security-policy': "default-src 'none'; frame-ancestors 'none'", 'cache-control': 'no-store' };

export interface DashboardOptions {
  snapshot(): unknown;
  /** undefined: nothing to say (never: a valid MAC always gets an answer) */
  explain(mac: string): unknown;
  /** how often live dashboards get a snapshot */
  intervalMs?: number;
  maxSubscribers?: number;
  maxBufferBytes?: number;
}

export interface Dashboard {
  routes(req: IncomingMessage, res: ServerResponse, url: URL): boolean;
  /** a snapshot to every dashboard now, not at the next tick (a peer went down or came up) */
  pushNow(): void;
  subscribers(): number;
  close(): void;
}

/** Paths the dashboard answers: not boot transfers (no transfer line, not the pool's load). */
export function isOperatorPath(path: string): boolean {
  return path === '/' || path === '/pxepool' || path.startsWith(DASHBOARD_PATH) || path.startsWith('/api/v1/');
}

export function createDashboard(o: DashboardOptions): Dashboard {
  const hub = createSseHub({ maxSubscribers: o.maxSubscribers ?? 16, maxBufferBytes: o.maxBufferBytes ?? 1 << 20 });
  const interval = o.intervalMs ?? 1000;
  const push = (): void => {
    if (hub.subscribers() > 0) hub.broadcast('state', o.snapshot());
  };
  const tick = setInterval(push, interval);
  tick.unref();
  // Membership changes come in bursts (a peer's heartbeats time out on every peer at once): one
  // extra snapshot per burst, 50 ms after its first change.
  let soon: NodeJS.Timeout | undefined;

  const send = (res: ServerResponse, head: boolean, status: number, type: string, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { ...headers, 'content-type': type, 'content-length': String(Buffer.byteLength(body)) });
    res.end(head ? undefined : body);
  };
  const json = (res: ServerResponse, head: boolean, status: number, body: unknown): void => send(res, head, status, 'application/json', JSON.stringify(body, null, 2) + '\n', API);
  const page = { ...SECURITY, 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-store' };

  return {
    routes(req, res, url) {
      const path = url.pathname;
      if (!isOperatorPath(path)) return false;
      const method = req.method ?? 'GET';
      if (method !== 'GET' && method !== 'HEAD') {
        send(res, false, 405, 'text/plain', 'method not allowed\n', { ...SECURITY, allow: 'GET, HEAD' });
        return true;
      }
      const head = method === 'HEAD';
      // `/` is never a boot file (the file handler serves no directory): it is the admin's way in.
      if (path === '/' || path === '/pxepool') {
        res.writeHead(302, { ...SECURITY, location: DASHBOARD_PATH });
        res.end();
        return true;
      }
      switch (path) {
        case DASHBOARD_PATH: send(res, head, 200, 'text/html; charset=utf-8', DASHBOARD_HTML, page); return true;
        case `${DASHBOARD_PATH}dashboard.js`: send(res, head, 200, 'text/javascript; charset=utf-8', DASHBOARD_JS, page); return true;
        case `${DASHBOARD_PATH}dashboard.css`: send(res, head, 200, 'text/css; charset=utf-8', DASHBOARD_CSS, page); return true;
        case '/api/v1/state': json(res, head, 200, o.snapshot()); return true;
        case '/api/v1/explain': {
          const mac = normaliseMac(url.searchParams.get('mac'));
          if (mac === undefined) json(res, head, 400, { error: 'give mac=aa:bb:cc:dd:ee:ff' });
          else json(res, head, 200, o.explain(mac));
          return true;
        }
        case '/api/v1/events':
          if (hub.subscribe(req, res, API)) res.write(`event: state\ndata: ${JSON.stringify(o.snapshot())}\n\n`);
          return true;
      }
      json(res, head, 404, { error: 'not found' });
      return true;
    },
    pushNow() {
      if (soon !== undefined || hub.subscribers() === 0) return;
      soon = setTimeout(() => { soon = undefined; push(); }, 50);
      soon.unref();
    },
    subscribers: () => hub.subscribers(),
    close() {
      clearInterval(tick);
      clearTimeout(soon);
      hub.close();
    },
  };
}
