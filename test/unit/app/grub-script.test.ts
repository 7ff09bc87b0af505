// /boot.grub: the GRUB side of boot media. Every file is tried on each server in order; an
// ignored client is told why and GRUB exits to the firmware's next boot option; anything from
// the config reaches GRUB single-quoted (grub-script-check parses these in
// test/integration/media.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { config } from '../policy/helpers.ts';
import { compilePolicy } from '../../../src/policy/policy.ts';
import { grubDevice, grubHandover, grubQuote, grubScriptFor } from '../../../src/app/grub-script.ts';

const policy = compilePolicy(config(`
profiles:
  lab:
    kernel: vmlinuz
    initrd: [initrd.gz, extra.img]
    cmdline: console=ttyS0 quiet pxepool.note=it's$HOME
  nokernel:
    efiX64: snponly.efi
rules:
  - { match: { mac: "52:54:00:aa:*" }, action: ignore }
  - { match: { mac: "52:54:00:bb:*" }, profile: nokernel }
default: lab
`));
const q = (mac: string) => new URLSearchParams(`mac=${mac}&platform=efi&buildarch=x86_64`);
const OWN = 'http://10.0.0.11:8080';

test('kernel and initrd are each tried on every server in order, and boot follows only when both came', () => {
  const s = grubScriptFor(policy, q('52:54:00:12:34:56'), OWN, { servers: () => ['http://10.0.0.11:8080', 'http://10.0.0.12:8080'] })!;
  assert.match(s, /for pxepool_base in '\(http,10\.0\.0\.11:8080\)' '\(http,10\.0\.0\.12:8080\)'; do/);
  assert.match(s, /if linux "\$pxepool_base"'\/vmlinuz' 'console=ttyS0' 'quiet' 'pxepool\.note=it'\\''s\$HOME'; then set pxepool_kernel=1; break; fi/);
  assert.match(s, /if initrd "\$pxepool_base"'\/initrd\.gz' "\$pxepool_base"'\/extra\.img'; then set pxepool_initrd=1; break; fi/);
  const lines = s.split('\n');
  assert.ok(lines.indexOf('boot') > lines.findIndex((l) => l.includes('pxepool_initrd" != 1')), 'boot comes after the initrd check');
  assert.equal(s.match(/^for /gm)?.length, 2);
});

test('proto=tftp (the Secure Boot loader): every file from each server\'s TFTP', () => {
  const qt = new URLSearchParams('mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64&proto=tftp');
  const s = grubScriptFor(policy, qt, OWN, { servers: () => ['http://10.0.0.11:8080', 'http://10.0.0.12:8080'] })!;
  assert.match(s, /for pxepool_base in '\(tftp,10\.0\.0\.11\)' '\(tftp,10\.0\.0\.12\)'; do/);
  const s2 = grubScriptFor(policy, qt, OWN, { tftpPort: 1069 })!;
  assert.match(s2, /'\(tftp,10\.0\.0\.11:1069\)'/);
});

test('not knowing its own address, the server names none: GRUB\'s (tftp) is the server it came from', () => {
  const qt = new URLSearchParams('mac=52:54:00:12:34:56&platform=efi&proto=tftp');
  assert.match(grubScriptFor(policy, qt, undefined)!, /for pxepool_base in '\(tftp\)'; do/);
});

test('without pool peers the config names the server it came from', () => {
  const s = grubScriptFor(policy, q('52:54:00:12:34:56'), OWN)!;
  assert.match(s, /for pxepool_base in '\(http,10\.0\.0\.11:8080\)'; do/);
});

test('an ignored client is told why and GRUB exits to the next boot device', () => {
  const s = grubScriptFor(policy, q('52:54:00:aa:00:01'), OWN)!;
  assert.match(s, /^echo 'pxepool: this machine is not served \(rules\[0\] says ignore\)/m);
  assert.ok(!/\blinux\b/.test(s));
  assert.match(s, /^exit$/m);
});

test('a profile without a kernel gets a config that says what to set, not a 404', () => {
  const s = grubScriptFor(policy, q('52:54:00:bb:00:01'), OWN)!;
  assert.match(s, /set profiles\.nokernel\.kernel/);
  assert.match(s, /^exit$/m);
});

test('no valid MAC, no config (the query is all the client gave)', () => {
  assert.equal(grubScriptFor(policy, new URLSearchParams('mac=$(reboot)'), OWN), undefined);
  assert.equal(grubScriptFor(policy, new URLSearchParams(''), OWN), undefined);
});

test('grubQuote survives quotes, dollars and semicolons; grubDevice takes http bases only', () => {
  assert.equal(grubQuote(`a'b`), `'a'\\''b'`);
  assert.equal(grubQuote('$x; reboot'), `'$x; reboot'`);
  assert.equal(grubDevice('http://10.0.0.1:8080'), '(http,10.0.0.1:8080)');
  assert.equal(grubDevice('http://10.0.0.1/'), '(http,10.0.0.1)');
  assert.equal(grubDevice('https://10.0.0.1'), undefined);
});

test('grub/grub.cfg hands a PXE-loaded signed GRUB over to its own config, by TFTP from the server it came from', () => {
  const s = grubHandover();
  assert.match(s, /^source "\(tftp\)\/boot\.grub\?mac=\$net_default_mac&platform=efi&buildarch=\$grub_cpu&proto=tftp"$/m);
  assert.match(s, /^exit$/m);
});

test('over HTTP (UEFI HTTP boot, GRUB 2.12) the handover sources from the device GRUB was loaded from, $root, and asks for HTTP', () => {
  const s = grubHandover('http');
  assert.match(s, /^source "\(\$root\)\/boot\.grub\?mac=\$net_default_mac&platform=efi&buildarch=\$grub_cpu&proto=http"$/m);
  assert.doesNotMatch(s, /\(tftp\)/);
});
