// Reads a lab capture with tshark into plain records, so e2e scenarios can assert the chain:
// who offered what, the 4011 exchange, TFTP and HTTP transfers.

import { execFileSync } from 'node:child_process';

export interface DhcpRecord {
  t: number; src: string; dst: string; srcPort: number; dstPort: number;
  type: number; xid: string; mac: string; yiaddr: string; siaddr: string;
  vendorClass: string; file: string; options: number[];
  /** option 54, '' when absent */
  serverId: string;
}

function fields(pcap: string, filter: string, names: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', pcap, '-Y', filter, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,', ...names.flatMap((n) => ['-e', n])], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l !== '').map((l) => l.split('|'));
}

export function dhcpRecords(pcap: string): DhcpRecord[] {
  const names = ['frame.time_relative', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'dhcp.option.dhcp', 'dhcp.id', 'dhcp.hw.mac_addr', 'dhcp.ip.your', 'dhcp.ip.server', 'dhcp.option.vendor_class_id', 'dhcp.file', 'dhcp.option.type', 'dhcp.option.dhcp_server_id'];
  return fields(pcap, 'dhcp', names).map((f) => ({
    t: Number(f[0]), src: f[1] ?? '', dst: f[2] ?? '', srcPort: Number(f[3]), dstPort: Number(f[4]),
    type: Number(f[5]), xid: f[6] ?? '', mac: (f[7] ?? '').split(',')[0]!.toLowerCase(), yiaddr: f[8] ?? '', siaddr: f[9] ?? '',
    vendorClass: f[10] ?? '', file: f[11] ?? '', options: (f[12] ?? '').split(',').filter((x) => x !== '').map(Number),
    serverId: f[13] ?? '',
  }));
}

export interface TftpRequest { t: number; src: string; dst: string; file: string }

export function tftpReadRequests(pcap: string): TftpRequest[] {
  return fields(pcap, 'tftp.opcode == 1', ['frame.time_relative', 'ip.src', 'ip.dst', 'tftp.source_file']).map((f) => ({ t: Number(f[0]), src: f[1] ?? '', dst: f[2] ?? '', file: f[3] ?? '' }));
}

export interface HttpRequest { t: number; src: string; dst: string; uri: string }

export function httpRequests(pcap: string): HttpRequest[] {
  return fields(pcap, 'http.request', ['frame.time_relative', 'ip.src', 'ip.dst', 'http.request.uri']).map((f) => ({ t: Number(f[0]), src: f[1] ?? '', dst: f[2] ?? '', uri: f[3] ?? '' }));
}

export interface ArpRecord { t: number; op: number; senderMac: string; senderIp: string; targetIp: string }

/** ARP packets whose sender is `ip` (replies, gratuitous requests): who answered for it, when. */
export function arpFrom(pcap: string, ip: string): ArpRecord[] {
  return fields(pcap, `arp.src.proto_ipv4 == ${ip}`, ['frame.time_relative', 'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4'])
    .map((f) => ({ t: Number(f[0]), op: Number(f[1]), senderMac: (f[2] ?? '').toLowerCase(), senderIp: f[3] ?? '', targetIp: f[4] ?? '' }));
}
