import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { buildHostTable, steer } from '../../../src/relay/targets.ts';
import { macKey } from '../../../src/policy/mactable.ts';
import { formatError } from '../../../src/config/load.ts';

const hex = (n: number) => n.toString(16).padStart(2, '0');
const macOfIndex = (i: number) => `02:00:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}:01`;

test('a 100,000-line host file loads fast and every line steers its client', () => {
  const lines: string[] = ['# generated'];
  for (let i = 0; i < 100_000; i++) lines.push(`${macOfIndex(i)}   10.0.${(i >> 8) & 255}.${i & 255}   # client ${i}`);
  lines.push('aa:bb:*  10.9.9.9');
  const text = lines.join('\n');
  const t0 = performance.now();
  const r = buildHostTable([{ path: 'big.hosts', text }]);
  const ms = performance.now() - t0;
  process.stdout.write(`# 100,000-line host file: parsed and indexed in ${ms.toFixed(1)} ms\n`);
  assert.deepEqual(r.errors, []);
  assert.equal(r.entries, 100_001);
  assert.equal(r.table.exactCount, 100_000);
  const t1 = performance.now();
  for (let i = 0; i < 100_000; i += 1) {
    const s = steer(r.table, macKey(macOfIndex(i)), '10.0.0.1');
    if (s.source !== 'host' || s.target !== `10.0.${(i >> 8) & 255}.${i & 255}`) assert.fail(`line ${i + 2}: ${JSON.stringify(s)}`);
  }
  process.stdout.write(`# 100,000 lookups in ${(performance.now() - t1).toFixed(1)} ms\n`);
  assert.equal(steer(r.table, macKey('aa:bb:01:02:03:04'), undefined).source, 'host');
  assert.equal(steer(r.table, macKey('02:01:00:00:00:00'), '10.0.0.1').source, 'default');
});

test('host file errors name file and line; the seed format parses', () => {
  const seed = '00:11:22:33:44:55    # Thin Client 1\n00:11:22:33:44:56  10.0.0.31  # Thin Client 2\n';
  const ok = buildHostTable([{ path: '/etc/dhcrelay.hosts', text: seed }]);
  assert.deepEqual(ok.errors, []);
  assert.equal(ok.entries, 2);
  const bad = buildHostTable([{ path: 'h', text: '00:11:22:33:44:55 10.0.0.1\nnot-a-mac 10.0.0.2\n00:11:22:33:44:57 10.0.0.999\n' }]);
  assert.deepEqual(bad.errors.map(formatError).map((s) => s.split(':').slice(0, 2).join(':')), ['h:2', 'h:3']);
});
