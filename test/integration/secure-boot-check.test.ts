// `pxepool check` on a profile marked secureBoot: Debian's signed shim passes, its unsigned
// build and the unsigned iPXE are named with what to serve instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, needs } from '../lib/require.ts';

const SIGNED = '/usr/lib/shim/shimx64.efi.signed';
const UNSIGNED = '/usr/lib/shim/shimx64.efi';
const IPXE = '/usr/lib/ipxe/snponly.efi';
const skip = needs(bin(SIGNED, 'shim-signed'), bin(UNSIGNED, 'shim-unsigned'), bin(IPXE, 'ipxe'));
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

test('pxepool check names the unsigned EFI files of a secureBoot profile', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-sbcheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(SIGNED, join(dir, 'shimx64.efi'));
  copyFileSync(UNSIGNED, join(dir, 'shim-unsigned.efi'));
  copyFileSync(IPXE, join(dir, 'snponly.efi'));
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.from([0xfa, 0xea]));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `root: ${dir}
profiles:
  good: { efiX64: shimx64.efi, secureBoot: true }
  shim-unsigned: { efiX64: shim-unsigned.efi, secureBoot: true }
  ipxe: { efiX64: snponly.efi, bios: pxelinux.0, secureBoot: true }
  off: { efiX64: snponly.efi }
default: good
`);
  const r = spawnSync(process.execPath, [MAIN, 'check', cfg], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const warnings = r.stdout.split('\n').filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 2, r.stdout);
  assert.match(r.stdout, /profile shim-unsigned is marked secureBoot, but its efiX64 shim-unsigned\.efi is unsigned: /);
  assert.match(r.stdout, /profile ipxe is marked secureBoot, but its efiX64 snponly\.efi is an unsigned iPXE build.*pxepool media --secure-boot/);
  assert.ok(!/profile (good|off)\b/.test(warnings.join('\n')), 'the signed shim, and a profile not marked, pass');
});
