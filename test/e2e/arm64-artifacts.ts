// ARM64 boot artifacts for the AAVMF scenario (test/e2e/arm64.test.ts), made at run time from
// Debian's arm64 packages and cached beside the x86 ones (CACHE_ROOT):
//
//   vmlinuz     linux-image-<newest>-cloud-arm64-unsigned's Image, gzipped (GRUB's gzio
//               filter unpacks it: a third of the bytes over the network)
//   initrd.gz   the same busybox /init as x86 (artifacts.ts), with arm64 busybox-static and the
//               kernel's own virtio modules
//   grub/       grub-efi-arm64-bin's arm64-efi modules, for grub-mkimage (pxepool media --arch arm64)
//   grubnetaa64.efi   Debian's signed network GRUB (grub-efi-arm64-signed)
//   shimaa64.efi      Debian's shim signed by Microsoft (shim-signed), for Secure Boot
//   vmlinuz-signed    the signed build of the same kernel (linux-image-<same>-cloud-arm64),
//                     uncompressed as shipped: shim checks the signature on what GRUB read
//
// The packages are of another architecture than the machine's. They are fetched with
// `apt-get download` against a private apt state of architecture arm64 under
// CACHE_ROOT/arm64-apt (the machine's own sources and keys; its dpkg and its lists are left
// alone: no `dpkg --add-architecture`), so a fresh machine needs nothing but the network to
// Debian's mirror, and a second run nothing at all.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildCached, CACHE_ROOT, cpioNewc, INIT_SCRIPT, NET_MODULES, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, type CpioEntry } from './artifacts.ts';

export const AAVMF = {
  code: '/usr/share/AAVMF/AAVMF_CODE.fd',
  vars: '/usr/share/AAVMF/AAVMF_VARS.fd',
  /** Microsoft's keys enrolled, Secure Boot on (the same code flash: ARM has no SMM to ask for) */
  varsMs: '/usr/share/AAVMF/AAVMF_VARS.ms.fd',
} as const;

/** The serial console of QEMU's `virt` machine is a PL011. */
export const ARM64_CMDLINE = 'console=ttyAMA0 quiet panic=-1';

const APT_DIR = join(CACHE_ROOT, 'arm64-apt');
const DEBS = join(CACHE_ROOT, 'arm64-debs');

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** apt options for the private arm64 state: the machine's sources, its own lists and cache. */
function aptOpts(): string[] {
  for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(APT_DIR, d), { recursive: true });
  if (!existsSync(join(APT_DIR, 'status'))) writeFileSync(join(APT_DIR, 'status'), '');
  return [
    '-o', 'APT::Architecture=arm64', '-o', 'APT::Architectures::=arm64',
    '-o', `Dir::State::Lists=${join(APT_DIR, 'lists')}`, '-o', `Dir::State::status=${join(APT_DIR, 'status')}`,
    '-o', `Dir::Cache=${join(APT_DIR, 'cache')}`, '-o', 'Debug::NoLocking=1',
    // Files fetched into our own directories: the _apt user need not write there.
    '-o', 'APT::Sandbox::User=root',
  ];
}

let updated = false;
/** `apt-get update` of the private lists: once per process, and only when they are a day old. */
function aptUpdate(force = false): void {
  const stamp = join(APT_DIR, 'updated');
  const fresh = existsSync(stamp) && Date.now() - statSync(stamp).mtimeMs < 86_400_000;
  if (updated || (fresh && !force)) return;
  sh('apt-get', [...aptOpts(), '-qq', 'update'], { timeoutMs: 300_000 });
  writeFileSync(stamp, '');
  updated = true;
}

function aptCache(args: string[]): string {
  return sh('apt-cache', [...aptOpts(), ...args], { timeoutMs: 60_000 });
}

/** The candidate version of an arm64 package, or undefined. */
function candidate(pkg: string): string | undefined {
  const m = /Candidate: (\S+)/.exec(aptCache(['policy', pkg]));
  return m === null || m[1] === '(none)' ? undefined : m[1];
}

