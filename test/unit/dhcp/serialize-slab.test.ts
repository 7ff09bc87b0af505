// serializeDhcp hands out views of a shared slab: each packet has bytes of its own (no overlap,
// unwritten bytes zero), earlier packets do not change when later ones are encoded, a packet that
// failed to encode leaves nothing behind, and large packets get a buffer of their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDhcp, serializeDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';

const pkt = (xid: number, file: string, options: DhcpPacket['options'] = []): DhcpPacket => ({
  op: 2, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '10.0.0.1', giaddr: '0.0.0.0',
  chaddr: new Uint8Array(16).fill(xid & 0xff), sname: '', file, options: [{ code: 53, data: new Uint8Array([2]) }, ...options],
});

test('many packets: each decodes as encoded, none changes when later ones are written', () => {
  const out: Uint8Array[] = [];
  // more than one slab's worth (16 KiB / 300 bytes ≈ 54)
  for (let i = 0; i < 200; i++) out.push(serializeDhcp(pkt(i, `f${i}`, [{ code: 60, data: new Uint8Array(i % 40).fill(65) }])));
  const copies = out.map((b) => Uint8Array.from(b));
  for (let i = 0; i < 50; i++) serializeDhcp(pkt(1000 + i, 'x'.repeat(100)));
  for (let i = 0; i < out.length; i++) {
    assert.deepEqual(out[i], copies[i]);
    const r = parseDhcp(out[i]!);
    assert.ok(r.ok);
    assert.equal(r.packet.xid, i);
    assert.equal(r.packet.file, `f${i}`);
    assert.equal(out[i]!.length >= 300, true, 'padded to the BOOTP minimum');
  }
  for (let i = 1; i < out.length; i++) {
    const a = out[i - 1]!;
    const b = out[i]!;
    if (a.buffer === b.buffer) assert.ok(a.byteOffset + a.byteLength <= b.byteOffset, 'views do not overlap');
  }
});

test('bytes never written are zero, also after a packet that failed half way', () => {
  assert.throws(() => serializeDhcp({ ...pkt(1, 'f'.repeat(50)), siaddr: 'not an address' }), RangeError);
  const b = serializeDhcp(pkt(2, ''));
  const r = parseDhcp(b);
  assert.ok(r.ok);
  assert.equal(r.packet.file, '');
  assert.equal(r.packet.sname, '');
  // after the end option everything is pad
  const end = b.indexOf(255, 240);
  assert.ok(end > 240);
  assert.ok(b.subarray(end + 1).every((x) => x === 0));
});

test('a large packet gets a buffer of its own', () => {
  const big = serializeDhcp(pkt(3, 'f', [{ code: 43, data: new Uint8Array(250).fill(1) }, { code: 60, data: new Uint8Array(250).fill(2) }, { code: 77, data: new Uint8Array(250).fill(3) }, { code: 125, data: new Uint8Array(250).fill(3) }, { code: 124, data: new Uint8Array(250).fill(3) }, { code: 81, data: new Uint8Array(250).fill(3) }, { code: 82, data: new Uint8Array(250).fill(3) }, { code: 90, data: new Uint8Array(250).fill(3) }, { code: 91, data: new Uint8Array(250).fill(3) }, { code: 92, data: new Uint8Array(250).fill(3) }, { code: 93, data: new Uint8Array(250).fill(3) }, { code: 94, data: new Uint8Array(250).fill(3) }, { code: 95, data: new Uint8Array(250).fill(3) }, { code: 96, data: new Uint8Array(250).fill(3) }, { code: 97, data: new Uint8Array(250).fill(3) }, { code: 98, data: new Uint8Array(250).fill(3) }, { code: 99, data: new Uint8Array(250).fill(3) }]));
  assert.ok(big.length > 4096);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, big.length);
  assert.ok(parseDhcp(big).ok);
});
