// A scripted PXE client for the operator's-view tests: a relayed DISCOVER and a 4011 request
// carrying whatever hostname (option 12) and vendor class (option 60) the test wants, and a
// one-file TFTP read, all over loopback.

import { bootServerRequest, discover, encode, type ClientIdentity } from '../../src/dhcp/pxe-client.ts';
import { encodeString, Opt } from '../../src/dhcp/options.ts';
import type { DhcpPacket } from '../../src/dhcp/packet.ts';
import { udpPeer } from './udp.ts';

export interface ClientStrings { hostname?: string; vendorClass?: string }

function dress(p: DhcpPacket, s: ClientStrings): DhcpPacket {
  if (s.vendorClass !== undefined) p.options = p.options.map((o) => (o.code === Opt.VendorClass ? { code: o.code, data: encodeString(s.vendorClass!) } : o));
  if (s.hostname !== undefined) p.options.push({ code: Opt.HostName, data: encodeString(s.hostname) });
  return p;
}

/** A DISCOVER relayed by an agent at `relay` (port `dhcpPort`) to `server`; resolves with whether an offer came back. */
export async function relayedDiscover(relay: string, server: string, dhcpPort: number, id: ClientIdentity, xid: number, s: ClientStrings = {}): Promise<boolean> {
  const sock = await udpPeer(relay, dhcpPort);
  try {
    await sock.send(encode(dress(discover(id, { xid, giaddr: relay, hops: 1 }), s)), dhcpPort, server);
    return (await sock.next((m) => m.length > 8 && m.readUInt32BE(4) === xid, 2000)) !== undefined;
  } finally {
    await sock.close();
  }
}

/** The 4011 request from the client's own address; resolves with whether an ACK came back. */
export async function bootRequest(client: string, server: string, pxePort: number, id: ClientIdentity, xid: number, s: ClientStrings = {}): Promise<boolean> {
  const sock = await udpPeer(client, 0);
  try {
    await sock.send(encode(dress(bootServerRequest(id, { xid, ciaddr: client }), s)), pxePort, server);
    return (await sock.next((m) => m.length > 8 && m.readUInt32BE(4) === xid, 2000)) !== undefined;
  } finally {
    await sock.close();
  }
}

/** Reads `file` over TFTP (blksize 512, no options) from `client`; resolves with the bytes or the server's error text. Bounded. */
export async function tftpGet(client: string, server: string, port: number, file: string, timeoutMs = 5000): Promise<{ ok: true; data: Buffer } | { ok: false; error: string }> {
  const sock = await udpPeer(client, 0);
  try {
    await sock.send(Buffer.concat([Buffer.from([0, 1]), Buffer.from(file, 'latin1'), Buffer.from([0]), Buffer.from('octet'), Buffer.from([0])]), port, server);
    const parts: Buffer[] = [];
    const until = Date.now() + timeoutMs;
    for (let block = 1; block < 100_000; block++) {
      const r = await sock.next(undefined, Math.max(1, until - Date.now()));
      if (r === undefined) return { ok: false, error: 'timeout' };
      const op = r.msg.readUInt16BE(0);
      if (op === 5) return { ok: false, error: r.msg.subarray(4, r.msg.length - 1).toString('latin1') };
      if (op !== 3) return { ok: false, error: `opcode ${op}` };
      parts.push(r.msg.subarray(4));
      await sock.send(Buffer.from([0, 4, r.msg[2]!, r.msg[3]!]), r.rinfo.port, r.rinfo.address);
      if (r.msg.length - 4 < 512) return { ok: true, data: Buffer.concat(parts) };
    }
    return { ok: false, error: 'too many blocks' };
  } finally {
    await sock.close();
  }
}
