// /boot.ipxe from a pool: every fetch names the serving peer first, then the ranked live peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { config } from '../policy/helpers.ts';
import { compilePolicy } from '../../../src/policy/policy.ts';
import { fetchLine, ipxeScriptFor } from '../../../src/app/ipxe-script.ts';

const policy = compilePolicy(config(`
profiles:
  lab:
    efiX64: snponly.efi
    kernel: vmlinuz
    initrd: [initrd.gz, http://cdn.example/extra.img]
    cmdline: console=ttyS0 quiet
default: lab
`));
const q = new URLSearchParams('mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64');

test('with several pool peers, kernel and initrd are tried on each in order', () => {
  const s = ipxeScriptFor(policy, q, { servers: () => ['http://10.0.0.11:8080', 'http://10.0.0.12:8080'] })!;
  const lines = s.split('\n');
  assert.equal(lines[0], '#!ipxe');
  assert.ok(lines.includes('kernel http://10.0.0.11:8080/vmlinuz console=ttyS0 quiet || kernel http://10.0.0.12:8080/vmlinuz console=ttyS0 quiet'), s);
  assert.ok(lines.includes('initrd http://10.0.0.11:8080/initrd.gz || initrd http://10.0.0.12:8080/initrd.gz'), s);
  // A file the admin wrote as a URL is fetched from there only.
  assert.ok(lines.includes('initrd http://cdn.example/extra.img'), s);
  assert.equal(lines.at(-2), 'boot');
});

test('one server (or none) keeps the relative names iPXE resolves against the script URI', () => {
  for (const servers of [undefined, ['http://10.0.0.11:8080']]) {
    const s = ipxeScriptFor(policy, q, servers === undefined ? {} : { servers: () => servers })!;
    assert.match(s, /^kernel vmlinuz console=ttyS0 quiet$/m);
    assert.match(s, /^initrd initrd\.gz$/m);
    assert.doesNotMatch(s, /\|\|/);
  }
});

test('fetchLine: leading slashes and trailing slashes do not double up', () => {
  assert.equal(fetchLine('kernel', '/lab/vmlinuz', '', ['http://a/', 'http://b']), 'kernel http://a/lab/vmlinuz || kernel http://b/lab/vmlinuz');
  assert.equal(fetchLine('initrd', 'x.img', '', []), 'initrd x.img');
});

test('an ignored client gets no fallback list, only the reason', () => {
  const p = compilePolicy(config('profiles: { lab: { efiX64: a.efi, kernel: vmlinuz } }\ndefault: ignore\n'));
  const s = ipxeScriptFor(p, q, { servers: () => ['http://a', 'http://b'] })!;
  assert.match(s, /not served/);
  assert.doesNotMatch(s, /kernel/);
});
