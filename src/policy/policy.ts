// Config → precompiled policy, and client facts → decision. Rules apply in order, first match
// wins: `rules` as written, then host file lines in file order, then `default`.
//
// Host files make the rule list long (100,000+ MAC-only entries), so rules that test the MAC
// are indexed in a MacTable by rule index. A decision takes the MAC's candidates from the table
// (already few) and merges them, by index, with the rules that do not test the MAC (usually
// few); only rules below the first full match are ever evaluated.
import type { ClientFacts, FirmwareType } from '../dhcp/facts-types.ts';
import type { Config, Profile, ArchMatch } from '../config/schema.ts';
import { FIRMWARE_FIELD } from '../config/schema.ts';
import { type Cidr, type MacPattern, cidrContains, ipv4ToNumber } from '../config/values.ts';
import type { Decision, PxeMenu } from './decision.ts';
import { MacTable, macKey } from './mactable.ts';
import type { AssignmentView } from '../store/model.ts';

export interface CompiledRule {
  index: number;
  /** `rules[2]` or `hosts:/etc/pxepool/hosts:14` — what decisions and logs name */
  id: string;
  name?: string;
  fromHostFile: boolean;
  mac?: MacPattern[];
  uuid?: ReadonlySet<string>;
  archNumbers?: ReadonlySet<number>;
  archFirmware?: ReadonlySet<FirmwareType>;
  vendorClass?: readonly string[];
  userClass?: ReadonlySet<string>;
  relaySubnet?: readonly Cidr[];
  action: 'boot' | 'ignore';
  profile?: string;
  /** a host file line's server-IP; overrides the profile's nextServer */
  nextServer?: string;
}

export interface Policy {
  readonly rules: readonly CompiledRule[];
  readonly profiles: Readonly<Record<string, Profile>>;
  /** a profile name or 'ignore' */
  readonly defaultAction: string;
  readonly macTable: MacTable<number>;
  /** indices of rules without a MAC condition, ascending */
  readonly otherRules: readonly number[];
  readonly hostFiles: readonly { path: string; profile: string; entries: number }[];
  readonly source: string;
  /**
   * The client's runtime assignment (issue 18), asked before the rules. The serve app hands in
   * a lookup over its in-memory copy of the store, with its clock: decide() itself stays pure.
   */
  readonly assigned?: (mac: string, uuids: readonly string[]) => AssignmentView | undefined;
}

/** The policy with assignments consulted before its rules. */
export function withAssignments(policy: Policy, assigned: ((mac: string, uuids: readonly string[]) => AssignmentView | undefined) | undefined): Policy {
  return assigned === undefined ? policy : { ...policy, assigned };
}

export const ASSIGNMENT_RULE = 'assignment';

/** The UUID as sent and byte-swapped (firmware disagree on the byte order of option 97). */
function uuidsOf(f: ClientFacts): string[] {
  return [f.uuid, f.uuidSwapped].filter((u): u is string => u !== undefined);
}

/** What the client's assignment decides; undefined when it has none or it expired (the rules decide). */
function byAssignment(policy: Policy, f: ClientFacts, forScript: boolean): Decision | undefined {
  const a = policy.assigned?.(f.mac.toLowerCase(), uuidsOf(f));
  if (a === undefined || a.state === 'expired') return undefined;
  const id = `${ASSIGNMENT_RULE}:${a.mode}${a.viaUuidOf !== undefined ? ` (uuid, stored under ${a.viaUuidOf})` : ''}`;
  if (a.state === 'consumed') {
    return { action: 'ignore', rule: id, reason: `its once assignment (profile ${a.profile}) was used up: no peer answers until it is re-armed (pxepool clients set)` };
  }
  return outcome(policy, { index: -1, id, fromHostFile: false, action: 'boot', profile: a.profile }, f, forScript);
}

