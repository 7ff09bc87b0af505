// Config file → validated Config, or every problem at once with its source position.
// Nothing here throws for bad input: a person fixing a config wants the whole list, each
// entry saying where, what was found, and what to write instead.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isSeq, parseDocument } from 'yaml';
import {
  type Config, type ConfigFile, type HostEntry, type Profile, FIRMWARE_FIELD, configSchema,
} from './schema.ts';
import { numberToMac, suggest } from './values.ts';
import { parseHostFile } from './host-file.ts';
import { type ConfigError, formatError, formatErrors, formatPath, sortErrors } from './errors.ts';
import { issueToErrors } from './issues.ts';
import { Locator, type Seg } from './locate.ts';

export { type ConfigError, formatError, formatErrors, formatPath, parseHostFile };

export type LoadResult =
  | { ok: true; config: Config; warnings: ConfigError[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigError[] };

export interface ParseOptions {
  /** how host files are read; defaults to the file system (tests inject their own) */
  readFile?: (path: string) => string;
  /**
   * refuse a document with nothing in it (only whitespace or comments); loadConfig sets it: every
   * section is optional, so an empty file would read as "answer every PXE client"
   */
  refuseEmpty?: boolean;
}

export const EMBEDDED_DEFAULT_YAML = `# pxepool embedded default: serve /srv/pxepool and boot every PXE client.
root: /srv/pxepool
profiles:
  default:
    bios: pxelinux.0
    efiIa32: ipxe-ia32.efi
    efiX64: ipxe.efi
    efiArm64: ipxe-arm64.efi
    efiX64Http: http://\${server}/ipxe.efi
    efiArm64Http: http://\${server}/ipxe-arm64.efi
    ipxe: http://\${server}/boot.ipxe
default: default
`;

const EMBEDDED_SOURCE = '(embedded default)';

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;


function describeProfiles(names: string[]): string {
  return names.length === 0 ? 'none are defined' : `profiles: ${names.join(', ')}`;
}

function missingProfile(name: string, names: string[], extra = ''): string {
  const s = suggest(name, names);
  return `no profile "${name}" (${describeProfiles(names)})${s !== undefined ? ` — did you mean "${s}"?` : extra}`;
}

/** Parse and check config text. `fileName` is used in messages and to resolve relative host file paths. */
export function parseConfigText(text: string, fileName: string, options: ParseOptions = {}): LoadResult {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const loc = new Locator(doc, lines, fileName);
  const errors: ConfigError[] = [];
  const warnings: ConfigError[] = [];

  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    errors.push({ file: fileName, line: pos.line, col: pos.col, path: '', message: `YAML syntax: ${first}` });
  }
  if (errors.length > 0) return { ok: false, errors, warnings };
  for (const w of doc.warnings) {
    const pos = lines.linePos(w.pos[0]);
    warnings.push({ file: fileName, line: pos.line, col: pos.col, path: '', message: `YAML: ${w.message.split('\n')[0]}` });
  }

  if (options.refuseEmpty === true && doc.contents === null) {
    // A truncated write or an editor that saved an empty buffer; nothing is never what was meant.
    errors.push({
      file: fileName, line: 1, col: 1, path: '',
      message: 'the config file is empty (only whitespace or comments): refusing it, since an empty config would answer every PXE client. Write the config you mean — for a server that answers no one, `default: ignore` — or leave out --config to run the embedded default on purpose',
    });
    return { ok: false, errors, warnings };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (e) {
    return { ok: false, errors: [{ file: fileName, line: 1, col: 1, path: '', message: `YAML: ${(e as Error).message}` }], warnings };
  }

  const parsed = configSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) errors.push(...issueToErrors(issue, loc));
    sortErrors(errors);
    return { ok: false, errors, warnings };
  }
  const file: ConfigFile = parsed.data;
  const explicitProfiles = file.profiles !== undefined;
  const profiles = file.profiles ?? embeddedProfiles();
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

  file.rules.forEach((rule, i) => {
    if (rule.profile !== undefined && rule.action !== undefined) {
      errors.push(loc.error(['rules', i], `give either profile: NAME or action: ignore, not both`, { found: 'both' }));
    } else if (rule.profile === undefined && rule.action === undefined) {
      errors.push(loc.error(['rules', i], `a rule needs profile: NAME or action: ignore, found neither`, { found: 'neither', allowed: 'profile: NAME or action: ignore' }));
    } else if (rule.profile !== undefined && !(rule.profile in profiles)) {
      errors.push(loc.error(['rules', i, 'profile'], missingProfile(rule.profile, names, rule.profile === 'ignore' ? ' — write action: ignore' : ''), { found: rule.profile, allowed: names.join(', ') }));
    }
  });

  let dflt = file.default;
  if (dflt === undefined) {
    if ('default' in profiles) dflt = 'default';
    else {
      dflt = 'ignore';
      warnings.push({ file: fileName, line: 0, col: 0, path: 'default', message: `not set and there is no profile named "default": clients that match no rule are ignored (write default: ignore to say so)` });
    }
  } else if (dflt !== 'ignore' && !(dflt in profiles)) {
    errors.push(loc.error(['default'], missingProfile(dflt, names, ' — write a profile name or ignore'), { found: dflt, allowed: `ignore, ${names.join(', ')}` }));
  }

  const hostEntries: HostEntry[] = [];
  const baseDir = dirname(resolve(fileName));
  file.hostFiles.forEach((hf, i) => {
    if (!(hf.profile in profiles)) {
      errors.push(loc.error(['hostFiles', i, 'profile'], missingProfile(hf.profile, names), { found: hf.profile, allowed: names.join(', ') }));
    }
    const path = resolve(baseDir, hf.path);
    let body: string;
    try {
      body = readFile(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
      errors.push(loc.error(['hostFiles', i, 'path'], `cannot read host file "${path}": ${why}`, { found: hf.path }));
      return;
    }
    const r = parseHostFile(body, path);
    errors.push(...r.errors);
    for (const h of r.entries) hostEntries.push({ file: path, profile: hf.profile, ...h });
  });

  checkDuplicateMacs(file, hostEntries, loc, warnings);

  if (errors.length > 0) {
    sortErrors(errors);
    return { ok: false, errors, warnings };
  }
  const { profiles: _p, default: _d, ...rest } = file;
  const config: Config = { ...rest, profiles, default: dflt, hostEntries, source: fileName };
  return { ok: true, config, warnings };
}

