// What the benchmark scripts share in reporting: statistics, the machine's load, and replacing
// their own marked section of docs/benchmarks.md.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function loadavg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/**
 * Puts `lines` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in docs/benchmarks.md,
 * replacing what was there; a first section goes right after the marker `after` ends (or at the
 * end of the file). Returns the path written.
 */
export function writeDocSection(name: string, lines: readonly string[], after?: string): string {
  const section = [`<!-- ${name}:start -->`, ...lines, `<!-- ${name}:end -->`, ''].join('\n');
  const docPath = path.join('docs', 'benchmarks.md');
  let doc = existsSync(docPath) ? readFileSync(docPath, 'utf8') : '# Benchmarks\n\n';
  const re = new RegExp(`<!-- ${name}:start -->[\\s\\S]*?<!-- ${name}:end -->\\n?`);
  const anchor = after !== undefined ? `<!-- ${after}:end -->\n` : null;
  if (re.test(doc)) doc = doc.replace(re, section);
  else if (anchor !== null && doc.includes(anchor)) doc = doc.replace(anchor, `${anchor}\n${section}`);
  else doc = doc.trimEnd() + '\n\n' + section;
  writeFileSync(docPath, doc);
  return docPath;
}
