import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bytesToIp,
  deleteOption,
  getOption,
  ipToBytes,
  macOf,
  newReply,
  parseDhcp,
  parseIpv4,
  serializeDhcp,
  setOption,
  type DhcpPacket,
} from '../../../src/dhcp/packet.ts';

/** 236-byte header with a few distinguishable fields, the cookie, then `opts` verbatim. */
function raw(opts: number[], edit?: (h: Uint8Array) => void): Uint8Array {
  const b = new Uint8Array(240 + opts.length);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.set([0xde, 0xad, 0xbe, 0xef], 4);
  b.set([0x00, 0x07], 8); // secs
  b.set([0x80, 0x00], 10); // flags
  b.set([10, 0, 0, 5], 12);
  b.set([10, 0, 0, 6], 16);
  b.set([10, 0, 0, 7], 20);
  b.set([10, 0, 0, 1], 24);
  b.set([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff], 28);
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  b.set(opts, 240);
  edit?.(b);
  return b;
}

function ok(b: Uint8Array): DhcpPacket {
  const r = parseDhcp(b);
  if (!r.ok) assert.fail(`${r.reason}: ${r.detail}`);
  return r.packet;
}

function reason(b: Uint8Array): string {
  const r = parseDhcp(b);
  assert.equal(r.ok, false, 'expected a parse failure');
  return r.ok ? '' : r.reason;
}

const codes = (p: DhcpPacket) => p.options.map((o) => o.code);
const bytes = (p: DhcpPacket, code: number) => [...(getOption(p, code) ?? [])];

test('fixed header fields', () => {
  const p = ok(raw([53, 1, 3, 255], (h) => {
    h[3] = 2;
    h.set([...Buffer.from('boot-srv')], 44);
    h.set([...Buffer.from('pxelinux.0')], 108);
  }));
  assert.equal(p.op, 1);
  assert.equal(p.htype, 1);
  assert.equal(p.hlen, 6);
  assert.equal(p.hops, 2);
  assert.equal(p.xid, 0xdeadbeef);
  assert.equal(p.secs, 7);
  assert.equal(p.flags, 0x8000);
  assert.equal(p.ciaddr, '10.0.0.5');
  assert.equal(p.yiaddr, '10.0.0.6');
  assert.equal(p.siaddr, '10.0.0.7');
  assert.equal(p.giaddr, '10.0.0.1');
  assert.equal(p.sname, 'boot-srv');
  assert.equal(p.file, 'pxelinux.0');
  assert.equal(p.chaddr.length, 16);
  assert.equal(macOf(p), 'aa:bb:cc:dd:ee:ff');
});

test('sname/file without a NUL fill the whole field; bytes are read as Latin-1', () => {
  const p = ok(raw([255], (h) => {
    h.fill(0x61, 108, 236);
    h[44] = 0xe9;
  }));
  assert.equal(p.file, 'a'.repeat(128));
  assert.equal(p.sname, '\u00e9');
  const again = ok(serializeDhcp(p));
  assert.equal(again.file, p.file);
  assert.equal(again.sname, p.sname);
});

test('pad options are skipped, end stops the scan, a missing end is tolerated', () => {
  assert.deepEqual(codes(ok(raw([0, 0, 53, 1, 1, 0, 255, 60, 1, 0x41]))), [53]);
  assert.deepEqual(codes(ok(raw([53, 1, 1, 60, 1, 0x41]))), [53, 60]);
  assert.deepEqual(codes(ok(raw([]))), []);
});

test('unknown and zero-length options are kept and re-encoded', () => {
  const p = ok(raw([224, 3, 1, 2, 3, 80, 0, 255]));
  assert.deepEqual(codes(p), [224, 80]);
  assert.deepEqual(bytes(p, 224), [1, 2, 3]);
  assert.deepEqual(bytes(p, 80), []);
  const wire = serializeDhcp(p);
  assert.deepEqual([...wire.subarray(240, 248)], [224, 3, 1, 2, 3, 80, 0, 255]);
});

