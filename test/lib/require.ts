// What a test file needs from the machine (root, Debian tools), said once per file. Without
// PXEPOOL_REQUIRE_ALL a missing need skips the file's tests with its name, so a developer
// without QEMU can still run the rest; with PXEPOOL_REQUIRE_ALL=1 (set by .ci/run) it fails the
// file, naming what is missing and the Debian package that has it. CI never passes on skips.

import { existsSync } from 'node:fs';

export interface Need {
  /** true when the machine has it */
  ok: boolean;
  /** what is missing, e.g. "kea-dhcp4 (Debian package kea-dhcp4-server)" */
  what: string;
}

export const root = (): Need => ({ ok: process.getuid?.() === 0, what: 'root (network namespaces)' });
export const bin = (path: string, pkg: string): Need => ({ ok: existsSync(path), what: `${path} (Debian package ${pkg})` });

export const REQUIRE_ALL = process.env.PXEPOOL_REQUIRE_ALL === '1';

/**
 * The `skip` option for a file's tests: false when every need is met; otherwise the reason, or
 * (PXEPOOL_REQUIRE_ALL=1) a thrown error that fails the file with that reason.
 */
export function needs(...list: Need[]): string | false {
  const missing = list.filter((n) => !n.ok).map((n) => n.what);
  if (missing.length === 0) return false;
  const reason = `needs ${missing.join(', ')}`;
  if (REQUIRE_ALL) throw new Error(`PXEPOOL_REQUIRE_ALL=1 and this test file ${reason}`);
  return reason;
}

/** What every firmware (QEMU) scenario needs: the VM, the firmware and boot files, the captures. */
export const E2E: readonly Need[] = [
  root(),
  bin('/usr/bin/qemu-system-x86_64', 'qemu-system-x86'),
  bin('/usr/lib/ipxe/qemu/pxe-virtio.rom', 'ipxe-qemu'),
  bin('/usr/share/OVMF/OVMF_CODE_4M.fd', 'ovmf'),
  bin('/usr/lib/ipxe/snponly.efi', 'ipxe'),
  bin('/usr/lib/PXELINUX/pxelinux.0', 'pxelinux'),
  bin('/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'),
  bin('/bin/busybox', 'busybox-static'),
  bin('/usr/bin/cpio', 'cpio'),
  bin('/usr/bin/tcpdump', 'tcpdump'),
  bin('/usr/bin/tshark', 'tshark'),
];
