// explain's "then:" — the loaders and files a client walks after the offer, per boot file kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootChain, nbpKind } from '../../../src/policy/chain.ts';
import type { Decision } from '../../../src/policy/decision.ts';

const boot = (bootFile: string, profile = 'p'): Decision => ({ action: 'boot', rule: 'default', profile, firmware: 'efi-x64', bootFile });

test('nbpKind knows the usual loaders by name, and says other for the rest', () => {
  for (const [f, k] of [
    ['shimx64.efi', 'shim'], ['EFI/shimaa64.efi', 'shim'], ['grubx64.efi', 'grub'], ['grubnetx64.efi.signed', 'grub'], ['grubaa64.efi', 'grub'],
    ['undionly.kpxe', 'ipxe'], ['snponly.efi', 'ipxe'], ['ipxe.efi', 'ipxe'], ['http://${server}/ipxe-arm64.efi', 'ipxe'],
    ['pxelinux.0', 'pxelinux'], ['lpxelinux.0', 'pxelinux'], ['linux.efi', 'kernel'], ['boot/wdsnbp.com', 'other'],
  ] as const) assert.equal(nbpKind(f), k, f);
});

test('shim: then GRUB from the same directory, grub.cfg handed over, the kernel, and the proxy-mode note', () => {
  const c = bootChain(boot('efi/shimx64.efi'), { kernel: 'vmlinuz', initrd: ['initrd.gz'], cmdline: 'quiet', secureBoot: true });
  assert.equal(c[0], '1. firmware fetches efi/shimx64.efi by TFTP');
  assert.match(c[1]!, /loads efi\/grubx64\.efi from the same server and directory/);
  assert.match(c[2]!, /grub\/grub\.cfg; pxepool answers it \(unless the tree has its own\) with a handover to this machine's \/boot\.grub/);
  assert.equal(c[3], '4. kernel vmlinuz, initrd initrd.gz, cmdline "quiet" (from the servers that config names, with fallback)');
  assert.match(c.join('\n'), /next-server/);
  assert.doesNotMatch(c.join('\n'), /warning/);
});

test('iPXE: the script if the profile names one, and a loop warning if not; Secure Boot profiles warned of a non-shim NBP', () => {
  const c = bootChain(boot('snponly.efi'), { ipxe: 'http://${server}/boot.ipxe', kernel: 'vmlinuz' });
  assert.match(c[1]!, /gets http:\/\/\$\{server\}\/boot\.ipxe \(generated per client/);
  assert.match(c[2]!, /^3\. kernel vmlinuz \(by the script\)/);
  assert.match(bootChain(boot('snponly.efi', 'lab'), {}).join('\n'), /set profiles\.lab\.ipxe/);
  assert.match(bootChain(boot('snponly.efi', 'sb'), { secureBoot: true, ipxe: 'x' }).join('\n'), /warning: profile sb is a Secure Boot profile but snponly\.efi is not shim/);
});

test('HTTP boot to a unified kernel image; pxelinux; an unknown file; ignore gives nothing', () => {
  const h = bootChain(boot('http://${server}/linux.efi'), {});
  assert.equal(h[0], '1. firmware fetches http://${server}/linux.efi by HTTP');
  assert.match(h[1]!, /starts directly/);
  assert.match(bootChain(boot('pxelinux.0'), {}).join('\n'), /pxelinux\.cfg\/ \(01-<mac>/);
  assert.match(bootChain(boot('boot/x86/wdsnbp.com'), {})[1]!, /does not know/);
  assert.deepEqual(bootChain({ action: 'ignore', rule: 'r1', reason: 'no' }, undefined), []);
});
