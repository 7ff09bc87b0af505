import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, symlink, rm, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { normalizeBootPath, resolveBootPath, openBootRoot, isNotFound } from '../../../src/files/root.ts';

let base: string;
let root: string;

before(async () => {
  base = await realpath(await mkdtemp(path.join(tmpdir(), 'pxepool-root-')));
  root = path.join(base, 'root');
  await mkdir(path.join(root, 'pxelinux.cfg'), { recursive: true });
  await mkdir(path.join(root, 'boot', 'x64'), { recursive: true });
  await writeFile(path.join(root, 'pxelinux.0'), 'nbp');
  await writeFile(path.join(root, 'pxelinux.cfg', 'default'), 'DEFAULT x');
  await writeFile(path.join(root, 'boot', 'x64', 'wdsnbp.com'), 'w');
  await writeFile(path.join(base, 'secret'), 'outside');
  await symlink(path.join(base, 'secret'), path.join(root, 'evil-link'));
  await symlink('../secret', path.join(root, 'evil-rel'));
  await symlink(base, path.join(root, 'evil-dir'));
  await symlink('pxelinux.0', path.join(root, 'good-link'));
  await symlink('loop-b', path.join(root, 'loop-a'));
  await symlink('loop-a', path.join(root, 'loop-b'));
  execFileSync('mkfifo', [path.join(root, 'fifo')]);
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

test('normalization: backslashes, leading slashes, dot segments', () => {
  assert.deepEqual(normalizeBootPath('/pxelinux.0'), { ok: true, relPath: 'pxelinux.0' });
  assert.deepEqual(normalizeBootPath('boot\\x64\\wdsnbp.com'), { ok: true, relPath: 'boot/x64/wdsnbp.com' });
  assert.deepEqual(normalizeBootPath('//a'), { ok: false, reason: 'absolute' });
  assert.deepEqual(normalizeBootPath('./a//b/./c'), { ok: true, relPath: 'a/b/c' });
  assert.deepEqual(normalizeBootPath('a/../b'), { ok: true, relPath: 'b' });
});

test('every escape attempt is refused before touching the disk', () => {
  for (const [req, reason] of [
    ['../secret', 'escape'],
    ['..\\secret', 'escape'],
    ['a/../../b', 'escape'],
    ['pxelinux.cfg/../../secret', 'escape'],
    ['/../secret', 'escape'],
    ['..', 'escape'],
    ['a\0b', 'nul'],
    ['pxelinux.0\0.cfg', 'nul'],
    ['C:\\Windows\\win.ini', 'absolute'],
    ['c:/x', 'absolute'],
    ['\\\\server\\share', 'absolute'],
    ['', 'empty'],
    ['/', 'empty'],
    ['x'.repeat(5000), 'too-long'],
  ] as const) {
    assert.deepEqual(normalizeBootPath(req), { ok: false, reason }, req);
  }
});

test('resolves plain files, nested files and symlinks that stay inside', async () => {
  const r = await resolveBootPath(root, '/pxelinux.cfg/default');
  assert.ok(r.ok);
  assert.equal(r.absPath, path.join(root, 'pxelinux.cfg', 'default'));
  assert.equal(r.size, 9);
  const w = await resolveBootPath(root, 'boot\\x64\\wdsnbp.com');
  assert.ok(w.ok);
  const l = await resolveBootPath(root, 'good-link');
  assert.ok(l.ok && l.absPath === path.join(root, 'pxelinux.0'));
});

test('/etc/passwd means <root>/etc/passwd, which does not exist', async () => {
  const r = await resolveBootPath(root, '/etc/passwd');
  assert.deepEqual(r, { ok: false, reason: 'not-found' });
});

test('symlinks leaving the root, directories, FIFOs and loops are refused', async () => {
  const bootRoot = await openBootRoot(root);
  for (const [req, reason] of [
    ['evil-link', 'symlink-escape'],
    ['evil-rel', 'symlink-escape'],
    ['evil-dir/secret', 'symlink-escape'],
    ['evil-dir', 'symlink-escape'],
    ['pxelinux.cfg', 'directory'],
    ['boot/', 'directory'],
    ['fifo', 'not-regular'],
    ['loop-a', 'symlink-escape'],
    ['pxelinux.cfg/01-aa-bb-cc-dd-ee-ff', 'not-found'],
    ['pxelinux.0/x', 'not-found'],
    ['%00', 'not-found'],
  ] as const) {
    assert.deepEqual(await bootRoot.resolve(req), { ok: false, reason }, req);
  }
  assert.ok(isNotFound('not-found') && isNotFound('directory') && !isNotFound('symlink-escape'));
});

test('a root that is itself a symlink works', async () => {
  await symlink(root, path.join(base, 'root-link'));
  const r = await resolveBootPath(path.join(base, 'root-link'), 'pxelinux.0');
  assert.ok(r.ok && r.absPath === path.join(root, 'pxelinux.0'));
  assert.deepEqual(await resolveBootPath(path.join(base, 'nope'), 'x'), { ok: false, reason: 'io' });
});

test('mounts: a profile tree is served under its own first segment and confines its own symlinks', async () => {
  const lab = path.join(base, 'lab-tree');
  await mkdir(path.join(lab, 'pxelinux.cfg'), { recursive: true });
  await writeFile(path.join(lab, 'pxelinux.0'), 'lab nbp');
  await writeFile(path.join(lab, 'pxelinux.cfg', 'default'), 'DEFAULT lab');
  await symlink(path.join(root, 'pxelinux.0'), path.join(lab, 'to-main'));
  const r = await openBootRoot(root, { lab });
  const got = async (p: string) => {
    const x = await r.resolve(p);
    return x.ok ? x.absPath : x.reason;
  };
  assert.equal(await got('lab/pxelinux.0'), path.join(lab, 'pxelinux.0'));
  assert.equal(await got('\\lab\\pxelinux.cfg\\default'), path.join(lab, 'pxelinux.cfg', 'default'));
  assert.equal(await got('pxelinux.0'), path.join(root, 'pxelinux.0'), 'the main root is still served');
  assert.equal(await got('lab'), 'directory');
  assert.equal(await got('lab/../pxelinux.0'), path.join(root, 'pxelinux.0'), '.. is lexical: back in the main root, still confined');
  assert.equal(await got('lab/../../secret'), 'escape');
  assert.equal(await got('lab/to-main'), 'symlink-escape', 'a mount may not link into the main root either');
  assert.equal(await got('lab/nope'), 'not-found');
  await assert.rejects(openBootRoot(root, { gone: path.join(base, 'no-such-dir') }));
});
