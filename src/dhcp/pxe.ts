// PXE 2.1 vendor options (inside option 43), iPXE options (inside option 175) and the
// RFC 4578 client architecture registry.

import type { FirmwareType } from './facts-types.ts';
import { decodeSubOptions, encodeIpList, encodeString, encodeSubOptions, type SubOption } from './options.ts';

export const PxeSub = {
  MtftpIp: 1,
  MtftpClientPort: 2,
  MtftpServerPort: 3,
  MtftpTimeout: 4,
  MtftpDelay: 5,
  DiscoveryControl: 6,
  MulticastAddress: 7,
  BootServers: 8,
  BootMenu: 9,
  MenuPrompt: 10,
  BootItem: 71,
} as const;

/** Bits of sub-option 6. */
export const DiscoveryControl = {
  NoBroadcast: 1,
  NoMulticast: 2,
  OnlyListedServers: 4,
  /** use the boot file in the offer, skip boot server discovery */
  UseBootFile: 8,
} as const;

export interface PxeVendorOptions {
  discoveryControl?: number;
  multicastAddress?: string;
  bootServers?: { type: number; ips: string[] }[];
  bootMenu?: { type: number; description: string }[];
  menuPrompt?: { timeout: number; prompt: string };
  bootItem?: { type: number; layer: number };
  /** sub-options this module does not model, kept so they can be re-encoded */
  other?: SubOption[];
}

export type PxeDecodeResult =
  | { ok: true; value: PxeVendorOptions }
  | { ok: false; reason: 'sub-option-overrun' | 'bad-pxe-suboption'; detail: string };

function latin1(d: Uint8Array): string {
  return String.fromCharCode.apply(null, d as unknown as number[]);
}

function ip(d: Uint8Array, i: number): string {
  return `${d[i]}.${d[i + 1]}.${d[i + 2]}.${d[i + 3]}`;
}

function bad(code: number, why: string): PxeDecodeResult {
  return { ok: false, reason: 'bad-pxe-suboption', detail: `43.${code}: ${why}` };
}

/** Decodes option 43 as PXE vendor options. Never throws. */
export function decodePxeOptions(d: Uint8Array): PxeDecodeResult {
  const subs = decodeSubOptions(d, true);
  if (!subs.ok) return subs;
  const v: PxeVendorOptions = {};
  for (const { code, data } of subs.value) {
    switch (code) {
      case PxeSub.DiscoveryControl:
        if (data.length !== 1) return bad(code, `length ${data.length}, want 1`);
        v.discoveryControl = data[0]!;
        break;
      case PxeSub.MulticastAddress:
        if (data.length !== 4) return bad(code, `length ${data.length}, want 4`);
        v.multicastAddress = ip(data, 0);
        break;
      case PxeSub.BootServers: {
        const list: { type: number; ips: string[] }[] = [];
        let i = 0;
        while (i < data.length) {
          if (i + 3 > data.length) return bad(code, `entry at ${i} truncated`);
          const type = (data[i]! << 8) | data[i + 1]!;
          const n = data[i + 2]!;
          if (i + 3 + 4 * n > data.length) return bad(code, `entry at ${i} lists ${n} addresses past the end`);
          const ips: string[] = [];
          for (let k = 0; k < n; k++) ips.push(ip(data, i + 3 + 4 * k));
          list.push({ type, ips });
          i += 3 + 4 * n;
        }
        v.bootServers = list;
        break;
      }
      case PxeSub.BootMenu: {
        const list: { type: number; description: string }[] = [];
        let i = 0;
        while (i < data.length) {
          if (i + 3 > data.length) return bad(code, `entry at ${i} truncated`);
          const type = (data[i]! << 8) | data[i + 1]!;
          const n = data[i + 2]!;
          if (i + 3 + n > data.length) return bad(code, `entry at ${i} description runs past the end`);
          list.push({ type, description: latin1(data.subarray(i + 3, i + 3 + n)) });
          i += 3 + n;
        }
        v.bootMenu = list;
        break;
      }
      case PxeSub.MenuPrompt:
        if (data.length < 1) return bad(code, 'empty');
        v.menuPrompt = { timeout: data[0]!, prompt: latin1(data.subarray(1)) };
        break;
      case PxeSub.BootItem:
        if (data.length !== 4) return bad(code, `length ${data.length}, want 4`);
        v.bootItem = { type: (data[0]! << 8) | data[1]!, layer: (data[2]! << 8) | data[3]! };
        break;
      default:
        (v.other ??= []).push({ code, data });
    }
  }
  return { ok: true, value: v };
}

