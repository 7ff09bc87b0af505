// Config file → validated Config, or every problem at once with its source position.
// Nothing here throws for bad input: a person fixing a config wants the whole list, each
// entry saying where, what was found, and what to write instead.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import {
  type Config, type ConfigFile, type HostEntry, type Profile, configSchema,
} from './schema.ts';
import { parseHostFile } from './host-file.ts';
import { type ConfigError, formatError, formatErrors, formatPath, sortErrors } from './errors.ts';
import { issueToErrors } from './issues.ts';
import { Locator } from './locate.ts';
import { checkDuplicateMacs, checkHostFileProfile, checkProfiles, checkRules, checkServiceAddresses6, PROFILE_NAME, resolveDefault } from './checks.ts';

export { type ConfigError, formatError, formatErrors, formatPath, parseHostFile, PROFILE_NAME };

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

  checkProfiles(profiles, explicitProfiles, loc, errors, warnings);
  checkRules(file, profiles, loc, errors);
  checkServiceAddresses6(file, loc, errors);
  const dflt = resolveDefault(file, profiles, loc, errors, warnings);

  const hostEntries: HostEntry[] = [];
  const baseDir = dirname(resolve(fileName));
  file.hostFiles.forEach((hf, i) => {
    checkHostFileProfile(hf.profile, i, profiles, loc, errors);
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
  if (file.store?.path !== undefined && file.store.url !== undefined) {
    errors.push(loc.error(['store'], 'give store.path (SQLite) or store.url (PostgreSQL), not both', { found: 'both' }));
  }
  if (file.store === undefined && file.api.tokenFile !== undefined) {
    warnings.push(loc.error(['api'], 'the clients API needs a store: section (store: {} for SQLite in /var/lib/pxepool); without one it is not served'));
  }

  if (errors.length > 0) {
    sortErrors(errors);
    return { ok: false, errors, warnings };
  }
  const { profiles: _p, default: _d, ...rest } = file;
  const config: Config = { ...rest, profiles, default: dflt, hostEntries, source: fileName };
  return { ok: true, config, warnings };
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