test('failure reasons', () => {
  assert.equal(reason(new Uint8Array(0)), 'too-short');
  assert.equal(reason(raw([]).subarray(0, 239)), 'too-short');
  assert.equal(reason(raw([255], (h) => (h[0] = 3))), 'bad-op');
  assert.equal(reason(raw([255], (h) => (h[2] = 17))), 'bad-hlen');
  assert.equal(reason(raw([255], (h) => (h[239] = 0x64))), 'bad-cookie');
  assert.equal(reason(raw([53])), 'option-overrun');
  assert.equal(reason(raw([60, 5, 1, 2])), 'option-overrun');
  assert.equal(reason(raw([60, 3, 1, 2])), 'option-overrun');
  assert.equal(reason(raw([52, 1, 4, 255])), 'bad-overload');
  assert.equal(reason(raw([52, 2, 1, 1, 255])), 'bad-overload');
  assert.equal(reason(raw([52, 1, 1, 52, 1, 1, 255])), 'bad-overload');
});

test('failure carries a human detail', () => {
  const r = parseDhcp(raw([60, 5, 1, 2]));
  assert.ok(!r.ok && /option 60/.test(r.detail) && /5 bytes/.test(r.detail), JSON.stringify(r));
});

test('hlen 16 is accepted, hlen 0 gives an empty hardware address', () => {
  assert.equal(macOf(ok(raw([255], (h) => (h[2] = 16)))).split(':').length, 16);
  assert.equal(macOf(ok(raw([255], (h) => (h[2] = 0)))), '');
});

test('a repeated option is one option whose data are the pieces joined (RFC 3396)', () => {
  const p = ok(raw([43, 2, 1, 2, 53, 1, 1, 43, 3, 3, 4, 5, 43, 0, 43, 1, 6, 255]));
  assert.deepEqual(codes(p), [43, 53]);
  assert.deepEqual(bytes(p, 43), [1, 2, 3, 4, 5, 6]);
});

test('options longer than 255 bytes are split on the wire and joined back', () => {
  const big = Uint8Array.from({ length: 600 }, (_, i) => i & 255);
  const p = ok(raw([255]));
  setOption(p, 43, big);
  setOption(p, 53, new Uint8Array([2]));
  const wire = serializeDhcp(p);
  // 43/255, 43/255, 43/90, then 53.
  assert.deepEqual([wire[240], wire[241]], [43, 255]);
  assert.deepEqual([wire[240 + 257], wire[240 + 258]], [43, 255]);
  assert.deepEqual([wire[240 + 514], wire[240 + 515]], [43, 90]);
  assert.deepEqual([...wire.subarray(240 + 606, 240 + 610)], [53, 1, 2, 255]);
  const back = ok(wire);
  assert.deepEqual(bytes(back, 43), [...big]);
  assert.deepEqual(codes(back), [43, 53]);
});

test('exactly 255 and 510 bytes split into one and two pieces', () => {
  for (const [n, pieces] of [[255, 1], [256, 2], [510, 2], [511, 3]] as const) {
    const p = ok(raw([255]));
    setOption(p, 200, new Uint8Array(n).fill(7));
    const wire = serializeDhcp(p, { minSize: 0 });
    assert.equal(wire.length, 240 + n + 2 * pieces + 1, `n=${n}`);
    assert.equal(bytes(ok(wire), 200).length, n);
  }
});

test('option overload: file then sname carry options, and are then not text', () => {
  const p = ok(raw([53, 1, 5, 52, 1, 3, 255], (h) => {
    h.set([67, 10, ...Buffer.from('pxelinux.0'), 43, 2, 9, 9, 255], 108);
    h.set([66, 4, ...Buffer.from('tftp'), 43, 1, 8, 255], 44);
  }));
  assert.deepEqual(codes(p), [53, 52, 67, 43, 66]);
  assert.equal(Buffer.from(getOption(p, 67)!).toString(), 'pxelinux.0');
  assert.deepEqual(bytes(p, 43), [9, 9, 8]); // file's piece before sname's
  assert.equal(p.file, '');
  assert.equal(p.sname, '');
  const back = ok(serializeDhcp(p));
  assert.deepEqual(back, p);
});

test('overload of only file leaves sname as text', () => {
  const p = ok(raw([52, 1, 1, 255], (h) => {
    h.set([67, 1, 0x78, 255], 108);
    h.set([...Buffer.from('srv')], 44);
  }));
  assert.equal(p.sname, 'srv');
  assert.equal(p.file, '');
  assert.deepEqual(bytes(p, 67), [0x78]);
});

test('overloaded fields are checked for overruns and may not overload again', () => {
  assert.equal(reason(raw([52, 1, 1, 255], (h) => h.set([67, 200], 108))), 'option-overrun');
  assert.equal(reason(raw([52, 1, 2, 255], (h) => h.set([52, 1, 1], 44))), 'bad-overload');
  // An option may not run from file on into cookie or from sname on into file.
  assert.equal(reason(raw([52, 1, 1, 255], (h) => h.set([67, 3, 1, 2], 232))), 'option-overrun');
  assert.equal(reason(raw([52, 1, 2, 255], (h) => h.set([66, 3, 1, 2], 104))), 'option-overrun');
});

