// The HTTP edge: boot files (iPXE, UEFI HTTP boot), per-client iPXE scripts, /metrics, /status.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from '../observe/metrics.ts';

export type FileHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<boolean>;

export interface HttpServerOptions {
  host?: string;
  port: number;
  metrics: Metrics;
  /** JSON for /status */
  status: () => unknown;
  /** iPXE script for /boot.ipxe, from the query (mac, platform, buildarch); undefined = fall through to files */
  ipxeScript?: (query: URLSearchParams, remote: string) => string | undefined;
  files?: FileHandler;
  onError?: (err: Error) => void;
  /** once per request, as it arrives (the serve app logs it at debug level) */
  onRequest?: (r: { method: string; path: string; client: string; local: string }) => void;
}

export interface HttpServer {
  port: number;
  /** requests in progress (boot file downloads, mostly): the pool's load signal */
  active(): number;
  close(): Promise<void>;
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const { metrics } = opts;
  let active = 0;
  const server = http.createServer((req, res) => {
    active++;
    res.on('close', () => { active--; });
    if (opts.onRequest !== undefined) {
      try {
        opts.onRequest({ method: req.method ?? '', path: (req.url ?? '/').split('?')[0]!, client: req.socket.remoteAddress ?? '', local: req.socket.localAddress ?? '' });
      } catch { /* a logger must not break serving */ }
    }
    res.on('finish', () => metrics.httpRequests.inc({ code: String(res.statusCode) }));
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
    const url = new URL(req.url ?? '/', 'http://x');
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
    if (url.pathname === '/boot.ipxe' && opts.ipxeScript && (method === 'GET' || method === 'HEAD')) {
      const script = opts.ipxeScript(url.searchParams, req.socket.remoteAddress ?? '');
      if (script !== undefined) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(script), 'cache-control': 'no-store' });
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
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.maxConnections = 2000;
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: opts.host ?? '0.0.0.0', port: opts.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.onError?.(err));
  return {
    port: (server.address() as AddressInfo).port,
    active: () => active,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
