// ProxyDHCPv6 decisions on EDK2's real packets: an Advertise without IA_NA to its Solicit, a
// Reply to its 4011 Request when it names our server id, and silence otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { config } from '../policy/helpers.ts';
import { compilePolicy, decide } from '../../../src/policy/policy.ts';
import { encodeDhcp6, MSG, OPT, parseDhcp6, type Dhcp6Message } from '../../../src/dhcp6/packet.ts';
import { parseIpv6 } from '../../../src/config/values.ts';
import { bootUrl, duidLl, macFromEui64, PXE_ENTERPRISE, respond6, serviceDuid, type Responder6Context } from '../../../src/dhcp6/respond.ts';

const fixture = (name: string): Dhcp6Message => {
  const r = parseDhcp6(Uint8Array.from(Buffer.from(readFileSync(join(import.meta.dirname, '../../fixtures/firmware6', `${name}.hex`), 'utf8').replace(/\s+/g, ''), 'hex')));
  assert.ok(r.ok);
  return r.ok ? r.message : (undefined as never);
};
const SOLICIT = fixture('ovmf-pxe6-solicit');
const REQUEST = fixture('ovmf-pxe6-request-4011');
// The throw-away responder of the capture used this DUID; the 4011 Request names it.
const CTX: Responder6Context = { serverDuid: duidLl('52:54:00:aa:bb:cc'), serverAddress: 'fd77:0:0:1::11', httpPort: 8080 };
const policy = compilePolicy(config(`
profiles:
  lab: { efiX64: snponly.efi, efiX64Http: "http://\${server}/ipxe.efi" }
rules:
  - { match: { mac: "52:54:00:99:*" }, action: ignore }
default: lab
`));
const d = (f: Parameters<typeof decide>[1]) => decide(policy, f);
const opt = (m: Dhcp6Message, code: number) => m.options.find((o) => o.code === code)?.data;

test('macFromEui64: the MAC inside a link-local or SLAAC address; none from a random interface id', () => {
  assert.equal(macFromEui64('fe80::5054:ff:fe65:1%eth0'), '52:54:00:65:00:01');
  assert.equal(macFromEui64('fd77::1:5054:ff:fe66:1'), '52:54:00:66:00:01');
  assert.equal(macFromEui64('fd77::1:1234:5678:9abc:def0'), undefined);
  assert.equal(macFromEui64('not an address'), undefined);
});

test('Solicit from EDK2: an Advertise with no IA_NA, our server id, its client id, a TFTP URL, vendor class 343 PXEClient', () => {
  const o = respond6(SOLICIT, 'dhcp6', 'fe80::5054:ff:fe65:1%eth0', CTX, d);
  assert.equal(o.kind, 'reply');
  if (o.kind !== 'reply') return;
  assert.equal(o.message.kind === 'client' && o.message.type, MSG.ADVERTISE);
  assert.equal(o.facts.mac, '52:54:00:65:00:01');
  assert.equal(o.facts.firmware, 'efi-x64');
  assert.equal(o.url, 'tftp://[fd77:0:0:1::11]/snponly.efi');
  assert.equal(opt(o.message, OPT.IA_NA), undefined, 'an IA_NA (even NoAddrsAvail) makes EDK2 cancel the boot');
  assert.deepEqual(opt(o.message, OPT.SERVERID), CTX.serverDuid);
  assert.deepEqual(opt(o.message, OPT.CLIENTID), opt(SOLICIT, OPT.CLIENTID));
  const vc = opt(o.message, OPT.VENDOR_CLASS)!;
  assert.equal(new DataView(vc.buffer, vc.byteOffset).getUint32(0), PXE_ENTERPRISE);
  assert.equal(Buffer.from(vc.subarray(6)).toString('latin1'), 'PXEClient');
  assert.equal(o.message.kind === 'client' && o.message.xid, SOLICIT.kind === 'client' && SOLICIT.xid);
});

