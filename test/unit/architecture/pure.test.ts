// The sans-I/O rule, checked: the modules listed here are the pure rooms (codecs and decisions
// over data and an explicit clock). None may touch sockets, files, processes or timers, or
// import — other than for types — a module that is not pure itself. docs/architecture.md
// names the same rooms. A broken module below proves the check can fail.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = new URL('../../../src/', import.meta.url).pathname;

export const PURE: readonly string[] = [
  'dhcp/facts-types.ts', 'dhcp/facts.ts', 'dhcp/options.ts', 'dhcp/packet.ts', 'dhcp/pxe-client.ts', 'dhcp/pxe.ts',
  'policy/chain.ts', 'policy/decision.ts', 'policy/expand.ts', 'policy/mactable.ts', 'policy/policy.ts',
  'proxy/responder.ts',
  'tftp/admission.ts', 'tftp/options.ts', 'tftp/packet.ts', 'tftp/resolve-cache.ts', 'tftp/source.ts', 'tftp/transfer.ts',
  'pool/announce.ts', 'pool/config.ts', 'pool/describe.ts', 'pool/gate.ts', 'pool/health.ts', 'pool/heartbeat.ts', 'pool/membership.ts',
  'pool/placement.ts', 'pool/ranking.ts', 'pool/takeover.ts',
  'relay/config.ts', 'relay/forward.ts', 'relay/targets.ts',
  'config/schema.ts', 'config/values.ts', 'config/host-file.ts', 'config/errors.ts', 'config/locate.ts', 'config/issues.ts', 'config/checks.ts',
  'snippet/dnsmasq.ts', 'snippet/index.ts', 'snippet/isc.ts', 'snippet/kea.ts', 'snippet/model.ts', 'snippet/windows.ts',
  'storm/client.ts',
  'http/limits.ts', 'observe/transfer-log.ts', 'observe/printable.ts', 'observe/client-events.ts', 'observe/explain-merge.ts',
  'app/ipxe-script.ts', 'app/recent-clients.ts', 'app/explain-client.ts',
  'app/grub-script.ts', 'media/plan.ts', 'files/pe-signature.ts', 'dhcp6/packet.ts', 'dhcp6/respond.ts',
  'store/model.ts', 'store/store.ts', 'store/validate.ts', 'cli/clients-format.ts',
];

const IO_MODULES = /^node:(dgram|net|fs|fs\/promises|child_process|http|https|http2|os|readline|timers|timers\/promises|worker_threads|cluster|tls|dns)$/;
const IO_GLOBALS = /\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(|\bprocess\.(env|argv|stdout|stderr|stdin|exit|kill|on)\b|\bperformance\.now\(|\bDate\.now\(|\bnew Date\(\)/;

/** Problems with one module's source text, given which relative modules are pure. */
export function impurities(file: string, text: string, pure: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  for (const m of code.matchAll(/^\s*import\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
    const [, typeOnly, spec] = m;
    if (typeOnly !== undefined) continue;
    if (IO_MODULES.test(spec!)) out.push(`${file} imports ${spec}`);
    if (spec!.startsWith('.')) {
      const target = normalize(join(dirname(file), spec!));
      if (!pure.has(target)) out.push(`${file} imports ${target}, which is not a pure module`);
    }
  }
  const g = IO_GLOBALS.exec(code);
  if (g !== null) out.push(`${file} uses ${g[0].trim()}`);
  return out;
}

test('pure modules touch no socket, file, process or timer, and import only pure modules', () => {
  const pure = new Set(PURE);
  const problems = PURE.flatMap((f) => impurities(f, readFileSync(join(SRC, f), 'utf8'), pure));
  assert.deepEqual(problems, []);
});

test('the check can fail: an edge module and an impure import are caught', () => {
  const pure = new Set(['a/ok.ts']);
  assert.deepEqual(impurities('a/x.ts', "import dgram from 'node:dgram';\nimport { y } from './ok.ts';\nimport { z } from '../b/edge.ts';\nimport type { T } from '../b/types.ts';\nconst t = setTimeout(() => 1, 5);\n", pure), [
    'a/x.ts imports node:dgram',
    'a/x.ts imports b/edge.ts, which is not a pure module',
    'a/x.ts uses setTimeout(',
  ]);
  assert.deepEqual(impurities('a/y.ts', "// setTimeout( in a comment is fine\nimport { createHash } from 'node:crypto';\n", pure), []);
  assert.equal(relative('.', '.'), '');
});