/**
 * An exact MAC listed again after a MAC-only entry can never match (first match wins), which
 * almost always means a stale line; say where both are. Entries with further conditions
 * (arch, uuid, ...) legitimately share MACs, so only unconditional ones shadow.
 */
function checkDuplicateMacs(file: ConfigFile, hosts: HostEntry[], loc: Locator, warnings: ConfigError[]): void {
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

function embeddedProfiles(): Record<string, Profile> {
  return structuredClone(EMBEDDED_DEFAULT.profiles);
}

/** Read and check a config file (and the host files it names). Synchronous: used at start and on reload. */
export function loadConfig(path: string, options: ParseOptions = {}): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    return { ok: false, errors: [{ file: path, line: 0, col: 0, path: '', message: `cannot read config: ${why}` }], warnings: [] };
  }
  return parseConfigText(text, path, { ...options, refuseEmpty: true });
}

function loadEmbedded(): Config {
  const r = parseConfigText(EMBEDDED_DEFAULT_YAML, EMBEDDED_SOURCE, { readFile: () => '' });
  if (!r.ok) throw new Error(`embedded default config is invalid: ${formatErrors(r.errors)}`);
  return r.config;
}

/** What pxepool serves with no config file. See docs/config.md for the file names it expects. */
export const EMBEDDED_DEFAULT: Config = loadEmbedded();