test('EDK2\'s 4011 Request naming our server id gets a Reply; another server\'s id, or on the wrong port, nothing', () => {
  const o = respond6(REQUEST, 'pxe6', 'fd77::1:5054:ff:fe66:1', CTX, d);
  assert.equal(o.kind, 'reply');
  if (o.kind === 'reply') assert.equal(o.message.kind === 'client' && o.message.type, MSG.REPLY);
  assert.deepEqual(respond6(REQUEST, 'pxe6', 'fd77::1:5054:ff:fe66:1', { ...CTX, serverDuid: duidLl('52:54:00:00:00:01') }, d), { kind: 'drop', reason: 'not-for-us' });
  assert.equal(respond6(REQUEST, 'dhcp6', 'fd77::1:5054:ff:fe66:1', CTX, d).kind, 'drop');
  assert.equal(respond6(SOLICIT, 'pxe6', 'fe80::5054:ff:fe65:1', CTX, d).kind, 'drop');
});

test('policy: an ignored MAC gets no answer; a source without a MAC in it neither', () => {
  const o = respond6(SOLICIT, 'dhcp6', 'fe80::5054:ff:fe99:1', CTX, d);
  assert.equal(o.kind, 'drop');
  if (o.kind === 'drop') assert.equal(o.reason, 'policy');
  assert.equal(respond6(SOLICIT, 'dhcp6', 'fe80::1', CTX, d).kind, 'drop');
});

test('boot file URLs: a name by TFTP, HTTP boot by HTTP, ${server} is the bracketed address and port', () => {
  assert.equal(bootUrl('snponly.efi', false, CTX), 'tftp://[fd77:0:0:1::11]/snponly.efi');
  assert.equal(bootUrl('ipxe.efi', true, CTX), 'http://[fd77:0:0:1::11]:8080/ipxe.efi');
  assert.equal(bootUrl('http://${server}/x.efi', true, CTX), 'http://[fd77:0:0:1::11]:8080/x.efi');
  assert.equal(bootUrl('http://${server}/x.efi', true, { ...CTX, httpPort: 80 }), 'http://[fd77:0:0:1::11]/x.efi');
});

test('a 4011 Request from an address without a MAC in it: the MAC its DUID came with in the Solicit', () => {
  const duid = '0004dfde4ec573818742aa2db9148e2e1de2';
  assert.equal(respond6(REQUEST, 'pxe6', 'fd77:0:0:1::100', CTX, d).kind, 'drop');
  const known = respond6(REQUEST, 'pxe6', 'fd77:0:0:1::100', CTX, d, (x) => (x === duid ? undefined : '52:54:00:66:00:01'));
  assert.equal(known.kind, 'reply', 'the Request fixture carries another DUID than the Solicit: looked up by its own');
  if (known.kind === 'reply') assert.equal(known.facts.mac, '52:54:00:66:00:01');
});

test('a client id longer than any DUID (or too short to be one) gets no answer: we echo it, and must not amplify', () => {
  const withCid = (n: number): Dhcp6Message => (SOLICIT.kind === 'client'
    ? { ...SOLICIT, options: SOLICIT.options.map((o) => (o.code === OPT.CLIENTID ? { code: o.code, data: new Uint8Array(n).fill(1) } : o)) }
    : SOLICIT);
  for (const n of [0, 2, 131, 60_000]) {
    const o = respond6(withCid(n), 'dhcp6', 'fe80::5054:ff:fe65:1%eth0', CTX, d);
    assert.equal(o.kind === 'drop' && o.reason, 'client-id', `${n} bytes`);
  }
  for (const n of [3, 130]) assert.equal(respond6(withCid(n), 'dhcp6', 'fe80::5054:ff:fe65:1%eth0', CTX, d).kind, 'reply', `${n} bytes`);
});

test('serviceDuid: a DUID-UUID (type 4, version 5, RFC 4122 variant), the same for an address on every peer, different per address', () => {
  const a = serviceDuid('fd77:0:0:3::21');
  assert.equal(a.length, 18);
  assert.deepEqual([...a.subarray(0, 2)], [0, 4]);
  assert.equal(a[2 + 6]! >> 4, 5);
  assert.equal(a[2 + 8]! >> 6, 2);
  assert.deepEqual(serviceDuid('fd77:0:0:3::21'), a);
  assert.notDeepEqual(serviceDuid('fd77:0:0:3::22'), a);
  const o = respond6(SOLICIT, 'dhcp6', 'fe80::5054:ff:fe65:1%eth0', { ...CTX, serverAddress: 'fd77:0:0:3::21', serverDuid: a }, d);
  assert.ok(o.kind === 'reply' && o.url === 'tftp://[fd77:0:0:3::21]/snponly.efi');
});

