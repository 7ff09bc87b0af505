// `pxepool media` end to end on this machine, without a VM (test/e2e/media.test.ts boots them):
// the image is a valid El Torito ISO with a BIOS and a UEFI entry, hybrid for USB sticks; the
// same inputs give the same bytes; the EFI boot partition holds GRUB; every GRUB config pxepool
// writes parses with GRUB's own checker; bad input is refused with what to write instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, needs } from '../lib/require.ts';
import { config } from '../unit/policy/helpers.ts';
import { compilePolicy } from '../../src/policy/policy.ts';
import { grubHandover, grubScriptFor } from '../../src/app/grub-script.ts';
import { MEDIA_INPUTS, SECURE_BOOT_INPUTS } from '../../src/media/build.ts';

const skip = needs(
  ...[...Object.values(MEDIA_INPUTS), ...Object.values(SECURE_BOOT_INPUTS)].map((i) => bin(i.path, i.pkg)),
  bin('/usr/bin/grub-script-check', 'grub-common'),
  bin('/usr/bin/mdir', 'mtools'),
);
const MAIN = join(import.meta.dirname, '../../src/cli/main.ts');

const CONFIG = `
server: { name: peer-a }
http: { port: 8080 }
profiles:
  lab: { kernel: vmlinuz, initrd: initrd.gz, cmdline: "console=ttyS0 quiet" }
default: lab
pool:
  name: peer-a
  secret: "0123456789abcdef0123"
  peers:
    - { name: peer-a, address: 10.77.40.11 }
    - { name: peer-b, address: 10.77.40.12 }
`;

function media(args: string[]) {
  return spawnSync(process.execPath, [MAIN, 'media', ...args], { encoding: 'utf8', timeout: 120_000 });
}
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

