// Run-level helpers: the mix split, percentiles, seeded randomness.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignFamilies, parseMix, percentiles, rng } from '../../../src/storm/run.ts';

test('parseMix reads weights and names the bad part', () => {
  assert.deepEqual(parseMix('bios=50,efi=30,ipxe=20'), { bios: 50, efi: 30, ipxe: 20 });
  assert.throws(() => parseMix('bios=50,arm=3'), /"arm=3"/);
});

test('assignFamilies splits by largest remainder, exactly n, same order for the same seed', () => {
  const a = assignFamilies(7, { bios: 50, efi: 30, ipxe: 20 }, rng(3));
  assert.equal(a.length, 7);
  const count = (f: string) => a.filter((x) => x === f).length;
  assert.deepEqual([count('bios'), count('efi'), count('ipxe')], [4, 2, 1]);
  assert.deepEqual(assignFamilies(7, { bios: 50, efi: 30, ipxe: 20 }, rng(3)), a);
  assert.throws(() => assignFamilies(3, {}, rng(1)), /no positive weight/);
});

test('percentiles use nearest rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual(percentiles(v), { n: 100, p50: 50, p95: 95, p99: 99, max: 100 });
  assert.deepEqual(percentiles([]), { n: 0, p50: null, p95: null, p99: null, max: null });
});
