// A DHCPv6 PXE client for tests, run in a client namespace: sends EDK2's captured Solicit to
// ff02::1:2 on an interface (from port 546), takes the first Advertise, then (with --request)
// sends EDK2's captured 4011 Request naming that Advertise's server id to the URL's host, and
// prints what came back as JSON. Bounded by --ms.
//   node test/lib/dhcp6-probe.ts --iface eth0 [--request] [--garbage] [--ms 3000]
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeDhcp6, OPT, parseDhcp6, type Dhcp6Message } from '../../src/dhcp6/packet.ts';

const { values: a } = parseArgs({ options: { iface: { type: 'string' }, request: { type: 'boolean' }, garbage: { type: 'boolean' }, ms: { type: 'string', default: '3000' } } });
const fixture = (name: string): Dhcp6Message => {
  const r = parseDhcp6(Uint8Array.from(Buffer.from(readFileSync(join(import.meta.dirname, '../fixtures/firmware6', `${name}.hex`), 'utf8').replace(/\s+/g, ''), 'hex')));
  if (!r.ok) throw new Error(`fixture ${name}: ${r.reason}`);
  return r.message;
};
const ms = Math.min(Number(a.ms), 20_000);
const wait = <T>(sock: dgram.Socket): Promise<T | undefined> => new Promise((resolve) => {
  const t = setTimeout(() => resolve(undefined), ms);
  sock.on('message', (m, rinfo) => {
    const r = parseDhcp6(m);
    if (!r.ok || r.message.kind !== 'client') return;
    clearTimeout(t);
    const opt = (c: number) => r.message.options.find((o) => o.code === c)?.data;
    resolve({ type: r.message.type, from: rinfo.address, url: Buffer.from(opt(OPT.BOOTFILE_URL) ?? []).toString(), hasIaNa: opt(OPT.IA_NA) !== undefined, serverId: Buffer.from(opt(OPT.SERVERID) ?? []).toString('hex'), vendor: Buffer.from(opt(OPT.VENDOR_CLASS)?.subarray(6) ?? []).toString('latin1') } as T);
  });
});
type Answer = { type: number; from: string; url: string; hasIaNa: boolean; serverId: string; vendor: string };

const s546 = dgram.createSocket({ type: 'udp6', reuseAddr: true, ipv6Only: true });
await new Promise<void>((r) => s546.bind(546, '::', () => r()));
if (a.garbage) s546.send(Buffer.from([1, 0, 0, 1, 0, 1, 0xff, 0xff]), 547, `ff02::1:2%${a.iface}`);
const adv = wait<Answer>(s546);
s546.send(encodeDhcp6(fixture('ovmf-pxe6-solicit')), 547, `ff02::1:2%${a.iface}`);
const advertise = await adv;
let reply: Answer | undefined;
if (a.request && advertise !== undefined) {
  const host = /^tftp:\/\/\[([^\]]+)\]/.exec(advertise.url)?.[1];
  const s4011 = dgram.createSocket({ type: 'udp6', reuseAddr: true, ipv6Only: true });
  await new Promise<void>((r) => s4011.bind(4011, '::', () => r()));
  const req = fixture('ovmf-pxe6-request-4011');
  // The same client: the Solicit's client id, and the server id the Advertise gave.
  const sol = fixture('ovmf-pxe6-solicit');
  const cid = sol.options.find((o) => o.code === OPT.CLIENTID)!;
  if (req.kind === 'client') {
    req.options = req.options.map((o) => (o.code === OPT.SERVERID ? { code: o.code, data: Uint8Array.from(Buffer.from(advertise.serverId, 'hex')) } : o.code === OPT.CLIENTID ? cid : o));
  }
  const rep = wait<Answer>(s4011);
  if (host !== undefined) s4011.send(encodeDhcp6(req), 4011, host);
  reply = await rep;
  s4011.close();
}
s546.close();
process.stdout.write(JSON.stringify({ advertise, reply }) + '\n');
