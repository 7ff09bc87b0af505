import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBootRoot, BootRootError } from '../../../src/app/boot-root.ts';
import { EMBEDDED_DEFAULT } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';

function withRoot(root: string, profiles?: Config['profiles']): Config {
  return { ...structuredClone(EMBEDDED_DEFAULT), root, ...(profiles ? { profiles } : {}) };
}

test('boot root: a configured root that does not exist is refused with what to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-root-'));
  try {
    const missing = join(dir, 'nope');
    assert.throws(() => checkBootRoot(withRoot(missing), false), (e: unknown) => e instanceof BootRootError && /does not exist: create it \(mkdir -p .*nope\)/.test((e as Error).message));
    assert.equal(existsSync(missing), false, 'nothing created for a configured root');
    writeFileSync(join(dir, 'file'), 'x');
    assert.throws(() => checkBootRoot(withRoot(join(dir, 'file')), true), /is not a directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('boot root: the embedded default creates its root and lists the files still missing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-root-'));
  try {
    const root = join(dir, 'srv', 'pxepool');
    const r = checkBootRoot(withRoot(root), true);
    assert.equal(r.created, true);
    assert.ok(existsSync(root));
    // URLs and ${server} templates are not files; the four NBPs are.
    assert.deepEqual(r.missing.map((m) => m.file).sort(), ['ipxe-arm64.efi', 'ipxe-ia32.efi', 'ipxe.efi', 'pxelinux.0']);
    writeFileSync(join(root, 'pxelinux.0'), 'x');
    const again = checkBootRoot(withRoot(root), true);
    assert.equal(again.created, false);
    assert.ok(!again.missing.some((m) => m.file === 'pxelinux.0'));
    const lab = checkBootRoot(withRoot(root, { lab: { bios: 'pxelinux.0', kernel: 'vmlinuz', initrd: ['initrd.img', 'http://x/extra.img'] } }), false);
    assert.deepEqual(lab.missing, [{ profile: 'lab', field: 'kernel', file: 'vmlinuz' }, { profile: 'lab', field: 'initrd', file: 'initrd.img' }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
