import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeIpxeOptions,
  decodePxeOptions,
  DiscoveryControl,
  encodeIpxeOptions,
  encodePxeOptions,
  firmwareForArch,
  ipxePriority,
  type PxeVendorOptions,
} from '../../../src/dhcp/pxe.ts';
import {
  decodeIp,
  decodeIpList,
  decodeRelayAgentInfo,
  decodeString,
  decodeU16,
  decodeU32,
  decodeU8,
  encodeIp,
  encodeIpList,
  encodeRelayAgentInfo,
  encodeString,
  encodeU16,
  encodeU32,
  encodeU8,
  messageTypeName,
  Opt,
  optionName,
} from '../../../src/dhcp/options.ts';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

const MENU: PxeVendorOptions = {
  discoveryControl: DiscoveryControl.NoBroadcast | DiscoveryControl.NoMulticast | DiscoveryControl.OnlyListedServers,
  bootServers: [{ type: 0x8000, ips: ['10.0.0.2', '10.0.0.3'] }],
  bootMenu: [{ type: 0x8000, description: 'pxepool' }],
  menuPrompt: { timeout: 0, prompt: 'PXE' },
};

test('option 43 menu encodes to the PXE 2.1 layout', () => {
  assert.deepEqual([...encodePxeOptions(MENU)], [
    6, 1, 7,
    8, 11, 0x80, 0x00, 2, 10, 0, 0, 2, 10, 0, 0, 3,
    9, 10, 0x80, 0x00, 7, ...ascii('pxepool'),
    10, 4, 0, ...ascii('PXE'),
    255,
  ]);
});

test('option 43 decode inverts encode', () => {
  const r = decodePxeOptions(encodePxeOptions(MENU));
  assert.ok(r.ok);
  assert.deepEqual(r.value, MENU);
});

test('option 43 boot item (71) and multicast address (7) round-trip', () => {
  const v: PxeVendorOptions = { multicastAddress: '224.0.1.2', bootItem: { type: 0x8000, layer: 0x8001 } };
  const wire = encodePxeOptions(v);
  assert.deepEqual([...wire], [7, 4, 224, 0, 1, 2, 71, 4, 0x80, 0x00, 0x80, 0x01, 255]);
  const r = decodePxeOptions(wire);
  assert.ok(r.ok);
  assert.deepEqual(r.value, v);
});

test('option 43 keeps unknown sub-options and skips pad', () => {
  const r = decodePxeOptions(new Uint8Array([0, 1, 1, 5, 0, 71, 4, 0, 1, 0, 0, 255, 6, 1, 8]));
  assert.ok(r.ok);
  assert.deepEqual(r.value.bootItem, { type: 1, layer: 0 });
  assert.equal(r.value.other?.length, 1);
  assert.deepEqual([...r.value.other![0]!.data], [5]);
  assert.equal(r.value.discoveryControl, undefined, 'content after end must be ignored');
});

test('option 43 decode gives a reason for malformed input', () => {
  const cases: [number[], string][] = [
    [[6], 'sub-option-overrun'],
    [[6, 2, 1], 'sub-option-overrun'],
    [[6, 2, 1, 1], 'bad-pxe-suboption'],
    [[71, 3, 0, 0, 0], 'bad-pxe-suboption'],
    [[8, 3, 0, 1, 1], 'bad-pxe-suboption'],
    [[8, 2, 0, 1], 'bad-pxe-suboption'],
    [[9, 4, 0, 1, 5, 0x41], 'bad-pxe-suboption'],
    [[10, 0], 'bad-pxe-suboption'],
    [[7, 3, 1, 2, 3], 'bad-pxe-suboption'],
  ];
  for (const [bytes, want] of cases) {
    const r = decodePxeOptions(new Uint8Array(bytes));
    assert.equal(r.ok ? 'ok' : r.reason, want, JSON.stringify(bytes));
  }
});

test('option 43 encode refuses values it cannot represent', () => {
  assert.throws(() => encodePxeOptions({ bootMenu: [{ type: 1, description: 'x'.repeat(256) }] }), RangeError);
  assert.throws(() => encodePxeOptions({ bootMenu: Array.from({ length: 30 }, () => ({ type: 1, description: 'x'.repeat(8) })) }), RangeError);
  assert.throws(() => encodePxeOptions({ bootItem: { type: 65536, layer: 0 } }), RangeError);
  assert.throws(() => encodePxeOptions({ discoveryControl: 256 }), RangeError);
  assert.throws(() => encodePxeOptions({ bootServers: [{ type: 1, ips: ['nope'] }] }), RangeError);
  // 0 and 255 are pad and end inside 43, so they cannot name a sub-option.
  assert.throws(() => encodePxeOptions({ other: [{ code: 255, data: new Uint8Array([1]) }] }), RangeError);
  assert.throws(() => encodePxeOptions({ other: [{ code: 0, data: new Uint8Array([1]) }] }), RangeError);
});

