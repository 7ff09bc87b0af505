import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { respond, STANDARD_PORTS, type Outcome, type ResponderContext } from '../../../src/proxy/responder.ts';
import { bootServerRequest, discover, encode, type ClientIdentity } from '../../../src/dhcp/pxe-client.ts';
import { getOption, parseDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { decodeIp, decodeString, Opt } from '../../../src/dhcp/options.ts';
import { decodePxeOptions } from '../../../src/dhcp/pxe.ts';
import type { Decision } from '../../../src/policy/decision.ts';
import type { ClientFacts } from '../../../src/dhcp/facts-types.ts';

const ctx: ResponderContext = { serverId: '10.77.0.2', mode: 'proxy', ports: STANDARD_PORTS };
const bios: ClientIdentity = { kind: 'ipxe-bios', mac: '52:54:00:00:00:01', uuid: '11111111-2222-3333-4444-555555555555' };
const ovmf: ClientIdentity = { kind: 'ovmf', mac: '52:54:00:00:00:02', uuid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' };
const client = { address: '0.0.0.0', port: 68 };

function files(f: ClientFacts): Decision {
  const bootFile = f.isIpxe && f.firmware !== 'bios' ? 'http://10.77.0.2:8080/boot.ipxe' : f.firmware === 'bios' ? 'pxelinux.0' : 'snponly.efi';
  return { action: 'boot', rule: 'default', profile: 'default', firmware: f.firmware, bootFile };
}

function reply(o: Outcome): { p: DhcpPacket; o: Extract<Outcome, { kind: 'reply' }> } {
  assert.equal(o.kind, 'reply', o.kind === 'drop' ? `${o.reason}: ${o.detail}` : '');
  if (o.kind !== 'reply') throw new Error('unreachable');
  const parsed = parseDhcp(o.bytes);
  assert.ok(parsed.ok);
  return { p: parsed.packet, o };
}

function dropReason(o: Outcome): string {
  assert.equal(o.kind, 'drop');
  return o.kind === 'drop' ? o.reason : '';
}

test('BIOS PXE DISCOVER gets a broadcast proxy offer with no address and direct boot file', () => {
  const { p, o } = reply(respond(encode(discover(bios, { xid: 0x1234 })), client, 'dhcp', ctx, files));
  assert.equal(p.op, 2);
  assert.equal(p.xid, 0x1234);
  assert.equal(p.yiaddr, '0.0.0.0');
  assert.equal(p.siaddr, '10.77.0.2');
  assert.equal(p.file, 'pxelinux.0');
  assert.equal(getOption(p, Opt.MessageType)?.[0], 2);
  assert.equal(decodeIp(getOption(p, Opt.ServerId)), '10.77.0.2');
  assert.equal(decodeString(getOption(p, Opt.VendorClass)), 'PXEClient');
  assert.equal(getOption(p, Opt.LeaseTime), undefined);
  const pxe = decodePxeOptions(getOption(p, Opt.VendorSpecific)!);
  assert.ok(pxe.ok);
  assert.equal(pxe.ok && pxe.value.discoveryControl, 8);
  assert.deepEqual(getOption(p, Opt.ClientUuid), getOption(discover(bios, { xid: 1 }), Opt.ClientUuid));
  assert.deepEqual(o.to, { address: '255.255.255.255', port: 68, broadcast: true });
});

test('UEFI (EDK2) DISCOVER gets a BINL offer: siaddr, no option 43, no file', () => {
  const { p } = reply(respond(encode(discover(ovmf, { xid: 7 })), client, 'dhcp', ctx, files));
  assert.equal(getOption(p, Opt.VendorSpecific), undefined);
  assert.equal(p.file, '');
  assert.equal(p.siaddr, '10.77.0.2');
  assert.equal(p.flags & 0x8000, 0x8000, 'broadcast flag echoed');
});

test('UEFI request on 4011 gets an ACK with the boot file, unicast back to its address and port', () => {
  const req = bootServerRequest(ovmf, { xid: 9, ciaddr: '10.77.0.50' });
  const { p, o } = reply(respond(encode(req), { address: '10.77.0.50', port: 4011 }, 'pxe', ctx, files));
  assert.equal(getOption(p, Opt.MessageType)?.[0], 5);
  assert.equal(p.file, 'snponly.efi');
  assert.equal(p.yiaddr, '0.0.0.0');
  assert.deepEqual(o.to, { address: '10.77.0.50', port: 4011, broadcast: false });
});

test('iPXE already loaded gets its script URL; long URLs go to option 67', () => {
  const ipxeEfi: ClientIdentity = { kind: 'ipxe-efi', mac: '52:54:00:00:00:03' };
  const { p } = reply(respond(encode(discover(ipxeEfi, { xid: 3 })), client, 'dhcp', ctx, files));
  assert.equal(p.file, 'http://10.77.0.2:8080/boot.ipxe');
  const long = 'http://10.77.0.2:8080/' + 'x'.repeat(200);
  const r2 = reply(respond(encode(discover(ipxeEfi, { xid: 3 })), client, 'dhcp', ctx, (f) => ({ ...(files(f) as Extract<Decision, { action: 'boot' }>), bootFile: long })));
  assert.equal(r2.p.file, '');
  assert.equal(decodeString(getOption(r2.p, Opt.BootfileName)), long);
});

test('non-PXE clients are never answered', () => {
  const plain = discover({ kind: 'plain', mac: '52:54:00:00:00:09' }, { xid: 1 });
  assert.equal(dropReason(respond(encode(plain), client, 'dhcp', ctx, files)), 'not-pxe');
  assert.equal(dropReason(respond(encode(plain), { address: '10.77.0.9', port: 68 }, 'pxe', ctx, files)), 'not-pxe');
});

test('policy ignore means no answer on either port', () => {
  const ignore = (): Decision => ({ action: 'ignore', rule: 'default', reason: 'unknown client' });
  assert.equal(dropReason(respond(encode(discover(bios, { xid: 1 })), client, 'dhcp', ctx, ignore)), 'policy');
  assert.equal(dropReason(respond(encode(bootServerRequest(bios, { xid: 1, ciaddr: '10.77.0.9' })), { address: '10.77.0.9', port: 68 }, 'pxe', ctx, ignore)), 'policy');
});

test('relayed DISCOVER is answered to the relay agent on port 67', () => {
  const { p, o } = reply(respond(encode(discover(bios, { xid: 5, giaddr: '10.88.0.1', hops: 1 })), { address: '10.88.0.1', port: 67 }, 'dhcp', ctx, files));
  assert.equal(p.giaddr, '10.88.0.1');
  assert.equal(p.flags & 0x8000, 0x8000, 'relay asked to broadcast: the client has no address');
  assert.deepEqual(o.to, { address: '10.88.0.1', port: 67, broadcast: false });
});

test('REQUEST on 67 is the site DHCP server business unless it names us', () => {
  const other = bootServerRequest(bios, { xid: 1, serverId: '10.77.0.1' });
  assert.equal(dropReason(respond(encode(other), client, 'dhcp', ctx, files)), 'not-for-us');
  const ours = bootServerRequest(bios, { xid: 1, serverId: '10.77.0.2' });
  const { p } = reply(respond(encode(ours), client, 'dhcp', ctx, files));
  assert.equal(getOption(p, Opt.MessageType)?.[0], 5);
});

test('4011-only mode (PXE mode 2) stays off port 67 but answers 4011', () => {
  const c2: ResponderContext = { ...ctx, mode: '4011-only' };
  assert.equal(dropReason(respond(encode(discover(bios, { xid: 1 })), client, 'dhcp', c2, files)), 'mode');
  reply(respond(encode(bootServerRequest(bios, { xid: 1, ciaddr: '10.77.0.9' })), { address: '10.77.0.9', port: 68 }, 'pxe', c2, files));
});

test('DISCOVER on 4011 and OFFER/ACK messages are dropped', () => {
  assert.equal(dropReason(respond(encode(discover(bios, { xid: 1 })), { address: '10.77.0.9', port: 68 }, 'pxe', ctx, files)), 'message-type');
  const offer = discover(bios, { xid: 1 });
  offer.op = 2;
  assert.equal(dropReason(respond(encode(offer), client, 'dhcp', ctx, files)), 'not-request');
});

test('a menu goes in option 43 and the boot-server ACK echoes the chosen item', () => {
  const withMenu = (f: ClientFacts): Decision => ({
    ...(files(f) as Extract<Decision, { action: 'boot' }>),
    menu: { prompt: 'Press F8', timeout: 5, items: [{ type: 0, description: 'Local disk' }, { type: 0x8000, description: 'Thin client' }] },
  });
  const { p } = reply(respond(encode(discover(bios, { xid: 1 })), client, 'dhcp', ctx, withMenu));
  const pxe = decodePxeOptions(getOption(p, Opt.VendorSpecific)!);
  assert.ok(pxe.ok);
  if (!pxe.ok) return;
  assert.equal(pxe.value.bootMenu?.length, 2);
  assert.deepEqual(pxe.value.bootServers, [{ type: 0x8000, ips: ['10.77.0.2'] }]);
  assert.equal(pxe.value.menuPrompt?.prompt, 'Press F8');
  const req = bootServerRequest(bios, { xid: 2, ciaddr: '10.77.0.9', bootItem: { type: 0x8000, layer: 0 } });
  const ack = reply(respond(encode(req), { address: '10.77.0.9', port: 68 }, 'pxe', ctx, withMenu));
  const pxeAck = decodePxeOptions(getOption(ack.p, Opt.VendorSpecific)!);
  assert.ok(pxeAck.ok && pxeAck.value.bootItem?.type === 0x8000);
});

test('next-server override and root-path', () => {
  const steer = (f: ClientFacts): Decision => ({ ...(files(f) as Extract<Decision, { action: 'boot' }>), nextServer: '10.77.0.99', rootPath: '/opt/ltsp/i386' });
  const { p } = reply(respond(encode(discover(bios, { xid: 1 })), client, 'dhcp', ctx, steer));
  assert.equal(p.siaddr, '10.77.0.99');
  assert.equal(decodeIp(getOption(p, Opt.ServerId)), '10.77.0.2', 'server id stays ours');
  assert.equal(decodeString(getOption(p, Opt.RootPath)), '/opt/ltsp/i386');
});

test('never hands out an address and never throws, whatever arrives', () => {
  const valid = encode(discover(bios, { xid: 1 }));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(valid.length)).map(([i, v, cut]) => {
          const m = new Uint8Array(valid);
          m[i] = v;
          return m.subarray(0, Math.max(cut, 1));
        }),
      ),
      fc.constantFrom<'dhcp' | 'pxe'>('dhcp', 'pxe'),
      (bytes, via) => {
        const o = respond(bytes, { address: '10.77.0.9', port: 68 }, via, ctx, files);
        if (o.kind === 'reply') {
          assert.equal(o.reply.yiaddr, '0.0.0.0');
          assert.equal(getOption(o.reply, Opt.LeaseTime), undefined);
        } else {
          assert.ok(o.reason.length > 0);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('${server} in a boot file URL becomes the boot server address and HTTP port', () => {
  const ipxeEfi: ClientIdentity = { kind: 'ipxe-efi', mac: '52:54:00:00:00:03' };
  const url = (f: ClientFacts): Decision => ({ ...(files(f) as Extract<Decision, { action: 'boot' }>), bootFile: 'http://${server}/boot.ipxe?mac=${mac}', nextServer: '10.77.0.7' });
  const { p } = reply(respond(encode(discover(ipxeEfi, { xid: 3 })), client, 'dhcp', { ...ctx, httpPort: 8080 }, url));
  assert.equal(p.file, 'http://10.77.0.7:8080/boot.ipxe?mac=${mac}');
});

test('a forged giaddr or ciaddr cannot aim a reply at a broadcast or multicast address', () => {
  for (const giaddr of ['255.255.255.255', '224.0.0.1', '0.1.2.3']) {
    assert.equal(dropReason(respond(encode(discover(bios, { xid: 1, giaddr })), client, 'dhcp', ctx, files)), 'bad-address');
  }
  assert.equal(dropReason(respond(encode(bootServerRequest(bios, { xid: 1, ciaddr: '239.1.1.1' })), { address: '10.77.0.9', port: 68 }, 'pxe', ctx, files)), 'bad-address');
});

// Real DISCOVERs captured from the firmware in QEMU (test/fixtures/firmware): the offer each gets.
import { readFileSync } from 'node:fs';
function fixture(name: string): Uint8Array {
  const hex = readFileSync(new URL(`../../fixtures/firmware/${name}.hex`, import.meta.url), 'utf8');
  return new Uint8Array(Buffer.from(hex.replace(/[^0-9a-f]/gi, ''), 'hex'));
}

test('captured firmware DISCOVERs get the offer their firmware needs', () => {
  const ipxeRom = reply(respond(fixture('ipxe-bios-discover'), client, 'dhcp', ctx, files)).p;
  assert.equal(ipxeRom.file, 'pxelinux.0');
  assert.ok(getOption(ipxeRom, Opt.VendorSpecific), 'BIOS ROM gets option 43');
  const edk2 = reply(respond(fixture('ovmf-discover'), client, 'dhcp', ctx, files)).p;
  assert.equal(edk2.file, '');
  assert.equal(getOption(edk2, Opt.VendorSpecific), undefined, 'EDK2 gets a BINL offer');
  const snp = reply(respond(fixture('snponly-discover'), client, 'dhcp', ctx, files)).p;
  assert.equal(snp.file, 'http://10.77.0.2:8080/boot.ipxe', 'chainloaded iPXE gets its script, not snponly.efi again');
  const ack = reply(respond(fixture('ovmf-request-4011'), { address: '10.77.1.100', port: 4011 }, 'pxe', ctx, files));
  assert.equal(ack.p.file, 'snponly.efi');
  assert.deepEqual(ack.o.to, { address: '10.77.1.100', port: 4011, broadcast: false });
});

test('option 97 is echoed only as a well-formed 17-byte UUID; an oversized or odd one is left out', () => {
  const base = discover(bios, { xid: 0x97 });
  const withUuid = (data: Uint8Array): DhcpPacket => ({ ...base, options: [...base.options.filter((o) => o.code !== Opt.ClientUuid), { code: Opt.ClientUuid, data }] });
  const good = new Uint8Array(17);
  good.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 1);
  const ok = reply(respond(encode(withUuid(good)), client, 'dhcp', ctx, files));
  assert.deepEqual(getOption(ok.p, Opt.ClientUuid), good);
  for (const bad of [new Uint8Array(4000).fill(7), new Uint8Array(16), Uint8Array.from([5, ...good.subarray(1)])]) {
    const r = reply(respond(encode(withUuid(bad)), client, 'dhcp', ctx, files));
    assert.equal(getOption(r.p, Opt.ClientUuid), undefined, `length ${bad.length}, type ${bad[0]}`);
    assert.ok(r.o.bytes.length < 600, `reply of ${r.o.bytes.length} bytes`);
  }
});

// Issue 13, defects 5, 8 and 10: a client on the segment controls every byte it sends.
test('a giaddr the client wrote itself (sent from port 68) is not a relay: answered by broadcast, no relaySubnet profile', () => {
  const bySubnet = (f: ClientFacts): Decision => (f.relayed && f.giaddr === '10.88.0.1'
    ? { action: 'boot', rule: 'rules[0]', profile: 'lab', firmware: f.firmware, bootFile: 'lab.0' }
    : files(f));
  const forged = respond(encode(discover(bios, { xid: 7, giaddr: '10.88.0.1', hops: 1 })), client, 'dhcp', ctx, bySubnet);
  const { p, o } = reply(forged);
  assert.equal(o.facts.relayed, false);
  assert.equal(p.file, 'pxelinux.0', 'the relaySubnet profile was chosen by a forged giaddr');
  assert.deepEqual(o.to, { address: '255.255.255.255', port: 68, broadcast: true }, 'the reply was aimed at the host the client named');
  assert.equal(p.giaddr, '0.0.0.0');
  // The same bytes from a relay agent's port are relayed.
  const real = reply(respond(encode(discover(bios, { xid: 7, giaddr: '10.88.0.1', hops: 1 })), { address: '10.88.0.254', port: 67 }, 'dhcp', ctx, bySubnet));
  assert.equal(real.p.file, 'lab.0');
  assert.deepEqual(real.o.to, { address: '10.88.0.254', port: 67, broadcast: false }, 'answered to the relay agent it came from');
});

test('replies go only where the request came from: a written ciaddr is not a destination', () => {
  const req = encode(bootServerRequest(bios, { xid: 2, ciaddr: '10.77.0.66', serverId: ctx.serverId }));
  // On 67 from an address-less client: broadcast, not unicast to the ciaddr it wrote.
  assert.deepEqual(reply(respond(req, client, 'dhcp', ctx, files)).o.to, { address: '255.255.255.255', port: 68, broadcast: true });
  // From an address: back to that address.
  assert.deepEqual(reply(respond(req, { address: '10.77.0.9', port: 68 }, 'dhcp', ctx, files)).o.to, { address: '10.77.0.9', port: 68, broadcast: false });
  // 4011: to the source, whatever giaddr says; relaySubnet sees the client's own address there.
  const onPxe = reply(respond(encode(bootServerRequest(bios, { xid: 3, ciaddr: '10.99.0.5', giaddr: '10.88.0.1' })), { address: '10.99.0.5', port: 4011 }, 'pxe', ctx, files));
  assert.deepEqual(onPxe.o.to, { address: '10.99.0.5', port: 4011, broadcast: false });
  assert.equal(onPxe.o.facts.relayed, false);
  assert.equal(onPxe.o.facts.source, '10.99.0.5');
});

test('no reply is larger than the client accepts (option 57, or 576 without): optional parts go first, then it is dropped and counted', async () => {
  const { replyLimit, fitReply } = await import('../../../src/proxy/responder.ts');
  assert.equal(replyLimit({ maxMessageSize: undefined }), 548);
  assert.equal(replyLimit({ maxMessageSize: 100 }), 548, 'below the legal minimum reads as the minimum');
  assert.equal(replyLimit({ maxMessageSize: 1500 }), 1472);
  const longRoot = (root: number) => (f: ClientFacts): Decision => ({ ...(files(f) as Extract<Decision, { action: 'boot' }>), rootPath: 'r'.repeat(root) });
  // Fits with the UUID echo shed.
  const near = respond(encode(discover(bios, { xid: 4 })), client, 'dhcp', ctx, longRoot(260));
  const n = reply(near);
  assert.ok(n.o.bytes.length <= 548, `${n.o.bytes.length} bytes`);
  assert.equal(getOption(n.p, Opt.ClientUuid), undefined, 'the UUID echo was shed to fit');
  assert.ok(getOption(n.p, Opt.RootPath) !== undefined);
  // Cannot fit: dropped with the reason.
  const over = respond(encode(discover(bios, { xid: 4 })), client, 'dhcp', ctx, longRoot(300));
  assert.equal(dropReason(over), 'too-large');
  assert.match(over.kind === 'drop' ? over.detail : '', /exceeds the client's limit of 548/);
  const r = reply(respond(encode(discover(bios, { xid: 4 })), client, 'dhcp', ctx, files));
  const withUuid = fitReply(r.p, 1000);
  assert.ok(withUuid.ok && getOption(withUuid.reply, Opt.ClientUuid) !== undefined, 'the echo stays when there is room');
});