export function compilePolicy(config: Config): Policy {
  const rules: CompiledRule[] = [];
  const macTable = new MacTable<number>();
  const otherRules: number[] = [];

  const addMacs = (r: CompiledRule) => {
    if (r.mac === undefined) otherRules.push(r.index);
    else for (const m of r.mac) macTable.add(m, r.index);
  };

  config.rules.forEach((rule, i) => {
    const m = rule.match;
    const r: CompiledRule = {
      index: rules.length,
      id: `rules[${i}]`,
      fromHostFile: false,
      action: rule.action === 'ignore' ? 'ignore' : 'boot',
    };
    if (rule.name !== undefined) r.name = rule.name;
    if (rule.profile !== undefined) r.profile = rule.profile;
    if (m.mac !== undefined) r.mac = m.mac;
    if (m.uuid !== undefined) r.uuid = new Set(m.uuid);
    if (m.arch !== undefined) {
      const nums = m.arch.filter((a): a is number => typeof a === 'number');
      const fws = m.arch.filter((a): a is Exclude<ArchMatch, number> => typeof a === 'string');
      // An arch list may mix numbers and names; either kind matching is enough.
      r.archNumbers = new Set(nums);
      r.archFirmware = new Set(fws);
    }
    if (m.vendorClass !== undefined) r.vendorClass = m.vendorClass;
    if (m.userClass !== undefined) r.userClass = new Set(m.userClass);
    if (m.relaySubnet !== undefined) r.relaySubnet = m.relaySubnet;
    rules.push(r);
    addMacs(r);
  });

  const hostFiles = new Map<string, { path: string; profile: string; entries: number }>();
  for (const h of config.hostEntries) {
    const r: CompiledRule = {
      index: rules.length,
      id: `hosts:${h.file}:${h.line}`,
      fromHostFile: true,
      mac: [h.mac],
      action: 'boot',
      profile: h.profile,
    };
    if (h.nextServer !== undefined) r.nextServer = h.nextServer;
    if (h.comment !== undefined) r.name = h.comment;
    rules.push(r);
    addMacs(r);
    const key = `${h.file}\0${h.profile}`;
    const hf = hostFiles.get(key) ?? { path: h.file, profile: h.profile, entries: 0 };
    hf.entries++;
    hostFiles.set(key, hf);
  }

  return {
    rules, profiles: config.profiles, defaultAction: config.default, macTable, otherRules,
    hostFiles: [...hostFiles.values()], source: config.source,
  };
}

function list(values: Iterable<unknown>): string {
  return [...values].map((v) => String(v)).join(', ');
}

/**
 * Why `rule` does not match, or undefined when it does. The MAC test is skipped when the
 * caller already knows the MAC matched (table candidates).
 */
function mismatch(rule: CompiledRule, f: ClientFacts, macKnownToMatch: boolean): string | undefined {
  if (rule.mac !== undefined && !macKnownToMatch) {
    const key = macKey(f.mac);
    if (key === undefined || !rule.mac.some((m) => macPatternMatches(m, key))) {
      return `mac ${f.mac} is not ${rule.mac.length === 1 ? rule.mac[0]!.text : `one of ${list(rule.mac.map((m) => m.text))}`}`;
    }
  }
  if (rule.uuid !== undefined) {
    if (f.uuid === undefined) return 'client sent no UUID (option 97)';
    if (!rule.uuid.has(f.uuid) && (f.uuidSwapped === undefined || !rule.uuid.has(f.uuidSwapped))) {
      return `uuid ${f.uuid} (or ${f.uuidSwapped ?? '-'} byte-swapped) is not ${list(rule.uuid)}`;
    }
  }
  if (rule.archNumbers !== undefined && rule.archFirmware !== undefined) {
    const hit = (f.arch !== undefined && rule.archNumbers.has(f.arch)) || rule.archFirmware.has(f.firmware);
    if (!hit) return `arch ${f.arch ?? 'none'} (${f.firmware}) is not ${list([...rule.archNumbers, ...rule.archFirmware])}`;
  }
  if (rule.vendorClass !== undefined) {
    const vc = f.vendorClass;
    if (vc === undefined || !rule.vendorClass.some((p) => vc.startsWith(p))) {
      return `vendor class ${vc === undefined ? 'none' : JSON.stringify(vc)} does not start with ${list(rule.vendorClass.map((p) => JSON.stringify(p)))}`;
    }
  }
  if (rule.userClass !== undefined) {
    const uc = rule.userClass;
    if (!f.userClass.some((c) => uc.has(c))) {
      return `user class ${f.userClass.length === 0 ? 'none' : list(f.userClass.map((c) => JSON.stringify(c)))} is not ${list([...uc].map((c) => JSON.stringify(c)))}`;
    }
  }
  if (rule.relaySubnet !== undefined) {
    // The client's subnet as a router vouched for it: the giaddr of a relayed request, or on
    // 4011 (never relayed, unicast through routers) the client's own source address.
    const at = f.relayed ? f.giaddr : f.source;
    const ip = at === undefined ? undefined : ipv4ToNumber(at);
    if (ip === undefined) return f.giaddr !== '0.0.0.0' ? `giaddr ${f.giaddr} written by the client itself (not from a relay agent's port 67)` : 'not relayed (giaddr 0.0.0.0)';
    if (!rule.relaySubnet.some((c) => cidrContains(c, ip))) return `${f.relayed ? 'relay' : 'client'} ${at} is not in ${list(rule.relaySubnet.map((c) => c.text))}`;
  }
  return undefined;
}

