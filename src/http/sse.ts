// Server-Sent Events for the dashboard. Every resource is bounded: at most `maxSubscribers`
// streams, and a subscriber that does not read (its socket buffer past `maxBufferBytes`) is
// cut off instead of being buffered for without end.

import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SseHubOptions {
  maxSubscribers?: number;
  maxBufferBytes?: number;
  /** a comment line this often keeps proxies from closing an idle stream */
  keepAliveMs?: number;
}

export interface SseHub {
  /** takes the response over, or answers 503 when the hub is full; true when subscribed */
  subscribe(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): boolean;
  /** one event to every subscriber */
  broadcast(event: string, data: unknown): void;
  subscribers(): number;
  /** subscribers cut off for not reading, since start */
  dropped(): number;
  close(): void;
}

export function createSseHub(o: SseHubOptions = {}): SseHub {
  const max = o.maxSubscribers ?? 16;
  const maxBuffer = o.maxBufferBytes ?? 1 << 20;
  const subs = new Set<ServerResponse>();
  let dropped = 0;
  const keepAlive = setInterval(() => { for (const r of subs) write(r, ': keep-alive\n\n'); }, o.keepAliveMs ?? 15_000);
  keepAlive.unref();

  function write(res: ServerResponse, chunk: string): void {
    if (res.writableLength + chunk.length > maxBuffer) {
      dropped++;
      subs.delete(res);
      res.destroy();
      return;
    }
    res.write(chunk);
  }

  return {
    subscribe(req, res, headers) {
      if (subs.size >= max) {
        res.writeHead(503, { ...headers, 'content-type': 'text/plain', 'retry-after': '10' });
        res.end(`too many dashboards open here (${max}); close one or ask another peer\n`);
        return false;
      }
      res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      // The stream outlives the server's idle timeout by design.
      req.socket.setTimeout(0);
      res.write('retry: 1000\n\n');
      subs.add(res);
      res.on('close', () => subs.delete(res));
      return true;
    },
    broadcast(event, data) {
      if (subs.size === 0) return;
      const chunk = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const r of [...subs]) write(r, chunk);
    },
    subscribers: () => subs.size,
    dropped: () => dropped,
    close() {
      clearInterval(keepAlive);
      for (const r of subs) r.destroy();
      subs.clear();
    },
  };
}
