// DISCOVERs laid out byte for byte as /work/shared/FIRMWARE.md describes them, plus a hook for
// real captures: every test/fixtures/firmware/*.bin (one raw UDP payload each) must parse and
// round-trip, and if <name>.facts.json sits beside it its fields must match clientFacts().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { clientFacts } from '../../../src/dhcp/facts.ts';
import { decodeIpxeOptions, IpxeSub } from '../../../src/dhcp/pxe.ts';

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
// QEMU -uuid 8b3e8a52-7c2a-4f36-9a1b-5d6c7e8f9012, as the 16 bytes that follow type 0 in 97.
const UUID = [0x8b, 0x3e, 0x8a, 0x52, 0x7c, 0x2a, 0x4f, 0x36, 0x9a, 0x1b, 0x5d, 0x6c, 0x7e, 0x8f, 0x90, 0x12];

function bootpHeader(xid: number, flags: number): number[] {
  const h = new Array<number>(236).fill(0);
  h[0] = 1; // BOOTREQUEST
  h[1] = 1; // Ethernet
  h[2] = 6;
  h[4] = xid >>> 24;
  h[5] = (xid >>> 16) & 255;
  h[6] = (xid >>> 8) & 255;
  h[7] = xid & 255;
  h[10] = flags >>> 8;
  h[11] = flags & 255;
  for (let i = 0; i < 6; i++) h[28 + i] = MAC[i]!;
  return h;
}

const COOKIE = [0x63, 0x82, 0x53, 0x63];

/** SeaBIOS + iPXE ROM (ipxe-qemu 2019) on virtio-net: not padded to 300. */
function ipxeBiosDiscover(): Uint8Array {
  return new Uint8Array([
    ...bootpHeader(0x1a2b3c4d, 0x0000),
    ...COOKIE,
    53, 1, 1,
    57, 2, 0x05, 0xc0,
    93, 2, 0x00, 0x00,
    94, 3, 1, 2, 1,
    60, 32, ...ascii('PXEClient:Arch:00000:UNDI:002001'),
    77, 4, ...ascii('iPXE'),
    55, 23, 1, 3, 6, 7, 12, 15, 17, 26, 43, 60, 66, 67, 119, 128, 129, 130, 131, 132, 133, 134, 135, 175, 203,
    175, 42,
      0x13, 1, 1, // HTTP
      0x15, 1, 1, // TFTP
      0x17, 1, 1, // DNS
      0x18, 1, 1, // bzImage
      0x19, 1, 1, // Multiboot
      0x21, 1, 1, // PXE
      0x22, 1, 1, // ELF
      0x23, 1, 1, // COMBOOT
      0x27, 1, 1, // menu
      0x10, 1, 2, // PXE extensions
      0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00, // bus id: PCI 1af4:1000
      0xeb, 3, 1, 0, 0, // version 1.0.0
    61, 7, 1, ...MAC,
    97, 17, 0, ...UUID,
    255,
  ]);
}

/** OVMF 2022.11 PxeBcDxe on VirtioNetDxe: broadcast flag, no 61/77, padded to 300. */
function ovmfDiscover(): Uint8Array {
  const bytes = [
    ...bootpHeader(0x5e6f7a8b, 0x8000),
    ...COOKIE,
    53, 1, 1,
    57, 2, 0x05, 0xc0,
    55, 35, 1, 2, 3, 4, 5, 6, 12, 13, 15, 17, 18, 22, 23, 28, 40, 41, 42, 43, 50, 51, 54, 58, 59, 60, 66, 67, 97,
      128, 129, 130, 131, 132, 133, 134, 135,
    97, 17, 0, ...UUID,
    94, 3, 1, 3, 0,
    93, 2, 0x00, 0x07,
    60, 32, ...ascii('PXEClient:Arch:00007:UNDI:003000'),
    255,
  ];
  while (bytes.length < 300) bytes.push(0);
  return new Uint8Array(bytes);
}

function mustParse(b: Uint8Array): DhcpPacket {
  const r = parseDhcp(b);
  if (!r.ok) assert.fail(`parse failed: ${r.reason} ${r.detail}`);
  return r.packet;
}

