import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodeAck,
  encodeData,
  encodeDataHeader,
  encodeError,
  encodeOack,
  encodeRequest,
  parsePacket,
} from '../../../src/tftp/packet.ts';

const bytes = (...xs: number[]) => new Uint8Array(xs);
const ascii = (s: string) => new TextEncoder().encode(s);

test('RRQ with RFC 2347 options round-trips, option names lower-cased', () => {
  const wire = encodeRequest('RRQ', 'pxelinux.cfg/01-aa-bb', 'octet', [
    ['TSIZE', '0'],
    ['blksize', '1468'],
    ['windowsize', '4'],
  ]);
  const r = parsePacket(wire);
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    op: 'RRQ',
    filename: 'pxelinux.cfg/01-aa-bb',
    mode: 'octet',
    options: [
      ['tsize', '0'],
      ['blksize', '1468'],
      ['windowsize', '4'],
    ],
  });
});

test('mode is case-insensitive; WRQ parses as WRQ', () => {
  const r = parsePacket(concat(bytes(0, 2), ascii('f\x00NetASCII\x00')));
  assert.ok(r.ok && r.value.op === 'WRQ' && r.value.mode === 'netascii');
});

test('requests padded with NULs or a dangling option name are tolerated', () => {
  const r = parsePacket(concat(bytes(0, 1), ascii('a\x00octet\x00blksize\x00512\x00\x00\x00\x00')));
  assert.ok(r.ok && r.value.op === 'RRQ');
  assert.deepEqual(r.value.options, [['blksize', '512']]);
  const d = parsePacket(concat(bytes(0, 1), ascii('a\x00octet\x00tsize\x00')));
  assert.ok(d.ok && d.value.op === 'RRQ' && d.value.options.length === 0);
});

test('malformed requests give reasons, not exceptions', () => {
  for (const [buf, re] of [
    [bytes(0), /shorter/],
    [bytes(0, 1), /NUL-terminated/],
    [concat(bytes(0, 1), ascii('file')), /NUL-terminated/],
    [concat(bytes(0, 1), ascii('file\x00octet')), /NUL-terminated/],
    [concat(bytes(0, 1), ascii('\x00octet\x00')), /empty filename/],
    [concat(bytes(0, 1), ascii('f\x00binary\x00')), /unknown mode/],
    [bytes(0, 9, 1, 2), /unknown opcode 9/],
    [bytes(0, 4, 1), /ACK shorter/],
  ] as const) {
    const r = parsePacket(buf);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.reason, re);
  }
});

test('DATA, ACK, ERROR, OACK encode and parse', () => {
  const d = parsePacket(encodeData(65535, bytes(1, 2, 3)));
  assert.ok(d.ok && d.value.op === 'DATA');
  assert.equal(d.value.block, 65535);
  assert.deepEqual([...d.value.data], [1, 2, 3]);
  assert.deepEqual([...encodeDataHeader(258)], [0, 3, 1, 2]);
  const a = parsePacket(encodeAck(0x1234));
  assert.ok(a.ok && a.value.op === 'ACK' && a.value.block === 0x1234);
  const e = parsePacket(encodeError(1, 'File not found'));
  assert.ok(e.ok && e.value.op === 'ERROR');
  assert.deepEqual(e.value, { op: 'ERROR', code: 1, message: 'File not found' });
  const o = parsePacket(encodeOack([['tsize', '42'], ['blksize', '1468']]));
  assert.ok(o.ok && o.value.op === 'OACK');
  assert.deepEqual(o.value.options, [['tsize', '42'], ['blksize', '1468']]);
});

test('an ERROR without its NUL terminator still parses', () => {
  const r = parsePacket(concat(bytes(0, 5, 0, 8), ascii('User aborted the transfer')));
  assert.ok(r.ok && r.value.op === 'ERROR');
  assert.equal(r.value.message, 'User aborted the transfer');
  assert.equal(r.value.code, 8);
});

test('property: parser never throws on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (buf) => {
      const r = parsePacket(buf);
      assert.equal(typeof r.ok, 'boolean');
    }),
    { numRuns: 2000 },
  );
});

test('property: requests round-trip', () => {
  const name = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\x00'));
  const opt = fc.tuple(
    fc.constantFrom('blksize', 'tsize', 'timeout', 'windowsize', 'x-other'),
    fc.string({ maxLength: 8 }).filter((s) => !s.includes('\x00') && s.length > 0),
  );
  fc.assert(
    fc.property(name, fc.constantFrom('octet', 'netascii'), fc.array(opt, { maxLength: 5 }), (f, mode, options) => {
      const r = parsePacket(encodeRequest('RRQ', f, mode, options));
      assert.ok(r.ok && r.value.op === 'RRQ');
      assert.equal(r.value.filename, f);
      assert.deepEqual(r.value.options, options);
    }),
  );
});

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
