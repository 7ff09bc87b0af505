// Config problems: what a person fixing a file needs — where (file:line:col and the key path),
// what was found, what to write instead — and how they are printed and ordered. Pure.

export interface ConfigError {
  /** config file or host file the problem is in */
  file: string;
  /** 1-based; 0 when the problem concerns the whole file */
  line: number;
  /** 1-based; 0 when not known (host files report lines only) */
  col: number;
  /** key path inside the config file, e.g. `rules[2].match.mac`; '' for host files and syntax errors */
  path: string;
  /** what is wrong and what to write instead, without the location prefix */
  message: string;
  found?: string;
  allowed?: string;
}

/** `file:line:col: path: message`, leaving out the parts that are unknown. */
export function formatError(e: ConfigError): string {
  const where = `${e.file}${e.line > 0 ? `:${e.line}` : ''}${e.line > 0 && e.col > 0 ? `:${e.col}` : ''}`;
  return `${where}: ${e.path !== '' ? `${e.path}: ` : ''}${e.message}`;
}

export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map(formatError).join('\n');
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(String(seg))) out += out === '' ? String(seg) : `.${String(seg)}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** The built-in config used when no file is given: every PXE client gets the `default` profile. */

/** File order of first mention (config before the host files it names), then position. */
export function sortErrors(errors: ConfigError[]): void {
  const fileRank = new Map<string, number>();
  for (const e of errors) if (!fileRank.has(e.file)) fileRank.set(e.file, fileRank.size);
  errors.sort((a, b) => fileRank.get(a.file)! - fileRank.get(b.file)! || a.line - b.line || a.col - b.col);
}