function u16(v: number, what: string): [number, number] {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what}: ${v} out of range 0..65535`);
  return [v >>> 8, v & 255];
}

function u8(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${what}: ${v} out of range 0..255`);
  return v;
}

/**
 * Encodes option 43 (sub-options in PXE spec order, then `other`, then end). Throws
 * RangeError when a value cannot be represented, e.g. a menu longer than one sub-option.
 */
export function encodePxeOptions(v: PxeVendorOptions): Uint8Array {
  const subs: SubOption[] = [];
  if (v.discoveryControl !== undefined) {
    subs.push({ code: PxeSub.DiscoveryControl, data: new Uint8Array([u8(v.discoveryControl, '43.6')]) });
  }
  if (v.multicastAddress !== undefined) {
    subs.push({ code: PxeSub.MulticastAddress, data: encodeIpList([v.multicastAddress]) });
  }
  if (v.bootServers !== undefined) {
    const parts: number[] = [];
    for (const s of v.bootServers) {
      parts.push(...u16(s.type, '43.8 type'), u8(s.ips.length, '43.8 address count'));
      parts.push(...encodeIpList(s.ips));
    }
    subs.push({ code: PxeSub.BootServers, data: new Uint8Array(parts) });
  }
  if (v.bootMenu !== undefined) {
    const parts: number[] = [];
    for (const m of v.bootMenu) {
      const desc = encodeString(m.description);
      parts.push(...u16(m.type, '43.9 type'), u8(desc.length, '43.9 description length'), ...desc);
    }
    subs.push({ code: PxeSub.BootMenu, data: new Uint8Array(parts) });
  }
  if (v.menuPrompt !== undefined) {
    const prompt = encodeString(v.menuPrompt.prompt);
    const data = new Uint8Array(1 + prompt.length);
    data[0] = u8(v.menuPrompt.timeout, '43.10 timeout');
    data.set(prompt, 1);
    subs.push({ code: PxeSub.MenuPrompt, data });
  }
  if (v.bootItem !== undefined) {
    subs.push({
      code: PxeSub.BootItem,
      data: new Uint8Array([...u16(v.bootItem.type, '43.71 type'), ...u16(v.bootItem.layer, '43.71 layer')]),
    });
  }
  if (v.other !== undefined) subs.push(...v.other);
  return encodeSubOptions(subs, true);
}

// ---- iPXE option 175 ------------------------------------------------------------------------

/** Sub-options of 175 (iPXE include/ipxe/dhcp.h: DHCP_EB_*). 0x10–0x4f are feature markers. */
export const IpxeSub = {
  Priority: 0x01,
  KeepSan: 0x08,
  SkipSanBoot: 0x09,
  FeatureHttp: 0x13,
  FeatureHttps: 0x14,
  FeatureTftp: 0x15,
  FeatureDns: 0x17,
  FeatureBzImage: 0x18,
  FeaturePxe: 0x21,
  FeatureEfi: 0x24,
  FeatureMenu: 0x27,
  Scriptlet: 0x51,
  /** non-zero: ignore ProxyDHCP and PXE options. A sub-option of 175, not DHCP option 176. */
  NoPxeDhcp: 0xb0,
  BusId: 0xb1,
  UseCached: 0xb2,
  Version: 0xeb,
} as const;

export type IpxeDecodeResult =
  | { ok: true; value: Map<number, Uint8Array> }
  | { ok: false; reason: 'sub-option-overrun'; detail: string };

/** Decodes option 175 to sub-option code → data (a repeated code keeps its first value). */
export function decodeIpxeOptions(d: Uint8Array): IpxeDecodeResult {
  const subs = decodeSubOptions(d, true);
  if (!subs.ok) return subs;
  const map = new Map<number, Uint8Array>();
  for (const s of subs.value) if (!map.has(s.code)) map.set(s.code, s.data);
  return { ok: true, value: map };
}

export interface IpxeServerOptions {
  /**
   * Signed 8-bit. iPXE keeps a ProxyDHCP offer whose priority is >= the best so far, so a
   * higher value wins regardless of arrival order and ties go to the latest offer.
   */
  priority?: number;
  /** tell iPXE to skip ProxyDHCP; meant for offers that carry everything themselves */
  noPxeDhcp?: boolean;
  other?: SubOption[];
}

