// A scripted PXE client for namespace tests: broadcasts a firmware-shaped DISCOVER from port 68
// and collects every reply for a while, then can ask a boot server on 4011.

import { bootServerRequest, discover, encode, type ClientIdentity } from '../../src/dhcp/pxe-client.ts';
import { getOption, parseDhcp, type DhcpPacket } from '../../src/dhcp/packet.ts';
import { decodeIp, decodeString, Opt } from '../../src/dhcp/options.ts';
import { udpPeer } from './udp.ts';

export interface Offer {
  packet: DhcpPacket;
  from: string;
  serverId: string | undefined;
  /** option 60 PXEClient and no address: a ProxyDHCP offer */
  proxy: boolean;
}

export function classify(packet: DhcpPacket, from: string): Offer {
  return {
    packet, from,
    serverId: decodeIp(getOption(packet, Opt.ServerId)),
    proxy: packet.yiaddr === '0.0.0.0' && decodeString(getOption(packet, Opt.VendorClass))?.startsWith('PXEClient') === true,
  };
}

/** Broadcast one DISCOVER and return all replies with that xid within `windowMs`. */
export async function discoverAll(id: ClientIdentity, xid: number, windowMs = 2500, opts: { secs?: number } = {}): Promise<Offer[]> {
  const sock = await udpPeer('0.0.0.0', 68, { broadcast: true });
  try {
    const pkt = discover(id, { xid, secs: opts.secs ?? 0 });
    pkt.flags |= 0x8000; // so that Kea broadcasts its offer to our address-less probe too
    await sock.send(encode(pkt), 67, '255.255.255.255');
    const out: Offer[] = [];
    const until = Date.now() + windowMs;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) break;
      const r = await sock.next((m) => m.length > 8 && m.readUInt32BE(4) === xid, left);
      if (r === undefined) break;
      const p = parseDhcp(r.msg);
      if (p.ok && p.packet.op === 2) out.push(classify(p.packet, r.rinfo.address));
    }
    return out;
  } finally {
    await sock.close();
  }
}

/** The boot-server exchange: DHCPREQUEST to server:4011, the ACK back (or undefined). */
export async function askBootServer(id: ClientIdentity, server: string, ciaddr: string, xid: number, timeoutMs = 2000): Promise<DhcpPacket | undefined> {
  const sock = await udpPeer(ciaddr, 0);
  try {
    await sock.send(encode(bootServerRequest(id, { xid, ciaddr })), 4011, server);
    const r = await sock.next((m) => m.length > 8 && m.readUInt32BE(4) === xid, timeoutMs);
    if (r === undefined) return undefined;
    const p = parseDhcp(r.msg);
    return p.ok ? p.packet : undefined;
  } finally {
    await sock.close();
  }
}
