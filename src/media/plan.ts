// What goes on boot media (`pxepool media`): the list of boot servers and how the machine gets
// onto the network, checked once, then rendered as the two loaders' scripts. Pure: the builder
// (build.ts) only writes these texts next to Debian's binaries.
//
//   BIOS:  ISOLINUX → iPXE (ipxe.lkrn) with media.ipxe as its initrd, which iPXE runs as its script
//   UEFI:  GRUB (an EFI image made by grub-mkimage) with media.cfg in its memdisk
//   nbp:   the same GRUB alone, as a PXE / HTTP boot file (`--format nbp`, any UEFI arch): the
//          firmware's DHCP configured the card it came from, so it only asks the servers
//
// Both then ask the listed servers in order for this machine's own script (/boot.ipxe or
// /boot.grub, decided by today's policy) and run the first they get, so media made long ago
// follow the pool's present configuration and keep working while any listed server lives.

import type { Config } from '../config/schema.ts';
import { ipv4ToNumber, isIpv4 } from '../config/values.ts';
import { grubQuote as q } from '../app/grub-script.ts';

/** More than this and a machine whose first servers are gone waits minutes (one connect timeout each). */
export const MAX_MEDIA_PEERS = 16;

export interface MediaServer {
  /** a name for messages (the pool peer's name, or the address) */
  name: string;
  /** IPv4 address or DNS name */
  host: string;
  port: number;
}

export type MediaNetwork =
  | { kind: 'dhcp' }
  /**
   * A network boot file (`--format nbp`): the firmware loaded GRUB by PXE or HTTP boot and GRUB
   * took that address from it (`$net_default_mac` set); DHCP only when it was not (the file
   * copied to a disk).
   */
  | { kind: 'firmware' }
  | { kind: 'static'; address: string; prefix: number; gateway?: string; dns?: string };

export interface MediaPlan {
  servers: MediaServer[];
  /**
   * How the UEFI loader fetches: GRUB made by grub-mkimage has http; Debian's signed GRUB (the
   * Secure Boot loader) has only tftp, on `tftpPort` of the same hosts.
   */
  uefiFetch: 'http' | 'tftp';
  tftpPort: number;
  network: MediaNetwork;
  /** 802.1Q tag for the boot NIC (BIOS loader; see docs/media.md for UEFI) */
  vlan?: number;
}

export interface MediaRequest {
  /** `--peers host[:port],…`: instead of the config's pool.peers */
  peers?: string;
  /** `--ip A.B.C.D/N` for a static address; `--gateway`, `--dns` with it */
  ip?: string;
  gateway?: string;
  dns?: string;
  vlan?: string;
  /** the UEFI loader is Debian's signed shim + GRUB (build.ts), which fetches over TFTP */
  secureBoot?: boolean;
  /** `--format nbp`: a GRUB network boot file, on the network the firmware configured */
  nbp?: boolean;
}

export type PlanResult = { ok: true; plan: MediaPlan } | { ok: false; error: string };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function isHost(s: string): boolean {
  return isIpv4(s) || (HOSTNAME.test(s) && !/^[\d.]+$/.test(s));
}