function macPatternMatches(m: MacPattern, key: number): boolean {
  if (m.kind === 'exact') return m.value === key;
  const shift = 2 ** (8 * (6 - m.bytes.length));
  let prefix = 0;
  for (const b of m.bytes) prefix = prefix * 256 + b;
  return Math.floor(key / shift) === prefix;
}

function notPxe(f: ClientFacts): Decision | undefined {
  if (f.pxeClient || f.httpClient || f.isIpxe) return undefined;
  return {
    action: 'ignore', rule: 'not-pxe',
    reason: `not a PXE or HTTP boot client (vendor class ${f.vendorClass === undefined ? 'none' : JSON.stringify(f.vendorClass)})`,
  };
}

/** The first rule that matches, by index; undefined when none does (→ default). */
function firstMatch(policy: Policy, f: ClientFacts): CompiledRule | undefined {
  const key = macKey(f.mac);
  const candidates = key === undefined ? [] : policy.macTable.matches(key);
  if (candidates.length > 1) candidates.sort((a, b) => a - b);
  const others = policy.otherRules;
  let ci = 0;
  let oi = 0;
  for (;;) {
    const c = ci < candidates.length ? candidates[ci]! : Infinity;
    const o = oi < others.length ? others[oi]! : Infinity;
    if (c === Infinity && o === Infinity) return undefined;
    if (c <= o) {
      ci++;
      const rule = policy.rules[c]!;
      if (mismatch(rule, f, true) === undefined) return rule;
    } else {
      oi++;
      const rule = policy.rules[o]!;
      if (mismatch(rule, f, false) === undefined) return rule;
    }
  }
}

/** `scheme://…`: a boot file the admin serves from elsewhere, not a path in a boot tree. */
export function isUrl(file: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(file);
}

/**
 * A profile with a root of its own is served as /<profile>/… (openBootRoot mounts), so its
 * files are named with that prefix. pxelinux and iPXE resolve their next files relative to the
 * NBP's own path, so `lab/pxelinux.0` finds `lab/pxelinux.cfg/…` in the same tree. URLs are the
 * admin's own and are left alone.
 */
export function inProfileRoot(name: string, profile: { root?: string | undefined }, file: string): string {
  if (profile.root === undefined || isUrl(file)) return file;
  return `${name}/${file.replace(/^[\/\\]+/, '')}`;
}

function outcome(policy: Policy, rule: CompiledRule | undefined, f: ClientFacts, forScript = false): Decision {
  const ruleId = rule?.id ?? 'default';
  const profileName = rule === undefined ? policy.defaultAction : rule.action === 'ignore' ? 'ignore' : rule.profile!;
  if (profileName === 'ignore') {
    return { action: 'ignore', rule: ruleId, reason: rule === undefined ? 'no rule matched and default is ignore' : `${ruleId} says ignore` };
  }
  const profile = policy.profiles[profileName];
  if (profile === undefined) return { action: 'ignore', rule: ruleId, reason: `profile "${profileName}" does not exist` };

  let bootFile: string | undefined;
  if (f.isIpxe && profile.ipxe !== undefined) bootFile = profile.ipxe;
  else if (forScript && profile.kernel !== undefined) bootFile = 'boot.ipxe';
  else if (f.firmware === 'unknown') {
    return { action: 'ignore', rule: ruleId, reason: `${ruleId} chose profile "${profileName}", but the client's firmware is unknown (arch ${f.arch ?? 'none'}), so no boot file fits` };
  } else {
    const field = FIRMWARE_FIELD[f.firmware];
    bootFile = profile[field];
    if (bootFile === undefined) {
      return { action: 'ignore', rule: ruleId, reason: `${ruleId} chose profile "${profileName}", which has no boot file for ${f.firmware} clients (arch ${f.arch ?? 'none'}); set profiles.${profileName}.${field}` };
    }
  }
  const d: Extract<Decision, { action: 'boot' }> = {
    action: 'boot', rule: ruleId, profile: profileName, firmware: f.firmware,
    bootFile: inProfileRoot(profileName, profile, bootFile.replaceAll('${mac}', f.mac)),
  };
  const nextServer = rule?.nextServer ?? profile.nextServer;
  if (nextServer !== undefined) d.nextServer = nextServer;
  if (profile.rootPath !== undefined) d.rootPath = profile.rootPath;
  if (profile.menu !== undefined) d.menu = structuredClone(profile.menu) as PxeMenu;
  if (profile.pin !== undefined) d.pin = [...profile.pin];
  return d;
}

