// zod's validation issues → ConfigErrors that say what to write instead: unknown keys with the
// nearest known one, types in words, bounds with the value found. Pure.

import type { z } from 'zod';
import { configSchema, describeValue, type LeafProblem } from './schema.ts';
import type { ConfigError } from './errors.ts';
import type { Locator, Seg } from './locate.ts';
import { suggest } from './values.ts';

/** The keys an object schema accepts at `path`, found by walking the zod definitions. */
function keysAt(path: readonly PropertyKey[]): string[] {
  let s: any = configSchema;
  const unwrap = () => {
    for (;;) {
      const def = s?._zod?.def;
      if (!def) return;
      if (def.type === 'optional' || def.type === 'default' || def.type === 'prefault' || def.type === 'nullable') s = def.innerType;
      else if (def.type === 'pipe') s = def.in;
      else return;
    }
  };
  for (const seg of path) {
    unwrap();
    const def = s?._zod?.def;
    if (def?.type === 'object') s = def.shape[seg as string];
    else if (def?.type === 'array') s = def.element;
    else if (def?.type === 'record') s = def.valueType;
    else return [];
  }
  unwrap();
  const def = s?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping (key: value lines)',
  array: 'a list',
  string: 'text',
  number: 'a number',
  boolean: 'true or false',
};

export function issueToErrors(issue: z.core.$ZodIssue, loc: Locator): ConfigError[] {
  const path = issue.path as Seg[];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = keysAt(path);
      return issue.keys.map((key) => {
        const s = suggest(key, allowed);
        const message = s !== undefined
          ? `unknown key "${key}" — did you mean "${s}"?`
          : `unknown key "${key}" (allowed here: ${allowed.join(', ')})`;
        return loc.error(path, message, { node: loc.keyNode(path, key), found: key, allowed: allowed.join(', ') });
      });
    }
    case 'custom': {
      const p = issue.params as LeafProblem | undefined;
      if (p?.allowed !== undefined) {
        const msg = `expected ${p.allowed}, found ${p.found}${p.note !== undefined ? ` — ${p.note}` : ''}`;
        return [loc.error(path, msg, { found: p.found, allowed: p.allowed })];
      }
      return [loc.error(path, issue.message)];
    }
    case 'invalid_type': {
      const allowed = TYPE_WORDS[issue.expected] ?? issue.expected;
      const found = describeValue(input);
      if (path.length === 0) {
        return [loc.error(path, `the config must be a mapping of sections (server, root, tftp, http, log, profiles, rules, hostFiles, default), found ${found}`, { found, allowed })];
      }
      return [loc.error(path, `expected ${allowed}, found ${found}`, { found, allowed })];
    }
    case 'too_small':
    case 'too_big': {
      // zod says "expected string to have >=16 characters"; say it with the value we found.
      const found = Array.isArray(input) ? (input.length === 0 ? 'an empty list' : `${input.length} entries`) : describeValue(input);
      const bound = issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      const one = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum) === 1;
      const unit = issue.origin === 'string' ? (one ? ' character' : ' characters') : issue.origin === 'array' ? (one ? ' entry' : ' entries') : '';
      const allowed = issue.origin === 'number' || issue.origin === 'int' || issue.origin === 'bigint' ? `a number ${bound}` : `${bound}${unit}`;
      const why = issue.message.startsWith('Too ') || issue.message.startsWith('Invalid') ? '' : ` (${issue.message})`;
      return [loc.error(path, `expected ${allowed}, found ${found}${why}`, { found, allowed })];
    }
    default:
      return [loc.error(path, `${issue.message}, found ${describeValue(input)}`)];
  }
}
