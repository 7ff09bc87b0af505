// Option codes and value codecs (RFC 2132, 3004, 3046, 4578). Decoders return undefined for a
// value of the wrong shape rather than throwing: option bytes come off the wire.

import { parseIpv4 } from './packet.ts';

export const Opt = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DnsServers: 6,
  HostName: 12,
  DomainName: 15,
  RootPath: 17,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  RelayAgentInfo: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  TftpServerAddress: 150,
  IpxeEncap: 175,
  End: 255,
} as const;
export type OptCode = (typeof Opt)[keyof typeof Opt];

const OPT_NAMES = new Map<number, string>(Object.entries(Opt).map(([k, v]) => [v, k]));

/** Name for logs and explain output; unknown codes come back as "option-NNN". */
export function optionName(code: number): string {
  return OPT_NAMES.get(code) ?? `option-${code}`;
}

export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

const MT_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k.toUpperCase()]));

export function messageTypeName(t: number | undefined): string {
  if (t === undefined) return 'BOOTP';
  return MT_NAMES.get(t) ?? `TYPE-${t}`;
}

// ---- decoders -------------------------------------------------------------------------------

export function decodeU8(d: Uint8Array | undefined): number | undefined {
  return d !== undefined && d.length === 1 ? d[0] : undefined;
}

export function decodeU16(d: Uint8Array | undefined): number | undefined {
  return d !== undefined && d.length === 2 ? (d[0]! << 8) | d[1]! : undefined;
}

export function decodeU32(d: Uint8Array | undefined): number | undefined {
  return d !== undefined && d.length === 4 ? ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0 : undefined;
}

export function decodeIp(d: Uint8Array | undefined): string | undefined {
  return d !== undefined && d.length === 4 ? `${d[0]}.${d[1]}.${d[2]}.${d[3]}` : undefined;
}

export function decodeIpList(d: Uint8Array | undefined): string[] | undefined {
  if (d === undefined || d.length === 0 || d.length % 4 !== 0) return undefined;
  const out: string[] = [];
  for (let i = 0; i < d.length; i += 4) out.push(`${d[i]}.${d[i + 1]}.${d[i + 2]}.${d[i + 3]}`);
  return out;
}

/**
 * Latin-1 so every byte maps to one character and nothing can fail; trailing NULs dropped
 * because several firmwares NUL-terminate strings that the RFC says are not terminated.
 */
export function decodeString(d: Uint8Array | undefined): string | undefined {
  if (d === undefined) return undefined;
  let end = d.length;
  while (end > 0 && d[end - 1] === 0) end--;
  return String.fromCharCode.apply(null, d.subarray(0, end) as unknown as number[]);
}

// ---- encoders (throw RangeError: their input is configuration, not wire data) ---------------

function checkInt(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what}: ${v} out of range 0..${max}`);
}

export function encodeU8(v: number): Uint8Array {
  checkInt(v, 0xff, 'u8');
  return new Uint8Array([v]);
}

export function encodeU16(v: number): Uint8Array {
  checkInt(v, 0xffff, 'u16');
  return new Uint8Array([v >>> 8, v & 255]);
}

export function encodeU32(v: number): Uint8Array {
  checkInt(v, 0xffffffff, 'u32');
  return new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

export function encodeIpList(ips: readonly string[]): Uint8Array {
  const out = new Uint8Array(ips.length * 4);
  for (let i = 0; i < ips.length; i++) {
    const v = parseIpv4(ips[i]!);
    if (v === undefined) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ips[i])}`);
    out[i * 4] = v >>> 24;
    out[i * 4 + 1] = (v >>> 16) & 255;
    out[i * 4 + 2] = (v >>> 8) & 255;
    out[i * 4 + 3] = v & 255;
  }
  return out;
}

export function encodeIp(ip: string): Uint8Array {
  return encodeIpList([ip]);
}

/** Latin-1; a character above U+00FF has no single-byte form, so it is refused. */
export function encodeString(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) throw new RangeError(`character U+${c.toString(16)} at ${i} is not Latin-1`);
    out[i] = c;
  }
  return out;
}

