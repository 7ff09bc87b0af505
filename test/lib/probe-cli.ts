// Runs the scripted PXE client inside a network namespace (`ip netns exec NS node probe-cli.ts …`)
// and prints what it saw as JSON, so namespace tests can assert on it.
//   discover <kind> <mac> <xid> [windowMs] [uuid]
//   request  <kind> <mac> <server> <ciaddr> <xid>

import { askBootServer, discoverAll } from './pxe-probe.ts';
import { getOption } from '../../src/dhcp/packet.ts';
import { decodePxeOptions } from '../../src/dhcp/pxe.ts';
import { decodeString, Opt } from '../../src/dhcp/options.ts';
import type { DhcpPacket } from '../../src/dhcp/packet.ts';
import type { ClientKind } from '../../src/dhcp/pxe-client.ts';

function summary(p: DhcpPacket) {
  const o43 = getOption(p, Opt.VendorSpecific);
  const pxe = o43 ? decodePxeOptions(o43) : undefined;
  return {
    type: getOption(p, Opt.MessageType)?.[0],
    yiaddr: p.yiaddr, siaddr: p.siaddr, giaddr: p.giaddr, flags: p.flags, file: p.file,
    serverId: (() => { const d = getOption(p, Opt.ServerId); return d && d.length === 4 ? `${d[0]}.${d[1]}.${d[2]}.${d[3]}` : undefined; })(),
    vendorClass: decodeString(getOption(p, Opt.VendorClass)),
    option43: pxe?.ok ? pxe.value : o43 ? 'undecodable' : undefined,
    bootfileOption: decodeString(getOption(p, Opt.BootfileName)),
    options: p.options.map((o) => o.code),
  };
}

const [cmd, kind, mac, ...rest] = process.argv.slice(2);
const id = { kind: kind as ClientKind, mac: mac!, uuid: '00112233-4455-6677-8899-aabbccddeeff' };
if (cmd === 'discover') {
  const offers = await discoverAll(id, Number(rest[0]), Number(rest[1] ?? 2500));
  process.stdout.write(JSON.stringify(offers.map((o) => ({ from: o.from, proxy: o.proxy, ...summary(o.packet) }))) + '\n');
} else if (cmd === 'request') {
  const ack = await askBootServer(id, rest[0]!, rest[1]!, Number(rest[2]));
  process.stdout.write(JSON.stringify(ack ? summary(ack) : null) + '\n');
} else {
  process.stderr.write('usage: probe-cli.ts discover|request …\n');
  process.exit(2);
}
