// The config file's shape. zod handles structure (sections, lists, unknown keys); leaf values
// go through small checkers that record what was allowed and what was found, so load.ts can
// turn every issue into a message a person can act on without reading this file.
import { z } from 'zod';
import { poolSchema } from '../pool/config.ts';
import { relaySchema } from '../relay/config.ts';
import type { FirmwareType } from '../dhcp/facts-types.ts';
import {
  type Cidr, type MacPattern, isIpv4, parseCidr, parseMacPattern, parseSize, parseUuid, suggest,
} from './values.ts';

/** Carried in a custom zod issue's params; load.ts renders "expected <allowed>, found <found>". */
export interface LeafProblem { allowed: string; found: string; note?: string }

type Check<T> = (v: unknown) => { ok: true; value: T } | { ok: false; allowed?: string; note?: string; at?: number };

/** How a YAML value reads back to its author. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function leaf<T>(allowed: string, check: Check<T>, describeFound: (v: unknown) => unknown = (v) => v) {
  return z.unknown().transform((v, ctx): T => {
    const r = check(v);
    if (r.ok) return r.value;
    const problem: LeafProblem = { allowed: r.allowed ?? allowed, found: describeValue(describeFound(v)) };
    if (r.note !== undefined) problem.note = r.note;
    ctx.addIssue({ code: 'custom', message: `expected ${problem.allowed}, found ${problem.found}`, params: problem, path: r.at === undefined ? [] : [r.at] });
    return z.NEVER;
  });
}

const ok = <T>(value: T) => ({ ok: true as const, value });
const bad = (note?: string, allowed?: string) => (note === undefined && allowed === undefined ? { ok: false as const } : { ok: false as const, ...(note !== undefined ? { note } : {}), ...(allowed !== undefined ? { allowed } : {}) });

const bool = () => leaf<boolean>('true or false', (v) => (typeof v === 'boolean' ? ok(v) : bad()));

const int = (min: number, max: number, allowed = `a whole number from ${min} to ${max}`) =>
  leaf<number>(allowed, (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? ok(v) : bad()));

const port = () => int(1, 65535, 'a port number from 1 to 65535');

const TEMPLATE_VARS = ['server', 'mac'];

// iPXE expands its own settings in the file name it is given (e.g. ${platform}, ${buildarch},
// ${net0/mac:hexhyp}), so an `ipxe` URL may carry them through untouched.
const IPXE_SETTING = /^[A-Za-z0-9][A-Za-z0-9._/:-]*$/;

/** Boot file names and URLs: non-empty text; `${server}` and `${mac}` are the only variables. */
const bootFile = (allowed = 'a file name', ipxeSettings = false) =>
  leaf<string>(allowed, (v) => {
    if (typeof v !== 'string' || v.trim() === '' || v.includes('\0')) return bad();
    for (const m of v.matchAll(/\$\{([^}]*)\}/g)) {
      if (ipxeSettings && IPXE_SETTING.test(m[1] ?? '')) continue;
      if (!TEMPLATE_VARS.includes(m[1] ?? '')) {
        return bad(`unknown variable \${${m[1]}} (allowed: \${server}, \${mac})`, `${allowed} using only \${server} and \${mac}`);
      }
    }
    return ok(v);
  });

const text = (allowed = 'text') => leaf<string>(allowed, (v) => (typeof v === 'string' && v !== '' ? ok(v) : bad()));

const ipv4 = () => leaf<string>('an IPv4 address like 192.168.1.10', (v) => (typeof v === 'string' && isIpv4(v) ? ok(v.trim()) : bad()));

const ipv6 = () => leaf<string>('a global or ULA IPv6 address like fd00::20', (v) => (typeof v === 'string' && /^[0-9a-fA-F:]+$/.test(v.trim()) && v.includes(':') && !/^fe80:/i.test(v.trim()) ? ok(v.trim().toLowerCase()) : bad()));

const ipAny = () =>
  leaf<string>('an IP address like 192.168.1.10 or ::', (v) => (typeof v === 'string' && (isIpv4(v) || /^[0-9a-fA-F:.]+$/.test(v) && v.includes(':')) ? ok(v.trim()) : bad()));

function oneOf<const T extends string>(values: readonly T[]) {
  return leaf<T>(`one of ${values.join(', ')}`, (v) => {
    if (typeof v === 'string' && (values as readonly string[]).includes(v)) return ok(v as T);
    const s = typeof v === 'string' ? suggest(v, values) : undefined;
    return bad(s !== undefined ? `did you mean "${s}"?` : undefined);
  });
}

/** A scalar or a list of scalars; errors point at the list item. */
function oneOrMany<T>(itemAllowed: string, item: (v: unknown) => { ok: true; value: T } | { ok: false; note?: string }) {
  return leaf<T[]>(itemAllowed, (v) => {
    if (!Array.isArray(v)) {
      const r = item(v);
      return r.ok ? ok([r.value]) : bad(r.note);
    }
    if (v.length === 0) return bad(undefined, `${itemAllowed} (or a non-empty list of them)`);
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = item(v[i]);
      if (!r.ok) return { ok: false, at: i, ...(r.note !== undefined ? { note: r.note } : {}) };
      out.push(r.value);
    }
    return ok(out);
  }, (v) => (Array.isArray(v) ? v.find((x) => !item(x).ok) ?? v : v));
}

