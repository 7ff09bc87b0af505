// The HTTP edge: boot files (iPXE, UEFI HTTP boot), per-client iPXE scripts, /metrics, /status,
// and the operator's pages and API (given as `routes`).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../observe/metrics.ts';
import { ConnectionLimiter } from './limits.ts';

export type FileHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface HttpServerOptions {
  host?: string;
  /** with host '::': IPv6 only, beside an IPv4 server on the same port */
  ipv6Only?: boolean;
  port: number;
  metrics: Metrics;
  /** JSON for /status */
  status: () => unknown;
  /** iPXE script for /boot.ipxe, from the query (mac, platform, buildarch); undefined = fall through to files */
  ipxeScript?: (query: URLSearchParams, remote: string) => string | undefined;
  /** GRUB's counterpart of /boot.ipxe, for boot media (src/app/grub-script.ts) */
  grubScript?: (query: URLSearchParams, remote: string, local: string) => string | undefined;
  files?: FileHandler;
  /**
   * The operator's view (dashboard, /api/v1): asked before the boot files; resolves true when it
   * answered. Its paths are not boot transfers: no transfer line, not counted as load.
   */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean | Promise<boolean>;
  /** paths `routes` serves (see isOperatorPath) */
  isOperatorPath?: (path: string) => boolean;
  onError?: (err: Error) => void;
  /** once per request, as it arrives (the serve app logs it at debug level) */
  onRequest?: (r: { method: string; path: string; client: string; local: string }) => void;
  /** open connections one client address may hold; default 32 */
  maxPerAddress?: number;
  /** all open connections; default 2000 */
  maxConnections?: number;
  /** a request's headers must be complete this long after its connection opened; default 5000 */
  headersTimeoutMs?: number;
  /** a connection that sends and reads nothing this long is closed; default 60000 */
  idleTimeoutMs?: number;
  /** once per finished file or script response (not /metrics, /status): the serve app logs it */
  onResponse?: (r: { client: string; path: string; status: number; bytes: number; durationMs: number; complete: boolean }) => void;
  /** refused connections, by reason (the serve app counts them in /metrics) */
  onRefused?: (reason: 'per-address' | 'total', address: string) => void;
}

export interface ActiveHttpTransfer {
  client: string;
  file: string;
  /** bytes written to the socket so far (headers included) */
  bytes: number;
  /** the response's content-length, when it has one */
  size: number | null;
  elapsedMs: number;
}

