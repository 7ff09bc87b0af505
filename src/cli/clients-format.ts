// `pxepool clients` output for people: one line per client, times relative to `now`. Pure.

export interface ClientView {
  mac: string;
  assignment?: { profile: string; mode: string; state: string; expiresAt?: number; consumedAt?: number; consumedBy?: string; generation: number; assignedAt: number; uuid?: string };
  seen?: { firstSeen: number; lastSeen: number; firmware?: string; arch?: number; vendorClass?: string; uuid?: string; relay?: string; decision?: string; reason?: string; file?: string; peer?: string; outcome?: string };
  stale?: boolean;
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length);
}

/** 42s, 5m, 3h, 2d ago (or 'in …' for the future); '-' for nothing. */
export function ago(t: number | undefined, now: number): string {
  if (t === undefined) return '-';
  const d = Math.round((now - t) / 1000);
  const a = Math.abs(d);
  const s = a < 120 ? `${a}s` : a < 5400 ? `${Math.round(a / 60)}m` : a < 172800 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86400)}d`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

// Client-sent text (vendor class, file names) must not drive the terminal.
const clean = (s: string | undefined): string => (s ?? '-').replace(/[\x00-\x1f\x7f-\x9f]/g, '?');

export function formatClients(clients: readonly ClientView[], now: number, stale: boolean): string {
  const out = [`${pad('mac', 18)}${pad('profile', 14)}${pad('mode', 11)}${pad('state', 9)}${pad('expires', 10)}${pad('last seen', 10)}${pad('firmware', 13)}${pad('peer', 10)}last file`];
  for (const c of clients) {
    const a = c.assignment;
    const s = c.seen;
    out.push(`${pad(c.mac, 18)}${pad(a?.profile ?? '-', 14)}${pad(a?.mode ?? '-', 11)}${pad(a?.state ?? '-', 9)}${pad(a?.expiresAt === undefined ? '-' : ago(a.expiresAt, now), 10)}${pad(ago(s?.lastSeen, now), 10)}${pad(clean(s?.firmware), 13)}${pad(clean(s?.peer), 10)}${clean(s?.file)}${s?.outcome !== undefined && s.outcome !== 'ok' ? ` (${clean(s.outcome)})` : ''}`);
  }
  if (clients.length === 0) out.push('(no clients)');
  if (stale) out.push('store unreachable: this is the peer\'s last known copy');
  return out.join('\n') + '\n';
}

export function formatClient(c: ClientView, now: number): string {
  const out = [`client ${c.mac}${c.stale === true ? '  (store unreachable: last known copy)' : ''}`];
  const a = c.assignment;
  if (a === undefined) out.push('  assignment: none (the rules decide)');
  else {
    out.push(`  assignment: profile ${a.profile}, ${a.mode}, ${a.state}${a.state === 'consumed' ? ` ${ago(a.consumedAt, now)}${a.consumedBy !== undefined ? ` by ${clean(a.consumedBy)}` : ''}` : ''}`);
    out.push(`  assigned ${ago(a.assignedAt, now)} (generation ${a.generation})${a.expiresAt !== undefined ? `, expires ${new Date(a.expiresAt).toISOString()} (${ago(a.expiresAt, now)})` : ''}${a.uuid !== undefined ? `, also for uuid ${clean(a.uuid)}` : ''}`);
  }
  const s = c.seen;
  if (s === undefined) out.push('  seen: never');
  else {
    out.push(`  seen: first ${ago(s.firstSeen, now)}, last ${ago(s.lastSeen, now)}${s.peer !== undefined ? ` by ${clean(s.peer)}` : ''}`);
    out.push(`  firmware ${clean(s.firmware)} (arch ${s.arch ?? '-'}), vendor class ${clean(s.vendorClass)}${s.uuid !== undefined ? `, uuid ${clean(s.uuid)}` : ''}${s.relay !== undefined ? `, relay ${clean(s.relay)}` : ''}`);
    out.push(`  last decision: ${clean(s.decision)} (${clean(s.reason)}); last file ${clean(s.file)} (${clean(s.outcome)})`);
  }
  return out.join('\n') + '\n';
}