export function encodeIpxeOptions(v: IpxeServerOptions): Uint8Array {
  const subs: SubOption[] = [];
  if (v.priority !== undefined) {
    if (!Number.isInteger(v.priority) || v.priority < -128 || v.priority > 127) {
      throw new RangeError(`175.1 priority: ${v.priority} out of range -128..127`);
    }
    subs.push({ code: IpxeSub.Priority, data: new Uint8Array([v.priority & 0xff]) });
  }
  if (v.noPxeDhcp) subs.push({ code: IpxeSub.NoPxeDhcp, data: new Uint8Array([1]) });
  if (v.other !== undefined) subs.push(...v.other);
  return encodeSubOptions(subs, true);
}

/** Reads 175.1 as iPXE does: a signed byte, absent = 0. */
export function ipxePriority(map: Map<number, Uint8Array>): number {
  const d = map.get(IpxeSub.Priority);
  return d !== undefined && d.length >= 1 ? (d[0]! << 24) >> 24 : 0;
}

// ---- RFC 4578 / IANA processor architecture types --------------------------------------------

/** IANA "Processor Architecture Types" names (RFC 4578 §2.1 as corrected by the registry). */
export const ARCH_NAMES: Readonly<Record<number, string>> = {
  0: 'x86 BIOS',
  1: 'NEC/PC98',
  2: 'Itanium',
  3: 'DEC Alpha',
  4: 'Arc x86',
  5: 'Intel Lean Client',
  6: 'x86 UEFI',
  7: 'x64 UEFI',
  8: 'EFI Xscale',
  9: 'EBC',
  10: 'ARM 32-bit UEFI',
  11: 'ARM 64-bit UEFI',
  12: 'PowerPC Open Firmware',
  13: 'PowerPC ePAPR',
  14: 'POWER OPAL v3',
  15: 'x86 UEFI HTTP',
  16: 'x64 UEFI HTTP',
  17: 'EBC HTTP',
  18: 'ARM 32-bit UEFI HTTP',
  19: 'ARM 64-bit UEFI HTTP',
  20: 'x86 BIOS HTTP',
  21: 'ARM 32-bit uboot',
  22: 'ARM 64-bit uboot',
  23: 'ARM 32-bit uboot HTTP',
  24: 'ARM 64-bit uboot HTTP',
  25: 'RISC-V 32-bit UEFI',
  26: 'RISC-V 32-bit UEFI HTTP',
  27: 'RISC-V 64-bit UEFI',
  28: 'RISC-V 64-bit UEFI HTTP',
  29: 'RISC-V 128-bit UEFI',
  30: 'RISC-V 128-bit UEFI HTTP',
  31: 's390 Basic',
  32: 's390 Extended',
  33: 'MIPS 32-bit UEFI',
  34: 'MIPS 64-bit UEFI',
  35: 'Sunway 32-bit UEFI',
  36: 'Sunway 64-bit UEFI',
  37: 'LoongArch 32-bit UEFI',
  38: 'LoongArch 32-bit UEFI HTTP',
  39: 'LoongArch 64-bit UEFI',
  40: 'LoongArch 64-bit UEFI HTTP',
  41: 'ARM rpiboot',
};

/** HTTP-boot arches other than 16/19; facts-types.ts says they share the x64 HTTP slot. */
const OTHER_HTTP_ARCHES = new Set([15, 17, 18, 20, 23, 24, 26, 28, 30, 38, 40]);

export function firmwareForArch(arch: number | undefined): FirmwareType {
  switch (arch) {
    case 0:
      return 'bios';
    case 6:
      return 'efi-ia32';
    // RFC 4578 called 7 "EFI BC" and 9 "EFI x86-64"; the registry later swapped the meaning.
    // x86-64 firmware sends either (OVMF 7, older iPXE builds 9), so both are x64.
    case 7:
    case 9:
      return 'efi-x64';
    case 11:
      return 'efi-arm64';
    case 16:
      return 'efi-x64-http';
    case 19:
      return 'efi-arm64-http';
    default:
      return arch !== undefined && OTHER_HTTP_ARCHES.has(arch) ? 'efi-x64-http' : 'unknown';
  }
}