export interface HttpServer {
  port: number;
  /** requests in progress (boot file downloads, mostly): the pool's load signal */
  active(): number;
  /** up to `max` file responses in progress, for the dashboard's progress bars */
  transfers(max: number): ActiveHttpTransfer[];
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { metrics } = opts;
  let active = 0;
  const inFlight = new Set<{ res: http.ServerResponse; client: string; path: string; t0: number; before: number }>();
  const operatorPath = (p: string): boolean => p === '/metrics' || p === '/status' || (opts.isOperatorPath?.(p) ?? false);
  const headersTimeout = opts.headersTimeoutMs ?? 5_000;
  // Node checks header and request deadlines only every connectionsCheckingInterval (30 s by
  // default): a deadline of 10 s then held slow connections for up to 40 s.
  const server = http.createServer({ connectionsCheckingInterval: Math.max(100, Math.min(1_000, headersTimeout / 4)) }, (req, res) => {
    const reqPath = (req.url ?? '/').split('?')[0]!;
    // Dashboards hold an event stream open for hours: that is not load a pool should balance.
    if (!operatorPath(reqPath)) {
      active++;
      const entry = { res, client: `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? 0}`, path: reqPath, t0: performance.now(), before: req.socket.bytesWritten };
      inFlight.add(entry);
      res.on('close', () => { active--; inFlight.delete(entry); });
    }
    if (opts.onRequest !== undefined) {
      try {
        opts.onRequest({ method: req.method ?? '', path: (req.url ?? '/').split('?')[0]!, client: req.socket.remoteAddress ?? '', local: req.socket.localAddress ?? '' });
      } catch { /* a logger must not break serving */ }
    }
    res.on('finish', () => metrics.httpRequests.inc({ code: String(res.statusCode) }));
    if (opts.onResponse !== undefined) {
      const t0 = performance.now();
      const path = (req.url ?? '/').split('?')[0]!;
      const sock = req.socket;
      const before = sock.bytesWritten;
      if (!operatorPath(path)) {
        res.on('close', () => {
          try {
            opts.onResponse!({ client: `${sock.remoteAddress ?? ''}:${sock.remotePort ?? 0}`, path, status: res.statusCode, bytes: Math.max(0, sock.bytesWritten - before), durationMs: performance.now() - t0, complete: res.writableFinished });
          } catch { /* a logger must not break serving */ }
        });
      }
    }
    handle(req, res).catch((err: Error) => {
      opts.onError?.(err);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      } else {
        res.destroy();
      }
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Runs of slashes are one: shim fetches its second stage as "//grubx64.efi" (the directory of
    // its own URI plus "/name"), and a leading "//" would otherwise parse as a host name.
    const path0 = (req.url ?? '/').replace(/^\/{2,}/, '/');
    const url = new URL(path0.startsWith('/') ? path0 : `/${path0}`, 'http://x');
    const method = req.method ?? 'GET';
    if (url.pathname === '/metrics' && (method === 'GET' || method === 'HEAD')) {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (url.pathname === '/status' && (method === 'GET' || method === 'HEAD')) {
      const body = JSON.stringify(opts.status(), null, 2) + '\n';
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (opts.routes !== undefined && (await opts.routes(req, res, url))) return;
    const scriptOf = url.pathname === '/boot.ipxe' ? opts.ipxeScript : url.pathname === '/boot.grub' ? opts.grubScript : undefined;
    if (scriptOf !== undefined && (method === 'GET' || method === 'HEAD')) {
      const script = scriptOf(url.searchParams, req.socket.remoteAddress ?? '', (req.socket.localAddress ?? '').replace(/^::ffff:/, ''));
      if (script !== undefined) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(script), 'Cache-Control': 'no-store' });
        res.end(method === 'HEAD' ? undefined : script);
        metrics.httpBytes.inc(Buffer.byteLength(script));
        return;
      }
    }
    if (opts.files && (await opts.files(req, res))) return;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  }

  server.keepAliveTimeout = 5000;
  server.headersTimeout = headersTimeout;
  server.requestTimeout = Math.max(headersTimeout, 30_000);
  server.maxConnections = opts.maxConnections ?? 2000;
  server.setTimeout(opts.idleTimeoutMs ?? 60_000, (socket) => socket.destroy());
  server.on('clientError', (_err, socket) => socket.destroy());
  // One address may not take every slot: past its share, a new connection is closed at once.
  const perAddress = new ConnectionLimiter(opts.maxPerAddress ?? 32);
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? '';
    if (!perAddress.admit(address)) {
      opts.onRefused?.('per-address', address);
      socket.destroy();
      return;
    }
    socket.once('close', () => perAddress.release(address));
  });
  server.on('drop', (d) => opts.onRefused?.('total', d?.remoteAddress ?? ''));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host ?? '0.0.0.0', port: opts.port, ...(opts.ipv6Only === true ? { ipv6Only: true } : {}) }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.onError?.(err));
  return {
    port: (server.address() as AddressInfo).port,
    active: () => active,
    transfers: (max) => {
      const out: ActiveHttpTransfer[] = [];
      const now = performance.now();
      for (const e of inFlight) {
        if (out.length >= max) break;
        const len = Number(e.res.getHeader('content-length'));
        out.push({ client: e.client, file: e.path, bytes: Math.max(0, e.res.socket === null ? 0 : e.res.socket.bytesWritten - e.before), size: Number.isFinite(len) ? len : null, elapsedMs: Math.round(now - e.t0) });
      }
      return out;
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
