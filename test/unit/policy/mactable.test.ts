import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MacTable, macKey } from '../../../src/policy/mactable.ts';
import { numberToMac, parseMacPattern } from '../../../src/config/values.ts';

function pattern(text: string) {
  const r = parseMacPattern(text);
  assert.ok(r.ok, text);
  return r.value;
}

test('macKey parses the ClientFacts form and refuses anything else', () => {
  assert.equal(macKey('00:11:22:aa:bb:cc'), 0x001122aabbcc);
  assert.equal(macKey('ff:ff:ff:ff:ff:ff'), 2 ** 48 - 1);
  assert.equal(macKey('00:11:22:aa:bb'), undefined);
  assert.equal(macKey('00-11-22-aa-bb-cc'), undefined);
  assert.equal(macKey('00:11:22:aa:bb:zz'), undefined);
  assert.equal(numberToMac(0x001122aabbcc), '00:11:22:aa:bb:cc');
});

test('exact beats wildcard, longer wildcard beats shorter (get)', () => {
  const t = new MacTable<string>();
  t.add(pattern('*'), 'any');
  t.add(pattern('00:11:*'), 'two');
  t.add(pattern('00:11:22:*'), 'oui');
  t.add(pattern('00:11:22:33:44:55'), 'exact');
  assert.equal(t.get(macKey('00:11:22:33:44:55')!), 'exact');
  assert.equal(t.get(macKey('00:11:22:33:44:56')!), 'oui');
  assert.equal(t.get(macKey('00:11:23:00:00:00')!), 'two');
  assert.equal(t.get(macKey('aa:00:00:00:00:00')!), 'any');
  assert.deepEqual(t.matches(macKey('00:11:22:33:44:55')!), ['exact', 'oui', 'two', 'any']);
  assert.equal(t.exactCount, 1);
  assert.equal(t.wildcardCount, 3);
});

test('values under one key keep insertion order; absent MACs give nothing', () => {
  const t = new MacTable<number>();
  t.add(pattern('00:11:22:33:44:55'), 7);
  t.add(pattern('00:11:22:33:44:55'), 3);
  t.add(pattern('00:11:22:33:44:*'), 9);
  assert.deepEqual(t.matches(macKey('00:11:22:33:44:55')!), [7, 3, 9]);
  assert.deepEqual(t.matches(macKey('00:11:22:33:45:55')!), []);
  assert.equal(t.get(macKey('01:11:22:33:44:55')!), undefined);
  assert.equal(t.exactCount, 1);
  assert.equal(t.exactEntries, 2);
});

test('100,000 exact entries and 1,000 wildcards: build and look every one up', () => {
  const N = 100_000;
  const t = new MacTable<number>();
  const base = 0x020000000000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) t.addExact(base + i * 7919, i);
  for (let i = 0; i < 1000; i++) t.addPrefix([0x0a, i >> 8, i & 0xff], N + i);
  const t1 = performance.now();
  for (let i = 0; i < N; i++) {
    const mac = macKey(numberToMac(base + i * 7919))!;
    const m = t.matches(mac);
    if (m.length !== 1 || m[0] !== i) assert.fail(`entry ${i}: got ${m.join(',')}`);
  }
  for (let i = 0; i < 1000; i++) {
    assert.equal(t.get(0x0a0000000000 + (i >> 8) * 2 ** 32 + (i & 0xff) * 2 ** 24 + 0x123456), N + i);
  }
  // Misses: neighbours that were never added.
  for (let i = 0; i < 1000; i++) assert.deepEqual(t.matches(base + i * 7919 + 1), []);
  const t2 = performance.now();
  console.log(`mactable: built ${N + 1000} entries in ${(t1 - t0).toFixed(1)} ms, ${N + 2000} lookups in ${(t2 - t1).toFixed(1)} ms`);
  assert.equal(t.exactCount, N);
  assert.equal(t.wildcardCount, 1000);
});