/** The newest cloud-arm64 kernel (unsigned: GRUB made by grub-mkimage boots it as it is). */
function kernelPackage(): string {
  const out = aptCache(['search', '--names-only', '^linux-image-[0-9.]+-[0-9]+-cloud-arm64-unsigned$']);
  const names = out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const n = names.at(-1);
  if (n === undefined) throw new Error('apt knows no linux-image-*-cloud-arm64-unsigned');
  return n;
}

/** linux-image-X-cloud-arm64-unsigned → linux-image-X-cloud-arm64 (Debian's signed build of it) */
function signedOf(pkg: string): string {
  return pkg.replace(/-unsigned$/, '');
}

/** The .deb of `pkg` at `version` in DEBS, downloaded if it is not there. */
function deb(pkg: string, version: string): string {
  mkdirSync(DEBS, { recursive: true });
  // apt-get download names files pkg_version-with-epoch-escaped_arch.deb
  const file = `${pkg}_${version.replace(/:/g, '%3a')}_arm64.deb`;
  const path = join(DEBS, file);
  if (existsSync(path)) return path;
  const work = join(DEBS, `.dl-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    sh('apt-get', [...aptOpts(), '-qq', 'download', `${pkg}:arm64=${version}`], { cwd: work, timeoutMs: 600_000 });
    const got = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (got === undefined) throw new Error(`apt-get download ${pkg}=${version} gave no .deb`);
    renameSync(join(work, got), path);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return path;
}

export interface Arm64Artifacts {
  dir: string;
  kernel: string;
  initrd: string;
  /** grub-mkimage's module directory for arm64-efi */
  grubModules: string;
  signedGrub: string;
  shim: string;
  signedKernel: string;
  versions: Record<string, string>;
}

function extract(debPath: string, into: string, members: string[]): void {
  const tar = join(into, '.t.tar');
  writeFileSync(tar, execFileSync('dpkg-deb', ['--fsys-tarfile', debPath], { maxBuffer: 1 << 30, timeout: 120_000 }));
  try {
    sh('tar', ['-xf', tar, '-C', into, ...members], { timeoutMs: 120_000 });
  } finally {
    rmSync(tar, { force: true });
  }
}

function members(debPath: string): string[] {
  const tar = execFileSync('dpkg-deb', ['--fsys-tarfile', debPath], { maxBuffer: 1 << 30, timeout: 120_000 });
  return execFileSync('tar', ['-t'], { input: tar, maxBuffer: 64 << 20, encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

let memo: Arm64Artifacts | undefined;

/** Build (or reuse) the cached arm64 artifacts. Synchronous: the first run downloads ~25 MB. */
export function ensureArm64Artifacts(): Arm64Artifacts {
  if (memo !== undefined) return memo;
  aptUpdate();
  const pkgs: Record<string, string | undefined> = {};
  const resolve = () => {
    pkgs.kernel = kernelPackage();
    for (const p of ['grub-efi-arm64-bin', 'grub-efi-arm64-signed', 'shim-signed', 'busybox-static', pkgs.kernel, signedOf(pkgs.kernel)]) pkgs[p] = candidate(p);
  };
  resolve();
  if (Object.values(pkgs).some((v) => v === undefined)) {
    aptUpdate(true);
    resolve();
  }
  const missing = Object.entries(pkgs).filter(([, v]) => v === undefined).map(([k]) => k);
  if (missing.length > 0) throw new Error(`apt (arm64, ${APT_DIR}) has no candidate for ${missing.join(', ')}`);
  const kpkg = pkgs.kernel!;
  const versions: Record<string, string> = {
    kernel: `${kpkg}=${pkgs[kpkg]}`,
    'grub-efi-arm64-bin': pkgs['grub-efi-arm64-bin']!,
    'grub-efi-arm64-signed': pkgs['grub-efi-arm64-signed']!,
    'shim-signed': pkgs['shim-signed']!,
    signedKernel: `${signedOf(kpkg)}=${pkgs[signedOf(kpkg)]}`,
    'busybox-static': pkgs['busybox-static']!,
    initScript: createHash('sha256').update(INIT_SCRIPT).digest('hex').slice(0, 12),
  };
  const key = createHash('sha256').update(JSON.stringify(versions)).digest('hex').slice(0, 16);
  const dir = join(CACHE_ROOT, `arm64-${key}`);
  const a: Arm64Artifacts = {
    dir, kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz'), grubModules: join(dir, 'grub', 'arm64-efi'),
    signedGrub: join(dir, 'grubnetaa64.efi'), shim: join(dir, 'shimaa64.efi'), signedKernel: join(dir, 'vmlinuz-signed'), versions,
  };
  buildCached(dir, versions, (work) => {
    mkdirSync(join(work, 'x'), { recursive: true });
    const kdeb = deb(kpkg, pkgs[kpkg]!);
    const wanted = members(kdeb).filter((p) => NET_MODULES.some((m) => p.endsWith(`/${m}.ko`)) || /^\.\/boot\/vmlinuz-/.test(p));
    extract(kdeb, join(work, 'x'), wanted);
    const image = wanted.find((p) => /^\.\/boot\/vmlinuz-/.test(p));
    if (image === undefined) throw new Error(`no vmlinuz in ${kdeb}`);
    // Debian's arm64 vmlinuz is the uncompressed Image (27 MB); GRUB's linux command opens it
    // through the gzio filter, so a gzipped copy boots the same.
    writeFileSync(join(work, 'vmlinuz'), gzipSync(readFileSync(join(work, 'x', image)), { level: 6 }));

    const bdeb = deb('busybox-static', pkgs['busybox-static']!);
    extract(bdeb, join(work, 'x'), ['./bin/busybox']);
    const entries: CpioEntry[] = [
      { name: 'bin', mode: S_IFDIR | 0o755 },
      { name: 'dev', mode: S_IFDIR | 0o755 },
      { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
      { name: 'dev/null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 },
      { name: 'proc', mode: S_IFDIR | 0o755 },
      { name: 'sys', mode: S_IFDIR | 0o755 },
      { name: 'lib', mode: S_IFDIR | 0o755 },
      { name: 'lib/modules', mode: S_IFDIR | 0o755 },
      { name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(join(work, 'x', 'bin', 'busybox')) },
      { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
      { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT_SCRIPT) },
    ];
    for (const p of wanted) {
      const m = NET_MODULES.find((n) => p.endsWith(`/${n}.ko`));
      if (m !== undefined) entries.push({ name: `lib/modules/${m}.ko`, mode: S_IFREG | 0o644, data: readFileSync(join(work, 'x', p)) });
    }
    writeFileSync(join(work, 'initrd.gz'), gzipSync(cpioNewc(entries), { level: 9 }));

    const gdeb = deb('grub-efi-arm64-bin', pkgs['grub-efi-arm64-bin']!);
    extract(gdeb, join(work, 'x'), ['./usr/lib/grub/arm64-efi']);
    mkdirSync(join(work, 'grub'), { recursive: true });
    cpSync(join(work, 'x', 'usr', 'lib', 'grub', 'arm64-efi'), join(work, 'grub', 'arm64-efi'), { recursive: true });

    const sdeb = deb('grub-efi-arm64-signed', pkgs['grub-efi-arm64-signed']!);
    extract(sdeb, join(work, 'x'), ['./usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed']);
    renameSync(join(work, 'x', 'usr', 'lib', 'grub', 'arm64-efi-signed', 'grubnetaa64.efi.signed'), join(work, 'grubnetaa64.efi'));

    const shdeb = deb('shim-signed', pkgs['shim-signed']!);
    extract(shdeb, join(work, 'x'), ['./usr/lib/shim/shimaa64.efi.signed']);
    renameSync(join(work, 'x', 'usr', 'lib', 'shim', 'shimaa64.efi.signed'), join(work, 'shimaa64.efi'));
    const skdeb = deb(signedOf(kpkg), pkgs[signedOf(kpkg)]!);
    extract(skdeb, join(work, 'x'), [image]);
    renameSync(join(work, 'x', image), join(work, 'vmlinuz-signed'));

    rmSync(join(work, 'x'), { recursive: true, force: true });
  });
  memo = a;
  return a;
}