/** What to do with this client. Pure; `${server}` in bootFile is left for the responder to fill. */
export function decide(policy: Policy, facts: ClientFacts): Decision {
  return notPxe(facts) ?? byAssignment(policy, facts, false) ?? outcome(policy, firstMatch(policy, facts), facts);
}

/**
 * decide() for a client that is already running iPXE (or GRUB) and asks for its script: a
 * profile with a kernel is enough, whatever boot files it names for PXE. Boot media start
 * iPXE without PXE, so their clients reach /boot.ipxe with no DHCP exchange to go by.
 */
export function decideScript(policy: Policy, facts: ClientFacts): Decision {
  return notPxe(facts) ?? byAssignment(policy, facts, true) ?? outcome(policy, firstMatch(policy, facts), facts, true);
}

export interface RuleTrace {
  rule: string;
  name?: string;
  matched: boolean;
  /** why it did not match, or what it does when it did */
  why: string;
}

export interface Explanation {
  decision: Decision;
  /** rules considered in order, up to and including the one that matched */
  tried: RuleTrace[];
  /** host file lines not shown because they do not list this MAC */
  hostEntriesSkipped: number;
  text: string;
  /** the client's assignment, when it has one (it decides unless expired) */
  assignment?: AssignmentView;
}

/**
 * decide() with its working shown, for `pxepool explain`. Written rules are all listed; host
 * file lines only when they list the client's MAC (the rest cannot match and would drown the
 * output). Slower than decide() on purpose: it reports every reason.
 */
export function explainDecision(policy: Policy, facts: ClientFacts): Explanation {
  const tried: RuleTrace[] = [];
  const hostTotal = policy.rules.length - policy.rules.filter((r) => !r.fromHostFile).length;
  const key = macKey(facts.mac);
  const hostCandidates = new Set(key === undefined ? [] : policy.macTable.matches(key).filter((i) => policy.rules[i]!.fromHostFile));
  const assignment = policy.assigned?.(facts.mac.toLowerCase(), uuidsOf(facts));
  const early = notPxe(facts) ?? byAssignment(policy, facts, false);
  let matched: CompiledRule | undefined;
  if (early === undefined) {
    for (const rule of policy.rules) {
      if (rule.fromHostFile && !hostCandidates.has(rule.index)) continue;
      const why = mismatch(rule, facts, false);
      const t: RuleTrace = { rule: rule.id, matched: why === undefined, why: why ?? (rule.action === 'ignore' ? 'matched: ignore' : `matched: profile ${rule.profile}`) };
      if (rule.name !== undefined) t.name = rule.name;
      tried.push(t);
      if (why === undefined) { matched = rule; break; }
    }
  }
  const decision = early ?? outcome(policy, matched, facts);
  const lines = [`client ${facts.mac} (${facts.firmware}, arch ${facts.arch ?? 'none'}${facts.isIpxe ? ', iPXE' : ''})`];
  if (assignment !== undefined && notPxe(facts) === undefined) {
    lines.push(`  ${assignment.state === 'expired' ? 'no   ' : 'MATCH'} assignment: ${assignment.mode} → profile ${assignment.profile}, ${assignment.state}${assignment.expiresAt !== undefined ? ` (expires ${new Date(assignment.expiresAt).toISOString()})` : ''}${assignment.state === 'expired' ? '; the rules decide' : ''}`);
  }
  for (const t of tried) lines.push(`  ${t.matched ? 'MATCH' : 'no   '} ${t.rule}${t.name !== undefined ? ` (${t.name})` : ''}: ${t.why}`);
  const skipped = hostTotal - [...hostCandidates].length;
  if (skipped > 0 && early === undefined) lines.push(`  (${skipped} host file line${skipped === 1 ? '' : 's'} do not list this MAC)`);
  if (early === undefined && matched === undefined) lines.push(`  no rule matched: default is ${policy.defaultAction}`);
  lines.push(decision.action === 'ignore'
    ? `→ ignore (${decision.rule}): ${decision.reason}`
    : `→ boot ${decision.bootFile} (profile ${decision.profile}, ${decision.rule}${decision.nextServer !== undefined ? `, next-server ${decision.nextServer}` : ''}${decision.rootPath !== undefined ? `, root-path ${decision.rootPath}` : ''})`);
  return { decision, tried, hostEntriesSkipped: skipped, text: lines.join('\n'), ...(assignment !== undefined ? { assignment } : {}) };
}

