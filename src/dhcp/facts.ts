// What one request says about its client, in the shape policy and the responder consume.

import type { ClientFacts } from './facts-types.ts';
import { decodeString, findSubOption, Opt } from './options.ts';
import { BROADCAST_FLAG, macOf, type DhcpPacket } from './packet.ts';
import { firmwareForArch, PxeSub } from './pxe.ts';

const WIRE = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
// SMBIOS stores time_low, time_mid and time_hi little-endian; tools such as dmidecode print
// them swapped relative to the raw bytes.
const SWAPPED = [4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16];

const HEX_CODE = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
/** scratch for formatUuid: 32 hex digits and 4 dashes */
const UUID_CODES = new Array<number>(36).fill(0);

/** 8-4-4-4-12 hex, built as one flat string (this runs twice for every packet with option 97) */
function formatUuid(d: Uint8Array, order: readonly number[]): string {
  let j = 0;
  for (let k = 0; k < 16; k++) {
    if (k === 4 || k === 6 || k === 8 || k === 10) UUID_CODES[j++] = 0x2d;
    const b = d[order[k]!]!;
    UUID_CODES[j++] = HEX_CODE[b >> 4]!;
    UUID_CODES[j++] = HEX_CODE[b & 15]!;
  }
  return String.fromCharCode.apply(null, UUID_CODES);
}

/**
 * RFC 3004 user class: a list of length-prefixed entries filling the option exactly. iPXE
 * sends the bare string "iPXE", which is not a valid list ('i' = 105 overruns 4 bytes), so
 * anything that does not parse as a list is taken as one string.
 */
export function parseUserClass(d: Uint8Array): string[] {
  if (d.length === 0) return [];
  const out: string[] = [];
  let i = 0;
  while (i < d.length) {
    const n = d[i]!;
    if (n === 0 || i + 1 + n > d.length) return [decodeString(d)!];
    out.push(decodeString(d.subarray(i + 1, i + 1 + n))!);
    i += 1 + n;
  }
  return out;
}

const ARCH_IN_VENDOR_CLASS = /:Arch:(\d{5})/;

/**
 * `seen` is what the receiving edge knows and the packet cannot say: whether a relay agent sent
 * it, and a 4011 request's source. Without it (a request built for `explain`), a giaddr means
 * relayed.
 */
export function clientFacts(p: DhcpPacket, seen?: { relayed: boolean; source?: string }): ClientFacts {
  let messageType: number | undefined;
  let arch93: number | undefined;
  let undi: ClientFacts['undi'];
  let uuid: string | undefined;
  let uuidSwapped: string | undefined;
  let vendorClass: string | undefined;
  let hostname: string | undefined;
  let requestedAddress: string | undefined;
  let userClass: string[] = [];
  let has175 = false;
  let bootItem: ClientFacts['bootItem'];
  let maxMessageSize: number | undefined;

  // One pass over the options rather than a lookup per fact: this runs for every packet.
  for (const { code, data } of p.options) {
    switch (code) {
      case Opt.MessageType:
        if (data.length === 1) messageType = data[0];
        break;
      case Opt.ClientArch:
        // A list is allowed (RFC 4578); the first entry is the one firmware boots with.
        if (data.length >= 2 && data.length % 2 === 0) arch93 = (data[0]! << 8) | data[1]!;
        break;
      case Opt.ClientNdi:
        if (data.length === 3) undi = { type: data[0]!, major: data[1]!, minor: data[2]! };
        break;
      case Opt.ClientUuid:
        if (data.length === 17 && data[0] === 0) {
          uuid = formatUuid(data, WIRE);
          uuidSwapped = formatUuid(data, SWAPPED);
        }
        break;
      case Opt.VendorClass:
        vendorClass = decodeString(data);
        break;
      case Opt.HostName:
        hostname = decodeString(data);
        break;
      case Opt.RequestedIp:
        if (data.length === 4) requestedAddress = `${data[0]}.${data[1]}.${data[2]}.${data[3]}`;
        break;
      case Opt.UserClass:
        userClass = parseUserClass(data);
        break;
      case Opt.IpxeEncap:
        has175 = true;
        break;
      case Opt.VendorSpecific: {
        const item = findSubOption(data, PxeSub.BootItem, true);
        if (item !== undefined && item.length === 4) {
          bootItem = { type: (item[0]! << 8) | item[1]!, layer: (item[2]! << 8) | item[3]! };
        }
        break;
      }
      case Opt.MaxMessageSize:
        if (data.length === 2) maxMessageSize = (data[0]! << 8) | data[1]!;
        break;
    }
  }

  let arch = arch93;
  if (arch === undefined && vendorClass !== undefined) {
    const m = ARCH_IN_VENDOR_CLASS.exec(vendorClass);
    if (m !== null) arch = Number(m[1]);
  }
  // Arch:NNNNN is decimal and five digits can exceed the 16-bit field 93 carries.
  if (arch !== undefined && arch > 0xffff) arch = undefined;

  return {
    mac: macOf(p),
    xid: p.xid,
    messageType,
    arch,
    firmware: firmwareForArch(arch),
    undi,
    uuid,
    uuidSwapped,
    vendorClass,
    userClass,
    pxeClient: vendorClass !== undefined && vendorClass.startsWith('PXEClient'),
    httpClient: vendorClass !== undefined && vendorClass.startsWith('HTTPClient'),
    isIpxe: has175 || userClass.includes('iPXE'),
    relayed: seen?.relayed ?? p.giaddr !== '0.0.0.0',
    giaddr: p.giaddr,
    ciaddr: p.ciaddr,
    secs: p.secs,
    broadcast: (p.flags & BROADCAST_FLAG) !== 0,
    bootItem,
    maxMessageSize,
    ...(seen?.source !== undefined ? { source: seen.source } : {}),
    ...(hostname !== undefined ? { hostname } : {}),
    ...(requestedAddress !== undefined ? { requestedAddress } : {}),
  };
}