/** The plan for `pxepool media`, or what to write instead. `file` names the config in errors. */
export function planMedia(config: Config, req: MediaRequest, file: string): PlanResult {
  if (!config.http.enabled) {
    return { ok: false, error: `${file}: http.enabled is false, but boot media fetch everything over HTTP: remove "enabled: false" from http (the media use http.port, ${config.http.port})` };
  }
  const port = config.http.port;
  let servers: MediaServer[];
  if (req.peers !== undefined) {
    const items = req.peers.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (items.length === 0) return { ok: false, error: '--peers is empty: write --peers 10.0.0.20,10.0.0.21 (host or host:port, in the order to try)' };
    servers = [];
    for (const it of items) {
      const m = /^([^:]+)(?::(\d+))?$/.exec(it);
      const p = m?.[2] === undefined ? port : Number(m[2]);
      if (m === null || !isHost(m[1]!) || !Number.isInteger(p) || p < 1 || p > 65535) {
        return { ok: false, error: `--peers: "${it}" is not a host or host:port: write an IPv4 address or DNS name, e.g. 10.0.0.20 or 10.0.0.20:8080` };
      }
      servers.push({ name: m[1]!, host: m[1]!, port: p });
    }
  } else if (config.pool !== undefined) {
    // What clients use to reach each peer: the address that moves on failover, else the boot address.
    servers = config.pool.peers.map((p) => ({ name: p.name, host: p.serviceAddress ?? p.bootAddress ?? p.address, port }));
  } else if (config.server.address !== undefined) {
    servers = [{ name: config.server.name ?? config.server.address, host: config.server.address, port }];
  } else {
    return { ok: false, error: `${file} names no boot servers for the media: add a pool: section with peers, or server.address, or give --peers 10.0.0.20,10.0.0.21` };
  }
  const seen = new Set<string>();
  for (const s of servers) {
    const key = `${s.host}:${s.port}`;
    if (seen.has(key)) return { ok: false, error: `boot server ${key} is listed twice: list each once, in the order to try` };
    seen.add(key);
  }
  if (servers.length > MAX_MEDIA_PEERS) {
    return { ok: false, error: `${servers.length} boot servers is more than media hold (${MAX_MEDIA_PEERS}: each dead one costs a machine a connection timeout): pick up to ${MAX_MEDIA_PEERS} with --peers` };
  }
  if (req.secureBoot === true && !config.tftp.enabled) {
    return { ok: false, error: `${file}: tftp.enabled is false, but the Secure Boot loader (Debian's signed GRUB) fetches over TFTP only: remove "enabled: false" from tftp, or build without --secure-boot` };
  }
  if (req.nbp === true) {
    // The firmware that loaded the file by PXE or HTTP boot has the address, the VLAN and the
    // boot server's path already; a signed GRUB cannot be given this config at all.
    if (req.secureBoot === true) {
      return { ok: false, error: '--format nbp makes an unsigned GRUB: with Secure Boot, name Debian\'s shim and signed network GRUB in the profile instead (docs/firmware.md, "Secure Boot in proxy mode": the site DHCP server must then give next-server)' };
    }
    for (const [flag, v] of [['--ip', req.ip], ['--gateway', req.gateway], ['--dns', req.dns], ['--vlan', req.vlan]] as const) {
      if (v !== undefined) return { ok: false, error: `${flag} does not go with --format nbp: a network boot file uses the address and VLAN the firmware got when it loaded it (leave ${flag} out)` };
    }
    return { ok: true, plan: { servers, network: { kind: 'firmware' }, uefiFetch: 'http', tftpPort: config.tftp.port } };
  }
  const plan: MediaPlan = { servers, network: { kind: 'dhcp' }, uefiFetch: req.secureBoot === true ? 'tftp' : 'http', tftpPort: config.tftp.port };
  if (req.ip !== undefined) {
    const m = /^([\d.]+)\/(\d{1,2})$/.exec(req.ip);
    if (m === null || !isIpv4(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 32) {
      return { ok: false, error: `--ip "${req.ip}" is not an address with its prefix length: write e.g. --ip 10.0.0.50/24` };
    }
    for (const [flag, v] of [['--gateway', req.gateway], ['--dns', req.dns]] as const) {
      if (v !== undefined && !isIpv4(v)) return { ok: false, error: `${flag} "${v}" is not an IPv4 address: write e.g. ${flag} 10.0.0.1` };
    }
    plan.network = { kind: 'static', address: m[1]!, prefix: Number(m[2]), ...(req.gateway !== undefined ? { gateway: req.gateway } : {}), ...(req.dns !== undefined ? { dns: req.dns } : {}) };
  } else if (req.gateway !== undefined || req.dns !== undefined) {
    return { ok: false, error: '--gateway and --dns go with a static address: add --ip 10.0.0.50/24, or leave them out (DHCP gives them)' };
  }
  if (servers.some((s) => !isIpv4(s.host)) && plan.network.kind === 'static' && plan.network.dns === undefined) {
    return { ok: false, error: 'a boot server is named by DNS name, and a static address gets no DNS server: add --dns 10.0.0.1, or list the servers by address' };
  }
  if (req.vlan !== undefined) {
    const v = Number(req.vlan);
    if (!/^\d+$/.test(req.vlan) || v < 1 || v > 4094) return { ok: false, error: `--vlan "${req.vlan}" is not a VLAN id: write a number from 1 to 4094` };
    plan.vlan = v;
  }
  return { ok: true, plan };
}

export function netmaskOf(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 0xff).join('.');
}

function networkOf(address: string, prefix: number): string {
  const n = ipv4ToNumber(address) ?? 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.')}/${prefix}`;
}

const base = (s: MediaServer): string => (s.port === 80 ? `http://${s.host}` : `http://${s.host}:${s.port}`);

/**
 * iPXE's script (BIOS). A server that cannot be reached or answers with an error is skipped;
 * a script that was fetched runs, and if it ends (the pool said this machine is not served, or
 * every server failed its kernel) the machine goes on to its next boot device.
 */
