// Boot artifacts for the real-firmware harness, built at run time from Debian packages into a
// cache outside the repository (/var/cache/pxepool-e2e/<key>/, key = package versions), and
// per-server boot roots assembled from that cache.
//
//   pxelinux.0, ldlinux.c32, pxelinux.cfg/default   BIOS: iPXE ROM → pxelinux → kernel (TFTP)
//   snponly.efi, boot.ipxe                          UEFI: OVMF → snponly.efi → script → kernel
//   vmlinuz                                         smallest linux-image (cloud flavour)
//   initrd.gz                                       busybox; /init prints the marker and powers off
//
// The marker line printed on ttyS0 is
//   PXEPOOL-BOOTED mac=<first NIC's MAC> server=<pxepool.server= from the cmdline> bootif=<BOOTIF>

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export const CACHE_ROOT = process.env.PXEPOOL_E2E_CACHE ?? '/var/cache/pxepool-e2e';
export const MARKER_RE = /PXEPOOL-BOOTED mac=(\S+) server=(\S+)/;
export const KERNEL_CMDLINE = 'console=ttyS0 quiet panic=-1';

export const FIRMWARE_FILES = {
  pxelinux: '/usr/lib/PXELINUX/pxelinux.0',
  ldlinux: '/usr/lib/syslinux/modules/bios/ldlinux.c32',
  snponly: '/usr/lib/ipxe/snponly.efi',
  busybox: '/bin/busybox',
  ovmfCode: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  ovmfVars: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  ovmfCodeSecboot: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd',
  ovmfVarsMs: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
} as const;

export interface Artifacts {
  /** Cache directory holding the built files. */
  dir: string;
  kernel: string;
  initrd: string;
  pxelinux: string;
  ldlinux: string;
  snponly: string;
  /** Package versions the cache is keyed by. */
  versions: Record<string, string>;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

function pkgVersion(pkg: string): string {
  try {
    return sh('dpkg-query', ['-W', '-f', '${Version}', pkg]).trim();
  } catch {
    return 'missing';
  }
}

/** The newest cloud-amd64 kernel package name known to apt (smallest flavour). */
function pickKernelPackage(): string | undefined {
  try {
    const out = sh('apt-cache', ['search', '--names-only', '^linux-image-[0-9.]+-[0-9]+-cloud-amd64-unsigned$'], { timeoutMs: 30_000 });
    const names = out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
    names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    return names.at(-1);
  } catch {
    return undefined;
  }
}

/** A linux-image .deb in the cache (downloaded with apt-get download if none is there). */
function kernelDeb(): string {
  const debs = join(CACHE_ROOT, 'debs');
  mkdirSync(debs, { recursive: true });
  const want = pickKernelPackage();
  const have = () => readdirSync(debs).filter((f) => /^linux-image-.*\.deb$/.test(f)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (want !== undefined && !have().some((f) => f.startsWith(`${want}_`))) {
    try {
      sh('apt-get', ['download', want], { cwd: debs, timeoutMs: 300_000 });
    } catch (e) {
      if (have().length === 0) throw new Error(`cannot download ${want}: ${(e as Error).message}`);
    }
  }
  const list = have();
  const pick = (want !== undefined ? list.find((f) => f.startsWith(`${want}_`)) : undefined) ?? list.at(-1);
  if (pick === undefined) throw new Error('no linux-image .deb available');
  return join(debs, pick);
}

// --- cpio newc writer (enough for an initramfs: dirs, files, symlinks, char devices) ---

export interface CpioEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
  rdevMajor?: number;
  rdevMinor?: number;
}

export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number) => (4 - (n % 4)) % 4;
  const push = (e: CpioEntry) => {
    const name = Buffer.from(`${e.name}\0`);
    const data = Buffer.from(e.data ?? new Uint8Array());
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0, name.length, 0];
    const hdr = `070701${fields.map((f) => (f >>> 0).toString(16).padStart(8, '0')).join('')}`;
    parts.push(Buffer.from(hdr, 'ascii'), name, Buffer.alloc(pad4(110 + name.length)), data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

// Load order of the modules the NIC needs (the cloud kernel builds virtio-net as a module).
// efivarfs: the init reads the firmware's SecureBoot variable for the marker.
export const NET_MODULES = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net', 'efivarfs'];

export const INIT_SCRIPT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
for m in ${NET_MODULES.join(' ')}; do
  [ -f /lib/modules/$m.ko ] && $B insmod /lib/modules/$m.ko 2>/dev/null
done
mac=none
i=0
while [ $i -lt 50 ]; do
  for n in /sys/class/net/*; do
    [ "\${n##*/}" = lo ] && continue
    [ -f "$n/address" ] || continue
    mac=$($B cat "$n/address")
    break 2
  done
  $B usleep 100000
  i=$((i+1))
