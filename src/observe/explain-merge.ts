// `pxepool explain --pool --mac M`: every peer's /api/v1/explain answer (or why it gave none)
// merged into one account of the client: the rank order and owner, each peer's verdict now,
// what each saw, which files came from whom, how the last boot ended. Pure: the CLI fetches.

import type { ExplainBody } from '../app/explain-client.ts';
import { lastBootEnd, type ClientEvent } from './client-events.ts';
import { oneLine } from './printable.ts';

export type PeerAnswer =
  | { peer: string; url: string; ok: true; body: ExplainBody }
  | { peer: string; url: string; ok: false; error: string };

export interface MergedEvent extends ClientEvent { peer: string }

export interface MergedExplain {
  mac: string;
  /** the rank order the live peers report (the first that answered, when they disagree) */
  order: string[];
  owner: string | null;
  /** peers whose order or owner differs from the first answer's (membership views differ) */
  disagree: string[];
  peers: { peer: string; url: string; state: 'up' | 'down'; verdict?: string; reason?: string; known?: boolean; error?: string; events: number }[];
  /** every peer's events, oldest first */
  timeline: MergedEvent[];
  files: { at: number; peer: string; protocol: string; file: string; result: string; bytes: number | null }[];
  lastBoot: string;
  /** client-sent strings as some peer last saw them */
  facts: { hostname: string | null; vendorClass: string | null; firmware: string | null };
}

export function mergeExplains(mac: string, answers: readonly PeerAnswer[]): MergedExplain {
  const ups = answers.filter((a): a is Extract<PeerAnswer, { ok: true }> => a.ok);
  const first = ups.find((a) => a.body.rank !== undefined);
  const order = first?.body.rank?.order ?? [];
  const owner = first?.body.rank?.owner ?? null;
  const disagree = ups
    .filter((a) => a.body.rank !== undefined && (a.body.rank.owner !== owner || a.body.rank.order.join() !== order.join()))
    .map((a) => a.peer);
  const timeline: MergedEvent[] = ups
    .flatMap((a) => a.body.events.map((e) => ({ ...e, peer: a.peer })))
    .sort((x, y) => x.at - y.at || (x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0));
  const files = timeline
    .filter((e) => e.kind === 'file')
    .map((e) => ({ at: e.at, peer: e.peer, protocol: e.protocol ?? '?', file: e.file ?? '?', result: e.result ?? '?', bytes: e.bytes ?? null }));
  const known = ups.filter((a) => a.body.known && a.body.facts !== undefined).sort((x, y) => y.body.at - x.body.at)[0]?.body.facts;
  const withHost = timeline.findLast((e) => e.hostname !== undefined || e.vendorClass !== undefined);
  return {
    mac, order, owner, disagree,
    peers: answers.map((a) => (a.ok
      ? { peer: a.peer, url: a.url, state: 'up' as const, verdict: a.body.verdict, reason: a.body.reason, known: a.body.known, events: a.body.events.length }
      : { peer: a.peer, url: a.url, state: 'down' as const, error: a.error, events: 0 })),
    timeline,
    files,
    lastBoot: lastBootEnd(timeline),
    facts: {
      hostname: withHost?.hostname ?? known?.hostname ?? null,
      vendorClass: withHost?.vendorClass ?? known?.vendorClass ?? null,
      firmware: withHost?.firmware ?? known?.firmware ?? null,
    },
  };
}

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 23);

function step(e: MergedEvent): string {
  switch (e.kind) {
    case 'offer': return `offer${e.file !== undefined ? ` of ${e.file}` : ''}${e.reason !== undefined ? ` (${e.reason})` : ''}${e.profile !== undefined ? `, profile ${e.profile}` : ''}`;
    case 'ack': return `4011 answered${e.file !== undefined ? `, boot file ${e.file}` : ''}`;
    case 'held': return `held back${e.reason !== undefined ? ` (${e.reason})` : ''}`;
    case 'ignore': return `ignored${e.reason !== undefined ? `: ${e.reason}` : ''}`;
    case 'file': return `${(e.protocol ?? 'file').toUpperCase()} ${e.file ?? '?'}: ${e.result ?? '?'}${e.bytes !== undefined ? `, ${e.bytes} bytes` : ''}${e.client !== undefined ? ` to ${e.client}` : ''}`;
  }
}

/** The merged account as a person reads it; every client-sent string made one harmless line. */
export function formatMerged(m: MergedExplain): string {
  const out: string[] = [];
  out.push(`client ${m.mac}${m.facts.hostname !== null ? `  hostname ${JSON.stringify(m.facts.hostname)}` : ''}${m.facts.vendorClass !== null ? `  vendor ${JSON.stringify(m.facts.vendorClass)}` : ''}${m.facts.firmware !== null ? `  firmware ${m.facts.firmware}` : ''}`);
  out.push(m.order.length > 0 ? `rank order: ${m.order.join(' > ')}; owner now: ${m.owner ?? 'no live peer'}` : 'rank order: unknown (no peer answered with a pool ranking)');
  if (m.disagree.length > 0) out.push(`  warning: ${m.disagree.join(', ')} see${m.disagree.length === 1 ? 's' : ''} a different order or owner (their views of who is live differ)`);
  out.push('verdict now, per peer:');
  for (const p of m.peers) {
    out.push(p.state === 'down' ? `  ${p.peer}: down: ${p.error ?? 'no answer'}` : `  ${p.peer}: ${p.verdict}: ${p.reason}  (${p.events} event${p.events === 1 ? '' : 's'} seen)`);
  }
  out.push(m.timeline.length > 0 ? 'seen recently:' : 'seen recently: nothing on any peer that answered');
  for (const e of m.timeline) out.push(`  ${clock(e.at)}  ${e.peer}  ${e.port !== undefined && e.kind !== 'file' ? `${e.port}  ` : ''}${step(e)}`);
  if (m.files.length > 0) {
    out.push('files fetched:');
    for (const f of m.files) out.push(`  ${f.file} from ${f.peer} over ${f.protocol}: ${f.result}`);
  }
  out.push(`last boot: ${m.lastBoot}`);
  return out.map(oneLine).join('\n') + '\n';
}
