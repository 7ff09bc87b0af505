import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientFacts, parseUserClass } from '../../../src/dhcp/facts.ts';
import type { DhcpPacket } from '../../../src/dhcp/packet.ts';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

function pkt(options: [number, number[]][], over: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 42,
    secs: 3,
    flags: 0,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: new Uint8Array([0x00, 0x1b, 0x21, 0xAB, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    sname: '',
    file: '',
    options: options.map(([code, data]) => ({ code, data: new Uint8Array(data) })),
    ...over,
  };
}

test('plain BOOTP request: no options gives empty facts, lowercase MAC', () => {
  const f = clientFacts(pkt([]));
  assert.equal(f.mac, '00:1b:21:ab:cd:ef');
  assert.equal(f.messageType, undefined);
  assert.equal(f.arch, undefined);
  assert.equal(f.firmware, 'unknown');
  assert.equal(f.uuid, undefined);
  assert.equal(f.vendorClass, undefined);
  assert.deepEqual(f.userClass, []);
  assert.equal(f.pxeClient, false);
  assert.equal(f.isIpxe, false);
  assert.equal(f.secs, 3);
  assert.equal(f.xid, 42);
});

test('arch: option 93 wins over option 60; first entry of a list', () => {
  const f = clientFacts(pkt([[93, [0, 11, 0, 7]], [60, ascii('PXEClient:Arch:00007:UNDI:003000')]]));
  assert.equal(f.arch, 11);
  assert.equal(f.firmware, 'efi-arm64');
});

test('arch: falls back to Arch:NNNNN of option 60 (also for HTTPClient)', () => {
  const f = clientFacts(pkt([[60, ascii('HTTPClient:Arch:00016:UNDI:003000')]]));
  assert.equal(f.arch, 16);
  assert.equal(f.firmware, 'efi-x64-http');
  assert.equal(f.httpClient, true);
  assert.equal(f.pxeClient, false);
});

test('arch: a malformed option 93 is ignored in favour of option 60', () => {
  assert.equal(clientFacts(pkt([[93, [7]], [60, ascii('PXEClient:Arch:00009:UNDI:003010')]])).arch, 9);
  assert.equal(clientFacts(pkt([[93, []]])).arch, undefined);
  assert.equal(clientFacts(pkt([[60, ascii('PXEClient:Arch:99999:UNDI:003010')]])).arch, undefined);
  assert.equal(clientFacts(pkt([[60, ascii('PXEClient:Arch:7:UNDI:003010')]])).arch, undefined);
});

test('uuid needs type 0 and exactly 16 bytes', () => {
  const id = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
  const f = clientFacts(pkt([[97, [0, ...id]]]));
  assert.equal(f.uuid, '00112233-4455-6677-8899-aabbccddeeff');
  assert.equal(f.uuidSwapped, '33221100-5544-7766-8899-aabbccddeeff');
  assert.equal(clientFacts(pkt([[97, [1, ...id]]])).uuid, undefined);
  assert.equal(clientFacts(pkt([[97, [0, ...id.slice(1)]]])).uuid, undefined);
  assert.equal(clientFacts(pkt([[97, [0, ...id, 0]]])).uuidSwapped, undefined);
});

test('user class: RFC 3004 list, bare iPXE string, and junk', () => {
  assert.deepEqual(parseUserClass(new Uint8Array([4, ...ascii('iPXE'), 3, ...ascii('foo')])), ['iPXE', 'foo']);
  assert.deepEqual(parseUserClass(new Uint8Array(ascii('iPXE'))), ['iPXE']);
  assert.deepEqual(parseUserClass(new Uint8Array([0, 1])), ['\u0000\u0001']);
  assert.deepEqual(parseUserClass(new Uint8Array([5, 0x41])), ['\u0005A']);
  // RFC 3004 entries are at least one byte long, so a zero length means "not a list".
  assert.deepEqual(parseUserClass(new Uint8Array([3, ...ascii('abc'), 0])), ['\u0003abc']);
  assert.deepEqual(parseUserClass(new Uint8Array([])), []);
});

test('isIpxe from user class (either form) or from option 175', () => {
  assert.equal(clientFacts(pkt([[77, ascii('iPXE')]])).isIpxe, true);
  assert.equal(clientFacts(pkt([[77, [4, ...ascii('iPXE')]]])).isIpxe, true);
  assert.equal(clientFacts(pkt([[175, [0x13, 1, 1, 255]]])).isIpxe, true);
  assert.equal(clientFacts(pkt([[77, ascii('gPXE')]])).isIpxe, false);
  assert.equal(clientFacts(pkt([[77, ascii('iPXE-ish')]])).isIpxe, false);
});

test('boot item from option 43 sub-option 71 (boot server request on 4011)', () => {
  const f = clientFacts(pkt([[53, [3]], [43, [71, 4, 0x80, 0x00, 0x00, 0x00, 255]]]));
  assert.equal(f.messageType, 3);
  assert.deepEqual(f.bootItem, { type: 0x8000, layer: 0 });
  assert.equal(clientFacts(pkt([[43, [71, 2, 0, 1, 255]]])).bootItem, undefined);
  assert.equal(clientFacts(pkt([[43, [71, 9]]])).bootItem, undefined);
});

test('relay, broadcast, ciaddr, undi and max message size', () => {
  const f = clientFacts(pkt([[94, [1, 3, 16]], [57, [0x02, 0x40]]], { giaddr: '10.9.0.1', flags: 0x8000, ciaddr: '10.9.0.50' }));
  assert.equal(f.relayed, true);
  assert.equal(f.giaddr, '10.9.0.1');
  assert.equal(f.broadcast, true);
  assert.equal(f.ciaddr, '10.9.0.50');
  assert.deepEqual(f.undi, { type: 1, major: 3, minor: 16 });
  assert.equal(f.maxMessageSize, 576);
  const g = clientFacts(pkt([[94, [1, 3]], [57, [1]], [53, [1, 2]]]));
  assert.equal(g.undi, undefined);
  assert.equal(g.maxMessageSize, undefined);
  assert.equal(g.messageType, undefined);
  assert.equal(g.relayed, false);
});

test('vendor class is text with trailing NULs dropped', () => {
  const f = clientFacts(pkt([[60, [...ascii('PXEClient'), 0]]]));
  assert.equal(f.vendorClass, 'PXEClient');
  assert.equal(f.pxeClient, true);
});

test('hostname (12) and requested address (50) are facts only when sent, for the operator\'s view', () => {
  const f = clientFacts(pkt([[53, [3]], [60, ascii('PXEClient')], [12, ascii('lab-7')], [50, [10, 0, 0, 7]]]));
  assert.equal(f.hostname, 'lab-7');
  assert.equal(f.requestedAddress, '10.0.0.7');
  const none = clientFacts(pkt([[53, [1]], [50, [10, 0, 0]]]));
  assert.equal('hostname' in none, false);
  assert.equal('requestedAddress' in none, false, 'a 3-byte option 50 is no address');
});