done
server=none
bootif=none
for w in $($B cat /proc/cmdline); do
  case "$w" in
    pxepool.server=*) server=\${w#pxepool.server=} ;;
    BOOTIF=*) bootif=\${w#BOOTIF=} ;;
  esac
done
# The firmware's SecureBoot variable (4 attribute bytes, then 0 or 1); none without UEFI.
secureboot=none
if [ -d /sys/firmware/efi ]; then
  $B mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  v=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  [ -f $v ] && secureboot=$($B tail -c 1 $v | $B od -An -tu1 | $B tr -d ' ')
fi
echo "PXEPOOL-BOOTED mac=$mac server=$server bootif=$bootif uptime=$($B cut -d' ' -f1 /proc/uptime) secureboot=$secureboot"
$B sync
$B poweroff -f
`;

function buildInitrd(deb: string, work: string): Buffer {
  const x = join(work, 'x');
  mkdirSync(x, { recursive: true });
  const tar = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30, timeout: 120_000 });
  writeFileSync(join(work, 'k.tar'), tar);
  const wanted = sh('tar', ['-tf', join(work, 'k.tar')])
    .split('\n')
    .filter((p) => NET_MODULES.some((m) => p.endsWith(`/${m}.ko`)) || /^\.\/boot\/vmlinuz-/.test(p));
  sh('tar', ['-xf', join(work, 'k.tar'), '-C', x, ...wanted], { timeoutMs: 120_000 });
  const entries: CpioEntry[] = [
    { name: 'bin', mode: S_IFDIR | 0o755 },
    { name: 'dev', mode: S_IFDIR | 0o755 },
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'dev/null', mode: S_IFCHR | 0o666, rdevMajor: 1, rdevMinor: 3 },
    { name: 'proc', mode: S_IFDIR | 0o755 },
    { name: 'sys', mode: S_IFDIR | 0o755 },
    { name: 'lib', mode: S_IFDIR | 0o755 },
    { name: 'lib/modules', mode: S_IFDIR | 0o755 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(FIRMWARE_FILES.busybox) },
    { name: 'bin/sh', mode: S_IFLNK | 0o777, data: Buffer.from('busybox') },
    { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT_SCRIPT) },
  ];
  for (const p of wanted) {
    const m = NET_MODULES.find((n) => p.endsWith(`/${n}.ko`));
    if (m !== undefined) entries.push({ name: `lib/modules/${m}.ko`, mode: S_IFREG | 0o644, data: readFileSync(join(x, p)) });
  }
  const vmlinuz = wanted.find((p) => /^\.\/boot\/vmlinuz-/.test(p));
  if (vmlinuz === undefined) throw new Error(`no vmlinuz in ${deb}`);
  renameSync(join(x, vmlinuz), join(work, 'vmlinuz'));
  return gzipSync(cpioNewc(entries), { level: 9 });
}

/**
 * Debian's signed build of the same kernel (for Secure Boot: shim and GRUB boot only kernels
 * signed by Debian), cached beside the others; the initrd's modules come from the same build.
 */
export function signedKernel(): string {
  const unsigned = kernelDeb().split('/').at(-1)!;
  const m = /^(linux-image-[^_]+)-unsigned_([^_]+)_/.exec(unsigned);
  if (m === null) throw new Error(`cannot tell the signed package of ${unsigned}`);
  const dir = join(CACHE_ROOT, `signed-${m[1]}_${m[2]}`);
  const out = join(dir, 'vmlinuz');
  if (existsSync(out)) return out;
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    sh('apt-get', ['download', `${m[1]}=${m[2]}`], { cwd: work, timeoutMs: 300_000 });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new Error(`apt-get download ${m[1]}=${m[2]} gave no .deb`);
    const tar = execFileSync('dpkg-deb', ['--fsys-tarfile', join(work, deb)], { maxBuffer: 1 << 30, timeout: 120_000 });
    writeFileSync(join(work, 'k.tar'), tar);
    const image = sh('tar', ['-tf', join(work, 'k.tar')]).split('\n').find((p) => /^\.\/boot\/vmlinuz-/.test(p));
    if (image === undefined) throw new Error(`${deb} has no /boot/vmlinuz`);
    sh('tar', ['-xf', join(work, 'k.tar'), '-C', work, image]);
    mkdirSync(dir, { recursive: true });
    renameSync(join(work, image), out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}

/**
 * A cache directory built once: `build` fills a scratch directory beside `dir`, which then
 * takes its place with versions.json and a DONE marker; a half-built one never counts, and a
 * failed build leaves nothing behind.
 */
export function buildCached(dir: string, versions: Record<string, string>, build: (work: string) => void): void {
  if (existsSync(join(dir, 'DONE'))) return;
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    build(work);
    writeFileSync(join(work, 'versions.json'), `${JSON.stringify(versions, null, 2)}\n`);
    writeFileSync(join(work, 'DONE'), '');
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
}

let memo: Artifacts | undefined;

/** Build (or reuse) the cached boot artifacts. Synchronous; the first build takes a few seconds. */
export function ensureArtifacts(): Artifacts {
  if (memo !== undefined) return memo;
  const deb = kernelDeb();
  const versions: Record<string, string> = {
    pxelinux: pkgVersion('pxelinux'),
    'syslinux-common': pkgVersion('syslinux-common'),
    ipxe: pkgVersion('ipxe'),
    'busybox-static': pkgVersion('busybox-static'),
    kernel: deb.split('/').at(-1) ?? deb,
    initScript: createHash('sha256').update(INIT_SCRIPT).digest('hex').slice(0, 12),
  };
  const key = createHash('sha256').update(JSON.stringify(versions)).digest('hex').slice(0, 16);
  const dir = join(CACHE_ROOT, key);
  const a: Artifacts = {
    dir,
    kernel: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.gz'),
    pxelinux: join(dir, 'pxelinux.0'),
    ldlinux: join(dir, 'ldlinux.c32'),
    snponly: join(dir, 'snponly.efi'),
    versions,
  };
  buildCached(dir, versions, (work) => {
    writeFileSync(join(work, 'initrd.gz'), buildInitrd(deb, work));
    copyFileSync(FIRMWARE_FILES.pxelinux, join(work, 'pxelinux.0'));
    copyFileSync(FIRMWARE_FILES.ldlinux, join(work, 'ldlinux.c32'));
    copyFileSync(FIRMWARE_FILES.snponly, join(work, 'snponly.efi'));
    rmSync(join(work, 'x'), { recursive: true, force: true });
    rmSync(join(work, 'k.tar'), { force: true });
  });
  memo = a;
  return a;
}

/** systemd's EFI stub (Debian systemd-boot-efi): a kernel, initrd and command line in one EFI file. */
export const UKI_STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';

/**
 * A unified kernel image: the cached kernel and initrd with `cmdline` in systemd's EFI stub, as
 * objcopy sections (.cmdline, .linux, .initrd) placed after the stub's own, page-aligned. One
 * file a firmware can start from an HTTP boot URL, with no loader and no second fetch.
 */
export function buildUki(cmdline: string, out: string): void {
  const a = ensureArtifacts();
  const head = sh('objdump', ['-h', UKI_STUB]);
  let end = 0;
  for (const m of head.matchAll(/^\s*\d+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s/gm)) end = Math.max(end, parseInt(m[2]!, 16) + parseInt(m[1]!, 16));
  const page = (n: number): number => Math.ceil(n / 4096) * 4096;
  const cmdFile = `${out}.cmdline`;
  writeFileSync(cmdFile, `${cmdline}\0`);
  const cmdAt = page(end);
  const linuxAt = page(cmdAt + cmdline.length + 1);
  const initrdAt = page(linuxAt + statSync(a.kernel).size);
  const hex = (n: number): string => `0x${n.toString(16)}`;
  sh('objcopy', [
    '--add-section', `.cmdline=${cmdFile}`, '--change-section-vma', `.cmdline=${hex(cmdAt)}`,
    '--add-section', `.linux=${a.kernel}`, '--change-section-vma', `.linux=${hex(linuxAt)}`,
    '--add-section', `.initrd=${a.initrd}`, '--change-section-vma', `.initrd=${hex(initrdAt)}`,
    UKI_STUB, out,
  ]);
  rmSync(cmdFile, { force: true });
}

export interface BootRootOptions {
  /** Name printed in the marker (pxepool.server=NAME). */
  serverName: string;
  /** also put `linux.efi` there: a unified kernel image with this server's command line (HTTP boot straight to the kernel) */
  uki?: boolean;
  /** Base URL for the kernel and initrd in boot.ipxe (default: relative to the script's own URI). */
  kernelBase?: string;
  /** Extra kernel arguments. */
  extraArgs?: string;
}

/**
 * Assemble a boot root (TFTP/HTTP root) for one server in `dir`: copies of the cached files plus
 * per-server pxelinux.cfg/default and boot.ipxe naming the server.
 */
export function makeBootRoot(dir: string, opts: BootRootOptions): string {
  const a = ensureArtifacts();
  mkdirSync(join(dir, 'pxelinux.cfg'), { recursive: true });
  for (const f of ['pxelinux.0', 'ldlinux.c32', 'snponly.efi', 'vmlinuz', 'initrd.gz']) copyFileSync(join(a.dir, f), join(dir, f));
  const args = `${KERNEL_CMDLINE} pxepool.server=${opts.serverName}${opts.extraArgs === undefined ? '' : ` ${opts.extraArgs}`}`;
  writeFileSync(
    join(dir, 'pxelinux.cfg', 'default'),
    ['DEFAULT linux', 'PROMPT 0', 'TIMEOUT 0', 'LABEL linux', '  KERNEL vmlinuz', '  INITRD initrd.gz', `  APPEND ${args}`, '  IPAPPEND 2', ''].join('\n'),
  );
  if (opts.uki === true) buildUki(args, join(dir, 'linux.efi'));
  const base = opts.kernelBase === undefined ? '' : `${opts.kernelBase.replace(/\/$/, '')}/`;
  writeFileSync(
    join(dir, 'boot.ipxe'),
    ['#!ipxe', `echo PXEPOOL-IPXE-SCRIPT server=${opts.serverName}`, `kernel ${base}vmlinuz initrd=initrd.gz ${args} BOOTIF=01-\${net0/mac:hexhyp}`, `initrd ${base}initrd.gz`, 'boot', ''].join('\n'),
  );
  return dir;
}
