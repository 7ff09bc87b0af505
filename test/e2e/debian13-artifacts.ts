// Debian 13's signed Secure Boot loaders for the Secure Boot scenarios (test/e2e/secure-boot.test.ts):
// shim-signed (shim 16, signed by Microsoft) and grub-efi-amd64-signed (GRUB 2.12, signed by
// Debian). Debian 12's signed GRUB 2.06 learns its server only from the site DHCP server's ACK;
// 2.12 also reads the firmware's cached proxy offer, so with it Secure Boot works in pure proxy
// mode (docs/firmware.md). The machine runs Debian 12, so the packages are fetched with
// `apt-get download` against a private apt state for trixie under CACHE_ROOT/debian13-apt (the
// machine's mirror and keys; its own lists and dpkg are left alone) and unpacked once into a
// cache keyed by their versions.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCached, CACHE_ROOT } from './artifacts.ts';

const APT_DIR = join(CACHE_ROOT, 'debian13-apt');

function sh(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** The Debian mirror this machine uses (its sources), else deb.debian.org. */
function mirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const m = /^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?\s/m.exec(text);
    if (m !== null) return m[1]!;
  }
  return 'http://deb.debian.org/debian';
}

function aptOpts(): string[] {
  for (const d of ['lists/partial', 'cache/archives/partial']) mkdirSync(join(APT_DIR, d), { recursive: true });
  if (!existsSync(join(APT_DIR, 'status'))) writeFileSync(join(APT_DIR, 'status'), '');
  writeFileSync(join(APT_DIR, 'sources.list'), `deb ${mirror()} trixie main\n`);
  return [
    '-o', `Dir::Etc::SourceList=${join(APT_DIR, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(APT_DIR, 'lists')}`, '-o', `Dir::State::status=${join(APT_DIR, 'status')}`,
    '-o', `Dir::Cache=${join(APT_DIR, 'cache')}`, '-o', 'Debug::NoLocking=1', '-o', 'APT::Sandbox::User=root',
  ];
}

export interface Debian13SecureBoot {
  /** shimx64.efi, signed by Microsoft */
  shim: string;
  /** grubnetx64.efi, Debian's signed network GRUB 2.12 */
  grubnet: string;
  versions: Record<string, string>;
}

let memo: Debian13SecureBoot | undefined;

/** Fetch (once) and unpack Debian 13's signed shim and network GRUB; the paths of the two files. */
export function debian13SecureBoot(): Debian13SecureBoot {
  if (memo !== undefined) return memo;
  const stamp = join(APT_DIR, 'updated');
  if (!existsSync(stamp) || Date.now() - statSync(stamp).mtimeMs > 86_400_000) {
    sh('apt-get', [...aptOpts(), '-qq', 'update'], { timeoutMs: 300_000 });
    writeFileSync(stamp, '');
  }
  const versions: Record<string, string> = {};
  for (const pkg of ['shim-signed', 'grub-efi-amd64-signed']) {
    const m = /Candidate: (\S+)/.exec(sh('apt-cache', [...aptOpts(), 'policy', pkg]));
    if (m === null || m[1] === '(none)') throw new Error(`Debian 13 has no ${pkg} candidate (private apt state ${APT_DIR})`);
    versions[pkg] = m[1]!;
  }
  const dir = join(CACHE_ROOT, `debian13-sb-${versions['shim-signed']}-${versions['grub-efi-amd64-signed']}`.replace(/[^A-Za-z0-9.+~_-]/g, '_'));
  const out: Debian13SecureBoot = { shim: join(dir, 'shimx64.efi'), grubnet: join(dir, 'grubnetx64.efi'), versions };
  buildCached(dir, versions, (work) => {
    mkdirSync(join(work, 'x'), { recursive: true });
    for (const [pkg, v] of Object.entries(versions)) sh('apt-get', [...aptOpts(), '-qq', 'download', `${pkg}=${v}`], { cwd: work, timeoutMs: 600_000 });
    for (const d of readdirSync(work).filter((f) => f.endsWith('.deb'))) sh('dpkg-deb', ['-x', join(work, d), join(work, 'x')]);
    copyFileSync(join(work, 'x/usr/lib/shim/shimx64.efi.signed'), join(work, 'shimx64.efi'));
    copyFileSync(join(work, 'x/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'), join(work, 'grubnetx64.efi'));
    rmSync(join(work, 'x'), { recursive: true, force: true });
    for (const d of readdirSync(work).filter((f) => f.endsWith('.deb'))) rmSync(join(work, d));
  });
  memo = out;
  return out;
}
