// Per-client iPXE scripts for /boot.ipxe: iPXE loaded by PXE fetches the kernel and initrd of
// the client's profile over HTTP instead of TFTP. The query comes from the boot file URL, where
// iPXE itself expands ${mac}, ${platform} and ${buildarch}.

import type { ClientFacts, FirmwareType } from '../dhcp/facts-types.ts';
import { decideScript, inProfileRoot, isUrl, type Policy } from '../policy/policy.ts';

function firmwareOf(platform: string | null, buildarch: string | null): FirmwareType {
  if (platform === 'pcbios') return 'bios';
  if (platform === 'efi') {
    if (buildarch === 'i386') return 'efi-ia32';
    if (buildarch === 'arm64') return 'efi-arm64';
    return 'efi-x64';
  }
  return 'unknown';
}

const MAC = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

/**
 * Facts for a client known only by its HTTP query: enough for MAC/arch rules to match. `remote`
 * is the address the request came from: an HTTP request is never relayed, so relaySubnet rules
 * see that address, as they see a 4011 request's source.
 */
export function factsFromQuery(q: URLSearchParams, remote?: string): ClientFacts | undefined {
  const mac = q.get('mac');
  if (mac === null || !MAC.test(mac)) return undefined;
  const firmware = firmwareOf(q.get('platform'), q.get('buildarch'));
  const uuid = q.get('uuid') ?? undefined;
  return {
    mac: mac.toLowerCase().replaceAll('-', ':'), xid: 0, messageType: undefined,
    arch: undefined, firmware, undi: undefined, uuid, uuidSwapped: uuid,
    vendorClass: 'PXEClient', userClass: ['iPXE'], pxeClient: true, httpClient: false, isIpxe: true,
    relayed: false, giaddr: '0.0.0.0', ciaddr: '0.0.0.0', secs: 0, broadcast: false,
    bootItem: undefined, maxMessageSize: undefined,
    ...(remote !== undefined && remote !== '' ? { source: remote.replace(/^::ffff:/, '') } : {}),
  };
}

/**
 * The facts to decide a script with: what the client's DHCP exchange showed, when we saw one
 * (so a relaySubnet profile, or an ignore, holds over HTTP too), now running iPXE; else the
 * query's, with the requesting address.
 */
export function scriptFacts(q: URLSearchParams, remote: string | undefined, seen: ((mac: string) => ClientFacts | undefined) | undefined): ClientFacts | undefined {
  const asked = factsFromQuery(q, remote);
  if (asked === undefined) return undefined;
  const dhcp = seen?.(asked.mac);
  if (dhcp === undefined) return asked;
  return {
    ...dhcp,
    isIpxe: true,
    userClass: dhcp.userClass.includes('iPXE') ? dhcp.userClass : [...dhcp.userClass, 'iPXE'],
    firmware: asked.firmware !== 'unknown' ? asked.firmware : dhcp.firmware,
  };
}

export interface ScriptOptions {
  /**
   * HTTP bases (`http://host:port`) of the boot servers this client may fetch from, best first
   * (the serving peer, then the pool's ranked live peers). With more than one, every fetch names
   * them all, joined by iPXE's `||`, so a peer that dies between the script and the kernel costs
   * the client one failed fetch instead of the boot.
   */
  servers?: (mac: string) => readonly string[];
  /** the address the request came from */
  remote?: string;
  /** what DHCP last saw of this MAC (see recent-clients.ts) */
  seen?: (mac: string) => ClientFacts | undefined;
}

/** `cmd <file> args`, once per server, joined by `||`; a file that is already a URL is fetched as written. */
export function fetchLine(cmd: 'kernel' | 'initrd', file: string, args: string, servers: readonly string[]): string {
  const tail = args === '' ? '' : ` ${args}`;
  if (isUrl(file) || servers.length === 0) return `${cmd} ${file}${tail}`;
  const path = file.replace(/^[\/\\]+/, '');
  return servers.map((base) => `${cmd} ${base.replace(/\/+$/, '')}/${path}${tail}`).join(' || ');
}

/**
 * The script for a client, or undefined when its profile defines no kernel (then /boot.ipxe is
 * served from the boot root like any file) or the query names no valid MAC.
 */
export function ipxeScriptFor(policy: Policy, q: URLSearchParams, o: ScriptOptions = {}): string | undefined {
  const facts = scriptFacts(q, o.remote, o.seen);
  if (facts === undefined) return undefined;
  const d = decideScript(policy, facts);
  if (d.action === 'ignore') return '#!ipxe\necho pxepool: this client is not served (' + sanitize(d.reason) + ')\nexit 1\n';
  const profile = policy.profiles[d.profile];
  if (profile?.kernel === undefined) return undefined;
  const initrds = profile.initrd === undefined ? [] : Array.isArray(profile.initrd) ? profile.initrd : [profile.initrd];
  // One server is the script's own: relative names keep working as before (iPXE resolves them
  // against the script's URI). Several: absolute URLs, one per server, tried in order.
  const listed = o.servers?.(facts.mac) ?? [];
  const servers = listed.length > 1 ? listed : [];
  const lines = ['#!ipxe', `# pxepool: ${facts.mac} → profile ${d.profile} (${d.rule})`];
  if (servers.length > 0) lines.push(`# boot servers, tried in order for every file: ${servers.join(' ')}`);
  lines.push(fetchLine('kernel', inProfileRoot(d.profile, profile, profile.kernel), profile.cmdline ?? '', servers));
  for (const i of initrds) lines.push(fetchLine('initrd', inProfileRoot(d.profile, profile, i), '', servers));
  lines.push('boot');
  return lines.join('\n') + '\n';
}

function sanitize(s: string): string {
  return s.replace(/[\r\n]/g, ' ');
}
