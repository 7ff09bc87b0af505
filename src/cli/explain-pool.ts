// `pxepool explain --pool`: ask every configured peer's HTTP API about one client, each with its
// own short deadline, so a dead peer costs the wait of one timeout, not the answer.

import type { Config } from '../config/schema.ts';
import type { ExplainBody } from '../app/explain-client.ts';
import { mergeExplains, type MergedExplain, type PeerAnswer } from '../observe/explain-merge.ts';

/** Each pool peer's explain URL, from the config (the HTTP port is the pool's shared one). */
export function peerExplainUrls(config: Config, mac: string): { peer: string; url: string }[] {
  const peers = config.pool?.peers ?? [];
  const port = config.http.port;
  return peers.map((p) => ({ peer: p.name, url: `http://${p.address}${port === 80 ? '' : `:${port}`}/api/v1/explain?mac=${encodeURIComponent(mac)}` }));
}

const MAX_BODY = 1 << 20;

async function ask(peer: string, url: string, timeoutMs: number): Promise<PeerAnswer> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (text.length > MAX_BODY) return { peer, url, ok: false, error: `answer larger than ${MAX_BODY} bytes` };
    if (!res.ok) return { peer, url, ok: false, error: `HTTP ${res.status}: ${text.slice(0, 200).trim()}` };
    const body = JSON.parse(text) as ExplainBody;
    if (typeof body !== 'object' || body === null || !Array.isArray(body.events) || typeof body.verdict !== 'string') {
      return { peer, url, ok: false, error: 'not a pxepool explain answer' };
    }
    return { peer, url, ok: true, body };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    return { peer, url, ok: false, error: why };
  }
}

export async function explainPool(config: Config, mac: string, timeoutMs: number): Promise<MergedExplain> {
  const answers = await Promise.all(peerExplainUrls(config, mac).map((p) => ask(p.peer, p.url, timeoutMs)));
  return mergeExplains(mac, answers);
}
