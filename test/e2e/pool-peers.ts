// Two pxepool peers on one lab segment for the real-firmware pool tests (pool-relay,
// pool-failover): configs, boot roots printing each peer's name, start, SIGKILL, and MACs
// chosen by the pool's ranking.

import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addAddress6, type Lab, type Host } from '../lib/netns.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { makeBootRoot } from './artifacts.ts';
import type { DhcpRecord } from './lab-pcap.ts';
import { rankPeers } from '../../src/pool/ranking.ts';

export const SECRET = 'pxepool-e2e-pool-secret-0123';
export const A = 'peer-a';
export const B = 'peer-b';
export const WEIGHTS = [{ name: A, weight: 1 }, { name: B, weight: 1 }];

export function outDir(lab: Lab, name: string): string {
  const d = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, name) : join(lab.tmpDir, `out-${name}`);
  // A serial log left by an earlier run would be read (marker included) before QEMU truncates it.
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** The owner the pool computes for a MAC with every peer live. */
export function ownerOf(mac: string): string {
  return rankPeers(mac, WEIGHTS)[0]!;
}

/** The first MAC `<prefix>:NN` (NN from 01) whose owner is `owner`. */
export function macOwnedBy(prefix: string, owner: string): string {
  for (let i = 1; i < 256; i++) {
    const mac = `${prefix}:${i.toString(16).padStart(2, '0')}`;
    if (ownerOf(mac) === owner) return mac;
  }
  throw new Error(`no MAC under ${prefix} owned by ${owner}`);
}

export function seq(pkts: readonly DhcpRecord[]): string {
  return pkts.map((p) => `${p.t.toFixed(2)}s ${p.src}:${p.srcPort}→${p.dst}:${p.dstPort} type ${p.type}${p.yiaddr !== '' && p.yiaddr !== '0.0.0.0' ? ` yiaddr ${p.yiaddr}` : ''}${p.siaddr !== '' && p.siaddr !== '0.0.0.0' ? ` siaddr ${p.siaddr}` : ''}${p.file ? ` file ${p.file}` : ''}`).join(' | ');
}

export function msgOf(line: string): string {
  try {
    return (JSON.parse(line) as { msg?: string }).msg ?? line;
  } catch {
    return line;
  }
}

export function logTail(srv: ServeProc, n = 30): string {
  return srv.logs.slice(-n).map((l) => JSON.stringify(l)).join('\n');
}

export interface Peer { name: string; address: string; host: Host; srv: ServeProc; config: string }

export const PROFILES = `
profiles:
  bios-lab:
    bios: pxelinux.0                     # no ipxe: the iPXE ROM takes pxelinux over TFTP
  uefi-lab:
    efiX64: snponly.efi                  # EDK2 → iPXE for UEFI
    ipxe: http://\${server}/boot.ipxe    # iPXE → script and kernel over HTTP
rules:
  - { match: { arch: bios }, profile: bios-lab }
default: uefi-lab
`;

/** Start the two pool peers (A, B) on `segment`; resolves once each has seen the other up. */
export interface StartPeersOptions {
  /** pool service addresses per peer (failover after an answer) */
  service?: { [A]: string; [B]: string };
  /** extra lines for the pool: section (indented two spaces) */
  poolExtra?: string;
  /** profiles/rules/default instead of PROFILES */
  profiles?: string;
  /** top-level config lines added to each peer (e.g. `log: { level: debug }`) */
  configExtra?: string;
  /** server.proxyDhcp on both peers (boot media: `off`, no ProxyDHCP on the segment) */
  proxyDhcp?: 'proxy' | '4011-only' | 'off';
  /** each peer's own IPv6 address (/64, added without DAD) as server.address6: ProxyDHCPv6 */
  address6?: { [A]: string; [B]: string };
  /** IPv6 service addresses per peer (needs address6) */
  service6?: { [A]: string; [B]: string };
}

export async function startPeers(lab: Lab, segment: string, addrs: { [A]: string; [B]: string }, prefixLen: number, gateway?: string, o: StartPeersOptions = {}): Promise<Record<string, Peer>> {
  const peers: Record<string, Peer> = {};
  const sa = (n: typeof A | typeof B): string => (o.service !== undefined ? `, serviceAddress: ${o.service[n]}` : '') + (o.service6 !== undefined ? `, serviceAddress6: "${o.service6[n]}"` : '');
  const poolSection = (name: string, addr: string) => `
pool:
  name: ${name}
  bind: ${addr}
  secret: "${SECRET}"
${o.poolExtra ?? ''}
  peers:
    - { name: ${A}, address: ${addrs[A]}${sa(A)} }
    - { name: ${B}, address: ${addrs[B]}${sa(B)} }
`;
  for (const name of [A, B] as const) {
    const address = addrs[name];
    const host = await lab.addHost(name, { segment, address: `${address}/${prefixLen}`, ...(gateway !== undefined ? { gateway } : {}) });
    if (o.address6 !== undefined) await addAddress6(host, `${o.address6[name]}/64`);
    const root = makeBootRoot(join(lab.tmpDir, `root-${name}`), { serverName: name });
    const cfg = join(lab.tmpDir, `${name}.yaml`);
    writeFileSync(cfg, `server: { name: ${name}${o.proxyDhcp !== undefined ? `, proxyDhcp: ${o.proxyDhcp}` : ''}${o.address6 !== undefined ? `, address6: "${o.address6[name]}"` : ''} }\nroot: ${root}\nhttp: { port: 8080 }\n${o.configExtra ?? ''}\n${o.profiles ?? PROFILES}${poolSection(name, address)}`);
    const srv = await startServe(['--config', cfg], { ns: host.ns });
    peers[name] = { name, address, host, srv, config: cfg };
  }
  const [pa, pb] = [peers[A]!, peers[B]!];
  await Promise.all([
    pa.srv.waitForLog((l) => l.event === 'pool-up' && l.peer === B, 10_000),
    pb.srv.waitForLog((l) => l.event === 'pool-up' && l.peer === A, 10_000),
  ]);
  for (const p of [pa, pb]) {
    assert.ok(!p.srv.logs.some((l) => l.event === 'pool-config-mismatch'), `${p.name}: the peers agree on the pool config`);
  }
  return peers;
}

/** SIGKILL a peer and wait (bounded) until the survivor's log says it is down. */
export async function killPeer(victim: Peer, survivor: Peer): Promise<number> {
  const t0 = Date.now();
  victim.srv.proc.kill('SIGKILL');
  await new Promise<void>((resolve) => {
    if (victim.srv.proc.exitCode !== null || victim.srv.proc.signalCode !== null) resolve();
    else victim.srv.proc.once('exit', () => resolve());
  });
  await survivor.srv.waitForLog((l) => l.event === 'pool-down' && l.peer === victim.name, 10_000);
  return Date.now() - t0;
}