export function ipxeMediaScript(plan: MediaPlan): string {
  const nic = plan.vlan !== undefined ? `net0-${plan.vlan}` : plan.network.kind === 'static' ? 'net0' : 'netX';
  // (iPXE has no use for kind 'firmware', a GRUB boot file's; it would DHCP as for 'dhcp'.)
  const l = ['#!ipxe', `# pxepool boot media: ${plan.servers.map((s) => `${s.name}=${base(s)}`).join(' ')}`];
  l.push('echo pxepool media: getting onto the network');
  if (plan.vlan !== undefined) l.push(`vcreate --tag ${plan.vlan} net0 || goto nonet`);
  if (plan.network.kind !== 'static') {
    // -c dhcp: iPXE 2019 would otherwise also wait ~16 s for IPv6 autoconfiguration.
    l.push(`ifconf -c dhcp${plan.vlan !== undefined ? ` ${nic}` : ''} || goto nonet`);
  } else {
    const n = plan.network;
    l.push(`set ${nic}/ip ${n.address}`, `set ${nic}/netmask ${netmaskOf(n.prefix)}`);
    if (n.gateway !== undefined) l.push(`set ${nic}/gateway ${n.gateway}`);
    if (n.dns !== undefined) l.push(`set ${nic}/dns ${n.dns}`);
    l.push(`ifopen ${nic} || goto nonet`);
  }
  const query = `mac=\${${nic}/mac}&platform=\${platform}&buildarch=\${buildarch}`;
  plan.servers.forEach((s) => {
    l.push(`echo pxepool media: asking ${s.name} (${base(s)})`);
    l.push(`imgfetch --name pxepool ${base(s)}/boot.ipxe?${query} && goto run ||`);
  });
  l.push(`echo pxepool media: no boot server answered (${plan.servers.map((s) => s.name).join(', ')})`, 'goto next');
  l.push(':nonet', 'echo pxepool media: no network (DHCP or the static address failed)', 'goto next');
  l.push(':run', 'boot pxepool ||');
  l.push(':next', 'echo pxepool media: booting from the next device', 'sleep 5', 'exit 1', '');
  return l.join('\n');
}

/** GRUB's config (UEFI): the same steps in GRUB's language (no `||`: loops that break). */
export function grubMediaConfig(plan: MediaPlan): string {
  const l = [`# pxepool boot media: ${plan.servers.map((s) => `${s.name}=${base(s)}`).join(' ')}`];
  l.push("echo 'pxepool media: getting onto the network'");
  if (plan.vlan !== undefined) {
    // GRUB 2.06 cannot tag frames itself; a VLAN set up in the firmware appears as its own card.
    l.push(`echo ${q(`pxepool media: VLAN ${plan.vlan} must be set in the firmware's network setup (GRUB uses the card it gives)`)}`);
  }
  // Interfaces net_dhcp configures are named <card>:dhcp, so their variables are
  // net_<card>_dhcp_*; the first card that got an address is the one to name. Spelled out, not a
  // loop with eval: Debian's signed GRUB (the Secure Boot loader) has no eval module.
  const dhcp = (indent: string) => [`${indent}net_dhcp`, ...[7, 6, 5, 4, 3, 2, 1, 0].map((i) => `${indent}if [ -n "$net_efinet${i}_dhcp_ip" ]; then set pxepool_mac="$net_efinet${i}_dhcp_mac"; fi`)];
  if (plan.network.kind === 'dhcp') {
    l.push(...dhcp(''));
  } else if (plan.network.kind === 'firmware') {
    // Loaded by PXE or HTTP boot, GRUB configured the card from the firmware's DHCP answer (the
    // site server's address) and names it the default; from a disk it has none and asks DHCP.
    l.push('set pxepool_mac="$net_default_mac"', 'if [ -z "$pxepool_mac" ]; then', ...dhcp('  '), 'fi');
  } else {
    const n = plan.network;
    l.push(`net_add_addr pxepool efinet0 ${n.address}`);
    l.push(`net_add_route pxepool_lan ${networkOf(n.address, n.prefix)} pxepool`);
    if (n.gateway !== undefined) l.push(`net_add_route pxepool_gw 0.0.0.0/0 gw ${n.gateway}`);
    if (n.dns !== undefined) l.push(`net_add_dns ${n.dns}`);
    l.push('set pxepool_mac="$net_pxepool_mac"');
  }
  l.push('if [ -z "$pxepool_mac" ]; then', "  echo 'pxepool media: no network (DHCP or the static address failed)'", '  sleep 5', '  exit', 'fi');
  const tftp = plan.uefiFetch === 'tftp';
  for (const s of plan.servers) {
    const dev = tftp ? `(tftp,${s.host}${plan.tftpPort === 69 ? '' : `:${plan.tftpPort}`})` : `(http,${s.host}:${s.port})`;
    l.push(`echo ${q(`pxepool media: asking ${s.name} (${tftp ? `tftp://${s.host}` : base(s)})`)}`);
    // A config that was fetched boots and does not return, or ends with `exit`; source returns
    // only when this server could not give one.
    l.push(`source "${dev}/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu${tftp ? '&proto=tftp' : ''}"`);
  }
  l.push(`echo ${q(`pxepool media: no boot server answered (${plan.servers.map((s) => s.name).join(', ')}); booting from the next device`)}`);
  l.push('sleep 5', 'exit', '');
  return l.join('\n');
}

/** ISOLINUX: straight into iPXE, no menu, no wait. */
export function isolinuxConfig(): string {
  return ['DEFAULT pxepool', 'PROMPT 0', 'TIMEOUT 0', 'LABEL pxepool', '  LINUX /pxepool/ipxe.lkrn', '  INITRD /pxepool/media.ipxe', ''].join('\n');
}