test('serialize leaves overloaded fields to options, whatever sname/file say', () => {
  const p = ok(raw([52, 1, 3, 255]));
  const wire = serializeDhcp({ ...p, sname: 'srv', file: 'boot.efi' });
  assert.ok(wire.subarray(44, 236).every((b) => b === 0));
  assert.deepEqual(ok(wire), p);
});

test('serialize pads to the BOOTP minimum, or to the requested minimum', () => {
  const p = ok(raw([53, 1, 1, 255]));
  const wire = serializeDhcp(p);
  assert.equal(wire.length, 300);
  assert.deepEqual([...wire.subarray(240, 244)], [53, 1, 1, 255]);
  assert.ok(wire.subarray(244).every((b) => b === 0));
  assert.equal(serializeDhcp(p, { minSize: 0 }).length, 244);
  assert.equal(serializeDhcp(p, { minSize: 576 }).length, 576);
});

test('serialize refuses what the wire cannot carry', () => {
  const p = ok(raw([255]));
  assert.throws(() => serializeDhcp({ ...p, options: [{ code: 0, data: new Uint8Array(1) }] }), RangeError);
  assert.throws(() => serializeDhcp({ ...p, options: [{ code: 255, data: new Uint8Array(1) }] }), RangeError);
  assert.throws(() => serializeDhcp({ ...p, siaddr: '10.0.0.256' }), RangeError);
  assert.throws(() => serializeDhcp({ ...p, file: 'x'.repeat(129) }), RangeError);
  assert.throws(() => serializeDhcp({ ...p, file: 'a\u0100' }), RangeError);
  assert.doesNotThrow(() => serializeDhcp({ ...p, file: 'x'.repeat(128), sname: 'y'.repeat(64) }));
});

test('parsed data are views, not copies, of the input', () => {
  const b = raw([60, 3, 0x41, 0x42, 0x43, 255]);
  const p = ok(b);
  assert.equal(getOption(p, 60)!.buffer, b.buffer);
});

test('getOption / setOption / deleteOption', () => {
  const p = ok(raw([53, 1, 1, 60, 1, 0x41, 255]));
  assert.equal(getOption(p, 99), undefined);
  setOption(p, 53, new Uint8Array([2]));
  setOption(p, 54, ipToBytes('10.0.0.9'));
  assert.deepEqual(codes(p), [53, 60, 54]);
  assert.deepEqual(bytes(p, 53), [2]);
  assert.equal(deleteOption(p, 60), true);
  assert.equal(deleteOption(p, 60), false);
  assert.deepEqual(codes(p), [53, 54]);
});

test('ip helpers', () => {
  assert.deepEqual([...ipToBytes('192.168.1.254')], [192, 168, 1, 254]);
  assert.equal(bytesToIp(new Uint8Array([0, 10, 0, 0, 1]), 1), '10.0.0.1');
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..2.3', 'a.b.c.d', '1.2.3.4 ', '-1.2.3.4']) {
    assert.equal(parseIpv4(bad), undefined, bad);
    assert.throws(() => ipToBytes(bad), RangeError, bad);
  }
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
});

test('newReply echoes xid, chaddr, htype/hlen, flags, giaddr and nothing else', () => {
  const req = ok(raw([53, 1, 1, 60, 1, 0x41, 255], (h) => (h[3] = 1)));
  const rep = newReply(req);
  assert.equal(rep.op, 2);
  assert.equal(rep.xid, req.xid);
  assert.equal(rep.htype, 1);
  assert.equal(rep.hlen, 6);
  assert.equal(rep.flags, 0x8000);
  assert.equal(rep.giaddr, '10.0.0.1');
  assert.equal(rep.hops, 0);
  assert.equal(rep.ciaddr, '0.0.0.0');
  assert.equal(rep.yiaddr, '0.0.0.0');
  assert.equal(rep.siaddr, '0.0.0.0');
  assert.deepEqual(rep.options, []);
  assert.deepEqual(rep.chaddr, req.chaddr);
  assert.notEqual(rep.chaddr.buffer, req.chaddr.buffer);
  const wire = ok(serializeDhcp(rep));
  assert.equal(macOf(wire), 'aa:bb:cc:dd:ee:ff');
});