test('pxepool media writes a hybrid BIOS+UEFI ISO, the same bytes every time', { skip, timeout: 240_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-media-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'pxepool.yaml');
  writeFileSync(cfg, CONFIG);
  const a = media(['--config', cfg, '--out', join(dir, 'a.iso')]);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /wrote .*a\.iso \(iso, \d+ bytes\): boot servers peer-a 10\.77\.40\.11:8080, peer-b 10\.77\.40\.12:8080/);
  const b = media(['--config', cfg, '--out', join(dir, 'b.iso'), '--format', 'usb']);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(sha(join(dir, 'a.iso')), sha(join(dir, 'b.iso')), 'same config, same packages: same bytes (iso and usb are one hybrid image)');

  // xorriso prints the boot record summary on stderr and the El Torito table on stdout.
  const rep = spawnSync('xorriso', ['-indev', join(dir, 'a.iso'), '-report_el_torito', 'plain'], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  const report = rep.stderr + rep.stdout;
  t.diagnostic(report.split('\n').filter((l) => /El Torito|Boot record/.test(l)).join('\n'));
  assert.match(report, /Boot record\s*: El Torito , MBR isohybrid .*GPT/, 'an MBR and a GPT: boots from a USB stick too');
  assert.match(report, /El Torito boot img :\s+1\s+BIOS\s+y\s+none/);
  assert.match(report, /El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
  assert.match(report, /El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);

  // The BIOS script inside the image is the one planned, naming both peers in order.
  const script = join(dir, 'media.ipxe');
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', join(dir, 'a.iso'), '-extract', '/pxepool/media.ipxe', script], { stdio: 'ignore' });
  const text = readFileSync(script, 'utf8');
  assert.ok(text.startsWith('#!ipxe\n'));
  assert.ok(text.indexOf('http://10.77.40.11:8080/boot.ipxe') < text.indexOf('http://10.77.40.12:8080/boot.ipxe'));

  // A different epoch is a different image: the dates really are the only time in it.
  const c = spawnSync(process.execPath, [MAIN, 'media', '--config', cfg, '--out', join(dir, 'c.iso')], { encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(c.status, 0, c.stderr);
  assert.notEqual(sha(join(dir, 'c.iso')), sha(join(dir, 'a.iso')));
});

test('--format efi-img is a FAT boot partition with GRUB as the default UEFI loader', { skip, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-media-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'pxepool.yaml');
  writeFileSync(cfg, CONFIG);
  const r = media(['--config', cfg, '--out', join(dir, 'esp.img'), '--format', 'efi-img', '--ip', '10.77.40.50/24', '--gateway', '10.77.40.1']);
  assert.equal(r.status, 0, r.stderr);
  const ls = execFileSync('mdir', ['-i', join(dir, 'esp.img'), '::/EFI/BOOT'], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  assert.match(ls, /BOOTX64\s+EFI/);
  const app = join(dir, 'BOOTX64.EFI');
  execFileSync('mcopy', ['-i', join(dir, 'esp.img'), '::/EFI/BOOT/BOOTX64.EFI', app], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  assert.equal(readFileSync(app).subarray(0, 2).toString('latin1'), 'MZ', 'a PE image');
  // The static address is in the GRUB config carried in the image's memdisk.
  assert.ok(readFileSync(app).includes('net_add_addr pxepool efinet0 10.77.40.50'));
});

test('--secure-boot: Debian\'s signed shim as the default loader, the signed network GRUB beside it, the config where it looks', { skip, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-media-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'pxepool.yaml');
  writeFileSync(cfg, CONFIG);
  const r = media(['--config', cfg, '--out', join(dir, 'sb.img'), '--format', 'efi-img', '--secure-boot']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Secure Boot: shim \+ signed GRUB/);
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  const get = (from: string, to: string) => execFileSync('mcopy', ['-i', join(dir, 'sb.img'), from, join(dir, to)], { env });
  get('::/EFI/BOOT/BOOTX64.EFI', 'boot.efi');
  get('::/EFI/BOOT/grubx64.efi', 'grub.efi');
  get('::/grub/grub.cfg', 'grub.cfg');
  assert.equal(sha(join(dir, 'boot.efi')), sha(SECURE_BOOT_INPUTS.shim.path), 'Debian\'s shim, byte for byte (its signature intact)');
  assert.equal(sha(join(dir, 'grub.efi')), sha(SECURE_BOOT_INPUTS.signedGrub.path));
  assert.match(readFileSync(join(dir, 'grub.cfg'), 'utf8'), /source "\(tftp,10\.77\.40\.11\)\/boot\.grub\?mac=\$pxepool_mac&platform=efi&buildarch=\$grub_cpu&proto=tftp"/);
  const iso = media(['--config', cfg, '--out', join(dir, 'sb.iso'), '--secure-boot']);
  assert.equal(iso.status, 0, iso.stderr);
  // From a CD, the signed GRUB reads /grub on the ISO 9660 side.
  execFileSync('xorriso', ['-osirrox', 'on', '-indev', join(dir, 'sb.iso'), '-extract', '/grub/grub.cfg', join(dir, 'iso.cfg')], { stdio: 'ignore' });
  assert.equal(readFileSync(join(dir, 'iso.cfg'), 'utf8'), readFileSync(join(dir, 'grub.cfg'), 'utf8'));
});

test('pxepool media --format nbp writes GRUB alone as a network boot file, the same bytes every time; an arm64 one needs arm64 modules', { skip, timeout: 120_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-nbp-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'pxepool.yaml');
  writeFileSync(cfg, CONFIG);
  const a = media(['--config', cfg, '--format', 'nbp', '--out', join(dir, 'a.efi'), '--print-scripts']);
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /wrote .*a\.efi \(nbp, GRUB for x86_64-efi: name it in a profile's efiX64, \d+ bytes\): boot servers peer-a 10\.77\.40\.11:8080, peer-b 10\.77\.40\.12:8080/);
  assert.match(a.stdout, /^set pxepool_mac="\$net_default_mac"$/m);
  const b = media(['--config', cfg, '--format', 'nbp', '--arch', 'x64', '--out', join(dir, 'b.efi')]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(sha(join(dir, 'a.efi')), sha(join(dir, 'b.efi')));
  const img = readFileSync(join(dir, 'a.efi'));
  assert.equal(img.subarray(0, 2).toString('latin1'), 'MZ', 'a PE image');
  const pe = img.readUInt32LE(0x3c);
  assert.equal(img.subarray(pe, pe + 4).toString('latin1'), 'PE\0\0');
  assert.equal(img.readUInt16LE(pe + 4), 0x8664, 'machine x86-64');
  assert.equal(img.readUInt16LE(pe + 24 + 68), 10, 'subsystem: EFI application');
  // The memdisk is an uncompressed tar in the image: the config is there as written.
  assert.ok(img.includes(Buffer.from('source "(http,10.77.40.12:8080)/boot.grub?mac=$pxepool_mac')), 'the config is in the image');
  // No arm64 modules on this (amd64) machine unless given: the error says where to get them.
  const arm = media(['--config', cfg, '--format', 'nbp', '--arch', 'arm64', '--grub-modules', join(dir, 'none'), '--out', join(dir, 'c.efi')]);
  assert.equal(arm.status, 1);
  assert.match(arm.stderr, /no GRUB arm64-efi modules in .*none \(Debian package grub-efi-arm64-bin\): .*apt-get download grub-efi-arm64-bin:arm64/);
  const iso = media(['--config', cfg, '--arch', 'arm64', '--out', join(dir, 'd.iso')]);
  assert.equal(iso.status, 1);
  assert.match(iso.stderr, /--arch and --grub-modules go with --format nbp/);
});

test('every GRUB config pxepool writes parses with grub-script-check', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-grub-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { grubMediaConfig, planMedia } = await import('../../src/media/plan.ts');
  const c = config(CONFIG);
  const texts: Record<string, string> = {};
  for (const [name, req] of [['dhcp', {}], ['static', { ip: '10.0.0.5/24', gateway: '10.0.0.1', dns: '10.0.0.2', vlan: '7' }], ['secure-boot', { secureBoot: true }], ['nbp', { nbp: true }]] as const) {
    const p = planMedia(c, req, 'x.yaml');
    assert.ok(p.ok);
    texts[`media-${name}`] = grubMediaConfig(p.plan);
  }
  const policy = compilePolicy(config(`
profiles:
  lab: { kernel: "dir with space/vmlinuz", initrd: [initrd.gz, "http://10.0.0.9/x.img"], cmdline: "console=ttyS0 a='b c' $HOME; reboot" }
  nok: { efiX64: snponly.efi }
rules:
  - { match: { mac: "52:54:00:aa:*" }, action: ignore }
  - { match: { mac: "52:54:00:bb:*" }, profile: nok }
default: lab
`));
  for (const mac of ['52:54:00:12:34:56', '52:54:00:aa:00:01', '52:54:00:bb:00:01', '52:54:00:12:34:56&proto=tftp']) {
    texts[`client-${mac}`] = grubScriptFor(policy, new URLSearchParams(`mac=${mac}&platform=efi`), 'http://10.0.0.11:8080', { servers: () => ['http://10.0.0.11:8080', 'http://10.0.0.12:8080'] })!;
  }
  texts['handover'] = grubHandover();
  for (const [name, text] of Object.entries(texts)) {
    const f = join(dir, `${name}.cfg`);
    writeFileSync(f, text);
    const r = spawnSync('grub-script-check', [f], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${name}: ${r.stdout}${r.stderr}\n${text}`);
  }
  // The checker is not vacuous: an unterminated loop fails it.
  writeFileSync(join(dir, 'bad.cfg'), 'for x in a b; do\n  echo $x\n');
  assert.notEqual(spawnSync('grub-script-check', [join(dir, 'bad.cfg')]).status, 0);
});

test('pxepool media refuses a config it cannot make media from, and says what to write', { timeout: 60_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-media-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [string, string[], RegExp][] = [
    ['profiles: { lab: { kernel: vmlinuz } }\ndefault: lab\n', [], /names no boot servers for the media: add a pool: section with peers, or server\.address, or give --peers/],
    [`http: { enabled: false }\n${CONFIG.replace(/^http:.*$/m, '')}`, [], /http\.enabled is false/],
    [CONFIG, ['--peers', Array.from({ length: 17 }, (_, i) => `10.0.0.${i + 1}`).join(',')], /17 boot servers is more than media hold \(16/],
    [CONFIG, ['--ip', '10.0.0.5'], /--ip 10\.0\.0\.50\/24/],
  ];
  for (const [i, [text, extra, re]] of cases.entries()) {
    const cfg = join(dir, `c${i}.yaml`);
    writeFileSync(cfg, text);
    const r = media(['--config', cfg, '--out', join(dir, `o${i}.iso`), ...extra]);
    assert.equal(r.status, 1, `case ${i}: ${r.stdout}`);
    assert.match(r.stderr, re);
  }
});
