// The edge of `pxepool media`: Debian's boot binaries plus the plan's scripts, put together by
// grub-mkimage, mtools and xorriso into one hybrid image (El Torito BIOS + UEFI entries, an MBR
// and a GPT for booting the same bytes from a USB stick or a disk) or the EFI boot partition
// alone. Nothing in it comes from this repository but text.
//
// Reproducible: every timestamp is SOURCE_DATE_EPOCH (or a fixed date), the FAT serial and the
// ISO's UUID are fixed, and the tar is sorted and owner-free, so the same config and the same
// Debian packages give the same bytes (test/integration/media.test.ts builds twice).

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { grubMediaConfig, ipxeMediaScript, isolinuxConfig, type MediaPlan } from './plan.ts';

export const MEDIA_FORMATS = ['iso', 'usb', 'efi-img', 'nbp'] as const;
export type MediaFormat = (typeof MEDIA_FORMATS)[number];

/** Debian's files and tools the media are made of, each with the package that ships it. */
export const MEDIA_INPUTS = {
  isolinux: { path: '/usr/lib/ISOLINUX/isolinux.bin', pkg: 'isolinux' },
  isohybridMbr: { path: '/usr/lib/ISOLINUX/isohdpfx.bin', pkg: 'isolinux' },
  ldlinux: { path: '/usr/lib/syslinux/modules/bios/ldlinux.c32', pkg: 'syslinux-common' },
  ipxeLkrn: { path: '/usr/lib/ipxe/ipxe.lkrn', pkg: 'ipxe' },
  grubEfiModules: { path: '/usr/lib/grub/x86_64-efi/http.mod', pkg: 'grub-efi-amd64-bin' },
  grubMkimage: { path: '/usr/bin/grub-mkimage', pkg: 'grub-common' },
  xorriso: { path: '/usr/bin/xorriso', pkg: 'xorriso' },
  mformat: { path: '/usr/bin/mformat', pkg: 'mtools' },
} as const;

/**
 * The Secure Boot loader (`--secure-boot`): Debian's shim, signed by Microsoft's UEFI CA that
 * machines ship with, and Debian's signed GRUB for removable media, which shim verifies. That
 * GRUB reads its config from /boot/grub on the device it came from, which is plain text (GRUB
 * verifies what it boots, not its config), so the same media config works; the kernels the
 * pool names must then be signed (Debian's are).
 */
export const SECURE_BOOT_INPUTS = {
  shim: { path: '/usr/lib/shim/shimx64.efi.signed', pkg: 'shim-signed' },
  signedGrub: { path: '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed', pkg: 'grub-efi-amd64-signed' },
} as const;

/**
 * GRUB modules for the UEFI loader: the network (efinet, net, http), loading a kernel (linux),
 * the script language the configs use (normal, test, eval, sleep, echo, configfile for
 * `source`, minicmd for `exit`), and the memdisk that holds media.cfg.
 */
const GRUB_MODULES = ['memdisk', 'tar', 'normal', 'configfile', 'echo', 'test', 'eval', 'sleep', 'minicmd', 'true',
  'efinet', 'net', 'http', 'linux', 'chain', 'gzio'];

/** UEFI architectures a network boot file (`--format nbp`) is made for, with GRUB's name for each. */
export const NBP_ARCHES = {
  x64: { target: 'x86_64-efi', pkg: 'grub-efi-amd64-bin', file: 'grubx64.efi', profileField: 'efiX64' },
  arm64: { target: 'arm64-efi', pkg: 'grub-efi-arm64-bin', file: 'grubaa64.efi', profileField: 'efiArm64' },
} as const;
export type NbpArch = keyof typeof NBP_ARCHES;

/** 2026-01-01T00:00:00Z: the date on every file when SOURCE_DATE_EPOCH is not set. */
export const DEFAULT_EPOCH = 1767225600;
const FAT_SERIAL = '50585050'; // "PXPP"
/** the smallest EFI image: 2.88 MB, the size firmware has always accepted for El Torito */
const FAT_KIB = 2880;

export class MediaBuildError extends Error {}

type Input = { path: string; pkg: string };
function inputs(secureBoot: boolean): Input[] {
  return [...Object.values(MEDIA_INPUTS), ...(secureBoot ? Object.values(SECURE_BOOT_INPUTS) : [])];
}

/** Missing inputs, as "path (Debian package pkg)". */
export function missingInputs(secureBoot = false): string[] {
  return inputs(secureBoot).filter((i) => !existsSync(i.path)).map((i) => `${i.path} (Debian package ${i.pkg})`);
}

export interface BuildOptions {
  /** seconds since 1970 for every date in the image */
  epoch?: number;
  /** UEFI loader: Debian's signed shim and GRUB instead of a GRUB made by grub-mkimage */
  secureBoot?: boolean;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): void {
  try {
    execFileSync(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new MediaBuildError(`${cmd} failed: ${(err.stderr?.toString() ?? '').trim().split('\n').slice(-5).join('\n') || err.message}`);
  }
}

function touchTree(dir: string, epoch: number): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) touchTree(p, epoch);
    utimesSync(p, epoch, epoch);
  }
  utimesSync(dir, epoch, epoch);
}

