// What the site DHCP server needs to know for each PXE mode, independent of its syntax:
// boot files per client architecture (option 93), the boot server(s), the pool's peers.
// Modes (seed 002): 1 = the DHCP server hands out PXE boot data itself (no ProxyDHCP);
// 2 = pxepool runs on the DHCP server's host and only answers on 4011, so the DHCP server's
// offers must carry option 60 "PXEClient"; 3 = pxepool answers as ProxyDHCP beside an
// unchanged DHCP server (routed segments need IP helpers towards the peers).

import type { Config, Profile } from '../config/schema.ts';
import { expandServer } from '../policy/expand.ts';
import { isIpv4 } from '../config/values.ts';

export type SnippetMode = 1 | 2 | 3;
export const SNIPPET_FORMATS = ['isc', 'kea', 'dnsmasq', 'windows'] as const;
export type SnippetFormat = (typeof SNIPPET_FORMATS)[number];

export interface ArchBoot {
  /** short tag used for class names: bios, efi-x64, … */
  tag: string;
  label: string;
  /** RFC 4578 option 93 values that select this file */
  arches: number[];
  file: string;
  /** UEFI HTTP boot: the offer must carry option 60 "HTTPClient" and a URL */
  http: boolean;
}

export interface SnippetModel {
  mode: SnippetMode;
  /** pool peers in order; the first is next-server / option 66 */
  peers: string[];
  nextServer: string;
  /** per architecture, most common first */
  boots: ArchBoot[];
  /** boot file for clients already running iPXE (user class "iPXE"), to break the chain-load loop */
  ipxe: string | undefined;
  rootPath: string | undefined;
  /** where the settings came from, for the header */
  source: string;
  profile: string;
}

const ARCH_FIELDS: { field: keyof Profile; tag: string; label: string; arches: number[]; http: boolean }[] = [
  { field: 'bios', tag: 'bios', label: 'BIOS (arch 0)', arches: [0], http: false },
  { field: 'efiX64', tag: 'efi-x64', label: 'UEFI x64 (arch 7, 9)', arches: [7, 9], http: false },
  { field: 'efiIa32', tag: 'efi-ia32', label: 'UEFI IA32 (arch 6)', arches: [6], http: false },
  { field: 'efiArm64', tag: 'efi-arm64', label: 'UEFI ARM64 (arch 11)', arches: [11], http: false },
  { field: 'efiX64Http', tag: 'efi-x64-http', label: 'UEFI x64 HTTP boot (arch 16)', arches: [16], http: true },
  { field: 'efiArm64Http', tag: 'efi-arm64-http', label: 'UEFI ARM64 HTTP boot (arch 19)', arches: [19], http: true },
];

/** Peers named in the config's pool: section (owned by the pool module, so read loosely). */
function poolPeers(config: Config): string[] {
  const peers = (config.pool as { peers?: unknown } | undefined)?.peers;
  if (!Array.isArray(peers)) return [];
  const out: string[] = [];
  for (const p of peers) {
    const a = typeof p === 'string' ? p : typeof p === 'object' && p !== null ? (p as { address?: unknown }).address : undefined;
    if (typeof a === 'string') {
      const host = a.replace(/:\d+$/, '');
      if (isIpv4(host)) out.push(host);
    }
  }
  return out;
}

export type ModelResult = { ok: true; model: SnippetModel } | { ok: false; error: string };

export function buildModel(config: Config, mode: SnippetMode, peersArg: string[] | undefined): ModelResult {
  const peers = peersArg ?? poolPeers(config);
  if (peers.length === 0 && config.server.address !== undefined) peers.push(config.server.address);
  if (peers.length === 0) return { ok: false, error: 'no boot server address: give --peers ip,ip,… (or pool.peers / server.address in the config)' };
  const bad = peers.find((p) => !isIpv4(p));
  if (bad !== undefined) return { ok: false, error: `"${bad}" is not an IPv4 address (--peers takes ip,ip,…)` };
  const profileName = config.default !== 'ignore' && config.profiles[config.default] !== undefined ? config.default : Object.keys(config.profiles)[0];
  const profile: Profile = profileName !== undefined ? config.profiles[profileName]! : {};
  const nextServer = profile.nextServer ?? peers[0]!;
  // The DHCP server cannot fill in per-request variables, so ${server} becomes the first peer,
  // with pxepool's HTTP port as the responder would write it (expandServer).
  const fill = (s: string): string => expandServer(s, nextServer, config.http.port);
  const boots: ArchBoot[] = [];
  for (const f of ARCH_FIELDS) {
    const v = profile[f.field];
    if (typeof v === 'string') boots.push({ tag: f.tag, label: f.label, arches: f.arches, file: fill(v), http: f.http });
  }
  if (mode === 1 && boots.length === 0) return { ok: false, error: `profile "${profileName ?? '(none)'}" names no boot file for any firmware` };
  return {
    ok: true,
    model: {
      mode, peers, nextServer, boots,
      ipxe: profile.ipxe !== undefined ? fill(profile.ipxe) : undefined,
      rootPath: profile.rootPath,
      source: config.source,
      profile: profileName ?? '(none)',
    },
  };
}

export const MODE_TITLE: Record<SnippetMode, string> = {
  1: 'mode 1 — the DHCP server gives PXE clients their boot file itself (no ProxyDHCP)',
  2: 'mode 2 — pxepool on the DHCP server host, answering only on UDP 4011 (proxyDhcp: 4011-only)',
  3: 'mode 3 — pxepool answers as ProxyDHCP beside the DHCP server, which needs no change',
};

/** The caveat seed 003 makes about server lists in 66/150, shared by every format. */
export const LIST_CAVEAT = [
  'Option 150 lists every pool peer. Few PXE ROMs read it (it comes from Cisco IP phones);',
  'most firmware takes next-server / option 66 and ignores the rest, and option 66 holds a',
  'single name. Failover for those clients comes from mode 3 (ProxyDHCP) or from DNS, not from',
  'this list.',
];

/** Router lines for mode 3, Cisco IOS style, shared by every format. */
export function helperLines(model: SnippetModel, dhcpServers: string[] = []): string[] {
  const out = [
    '! On each router interface facing PXE clients (SVI or routed port), next to the helper',
    '! that already points at the site DHCP server, add one helper per pxepool peer, so the',
    '! client\'s broadcast DISCOVER reaches every peer and any live one can answer:',
    'interface Vlan<client-vlan>',
  ];
  for (const d of dhcpServers) out.push(` ip helper-address ${d}`);
  for (const p of model.peers) out.push(` ip helper-address ${p}`);
  out.push('!', '! Other routers: Juniper "forwarding-options dhcp-relay server-group", Linux "pxepool relay',
    '! --dhcp-server <site> --default <peer>" or dhcrelay <site> ' + model.peers.join(' ') + '.');
  return out;
}