test('empty option 43 encodes to just the end byte', () => {
  assert.deepEqual([...encodePxeOptions({})], [255]);
});

test('iPXE 175: priority is a signed byte, no-pxedhcp is sub-option 176', () => {
  assert.deepEqual([...encodeIpxeOptions({ priority: -1, noPxeDhcp: true })], [1, 1, 0xff, 176, 1, 1, 255]);
  assert.deepEqual([...encodeIpxeOptions({ priority: 127 })], [1, 1, 127, 255]);
  assert.throws(() => encodeIpxeOptions({ priority: 128 }), RangeError);
  assert.throws(() => encodeIpxeOptions({ priority: -129 }), RangeError);
  const r = decodeIpxeOptions(encodeIpxeOptions({ priority: -5 }));
  assert.ok(r.ok);
  assert.equal(ipxePriority(r.value), -5);
  const none = decodeIpxeOptions(new Uint8Array([255]));
  assert.ok(none.ok);
  assert.equal(ipxePriority(none.value), 0);
  const bad = decodeIpxeOptions(new Uint8Array([1, 2, 0]));
  assert.equal(bad.ok, false);
});

test('RFC 4578 arch → firmware', () => {
  const want: [number | undefined, string][] = [
    [0, 'bios'],
    [6, 'efi-ia32'],
    [7, 'efi-x64'],
    [9, 'efi-x64'],
    [10, 'unknown'],
    [11, 'efi-arm64'],
    [15, 'efi-x64-http'],
    [16, 'efi-x64-http'],
    [18, 'efi-x64-http'],
    [19, 'efi-arm64-http'],
    [2, 'unknown'],
    [27, 'unknown'],
    [0xffff, 'unknown'],
    [undefined, 'unknown'],
  ];
  for (const [arch, fw] of want) assert.equal(firmwareForArch(arch), fw, `arch ${arch}`);
});

test('option value codecs decode what they encode and reject wrong lengths', () => {
  assert.equal(decodeU8(encodeU8(200)), 200);
  assert.equal(decodeU16(encodeU16(1472)), 1472);
  assert.equal(decodeU32(encodeU32(0xfffffffe)), 0xfffffffe);
  assert.equal(decodeIp(encodeIp('10.1.2.3')), '10.1.2.3');
  assert.deepEqual(decodeIpList(encodeIpList(['1.1.1.1', '8.8.8.8'])), ['1.1.1.1', '8.8.8.8']);
  assert.equal(decodeString(encodeString('PXEClient')), 'PXEClient');
  assert.equal(decodeU8(new Uint8Array(2)), undefined);
  assert.equal(decodeU16(new Uint8Array(3)), undefined);
  assert.equal(decodeU32(new Uint8Array(3)), undefined);
  assert.equal(decodeIp(new Uint8Array(5)), undefined);
  assert.equal(decodeIpList(new Uint8Array(0)), undefined);
  assert.equal(decodeIpList(new Uint8Array(6)), undefined);
  assert.equal(decodeU8(undefined), undefined);
  assert.throws(() => encodeU8(256), RangeError);
  assert.throws(() => encodeU16(-1), RangeError);
  assert.throws(() => encodeU32(1.5), RangeError);
  assert.throws(() => encodeString('\u20ac'), RangeError);
});

test('decodeString drops trailing NULs only', () => {
  assert.equal(decodeString(new Uint8Array([0x41, 0, 0x42, 0, 0])), 'A\u0000B');
});

test('option 82 sub-options keep order and have no pad/end', () => {
  const subs = [
    { code: 1, data: new Uint8Array(ascii('eth0/1')) },
    { code: 2, data: new Uint8Array([0, 1, 2]) },
    { code: 0, data: new Uint8Array([]) },
  ];
  const wire = encodeRelayAgentInfo(subs);
  assert.deepEqual([...wire], [1, 6, ...ascii('eth0/1'), 2, 3, 0, 1, 2, 0, 0]);
  const r = decodeRelayAgentInfo(wire);
  assert.ok(r.ok);
  assert.deepEqual(r.value.map((s) => [s.code, [...s.data]]), subs.map((s) => [s.code, [...s.data]]));
  const bad = decodeRelayAgentInfo(new Uint8Array([1, 4, 0]));
  assert.equal(bad.ok ? '' : bad.reason, 'sub-option-overrun');
});

test('names for logs', () => {
  assert.equal(Opt.ClientArch, 93);
  assert.equal(optionName(93), 'ClientArch');
  assert.equal(optionName(224), 'option-224');
  assert.equal(messageTypeName(1), 'DISCOVER');
  assert.equal(messageTypeName(undefined), 'BOOTP');
  assert.equal(messageTypeName(99), 'TYPE-99');
});
