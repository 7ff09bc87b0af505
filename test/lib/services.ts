// Third-party daemons for the lab: the site DHCP server (Kea or ISC dhcpd, with NO PXE options),
// radvd (so iPXE does not wait for IPv6 autoconfiguration), dnsmasq as a reference ProxyDHCP,
// and busybox udhcpc as a scripted DHCP client. Each runs in the foreground under Lab.spawn, so
// Lab.destroy() ends it; config, lease and pid files go to a fresh directory under lab.tmpDir.

import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { type Host, type Lab, type Proc, runOk } from './netns.ts';

export interface DhcpPool {
  /** e.g. 10.77.1.0/24 */
  subnet: string;
  /** First and last address handed out. */
  rangeStart: string;
  rangeEnd: string;
  router?: string;
  leaseSeconds?: number;
}

let dirCounter = 0;
function serviceDir(lab: Lab, name: string): string {
  const d = join(lab.tmpDir, `${name}-${dirCounter++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** Kea on the host's first interface; several pools give several (relayed) subnets. */
export async function startKea(lab: Lab, host: Host, poolOrPools: DhcpPool | readonly DhcpPool[], opts: { timeoutMs?: number; extra?: Record<string, unknown> } = {}): Promise<Proc> {
  const dir = serviceDir(lab, 'kea');
  const pools: readonly DhcpPool[] = Array.isArray(poolOrPools) ? poolOrPools : [poolOrPools as DhcpPool];
  const pool = pools[0]!;
  const conf = {
    Dhcp4: {
      'interfaces-config': { interfaces: [host.iface.name], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': pool.leaseSeconds ?? 3600,
      'renew-timer': Math.floor((pool.leaseSeconds ?? 3600) / 2),
      'rebind-timer': Math.floor(((pool.leaseSeconds ?? 3600) * 7) / 8),
      // Authoritative, no PXE options at all: the site DHCP server knows nothing of PXE.
      authoritative: true,
      subnet4: pools.map((p, i) => ({
        id: i + 1,
        subnet: p.subnet,
        pools: [{ pool: `${p.rangeStart} - ${p.rangeEnd}` }],
        'option-data': p.router === undefined ? [] : [{ name: 'routers', data: p.router }],
      })),
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
      // Keys added to Dhcp4 (a mode 1 snippet's client classes, when the site DHCP server does help).
      ...(opts.extra ?? {}),
    },
  };
  const file = join(dir, 'kea-dhcp4.conf');
  writeFileSync(file, JSON.stringify(conf, null, 2));
  const p = lab.spawn(host.ns, 'kea-dhcp4', ['-c', file], {
    name: `kea@${host.name}`,
    env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir, KEA_LOGGER_DESTINATION: 'stdout' },
  });
  await p.waitForLine(/DHCP4_STARTED|DHCPSRV_OPEN_SOCKET.*|server version .* started/, opts.timeoutMs ?? 10_000);
  return p;
}

/**
 * Kea DHCPv6 on the host's first interface, handing out addresses from `pool` in `subnet` and no
 * boot options: the site DHCPv6 server that knows nothing of PXE. The host needs an address in
 * the subnet (Kea picks the subnet by it).
 */
export async function startKea6(lab: Lab, host: Host, subnet: string, pool: string, opts: { timeoutMs?: number } = {}): Promise<Proc> {
  const dir = serviceDir(lab, 'kea6');
  const conf = {
    Dhcp6: {
      'interfaces-config': { interfaces: [host.iface.name] },
      'lease-database': { type: 'memfile', persist: false },
      // No server-id file under /var/lib/kea: a test must not write outside its directory.
      'server-id': { type: 'LL', persist: false },
      'preferred-lifetime': 3000, 'valid-lifetime': 4000,
      subnet6: [{ id: 1, subnet, interface: host.iface.name, pools: [{ pool }] }],
      loggers: [{ name: 'kea-dhcp6', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
    },
  };
  const file = join(dir, 'kea-dhcp6.conf');
  writeFileSync(file, JSON.stringify(conf, null, 2));
  const p = lab.spawn(host.ns, 'kea-dhcp6', ['-c', file], { name: `kea6@${host.name}`, env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir, KEA_LOGGER_DESTINATION: 'stdout' } });
  await p.waitForLine(/DHCP6_STARTED/, opts.timeoutMs ?? 10_000);
  return p;
}

/** ISC dhcpd on the host's first interface. `pingCheck` (default true, as shipped) delays offers ~1 s. */
export async function startDhcpd(lab: Lab, host: Host, pool: DhcpPool, opts: { pingCheck?: boolean; timeoutMs?: number } = {}): Promise<Proc> {
  const dir = serviceDir(lab, 'dhcpd');
  const [net, len] = pool.subnet.split('/');
  const mask = prefixToMask(Number(len));
  const conf = [
    'authoritative;',
    `default-lease-time ${pool.leaseSeconds ?? 3600};`,
    `max-lease-time ${pool.leaseSeconds ?? 3600};`,
    `ping-check ${opts.pingCheck === false ? 'false' : 'true'};`,
    `subnet ${net} netmask ${mask} {`,
    `  range ${pool.rangeStart} ${pool.rangeEnd};`,
    pool.router === undefined ? '' : `  option routers ${pool.router};`,
    '}',
    '',
  ].join('\n');
  const cf = join(dir, 'dhcpd.conf');
  const lf = join(dir, 'dhcpd.leases');
  writeFileSync(cf, conf);
  writeFileSync(lf, '');
  const p = lab.spawn(host.ns, 'dhcpd', ['-4', '-f', '-d', '-cf', cf, '-lf', lf, '-pf', join(dir, 'dhcpd.pid'), host.iface.name], {
    name: `dhcpd@${host.name}`,
  });
  await p.waitForLine(/^Sending on\s+LPF/, opts.timeoutMs ?? 10_000);
  return p;
}

/** radvd announcing a ULA prefix on the host's first interface (gives IPv6 autoconf an answer quickly). */
export async function startRadvd(lab: Lab, host: Host, opts: { prefix?: string; timeoutMs?: number } = {}): Promise<Proc> {
  const dir = serviceDir(lab, 'radvd');
  const prefix = opts.prefix ?? 'fd77:0:0:1::/64';
  const ifn = host.iface.name;
  await runOk('sysctl', ['-q', '-w', 'net.ipv6.conf.all.forwarding=1'], { ns: host.ns });
  await runOk('sysctl', ['-q', '-w', `net.ipv6.conf.${ifn}.disable_ipv6=0`], { ns: host.ns });
  const conf = [
    `interface ${ifn} {`,
    '  AdvSendAdvert on;',
    '  MinRtrAdvInterval 3;',
    '  MaxRtrAdvInterval 10;',
    '  AdvDefaultLifetime 0;',
    `  prefix ${prefix} { AdvOnLink on; AdvAutonomous on; };`,
    '};',
    '',
  ].join('\n');
  const cf = join(dir, 'radvd.conf');
  writeFileSync(cf, conf);
  // radvd needs a link-local address: wait for DAD to finish.
  const end = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const out = await runOk('ip', ['-6', 'addr', 'show', 'dev', ifn, 'scope', 'link'], { ns: host.ns });
    if (/inet6 fe80/.test(out) && !/tentative/.test(out)) break;
    if (Date.now() > end) throw new Error(`no link-local address on ${host.name}/${ifn}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const p = lab.spawn(host.ns, 'radvd', ['-n', '-C', cf, '-p', join(dir, 'radvd.pid'), '-m', 'stderr', '-d', '1'], { name: `radvd@${host.name}` });
  // radvd prints little at debug level 1; give it a moment and make sure it is still running.
  await new Promise((r) => setTimeout(r, 300));
  if (p.exited) throw new Error(`radvd exited: ${p.tail()}`);
  return p;
}

export interface DnsmasqProxyOptions {
  /** Subnet base address for `dhcp-range=<addr>,proxy`, e.g. 10.77.1.0 */
  subnetAddress: string;
  tftpRoot: string;
  /** Extra dnsmasq options, e.g. ['--dhcp-boot=tag:bios,pxelinux.0'] */
  extra?: string[];
  timeoutMs?: number;
}

/** dnsmasq as a reference ProxyDHCP + TFTP server (no DNS, no address handout). */
export async function startDnsmasqProxy(lab: Lab, host: Host, opts: DnsmasqProxyOptions): Promise<Proc> {
  const dir = serviceDir(lab, 'dnsmasq');
  const args = [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${host.iface.name}`,
    '--bind-interfaces',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    `--dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`,
    `--dhcp-range=${opts.subnetAddress},proxy`,
    '--enable-tftp',
    `--tftp-root=${opts.tftpRoot}`,
    '--log-dhcp',
    '--log-facility=-',
    '--user=root',
    ...(opts.extra ?? []),
  ];
  const p = lab.spawn(host.ns, 'dnsmasq', args, { name: `dnsmasq@${host.name}` });
  await p.waitForLine(/TFTP root is|started, version/, opts.timeoutMs ?? 10_000);
  return p;
}

/**
 * Run busybox udhcpc once in the host's namespace; resolves with the leased address (bounded).
 * The host's interface should have no address yet.
 */
export async function udhcpcOnce(lab: Lab, host: Host, timeoutMs = 15_000): Promise<string> {
  const dir = serviceDir(lab, 'udhcpc');
  const script = join(dir, 'script.sh');
  // udhcpc calls the script with the event in $1 and the lease in the environment.
  writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "LEASE ip=$ip mask=$mask router=$router serverid=$serverid"\nexit 0\n');
  chmodSync(script, 0o755);
  const p = lab.spawn(host.ns, 'busybox', ['udhcpc', '-f', '-q', '-n', '-i', host.iface.name, '-s', script, '-t', '5', '-T', '2'], {
    name: `udhcpc@${host.name}`,
  });
  try {
    const m = await p.waitForLine(/LEASE ip=(\S+)/, timeoutMs);
    return m[1] ?? '';
  } finally {
    await p.stop(1000);
  }
}

export function prefixToMask(len: number): string {
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return [24, 16, 8, 0].map((s) => (m >>> s) & 0xff).join('.');
}
