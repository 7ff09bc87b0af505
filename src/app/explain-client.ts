// GET /api/v1/explain?mac=: this peer's answer for one client now, in words and data: what the
// policy decides with the facts its last DHCP exchange showed, what the pool gate would do with
// its next DISCOVER, the rank order and owner, and what this peer saw of it lately. Pure: the
// serve app hands in the decision and the gate's verdict.

import type { ClientFacts } from '../dhcp/facts-types.ts';
import type { Decision } from '../policy/decision.ts';
import type { GateVerdict } from '../pool/gate.ts';
import type { ClientEvent } from '../observe/client-events.ts';

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/** A MAC as the API and CLI take it (colons or dashes), lowercase with colons; undefined when it is not one. */
export function normaliseMac(s: string | null | undefined): string | undefined {
  if (s === null || s === undefined || !MAC.test(s)) return undefined;
  return s.toLowerCase().replaceAll('-', ':');
}

export type Verdict = 'answer' | 'hold' | 'ignore';

export interface ExplainBody {
  peer: string;
  mac: string;
  /** epoch ms on this peer */
  at: number;
  /** true when the verdict used facts from the client's own DHCP exchange, not a guess */
  known: boolean;
  facts?: { firmware: string; arch: number | null; vendorClass: string | null; hostname: string | null; relayed: boolean; ipxe: boolean };
  verdict: Verdict;
  reason: string;
  rule: string;
  profile?: string;
  bootFile?: string;
  /** with a pool: every configured peer in this client's order, the live ones, the owner */
  rank?: { order: string[]; live: string[]; owner: string | null };
  events: ClientEvent[];
}

export interface ExplainInput {
  peer: string;
  mac: string;
  now: number;
  facts: ClientFacts;
  known: boolean;
  decision: Decision;
  /** the gate's verdict for a DISCOVER now (only for a boot decision in a pool) */
  gate?: GateVerdict;
  rank?: { order: string[]; live: string[]; owner: string | undefined };
  events: ClientEvent[];
}

function gateWords(g: GateVerdict, owner: string | undefined): { verdict: Verdict; reason: string } {
  const after = g.action === 'after' ? ` after ${g.delayMs} ms` : '';
  switch (g.reason) {
    case 'owner': return { verdict: 'answer', reason: 'owner: this peer ranks first' };
    case 'owner-dead': return { verdict: 'answer', reason: 'owner: the peers ranked above this one are down' };
    case 'retransmit': return { verdict: 'answer', reason: `takeover${after}: the client retransmitted, its owner may have failed it` };
    case 'secs': return { verdict: 'answer', reason: `takeover${after}: the client says it has been trying a while (secs)` };
    case 'fallback': return { verdict: 'answer', reason: `fallback offer${after} (EDK2 tries it only if earlier offers fail)` };
    case 'direct': return { verdict: 'answer', reason: 'direct: the request names this peer' };
    case 'backup': return { verdict: 'hold', reason: `backup (rank ${g.rank}): ${owner ?? 'a better-ranked peer'} answers` };
    case 'not-member': return { verdict: 'hold', reason: 'this peer is not in the ranking' };
  }
}

export function explainClient(i: ExplainInput): ExplainBody {
  const f = i.facts;
  const base = {
    peer: i.peer, mac: i.mac, at: i.now, known: i.known,
    facts: { firmware: f.firmware, arch: f.arch ?? null, vendorClass: f.vendorClass ?? null, hostname: f.hostname ?? i.events.findLast((e) => e.hostname !== undefined)?.hostname ?? null, relayed: f.relayed, ipxe: f.isIpxe },
    ...(i.rank !== undefined ? { rank: { order: i.rank.order, live: i.rank.live, owner: i.rank.owner ?? null } } : {}),
    events: i.events,
  };
  const d = i.decision;
  // Without the client's own request only its MAC is known: rules on firmware cannot match yet.
  const guess = i.known ? '' : 'not seen here lately, judged on the MAC alone: ';
  if (d.action === 'ignore') return { ...base, verdict: 'ignore', reason: `${guess}${d.rule}: ${d.reason}`, rule: d.rule };
  const boot = { rule: d.rule, profile: d.profile, bootFile: d.bootFile };
  if (i.gate === undefined) return { ...base, ...boot, verdict: 'answer', reason: `${guess}${d.rule} → profile ${d.profile}` };
  const w = gateWords(i.gate, i.rank?.owner);
  return { ...base, ...boot, verdict: w.verdict, reason: `${guess}${w.reason}; ${d.rule} → profile ${d.profile}` };
}