export interface BuildResult {
  out: string;
  bytes: number;
  /** the scripts as written into the image (for `--print-scripts` and tests) */
  ipxeScript: string;
  grubConfig: string;
}

/**
 * The GRUB network boot file (`--format nbp`): GRUB for `arch` with the plan's config in its
 * memdisk, the bare EFI application a profile names as efiX64 / efiArm64 (and behind a URL as
 * efiX64Http / efiArm64Http). `grubModules` is grub-mkimage's module directory for that
 * architecture (default /usr/lib/grub/<target>; Debian ships arm64-efi's in an arm64 package).
 */
export function buildNbp(plan: MediaPlan, out: string, o: { arch: NbpArch; grubModules?: string; epoch?: number }): BuildResult {
  const epoch = o.epoch ?? Number(process.env.SOURCE_DATE_EPOCH ?? DEFAULT_EPOCH);
  const a = NBP_ARCHES[o.arch];
  const dir = o.grubModules ?? `/usr/lib/grub/${a.target}`;
  if (!existsSync(MEDIA_INPUTS.grubMkimage.path)) {
    throw new MediaBuildError(`cannot build a network boot file without ${MEDIA_INPUTS.grubMkimage.path} (Debian package grub-common): apt-get install grub-common`);
  }
  if (!existsSync(join(dir, 'http.mod')) || !existsSync(join(dir, 'efinet.mod'))) {
    const how = o.arch === 'arm64'
      ? `on an arm64 machine apt-get install ${a.pkg}; on another, fetch the arm64 package and unpack it (dpkg --add-architecture arm64; apt-get update; apt-get download ${a.pkg}:arm64; dpkg-deb -x ${a.pkg}_*_arm64.deb /tmp/grub-arm64) and give --grub-modules /tmp/grub-arm64/usr/lib/grub/${a.target}`
      : `apt-get install ${a.pkg}, or give --grub-modules with GRUB's ${a.target} directory`;
    throw new MediaBuildError(`no GRUB ${a.target} modules in ${dir} (Debian package ${a.pkg}): ${how}`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), TZ: 'UTC', LC_ALL: 'C' };
  const work = mkdtempSync(join(tmpdir(), 'pxepool-nbp-'));
  try {
    const grubConfig = grubMediaConfig(plan);
    const app = join(work, a.file);
    grubWithMemdisk(work, app, grubConfig, epoch, env, a.target, dir);
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(app, out);
    utimesSync(out, epoch, epoch);
    return { out, bytes: statSync(out).size, ipxeScript: '', grubConfig };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** GRUB as an EFI application whose memdisk holds `grubConfig` as its grub.cfg. */
function grubWithMemdisk(work: string, out: string, grubConfig: string, epoch: number, env: NodeJS.ProcessEnv, target = 'x86_64-efi', moduleDir?: string): void {
  const md = join(work, 'memdisk');
  mkdirSync(join(md, 'boot', 'grub'), { recursive: true });
  writeFileSync(join(md, 'boot', 'grub', 'grub.cfg'), grubConfig);
  touchTree(md, epoch);
  run('tar', ['--sort=name', `--mtime=@${epoch}`, '--owner=0', '--group=0', '--numeric-owner', '--format=ustar', '-cf', join(work, 'memdisk.tar'), '-C', md, 'boot'], env);
  // The embedded config only hands over to normal mode, which reads the memdisk's grub.cfg.
  writeFileSync(join(work, 'early.cfg'), 'set root=(memdisk)\nset prefix=(memdisk)/boot/grub\nnormal\n');
  run('grub-mkimage', ['-O', target, ...(moduleDir === undefined ? [] : ['-d', moduleDir]), '-o', out, '-p', '(memdisk)/boot/grub', '-c', join(work, 'early.cfg'), '-m', join(work, 'memdisk.tar'), ...GRUB_MODULES], env);
  utimesSync(out, epoch, epoch);
}

/** Build `format` from `plan` into `out`. Throws MediaBuildError with the tool's own words. */
export function buildMedia(plan: MediaPlan, out: string, format: Exclude<MediaFormat, 'nbp'>, o: BuildOptions = {}): BuildResult {
  const epoch = o.epoch ?? Number(process.env.SOURCE_DATE_EPOCH ?? DEFAULT_EPOCH);
  const secureBoot = o.secureBoot === true;
  const missing = missingInputs(secureBoot);
  if (missing.length > 0) throw new MediaBuildError(`cannot build media without: ${missing.join(', ')}; install them with apt-get install ${[...new Set(inputs(secureBoot).filter((i) => !existsSync(i.path)).map((i) => i.pkg))].join(' ')}`);
  const env: NodeJS.ProcessEnv = { ...process.env, SOURCE_DATE_EPOCH: String(epoch), TZ: 'UTC', LC_ALL: 'C', MTOOLS_SKIP_CHECK: '1' };
  const work = mkdtempSync(join(tmpdir(), 'pxepool-media-'));
  try {
    const ipxeScript = ipxeMediaScript(plan);
    const grubConfig = grubMediaConfig(plan);

    // UEFI: GRUB with media.cfg in its memdisk, as \EFI\BOOT\BOOTX64.EFI on a FAT image.
    const efiApp = join(work, 'BOOTX64.EFI');
    if (!secureBoot) grubWithMemdisk(work, efiApp, grubConfig, epoch, env);
    const fat = join(work, 'efiboot.img');
    // Sized to what goes in (the signed GRUB alone is ~4 MiB), in whole 1 MiB cylinders.
    const payload = secureBoot ? statSync(SECURE_BOOT_INPUTS.shim.path).size + statSync(SECURE_BOOT_INPUTS.signedGrub.path).size : statSync(efiApp).size;
    const mib = Math.max(FAT_KIB / 1024, Math.ceil((payload * 1.1) / 2 ** 20) + 1);
    run('mformat', ['-i', fat, '-C', '-T', String(mib * 2048), '-h', '64', '-s', '32', '-N', FAT_SERIAL, '-v', 'PXEPOOL', '::'], env);
    if (secureBoot) {
      // shim is the default loader and starts grubx64.efi from its own directory. That is
      // Debian's signed network GRUB (the CD one has no tftp module, and a signed GRUB cannot
      // load one), whose prefix is /grub on the device it came from.
      const cfgDir = join(work, 'fatcfg');
      mkdirSync(cfgDir, { recursive: true });
      const files: [string, string][] = [
        [SECURE_BOOT_INPUTS.shim.path, 'BOOTX64.EFI'],
        [SECURE_BOOT_INPUTS.signedGrub.path, 'grubx64.efi'],
      ];
      for (const [src, name] of files) {
        copyFileSync(src, join(cfgDir, name));
        utimesSync(join(cfgDir, name), epoch, epoch);
      }
      writeFileSync(join(cfgDir, 'grub.cfg'), grubConfig);
      utimesSync(join(cfgDir, 'grub.cfg'), epoch, epoch);
      run('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT', '::/grub'], env);
      run('mcopy', ['-m', '-i', fat, join(cfgDir, 'BOOTX64.EFI'), join(cfgDir, 'grubx64.efi'), '::/EFI/BOOT/'], env);
      run('mcopy', ['-m', '-i', fat, join(cfgDir, 'grub.cfg'), '::/grub/grub.cfg'], env);
    } else {
      run('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT'], env);
      run('mcopy', ['-m', '-i', fat, efiApp, '::/EFI/BOOT/BOOTX64.EFI'], env);
    }
    if (format === 'efi-img') {
      mkdirSync(dirname(out), { recursive: true });
      copyFileSync(fat, out);
      return { out, bytes: statSync(out).size, ipxeScript, grubConfig };
    }

    // BIOS: ISOLINUX → ipxe.lkrn, whose initrd iPXE runs as its script.
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'isolinux'), { recursive: true });
    mkdirSync(join(tree, 'pxepool'), { recursive: true });
    copyFileSync(MEDIA_INPUTS.isolinux.path, join(tree, 'isolinux', 'isolinux.bin'));
    copyFileSync(MEDIA_INPUTS.ldlinux.path, join(tree, 'isolinux', 'ldlinux.c32'));
    writeFileSync(join(tree, 'isolinux', 'isolinux.cfg'), isolinuxConfig());
    copyFileSync(MEDIA_INPUTS.ipxeLkrn.path, join(tree, 'pxepool', 'ipxe.lkrn'));
    writeFileSync(join(tree, 'pxepool', 'media.ipxe'), ipxeScript);
    writeFileSync(join(tree, 'pxepool', 'media.cfg'), grubConfig); // for reading: the UEFI copy is in the FAT image
    copyFileSync(fat, join(tree, 'efiboot.img'));
    if (secureBoot) {
      // Booted from a CD, GRUB's device is the ISO 9660 filesystem, not the El Torito FAT image
      // it was loaded from: the config is in both.
      mkdirSync(join(tree, 'grub'), { recursive: true });
      writeFileSync(join(tree, 'grub', 'grub.cfg'), grubConfig);
    }
    touchTree(tree, epoch);
    const stamp = new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14) + '00';
    mkdirSync(dirname(out), { recursive: true });
    rmSync(out, { force: true });
    run('xorriso', [
      '-as', 'mkisofs', '-o', out, '-iso-level', '3', '-V', 'PXEPOOL', '-R', '-J',
      '--modification-date=' + stamp,
      '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-isohybrid-mbr', MEDIA_INPUTS.isohybridMbr.path,
      '-eltorito-alt-boot', '-e', 'efiboot.img', '-no-emul-boot', '-isohybrid-gpt-basdat',
      tree,
    ], env);
    return { out, bytes: statSync(out).size, ipxeScript, grubConfig };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
