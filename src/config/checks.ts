// The checks that look across the config once each section is valid on its own: profile names,
// rules and host files that name profiles, the default, MACs listed twice. Pure: over the parsed
// file, reporting through the YAML locator; config/load.ts reads the files and calls these.

import type { ConfigFile, HostEntry, Profile } from './schema.ts';
import { FIRMWARE_FIELD } from './schema.ts';
import { type ConfigError, formatPath } from './errors.ts';
import { isSeq } from 'yaml';
import type { Locator, Seg } from './locate.ts';
import { numberToMac, suggest } from './values.ts';

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;


function describeProfiles(names: string[]): string {
  return names.length === 0 ? 'none are defined' : `profiles: ${names.join(', ')}`;
}

function missingProfile(name: string, names: string[], extra = ''): string {
  const s = suggest(name, names);
  return `no profile "${name}" (${describeProfiles(names)})${s !== undefined ? ` — did you mean "${s}"?` : extra}`;
}

export function checkProfiles(profiles: Record<string, Profile>, explicitProfiles: boolean, loc: Locator, errors: ConfigError[], warnings: ConfigError[]): void {
  const names = Object.keys(profiles);
  for (const name of names) {
    if (!PROFILE_NAME.test(name) || name === 'ignore') {
      errors.push(loc.error(['profiles'], name === 'ignore'
        ? `"ignore" cannot be a profile name (it is the word for ignoring clients); rename it`
        : `profile name "${name}" should be letters, digits, ".", "_" or "-"`, { node: loc.keyNode(['profiles'], name), found: name }));
    }
    const p = profiles[name]!;
    if (p.root !== undefined && (name === '.' || name === '..')) {
      errors.push(loc.error(['profiles', name, 'root'], `a profile with its own root is served as /${name}/…, which cannot be a directory name; rename the profile (letters, digits, "_" or "-")`, { found: name }));
    }
    if (Object.values(FIRMWARE_FIELD).every((f) => p[f] === undefined) && p.ipxe === undefined && explicitProfiles) {
      warnings.push(loc.error(['profiles', name], `names no boot file (bios, efiIa32, efiX64, efiArm64, efiX64Http, efiArm64Http, ipxe); clients it matches are ignored`));
    }
  }
}

export function checkRules(file: ConfigFile, profiles: Record<string, Profile>, loc: Locator, errors: ConfigError[]): void {
  const names = Object.keys(profiles);
  file.rules.forEach((rule, i) => {
    if (rule.profile !== undefined && rule.action !== undefined) {
      errors.push(loc.error(['rules', i], `give either profile: NAME or action: ignore, not both`, { found: 'both' }));
    } else if (rule.profile === undefined && rule.action === undefined) {
      errors.push(loc.error(['rules', i], `a rule needs profile: NAME or action: ignore, found neither`, { found: 'neither', allowed: 'profile: NAME or action: ignore' }));
    } else if (rule.profile !== undefined && !(rule.profile in profiles)) {
      errors.push(loc.error(['rules', i, 'profile'], missingProfile(rule.profile, names, rule.profile === 'ignore' ? ' — write action: ignore' : ''), { found: rule.profile, allowed: names.join(', ') }));
    }
  });
}

/** The default profile: as written, else a profile named "default", else ignore (said). */
export function resolveDefault(file: ConfigFile, profiles: Record<string, Profile>, loc: Locator, errors: ConfigError[], warnings: ConfigError[]): string {
  const names = Object.keys(profiles);
  let dflt = file.default;
  if (dflt === undefined) {
    if ('default' in profiles) dflt = 'default';
    else {
      dflt = 'ignore';
      warnings.push({ file: loc.file, line: 0, col: 0, path: 'default', message: `not set and there is no profile named "default": clients that match no rule are ignored (write default: ignore to say so)` });
    }
  } else if (dflt !== 'ignore' && !(dflt in profiles)) {
    errors.push(loc.error(['default'], missingProfile(dflt, names, ' — write a profile name or ignore'), { found: dflt, allowed: `ignore, ${names.join(', ')}` }));
  }
  return dflt;
}

export function checkHostFileProfile(profile: string, i: number, profiles: Record<string, Profile>, loc: Locator, errors: ConfigError[]): void {
  const names = Object.keys(profiles);
  if (!(profile in profiles)) {
    errors.push(loc.error(['hostFiles', i, 'profile'], missingProfile(profile, names), { found: profile, allowed: names.join(', ') }));
  }
}

/**
 * An exact MAC listed again after a MAC-only entry can never match (first match wins), which
 * almost always means a stale line; say where both are. Entries with further conditions
 * (arch, uuid, ...) legitimately share MACs, so only unconditional ones shadow.
 */
export function checkDuplicateMacs(file: ConfigFile, hosts: HostEntry[], loc: Locator, warnings: ConfigError[]): void {
  const firstSeen = new Map<number, string>();
  file.rules.forEach((rule, i) => {
    const macs = rule.match.mac;
    if (macs === undefined) return;
    const onlyMac = Object.entries(rule.match).every(([k, v]) => k === 'mac' || v === undefined);
    macs.forEach((m, j) => {
      if (m.kind !== 'exact') return;
      const path: Seg[] = isSeq(loc.doc.getIn(['rules', i, 'match', 'mac'], true)) ? ['rules', i, 'match', 'mac', j] : ['rules', i, 'match', 'mac'];
      const where = formatPath(path);
      const prev = firstSeen.get(m.value);
      if (prev !== undefined) {
        warnings.push(loc.error(path, `${m.text} is already matched by ${prev}; first match wins, so this entry never applies to it`, { found: m.text }));
      } else if (onlyMac) firstSeen.set(m.value, where);
    });
  });
  for (const h of hosts) {
    if (h.mac.kind !== 'exact') continue;
    const prev = firstSeen.get(h.mac.value);
    if (prev !== undefined) {
      warnings.push({ file: h.file, line: h.line, col: 0, path: '', message: `${numberToMac(h.mac.value)} is already matched by ${prev}; first match wins, so this line never applies` });
    } else firstSeen.set(h.mac.value, `${h.file}:${h.line}`);
  }
}

/** IPv6 service addresses move the IPv6 service, which needs this peer's own IPv6 address. */
export function checkServiceAddresses6(file: ConfigFile, loc: Locator, errors: ConfigError[]): void {
  const i = file.pool?.peers.findIndex((p) => p.serviceAddress6 !== undefined) ?? -1;
  if (i >= 0 && file.server.address6 === undefined) {
    errors.push(loc.error(['pool', 'peers', i, 'serviceAddress6'], 'IPv6 service addresses serve IPv6 clients: set server.address6 to this peer\'s own IPv6 address too, or remove serviceAddress6'));
  }
}