export interface PolicySummary {
  counts: {
    rules: number;
    hostEntries: number;
    exactMacs: number;
    wildcardMacs: number;
    /** rules that do not test the MAC and are checked for every client */
    nonMacRules: number;
    profiles: number;
  };
  rules: { rule: string; name?: string; match: string; then: string }[];
  hostFiles: { path: string; profile: string; entries: number }[];
  profiles: { name: string; firmware: string[]; ipxe: boolean; nextServer?: string }[];
  default: string;
  text: string;
}

function describeMatch(r: CompiledRule): string {
  const parts: string[] = [];
  if (r.mac !== undefined) parts.push(`mac ${list(r.mac.map((m) => m.text))}`);
  if (r.uuid !== undefined) parts.push(`uuid ${list(r.uuid)}`);
  if (r.archNumbers !== undefined && r.archFirmware !== undefined) parts.push(`arch ${list([...r.archNumbers, ...r.archFirmware])}`);
  if (r.vendorClass !== undefined) parts.push(`vendorClass ${list(r.vendorClass.map((v) => `${v}*`))}`);
  if (r.userClass !== undefined) parts.push(`userClass ${list(r.userClass)}`);
  if (r.relaySubnet !== undefined) parts.push(`relaySubnet ${list(r.relaySubnet.map((c) => c.text))}`);
  return parts.length === 0 ? 'every client' : parts.join(' and ');
}

/** The effective policy, for `pxepool check`. */
export function describePolicy(policy: Policy): PolicySummary {
  const written = policy.rules.filter((r) => !r.fromHostFile);
  const rules = written.map((r) => {
    const e: PolicySummary['rules'][number] = { rule: r.id, match: describeMatch(r), then: r.action === 'ignore' ? 'ignore' : `profile ${r.profile}` };
    if (r.name !== undefined) e.name = r.name;
    return e;
  });
  const profiles = Object.entries(policy.profiles).map(([name, p]) => {
    const e: PolicySummary['profiles'][number] = {
      name,
      firmware: Object.entries(FIRMWARE_FIELD).filter(([, field]) => p[field] !== undefined).map(([fw]) => fw),
      ipxe: p.ipxe !== undefined,
    };
    if (p.nextServer !== undefined) e.nextServer = p.nextServer;
    return e;
  });
  const counts = {
    rules: written.length,
    hostEntries: policy.rules.length - written.length,
    exactMacs: policy.macTable.exactCount,
    wildcardMacs: policy.macTable.wildcardCount,
    nonMacRules: policy.otherRules.length,
    profiles: profiles.length,
  };
  const lines = [`policy from ${policy.source}: first match wins, in this order`];
  for (const r of rules) lines.push(`  ${r.rule}${r.name !== undefined ? ` (${r.name})` : ''}: ${r.match} → ${r.then}`);
  for (const h of policy.hostFiles) lines.push(`  host file ${h.path}: ${h.entries} line${h.entries === 1 ? '' : 's'} → profile ${h.profile}`);
  lines.push(`  default → ${policy.defaultAction === 'ignore' ? 'ignore' : `profile ${policy.defaultAction}`}`);
  lines.push(`${counts.exactMacs} exact MAC${counts.exactMacs === 1 ? '' : 's'}, ${counts.wildcardMacs} wildcard${counts.wildcardMacs === 1 ? '' : 's'}, ${counts.nonMacRules} rule${counts.nonMacRules === 1 ? '' : 's'} without a MAC test, ${counts.profiles} profile${counts.profiles === 1 ? '' : 's'}`);
  for (const p of profiles) {
    lines.push(`  profile ${p.name}: ${p.firmware.length === 0 ? 'no boot files' : p.firmware.join(', ')}${p.ipxe ? ', iPXE script' : ''}${p.nextServer !== undefined ? `, next-server ${p.nextServer}` : ''}`);
  }
  return { counts, rules, hostFiles: [...policy.hostFiles], profiles, default: policy.defaultAction, text: lines.join('\n') };
}

