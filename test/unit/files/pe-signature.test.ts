// peSignature reads the PE certificate table's size: synthetic images of both PE kinds, with and
// without a table; real signed and unsigned Debian binaries are in
// test/integration/secure-boot-check.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { peSignature } from '../../../src/files/pe-signature.ts';

function pe(plus: boolean, certSize: number, extra = ''): Uint8Array {
  const b = new Uint8Array(1024);
  const v = new DataView(b.buffer);
  b[0] = 0x4d; b[1] = 0x5a;
  v.setUint32(0x3c, 0x80, true);
  v.setUint32(0x80, 0x00004550, true);
  const opt = 0x80 + 24;
  v.setUint16(opt, plus ? 0x20b : 0x10b, true);
  const dirs = opt + (plus ? 112 : 96);
  v.setUint32(dirs - 4, 16, true);
  v.setUint32(dirs + 4 * 8 + 4, certSize, true);
  b.set(new TextEncoder().encode(extra), 700);
  return b;
}

test('a certificate table means signed, for PE32 and PE32+', () => {
  assert.deepEqual(peSignature(pe(true, 0x2000)), { kind: 'pe', signed: true, ipxe: false });
  assert.deepEqual(peSignature(pe(false, 0x100)), { kind: 'pe', signed: true, ipxe: false });
  assert.deepEqual(peSignature(pe(true, 0)), { kind: 'pe', signed: false, ipxe: false });
});

test('an iPXE build is recognised by its name inside', () => {
  assert.deepEqual(peSignature(pe(true, 0, 'iPXE 1.0.0+git')), { kind: 'pe', signed: false, ipxe: true });
});

test('not a PE image: pxelinux.0, a truncated header, a wrong magic', () => {
  assert.deepEqual(peSignature(new Uint8Array([0xfa, 0xea, 0x00])), { kind: 'not-pe' });
  assert.deepEqual(peSignature(pe(true, 0).subarray(0, 0x90)), { kind: 'not-pe' });
  const bad = pe(true, 0);
  bad[0x80 + 24] = 0x07;
  assert.deepEqual(peSignature(bad), { kind: 'not-pe' });
});