/** A quoted-less MAC like 001122334455 parses as a number in YAML; say so. */
function macItem(v: unknown) {
  if (typeof v === 'number') return { ok: false as const, note: 'put MAC addresses in quotes' };
  if (typeof v !== 'string') return { ok: false as const };
  const r = parseMacPattern(v);
  if (r.ok) return ok(r.value);
  return v.includes('*') ? { ok: false as const, note: r.reason.replace(/^is not a MAC wildcard \((.*)\)$/, '$1') } : { ok: false as const };
}

export const FIRMWARE_NAMES = ['bios', 'efi-ia32', 'efi-x64', 'efi-arm64', 'efi-x64-http', 'efi-arm64-http'] as const satisfies readonly FirmwareType[];
export type ArchMatch = number | FirmwareType;

function archItem(v: unknown) {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535) return ok<ArchMatch>(v);
  if (typeof v === 'string' && (FIRMWARE_NAMES as readonly string[]).includes(v)) return ok<ArchMatch>(v as FirmwareType);
  const s = typeof v === 'string' ? suggest(v.replace(/([a-z])([A-Z])/g, '$1-$2'), FIRMWARE_NAMES) : undefined;
  return { ok: false as const, ...(s !== undefined ? { note: `did you mean "${s}"?` } : {}) };
}

const nonEmptyString = (v: unknown) => (typeof v === 'string' && v !== '' ? ok(v) : { ok: false as const });

export const matchSchema = z.strictObject({
  mac: oneOrMany<MacPattern>(`a MAC address like aa:bb:cc:dd:ee:ff or a wildcard like aa:bb:cc:*`, macItem).optional(),
  uuid: oneOrMany<string>('a UUID like 4c4c4544-0042-3510-8052-b2c04f503232', (v) => {
    if (typeof v !== 'string') return { ok: false };
    const r = parseUuid(v);
    return r.ok ? r : { ok: false };
  }).optional(),
  arch: oneOrMany<ArchMatch>(`an arch number (0-65535) or a firmware name (${FIRMWARE_NAMES.join(', ')})`, archItem).optional(),
  vendorClass: oneOrMany<string>('a vendor class prefix like "PXEClient:Arch:00007"', nonEmptyString).optional(),
  userClass: oneOrMany<string>('a user class like "iPXE"', nonEmptyString).optional(),
  relaySubnet: oneOrMany<Cidr>('an IPv4 subnet like 10.1.20.0/24', (v) => {
    if (typeof v !== 'string') return { ok: false };
    const r = parseCidr(v);
    return r.ok ? r : { ok: false, note: r.reason };
  }).optional(),
});

export const menuSchema = z.strictObject({
  prompt: text('prompt text'),
  timeout: int(0, 255, 'seconds from 0 to 255 (255 waits for a key)').optional().default(10),
  items: z.array(z.strictObject({
    type: int(0, 65535, 'a boot server type from 0 to 65535 (0 = local boot)'),
    description: text('a description'),
  })).min(1),
});

export const profileSchema = z.strictObject({
  bios: bootFile().optional(),
  efiIa32: bootFile().optional(),
  efiX64: bootFile().optional(),
  efiArm64: bootFile().optional(),
  efiX64Http: bootFile('a URL like http://${server}/ipxe.efi').optional(),
  efiArm64Http: bootFile('a URL like http://${server}/ipxe-arm64.efi').optional(),
  ipxe: bootFile('an iPXE script URL or path', true).optional(),
  // What /boot.ipxe gives an iPXE client of this profile (paths are relative to the script URL).
  kernel: text('a kernel path or URL like vmlinuz').optional(),
  initrd: oneOrMany<string>('an initrd path or URL like initrd.img', nonEmptyString).optional(),
  cmdline: text('a kernel command line like "console=ttyS0 quiet"').optional(),
  nextServer: ipv4().optional(),
  rootPath: text('a root path like /opt/ltsp/i386').optional(),
  menu: menuSchema.optional(),
  pin: oneOrMany<string>('a peer name', nonEmptyString).optional(),
  /** this profile's machines run Secure Boot: `pxepool check` and `serve` say which of its EFI files and kernel are unsigned */
  secureBoot: bool().optional(),
  /** a tree of its own: served as /<profile name>/…, and this profile's files are looked up there */
  root: text('a directory path like /srv/ltsp').optional(),
});

export const ruleSchema = z.strictObject({
  name: text('a rule name').optional(),
  match: matchSchema.prefault({}),
  profile: text('a profile name').optional(),
  action: oneOf(['ignore'] as const).optional(),
});

export const hostFileSchema = z.strictObject({
  path: text('a file path'),
  profile: text('a profile name'),
});

