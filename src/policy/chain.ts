// What happens after the offer, for `pxepool explain`: the chain of loaders and files a client of
// this profile walks (firmware → NBP → what the NBP fetches next), so an admin sees where a boot
// would stop without booting a machine. Pure; worked out from the file names and the profile,
// as pxepool serves them (docs/firmware.md has the captures each step is based on).

import type { Profile } from '../config/schema.ts';
import type { Decision } from './decision.ts';

const base = (f: string): string => f.replace(/^.*\//, '').toLowerCase();
const dirOf = (f: string): string => (f.includes('/') ? f.replace(/\/[^/]*$/, '/') : '');
const isUrl = (f: string): boolean => /^[a-z][a-z0-9+.-]*:\/\//i.test(f);

export type NbpKind = 'shim' | 'grub' | 'ipxe' | 'pxelinux' | 'kernel' | 'other';

/** What kind of loader a boot file is, by its name (as Debian and the usual builds name them). */
export function nbpKind(file: string): NbpKind {
  const b = base(file.replace(/[?#].*$/, ''));
  if (/^shim(x64|aa64|ia32)?\.efi(\.signed)?$/.test(b)) return 'shim';
  if (/^grub(net)?(x64|aa64|ia32)?\.efi(\.signed)?$/.test(b) || /^core\.efi$/.test(b)) return 'grub';
  if (/^(undionly|ipxe|snponly|snp)[-.\w]*\.(kpxe|pxe|efi|lkrn)$/.test(b)) return 'ipxe';
  if (/^(pxelinux|lpxelinux|gpxelinux)\.0$/.test(b) || /^syslinux\.efi$/.test(b)) return 'pxelinux';
  if (/^(linux|vmlinuz)[-.\w]*\.efi$/.test(b)) return 'kernel';
  return 'other';
}

/** The steps after the offer, one line each. */
export function bootChain(decision: Decision, profile: Profile | undefined): string[] {
  if (decision.action !== 'boot') return [];
  const file = decision.bootFile;
  const by = isUrl(file) ? file.split(':')[0]!.toUpperCase() : 'TFTP';
  const steps = [`1. firmware fetches ${file} by ${by}`];
  const kernelLine = (n: number, how: string): string => (profile?.kernel !== undefined
    ? `${n}. kernel ${profile.kernel}${profile.initrd !== undefined ? `, initrd ${[profile.initrd].flat().join(' ')}` : ''}${profile.cmdline !== undefined ? `, cmdline "${profile.cmdline}"` : ''} (${how})`
    : `${n}. no kernel in profile ${decision.profile}: the config must boot something itself`);
  switch (nbpKind(file)) {
    case 'shim':
      steps.push(`2. shim (signed) loads ${dirOf(file)}grubx64.efi from the same server and directory (it also asks for revocations and shim_certificate files, which may be absent)`);
      steps.push('3. GRUB asks grub/grub.cfg; pxepool answers it (unless the tree has its own) with a handover to this machine\'s /boot.grub (per client, every live peer ranked)');
      steps.push(kernelLine(4, 'from the servers that config names, with fallback'));
      steps.push('   note: Debian 12\'s signed GRUB learns its server only from the site DHCP server\'s ACK (next-server), never from a proxy offer: in proxy mode add next-server to the site server, or boot from pxepool media --secure-boot (docs/firmware.md)');
      break;
    case 'grub':
      steps.push('2. GRUB asks grub/grub.cfg (or its built-in config asks /boot.grub); pxepool answers with this machine\'s config');
      steps.push(kernelLine(3, 'from the servers that config names, with fallback'));
      break;
    case 'ipxe':
      steps.push(profile?.ipxe !== undefined
        ? `2. iPXE does DHCP again (user class iPXE) and gets ${profile.ipxe}${profile.ipxe.includes('boot.ipxe') ? ' (generated per client: every live peer ranked, || fallback for each file)' : ''}`
        : `2. iPXE does DHCP again and gets ${file} again: set profiles.${decision.profile}.ipxe (e.g. http://\${server}/boot.ipxe), or it loops`);
      if (profile?.ipxe !== undefined) steps.push(kernelLine(3, 'by the script'));
      break;
    case 'pxelinux':
      steps.push(`2. pxelinux reads ${dirOf(file)}pxelinux.cfg/ (01-<mac>, then by IP, then default) and ldlinux.c32 from the same server`);
      steps.push('3. kernel and initrd as that config says');
      break;
    case 'kernel':
      steps.push('2. the file is a kernel (an EFI-stub or unified kernel image): it starts directly, its initrd and command line inside or none');
      break;
    default:
      steps.push('2. (pxepool does not know what this file loads next)');
  }
  if (profile?.secureBoot === true && nbpKind(file) !== 'shim' && nbpKind(file) !== 'kernel') {
    steps.push(`   warning: profile ${decision.profile} is a Secure Boot profile but ${file} is not shim: pxepool check says whether it is signed`);
  }
  return steps;
}
