// Where a key path of the parsed config sits in the YAML text, so every error carries a line and
// a column (a missing key reports at its parent). Pure: over the parsed document.

import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import { type ConfigError, formatPath } from './errors.ts';

export type Seg = string | number;

export class Locator {
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly file: string;
  constructor(doc: Document.Parsed, lines: LineCounter, file: string) {
    this.doc = doc;
    this.lines = lines;
    this.file = file;
  }

  /** The deepest node that exists along `path` (a missing key reports at its parent). */
  node(path: readonly Seg[]): Node | undefined {
    let node = this.doc.contents as Node | null;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = findPair(node.items, String(seg));
        if (pair === undefined) break;
        const v = pair.value as Node | null;
        node = v !== null && !(isScalar(v) && v.value === null && v.range?.[0] === v.range?.[1]) ? v : (pair.key as Node);
      } else if (isSeq(node)) {
        const item = node.items[Number(seg)] as Node | undefined;
        if (item === undefined) break;
        node = item;
      } else break;
    }
    return node ?? undefined;
  }

  keyNode(path: readonly Seg[], key: string): Node | undefined {
    const parent = this.node(path);
    if (isMap(parent)) return (findPair(parent.items, key)?.key as Node | undefined) ?? parent;
    return parent;
  }

  error(path: readonly Seg[], message: string, extra: { node?: Node | undefined; found?: string; allowed?: string } = {}): ConfigError {
    const node = extra.node ?? this.node(path);
    const pos = node?.range ? this.lines.linePos(node.range[0]) : { line: 1, col: 1 };
    const e: ConfigError = { file: this.file, line: pos.line, col: pos.col, path: formatPath(path), message };
    if (extra.found !== undefined) e.found = extra.found;
    if (extra.allowed !== undefined) e.allowed = extra.allowed;
    return e;
  }
}

function findPair(items: readonly Pair<unknown, unknown>[], key: string): Pair<unknown, unknown> | undefined {
  return items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === key);
}