export const PROXY_DHCP_MODES = ['proxy', '4011-only', 'off'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const size = () => leaf<number>('a size in bytes (e.g. 268435456, 256MiB, 1GiB)', (v) => {
  const r = parseSize(v);
  return r.ok ? r : bad();
});

export const DEFAULT_ROOT = '/srv/pxepool';
export const DEFAULT_STORE_PATH = '/var/lib/pxepool/pxepool.db';

export const configSchema = z.strictObject({
  server: z.strictObject({
    // unset: the host name, which the serve app reads (the schema stays a pure function of the file)
    name: text('a peer name').optional(),
    interface: text('a network interface name like eth0').optional(),
    address: ipv4().optional(),
    proxyDhcp: oneOf(PROXY_DHCP_MODES).optional().default('proxy'),
    /**
     * ProxyDHCPv6 (PXE and HTTP boot over IPv6, docs/firmware.md): this server's global or ULA
     * IPv6 address, which goes into boot file URLs. Unset: no DHCPv6 at all.
     */
    address6: ipv6().optional(),
  }).prefault({}),
  root: text('a directory path').optional().default(DEFAULT_ROOT),
  tftp: z.strictObject({
    enabled: bool().optional().default(true),
    port: port().optional().default(69),
    maxBlksize: int(8, 65464, 'a block size from 8 to 65464 (RFC 2348)').optional().default(65464),
    maxWindowsize: int(1, 65535, 'a window size from 1 to 65535 (RFC 7440)').optional().default(64),
    cacheBytes: size().optional().default(256 * 1024 * 1024),
    maxTransfers: int(1, 1_000_000).optional().default(2000),
    maxPerClient: int(1, 65535).optional().default(16),
    maxUnconfirmed: int(1, 1_000_000).optional(),
    busyPollUs: int(0, 10000, 'microseconds from 0 (never wait) to 10000').optional().default(300),
  }).prefault({}),
  http: z.strictObject({
    enabled: bool().optional().default(true),
    port: port().optional().default(8080),
    address: ipAny().optional(),
    maxConnections: int(1, 1_000_000).optional().default(2000),
    maxPerAddress: int(1, 65535).optional().default(32),
    headersTimeoutMs: int(100, 600_000, 'milliseconds from 100 to 600000').optional().default(5000),
  }).prefault({}),
  log: z.strictObject({
    level: oneOf(LOG_LEVELS).optional().default('info'),
    /** auto: readable lines on a terminal, JSON lines otherwise (journald, files, pipes) */
    format: oneOf(['auto', 'json', 'text'] as const).optional().default('auto'),
  }).prefault({}),
  profiles: z.record(z.string(), profileSchema).optional(),
  rules: z.array(ruleSchema).optional().default([]),
  hostFiles: z.array(hostFileSchema).optional().default([]),
  default: text('a profile name or ignore').optional(),
  // Per-client assignments shared by the pool (docs/deployments.md): `path` for the embedded
  // SQLite file, `url` for PostgreSQL. Absent: no store, the rules alone decide.
  store: z.strictObject({
    path: text('a file path like /var/lib/pxepool/pxepool.db').optional(),
    url: leaf<string>('a PostgreSQL URL like postgres://pxepool@db.example/pxepool', (v) => (typeof v === 'string' && /^postgres(ql)?:\/\/./.test(v) ? ok(v) : bad())).optional(),
    refreshMs: int(200, 600_000, 'milliseconds from 200 to 600000').optional().default(2000),
  }).optional(),
  api: z.strictObject({
    /** a file holding the bearer token; none: the write API is off (and reads, unless publicRead) */
    tokenFile: text('a file path like /etc/pxepool/api-token').optional(),
    publicRead: bool().optional().default(false),
  }).prefault({}),
  // Owned by the pool and relay modules; accepted here so a config naming them still loads.
  pool: poolSchema.optional(),
  relay: relaySchema.optional(),
});

/** The config file as parsed, before cross-checks and host files. */
export type ConfigFile = z.output<typeof configSchema>;
export type Profile = z.output<typeof profileSchema>;
export type Rule = z.output<typeof ruleSchema>;
export type RuleMatch = z.output<typeof matchSchema>;

/** Profile fields that name a boot file, by firmware. */
export const FIRMWARE_FIELD = {
  'bios': 'bios',
  'efi-ia32': 'efiIa32',
  'efi-x64': 'efiX64',
  'efi-arm64': 'efiArm64',
  'efi-x64-http': 'efiX64Http',
  'efi-arm64-http': 'efiArm64Http',
} as const satisfies Record<Exclude<FirmwareType, 'unknown'>, keyof Profile>;

/** One line of a host file: an exact or wildcard MAC booting `profile`, optionally on another server. */
export interface HostEntry {
  file: string;
  line: number;
  mac: MacPattern;
  nextServer?: string;
  comment?: string;
  profile: string;
}

/** A loaded, cross-checked config: the file plus everything it pulled in. */
export interface Config extends Omit<ConfigFile, 'profiles' | 'default'> {
  profiles: Record<string, Profile>;
  /** a profile name, or 'ignore' */
  default: string;
  /** host file lines in file order, files in `hostFiles` order */
  hostEntries: HostEntry[];
  /** the config file name, or '(embedded default)' */
  source: string;
}
