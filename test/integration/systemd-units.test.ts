// The systemd units in examples/systemd are checked by systemd itself (systemd-analyze verify),
// pointed at this checkout instead of /opt/pxepool, and the bin/pxepool wrapper they start runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, needs, root } from '../lib/require.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const skip = needs(bin('/usr/bin/systemd-analyze', 'systemd'));

function verify(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text.replaceAll('/opt/pxepool', ROOT));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.trim();
}

test('example systemd units pass systemd-analyze verify; a broken one does not', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-units-'));
  try {
    const serve = readFileSync(join(ROOT, 'examples/systemd/pxepool.service'), 'utf8');
    const relay = readFileSync(join(ROOT, 'examples/systemd/pxepool-relay@.service'), 'utf8');
    assert.equal(verify(dir, 'pxepool.service', serve), '');
    assert.equal(verify(dir, 'pxepool-relay@eth1.service', relay), '');
    assert.match(verify(dir, 'broken.service', serve.replace('Restart=on-failure', 'Restart=sometimes')), /restart specifier/);
    assert.match(serve, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m, 'reload is SIGHUP, which serve handles');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bin/pxepool runs the built CLI with Node 24', () => {
  const out = execFileSync(join(ROOT, 'bin/pxepool'), ['--version'], { encoding: 'utf8' }).trim();
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.match(out, new RegExp(pkg.version.replaceAll('.', '\\.')));
  const check = spawnSync(join(ROOT, 'bin/pxepool'), ['check', join(ROOT, 'examples/selective-response.yaml')], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});
