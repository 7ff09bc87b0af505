// `pxepool status`: a running server's /status as a table an admin can read at a glance.

export interface StatusView {
  name: string;
  version: string;
  uptimeSeconds: number;
  config: string;
  proxyDhcp: { mode: string; addresses: string[] };
  tftp?: { activeTransfers: number; transfersOk: number; transfersFailed: number; bytesDelivered: number };
  http?: { port: number; active: number };
  pool?: {
    name: string;
    live: string[];
    configAgreement: { agree: boolean; mismatches: { peer: string; theirs: string }[] };
    peers: { name: string; address: string; live: boolean; health: string; tftp: number; http: number; weight: number; steppedBack: boolean; lastSeenMsAgo: number | null; configAgrees: boolean | null; expectedShare: number; self: boolean }[];
    ownership: { expectedShare: number; discovers: number; owned: number };
    takeovers: { total: number; byReason: Record<string, number> };
  };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatStatus(s: StatusView): string {
  const out: string[] = [];
  out.push(`${s.name}  pxepool ${s.version}  up ${s.uptimeSeconds}s  config ${s.config}`);
  out.push(`proxyDhcp ${s.proxyDhcp.mode} on ${s.proxyDhcp.addresses.join(', ') || '-'}`);
  if (s.tftp) out.push(`tftp: ${s.tftp.activeTransfers} active, ${s.tftp.transfersOk} ok, ${s.tftp.transfersFailed} failed, ${(s.tftp.bytesDelivered / 1048576).toFixed(1)} MiB delivered`);
  if (s.http) out.push(`http: port ${s.http.port}, ${s.http.active} active`);
  const p = s.pool;
  if (p === undefined) {
    out.push('pool: not configured (single server)');
    return out.join('\n') + '\n';
  }
  out.push(`pool: ${p.live.length}/${p.peers.length} peers live; config ${p.configAgreement.agree ? 'agrees on every live peer' : `DIFFERS on ${p.configAgreement.mismatches.map((m) => m.peer).join(', ')}`}`);
  out.push(`  ${pad('peer', 14)}${pad('address', 17)}${pad('state', 9)}${pad('health', 10)}${pad('tftp', 6)}${pad('http', 6)}${pad('weight', 8)}${pad('share', 7)}${pad('seen', 9)}config`);
  for (const peer of p.peers) {
    const state = peer.live ? (peer.steppedBack ? 'stepback' : 'up') : 'DOWN';
    const seen = peer.self ? 'self' : peer.lastSeenMsAgo === null ? 'never' : `${peer.lastSeenMsAgo}ms`;
    const cfg = peer.configAgrees === null ? '-' : peer.configAgrees ? 'same' : 'DIFFERENT';
    out.push(`  ${pad(peer.name, 14)}${pad(peer.address, 17)}${pad(state, 9)}${pad(peer.health, 10)}${pad(String(peer.tftp), 6)}${pad(String(peer.http), 6)}${pad(String(peer.weight), 8)}${pad(`${Math.round(peer.expectedShare * 100)}%`, 7)}${pad(seen, 9)}${cfg}`);
  }
  const share = p.ownership.discovers === 0 ? '-' : `${Math.round((p.ownership.owned / p.ownership.discovers) * 100)}%`;
  out.push(`ownership: owner for ${p.ownership.owned} of ${p.ownership.discovers} DISCOVERs seen (${share}; expected ${Math.round(p.ownership.expectedShare * 100)}%)`);
  out.push(`takeovers: ${p.takeovers.total}${Object.keys(p.takeovers.byReason).length ? ' (' + Object.entries(p.takeovers.byReason).map(([k, v]) => `${k} ${v}`).join(', ') + ')' : ''}`);
  return out.join('\n') + '\n';
}
