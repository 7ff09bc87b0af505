// Client-side packets shaped like real PXE firmware (docs/firmware.md): used by the storm
// simulator and by tests that play a client. Pure builders over DhcpPacket.

import { encodeIp, encodeString, encodeU16, encodeU8, MessageType, Opt } from './options.ts';
import { BROADCAST_FLAG, type DhcpPacket, serializeDhcp } from './packet.ts';
import { encodePxeOptions } from './pxe.ts';

/** Firmware families as seen on the wire. */
export type ClientKind = 'ipxe-bios' | 'ovmf' | 'ipxe-efi' | 'plain';

export interface ClientIdentity {
  kind: ClientKind;
  mac: string;
  /** 16 bytes as 8-4-4-4-12 hex, sent as option 97 in wire order */
  uuid?: string;
  /** override the arch the kind implies (e.g. 11 for ARM64 EDK2) */
  arch?: number;
}

export interface RequestFields {
  xid: number;
  secs?: number;
  giaddr?: string;
  ciaddr?: string;
  hops?: number;
}

function macBytes(mac: string): Uint8Array {
  const chaddr = new Uint8Array(16);
  const parts = mac.split(/[:-]/);
  for (let i = 0; i < 6; i++) chaddr[i] = parseInt(parts[i] ?? '0', 16);
  return chaddr;
}

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  const out = new Uint8Array(17);
  for (let i = 0; i < 16; i++) out[i + 1] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function archOf(id: ClientIdentity): number {
  if (id.arch !== undefined) return id.arch;
  return id.kind === 'ipxe-bios' ? 0 : 7;
}

/** EDK2's HTTP boot arches (x64 16, ARM64 19): its DISCOVER then says HTTPClient (captured on OVMF and AAVMF). */
const EDK2_HTTP_ARCHES = new Set([16, 19]);

function vendorClass(id: ClientIdentity): string {
  const arch = String(archOf(id)).padStart(5, '0');
  const undi = id.kind === 'ipxe-bios' ? '002001' : '003000';
  const cls = id.kind === 'ovmf' && EDK2_HTTP_ARCHES.has(archOf(id)) ? 'HTTPClient' : 'PXEClient';
  return `${cls}:Arch:${arch}:UNDI:${undi}`;
}

function base(id: ClientIdentity, f: RequestFields, type: number): DhcpPacket {
  // OVMF sets the broadcast flag; iPXE does not (docs/firmware.md).
  const flags = id.kind === 'ovmf' ? BROADCAST_FLAG : 0;
  return {
    op: 1, htype: 1, hlen: 6, hops: f.hops ?? 0, xid: f.xid >>> 0, secs: f.secs ?? 0, flags,
    ciaddr: f.ciaddr ?? '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: f.giaddr ?? '0.0.0.0',
    chaddr: macBytes(id.mac), sname: '', file: '',
    options: [{ code: Opt.MessageType, data: encodeU8(type) }],
  };
}

function pxeOptions(p: DhcpPacket, id: ClientIdentity): void {
  if (id.kind === 'plain') return;
  const o = p.options;
  if (id.kind === 'ovmf') o.push({ code: Opt.MaxMessageSize, data: encodeU16(1472) });
  o.push({ code: Opt.ClientArch, data: encodeU16(archOf(id)) });
  const undi = id.kind === 'ipxe-bios' ? [1, 2, 1] : id.kind === 'ipxe-efi' ? [1, 3, 10] : [1, 3, 0];
  o.push({ code: Opt.ClientNdi, data: new Uint8Array(undi) });
  o.push({ code: Opt.VendorClass, data: encodeString(vendorClass(id)) });
  if (id.kind !== 'ovmf') {
    o.push({ code: Opt.UserClass, data: encodeString('iPXE') });
    o.push({ code: Opt.IpxeEncap, data: new Uint8Array([0x13, 1, 1, 0x15, 1, 1, 0xff]) });
  }
  if (id.uuid !== undefined) o.push({ code: Opt.ClientUuid, data: uuidBytes(id.uuid) });
  o.push({ code: Opt.ParameterRequestList, data: new Uint8Array([1, 3, 6, 43, 60, 66, 67, 97, 175]) });
}

export function discover(id: ClientIdentity, f: RequestFields): DhcpPacket {
  const p = base(id, f, MessageType.Discover);
  pxeOptions(p, id);
  return p;
}

/**
 * The request a client sends to a boot server's port 4011 after a ProxyDHCP offer
 * (PXE 2.1 §2.2.5): unicast, with its new address in ciaddr, optionally asking for a menu item.
 */
export function bootServerRequest(
  id: ClientIdentity,
  f: RequestFields & { serverId?: string; bootItem?: { type: number; layer: number } },
): DhcpPacket {
  const p = base(id, f, MessageType.Request);
  pxeOptions(p, id);
  if (f.serverId !== undefined) p.options.push({ code: Opt.ServerId, data: encodeIp(f.serverId) });
  if (f.bootItem !== undefined) p.options.push({ code: Opt.VendorSpecific, data: encodePxeOptions({ bootItem: f.bootItem }) });
  return p;
}

export function encode(p: DhcpPacket): Uint8Array {
  return serializeDhcp(p);
}