test('a relayed Solicit (Relay-Forward, twice nested) is answered inside Relay-Replies that echo each relay\'s addresses and Interface-Id', () => {
  const bytes = (a: string) => parseIpv6(a)!;
  const near: Dhcp6Message = { kind: 'relay', type: MSG.RELAY_FORW, hopCount: 0, linkAddress: bytes('fd77:0:0:9::1'), peerAddress: bytes('fe80::5054:ff:fe65:1'), options: [{ code: OPT.INTERFACE_ID, data: Uint8Array.from([0x65, 0x74, 0x68, 0x31]) }, { code: 37, data: Uint8Array.from([0, 0, 0, 9]) }], inner: SOLICIT };
  const far: Dhcp6Message = { kind: 'relay', type: MSG.RELAY_FORW, hopCount: 1, linkAddress: bytes('fd77:0:0:8::1'), peerAddress: bytes('fd77:0:0:9::1'), options: [], inner: near };
  const o = respond6(far, 'dhcp6', 'fd77:0:0:8::1', CTX, d);
  assert.equal(o.kind, 'reply');
  if (o.kind !== 'reply') return;
  assert.equal(o.facts.mac, '52:54:00:65:00:01', 'the MAC from the peer-address of the relay nearest the client');
  assert.equal(o.facts.relayed, true);
  const outer = o.message;
  assert.ok(outer.kind === 'relay' && outer.type === MSG.RELAY_REPL && outer.hopCount === 1);
  assert.deepEqual(outer.peerAddress, far.peerAddress);
  assert.deepEqual(outer.options, []);
  const inner = outer.inner!;
  assert.ok(inner.kind === 'relay' && inner.type === MSG.RELAY_REPL);
  assert.deepEqual(inner.linkAddress, near.linkAddress);
  assert.deepEqual(inner.peerAddress, near.peerAddress);
  assert.deepEqual(inner.options.map((x) => x.code), [OPT.INTERFACE_ID], 'the Interface-Id is echoed, nothing else of the relay\'s');
  const adv = inner.inner!;
  assert.ok(adv.kind === 'client' && adv.type === MSG.ADVERTISE);
  assert.equal(o.url, 'tftp://[fd77:0:0:1::11]/snponly.efi');
  // Encoded and parsed back, the chain is the same.
  const again = parseDhcp6(encodeDhcp6(o.message));
  assert.ok(again.ok && again.message.kind === 'relay' && again.message.inner?.kind === 'relay');
});

test('relayed: the MAC from option 79 when the peer-address carries none; a Relay-Reply, or a relay message on 4011, gets nothing', () => {
  const bytes = (a: string) => parseIpv6(a)!;
  const mk = (peer: string, options: { code: number; data: Uint8Array }[] = []): Dhcp6Message => ({ kind: 'relay', type: MSG.RELAY_FORW, hopCount: 0, linkAddress: bytes('fd77:0:0:9::1'), peerAddress: bytes(peer), options, inner: SOLICIT });
  assert.equal(respond6(mk('fd77:0:0:9::1234'), 'dhcp6', 'fd77:0:0:9::1', CTX, d).kind === 'drop', true, 'no MAC anywhere');
  const o = respond6(mk('fd77:0:0:9::1234', [{ code: 79, data: Uint8Array.from([0, 1, 0x52, 0x54, 0, 0x65, 0, 2]) }]), 'dhcp6', 'fd77:0:0:9::1', CTX, d);
  assert.ok(o.kind === 'reply' && o.facts.mac === '52:54:00:65:00:02');
  assert.equal(respond6({ ...mk('fe80::5054:ff:fe65:1'), type: MSG.RELAY_REPL } as Dhcp6Message, 'dhcp6', 'fd77:0:0:9::1', CTX, d).kind, 'drop');
  assert.equal(respond6(mk('fe80::5054:ff:fe65:1'), 'pxe6', 'fd77:0:0:9::1', CTX, d).kind, 'drop');
});