test('iPXE BIOS DISCOVER: header and options in wire order', () => {
  const p = mustParse(ipxeBiosDiscover());
  assert.equal(p.op, 1);
  assert.equal(p.xid, 0x1a2b3c4d);
  assert.equal(p.flags, 0);
  assert.equal(p.ciaddr, '0.0.0.0');
  assert.deepEqual([...p.chaddr], [...MAC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(
    p.options.map((o) => o.code),
    [53, 57, 93, 94, 60, 77, 55, 175, 61, 97],
  );
  assert.equal(p.file, '');
  assert.equal(p.sname, '');
});

test('iPXE BIOS DISCOVER: client facts', () => {
  const f = clientFacts(mustParse(ipxeBiosDiscover()));
  assert.deepEqual(f, {
    mac: '52:54:00:12:34:56',
    xid: 0x1a2b3c4d,
    messageType: 1,
    arch: 0,
    firmware: 'bios',
    undi: { type: 1, major: 2, minor: 1 },
    uuid: '8b3e8a52-7c2a-4f36-9a1b-5d6c7e8f9012',
    uuidSwapped: '528a3e8b-2a7c-364f-9a1b-5d6c7e8f9012',
    vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
    userClass: ['iPXE'],
    pxeClient: true,
    httpClient: false,
    isIpxe: true,
    relayed: false,
    giaddr: '0.0.0.0',
    ciaddr: '0.0.0.0',
    secs: 0,
    broadcast: false,
    bootItem: undefined,
    maxMessageSize: 1472,
  });
});

test('iPXE BIOS DISCOVER: option 175 decodes to feature markers, bus id and version', () => {
  const p = mustParse(ipxeBiosDiscover());
  const o175 = p.options.find((o) => o.code === 175)!;
  const r = decodeIpxeOptions(o175.data);
  assert.ok(r.ok);
  assert.deepEqual([...r.value.get(IpxeSub.BusId)!], [1, 0x1a, 0xf4, 0x10, 0x00]);
  assert.deepEqual([...r.value.get(IpxeSub.Version)!], [1, 0, 0]);
  assert.deepEqual([...r.value.get(IpxeSub.FeatureHttp)!], [1]);
  assert.equal(r.value.size, 12);
});

test('OVMF DISCOVER: client facts', () => {
  const f = clientFacts(mustParse(ovmfDiscover()));
  assert.equal(f.mac, '52:54:00:12:34:56');
  assert.equal(f.messageType, 1);
  assert.equal(f.arch, 7);
  assert.equal(f.firmware, 'efi-x64');
  assert.deepEqual(f.undi, { type: 1, major: 3, minor: 0 });
  assert.equal(f.uuid, '8b3e8a52-7c2a-4f36-9a1b-5d6c7e8f9012');
  assert.equal(f.vendorClass, 'PXEClient:Arch:00007:UNDI:003000');
  assert.deepEqual(f.userClass, []);
  assert.equal(f.pxeClient, true);
  assert.equal(f.isIpxe, false);
  assert.equal(f.broadcast, true);
  assert.equal(f.maxMessageSize, 1472);
});

test('OVMF DISCOVER: parameter request list survives intact', () => {
  const p = mustParse(ovmfDiscover());
  const prl = p.options.find((o) => o.code === 55)!.data;
  assert.equal(prl.length, 35);
  for (const want of [43, 60, 66, 67, 97, 128, 135]) assert.ok(prl.includes(want), `55 lacks ${want}`);
});

for (const [name, make] of [['iPXE BIOS', ipxeBiosDiscover], ['OVMF', ovmfDiscover]] as const) {
  test(`${name} DISCOVER: parse → serialize → parse keeps content, and the bytes up to end`, () => {
    const wire = make();
    const p = mustParse(wire);
    const again = serializeDhcp(p);
    assert.deepEqual(mustParse(again), p);
    // Nothing was padded inside the option area, so the encoding is byte-identical.
    const end = wire.lastIndexOf(255);
    assert.deepEqual(again.subarray(0, end + 1), wire.subarray(0, end + 1));
    assert.equal(again.length, Math.max(300, end + 1));
  });
}

const FIXTURES = join(import.meta.dirname, '../../fixtures/firmware');
// Raw payloads (.bin) or hex text (.hex, as extracted from lab captures); TFTP packets (rrq,
// error) have their own test.
const captures = existsSync(FIXTURES) ? readdirSync(FIXTURES).filter((n) => /\.(bin|hex)$/.test(n) && !/-(rrq|error)/.test(n)) : [];

function loadFixture(name: string): Uint8Array {
  const raw = readFileSync(join(FIXTURES, name));
  return new Uint8Array(name.endsWith('.hex') ? Buffer.from(raw.toString('utf8').replace(/[^0-9a-f]/gi, ''), 'hex') : raw);
}

test('captured firmware packets parse, round-trip and match recorded facts', () => {
  assert.ok(captures.length >= 10, `real captures present (${captures.length})`);
  for (const name of captures) {
    const r = parseDhcp(loadFixture(name));
    if (!r.ok) assert.fail(`${name}: ${r.reason} ${r.detail}`);
    const again = parseDhcp(serializeDhcp(r.packet));
    assert.ok(again.ok, name);
    assert.deepEqual(again.packet, r.packet, name);
    const factsFile = join(FIXTURES, name.replace(/\.(bin|hex)$/, '.facts.json'));
    if (existsSync(factsFile)) {
      const want = JSON.parse(readFileSync(factsFile, 'utf8')) as Record<string, unknown>;
      const got = clientFacts(r.packet) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k], v, `${name}: ${k}`);
    }
  }
});