// ---- generic encapsulated (code, len, data) lists: 43, 82, 175 --------------------------------

export interface SubOption {
  code: number;
  data: Uint8Array;
}

export type SubOptionsResult =
  | { ok: true; value: SubOption[] }
  | { ok: false; reason: 'sub-option-overrun'; detail: string };

/**
 * Splits an encapsulated option into sub-options in wire order. With padEnd, codes 0 and 255
 * are pad/end as in the top-level option area (PXE 43, iPXE 175); RFC 3046 sub-options (82)
 * have no such codes and are read as plain TLVs.
 */
export function decodeSubOptions(d: Uint8Array, padEnd: boolean): SubOptionsResult {
  const out: SubOption[] = [];
  const bad = walkSubOptions(d, padEnd, (code, data) => { out.push({ code, data }); return false; });
  if (bad !== undefined) {
    return {
      ok: false,
      reason: 'sub-option-overrun',
      detail: bad.len === undefined
        ? `sub-option ${bad.code} at ${bad.at} has no length byte`
        : `sub-option ${bad.code} at ${bad.at} needs ${bad.len} bytes, ${d.length - bad.at - 2} left`,
    };
  }
  return { ok: true, value: out };
}

/**
 * The one walk over sub-options: each is handed to `visit` in order until it returns true; with
 * padEnd, pad bytes are skipped and an end byte stops the walk. Returns the sub-option that
 * overruns the data (its code, offset and the length it claims, if it has a length byte), or
 * undefined when the walk ended cleanly or was stopped.
 */
function walkSubOptions(d: Uint8Array, padEnd: boolean, visit: (code: number, data: Uint8Array) => boolean): { code: number; at: number; len: number | undefined } | undefined {
  let i = 0;
  while (i < d.length) {
    const code = d[i]!;
    if (padEnd) {
      if (code === 0) {
        i++;
        continue;
      }
      if (code === 255) return undefined;
    }
    if (i + 1 >= d.length) return { code, at: i, len: undefined };
    const len = d[i + 1]!;
    if (i + 2 + len > d.length) return { code, at: i, len };
    if (visit(code, d.subarray(i + 2, i + 2 + len))) return undefined;
    i += 2 + len;
  }
  return undefined;
}

/** Data of the first sub-option with this code, without building the whole list. */
export function findSubOption(d: Uint8Array, code: number, padEnd: boolean): Uint8Array | undefined {
  let found: Uint8Array | undefined;
  walkSubOptions(d, padEnd, (c, data) => {
    if (c !== code) return false;
    found = data;
    return true;
  });
  return found;
}

/** Encodes sub-options; with padEnd, codes 0/255 are refused and an end byte is appended. */
export function encodeSubOptions(subs: readonly SubOption[], padEnd: boolean): Uint8Array {
  let size = padEnd ? 1 : 0;
  for (const s of subs) {
    checkInt(s.code, 255, 'sub-option code');
    if (padEnd && (s.code === 0 || s.code === 255)) {
      throw new RangeError(`sub-option code ${s.code} is pad/end here`);
    }
    if (s.data.length > 255) throw new RangeError(`sub-option ${s.code}: ${s.data.length} bytes, max 255`);
    size += 2 + s.data.length;
  }
  const out = new Uint8Array(size);
  let i = 0;
  for (const s of subs) {
    out[i] = s.code;
    out[i + 1] = s.data.length;
    out.set(s.data, i + 2);
    i += 2 + s.data.length;
  }
  if (padEnd) out[i] = 255;
  return out;
}

// ---- option 82: relay agent information (RFC 3046) -------------------------------------------

export const RelaySub = {
  CircuitId: 1,
  RemoteId: 2,
  LinkSelection: 5,
  SubscriberId: 6,
  ServerIdOverride: 11,
} as const;

export function decodeRelayAgentInfo(d: Uint8Array): SubOptionsResult {
  return decodeSubOptions(d, false);
}

/** The relay expects option 82 echoed back verbatim, so encoding keeps the given order. */
export function encodeRelayAgentInfo(subs: readonly SubOption[]): Uint8Array {
  return encodeSubOptions(subs, false);
}
