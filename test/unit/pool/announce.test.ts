// Transfer announcements: codec, verifier (forged, replayed, other-run datagrams dropped with a
// reason) and the bounded table a successor consults when it takes an address over.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIpv6 } from '../../../src/config/values.ts';
import { AnnouncedTable, type AnnouncedTransfer, AnnounceVerifier, decodeAnnouncement, encodeSnapshot, MAX_DATAGRAM, MAX_PER_PEER } from '../../../src/pool/announce.ts';

const SECRET = 'announce-test-secret-0123456789';
const INST = 'ab'.repeat(16);
const T0 = 1_700_000_000_000;
const entry = (i: number, over: Partial<AnnouncedTransfer> = {}): AnnouncedTransfer => ({
  client: `10.0.${i >> 8 & 255}.${i & 255}`, clientPort: 2000 + (i % 60000), tid: 40000 + (i % 20000), local: '10.0.0.100',
  blksize: 1468, windowsize: 4, maxRtoMs: 1000, acked: i * 7, size: 14_000_000 + i, digest: 'cd'.repeat(16), path: `boot/vmlinuz-${i}`, ...over,
});
let seq = 0;
const snap = (entries: AnnouncedTransfer[], o: { snapshot?: number; instance?: string; ts?: number; secret?: string } = {}) =>
  encodeSnapshot({ peer: 'pxe-b', instance: o.instance ?? INST, seq: () => ++seq, ts: o.ts ?? T0, snapshot: o.snapshot ?? 1 }, entries, o.secret ?? SECRET);
const verifier = (instance = INST) => new AnnounceVerifier({ secret: SECRET, peers: ['pxe-b'], skewMs: 30_000, instanceOf: (p) => (p === 'pxe-b' ? instance : undefined) });

test('round trip: every field, several parts under the datagram limit', () => {
  const entries = Array.from({ length: 100 }, (_, i) => entry(i));
  const dgrams = snap(entries);
  assert.ok(dgrams.length > 1);
  const got: AnnouncedTransfer[] = [];
  for (const [i, d] of dgrams.entries()) {
    assert.ok(d.length <= MAX_DATAGRAM);
    const r = decodeAnnouncement(d, SECRET);
    assert.ok(r.ok, !r.ok ? r.detail : '');
    assert.equal(r.ann.part, i);
    assert.equal(r.ann.parts, dgrams.length);
    got.push(...r.ann.entries);
  }
  assert.deepEqual(got, entries);
  assert.equal(snap([]).length, 1, 'an empty snapshot is one datagram');
});

test('IPv6 transfers are announced too; an entry mixing families is left out', () => {
  const v6 = entry(1, { client: 'fd77:0:0:3::1a2', local: 'fd77:0:0:3::21' });
  const got = snap([entry(0), v6, entry(2, { client: 'fd77::5' })]).flatMap((d) => { const r = decodeAnnouncement(d, SECRET); assert.ok(r.ok); return r.ann.entries; });
  assert.deepEqual(got, [entry(0), v6]);
});

test('property: random entries round-trip', () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
  const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b));
  const arb = fc.record({
    ends: fc.oneof(fc.tuple(v4, v4), fc.tuple(v6, v6)),
    clientPort: fc.integer({ min: 1, max: 65535 }), tid: fc.integer({ min: 1, max: 65535 }),
    blksize: fc.integer({ min: 8, max: 65464 }), windowsize: fc.integer({ min: 1, max: 65535 }), maxRtoMs: fc.integer({ min: 1, max: 65535 }),
    acked: fc.nat({ max: 0xffffffff }), size: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    digest: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    path: fc.stringMatching(/^[ -~é]{0,60}$/),
  });
  fc.assert(fc.property(fc.array(arb.map(({ ends: [client, local], ...rest }) => ({ client, local, ...rest })), { maxLength: 40 }), (es) => {
    const got = snap(es).flatMap((d) => { const r = decodeAnnouncement(d, SECRET); assert.ok(r.ok); return r.ann.entries; });
    assert.deepEqual(got, es.map((e) => ({ ...e })));
  }), { numRuns: 200 });
});

test('forged (wrong secret, any flipped bit), stale, unknown, other-run and replayed datagrams are refused with their reason', () => {
  const v = verifier();
  const reason = (d: Uint8Array, at = T0) => { const r = v.verify(d, at); return r.ok ? 'ok' : r.reason; };
  assert.equal(reason(snap([entry(1)], { secret: 'not-the-pool-secret-at-all' })[0]!), 'bad-mac');
  const good = snap([entry(1)])[0]!;
  for (let i = 4; i < good.length; i += 7) {
    const m = new Uint8Array(good);
    m[i]! ^= 0x10;
    assert.ok(['bad-mac', 'malformed'].includes(reason(m)), `bit flip at ${i}`);
  }
  assert.equal(reason(snap([entry(1)], { ts: T0 - 60_000 })[0]!), 'stale');
  assert.equal(reason(snap([entry(1)], { instance: 'ee'.repeat(16) })[0]!), 'wrong-instance', 'a recording of an earlier run');
  const d = snap([entry(2)])[0]!;
  assert.equal(reason(d), 'ok');
  assert.equal(reason(d), 'replay');
  assert.equal(reason(good), 'replay', 'an older sequence after a newer one');
  const other = new AnnounceVerifier({ secret: SECRET, peers: ['pxe-c'], skewMs: 30_000, instanceOf: () => INST });
  const r = other.verify(snap([entry(1)])[0]!, T0);
  assert.ok(!r.ok && r.reason === 'unknown-peer');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (b) => { assert.equal(v.verify(b, T0).ok, false); }), { numRuns: 300 });
});

test('table: the latest complete snapshot per peer, plus the parts of one being assembled; bounded', () => {
  const t = new AnnouncedTable();
  const dec = (d: Uint8Array) => { const r = decodeAnnouncement(d, SECRET); assert.ok(r.ok); return r.ann; };
  for (const d of snap([entry(1), entry(2)], { snapshot: 1 })) t.add(dec(d));
  assert.deepEqual(t.forAddress('10.0.0.100').map((e) => e.path).sort(), ['boot/vmlinuz-1', 'boot/vmlinuz-2']);
  assert.deepEqual(t.forAddress('10.0.0.101'), []);
  // Transfer 1 ended: the next complete snapshot no longer has it.
  for (const d of snap([entry(2, { acked: 999 })], { snapshot: 2 })) t.add(dec(d));
  assert.deepEqual(t.forAddress('10.0.0.100').map((e) => [e.path, e.acked]), [['boot/vmlinuz-2', 999]]);
  // A snapshot whose sender died after its first part: what was complete stays, the part adds.
  const parts = snap(Array.from({ length: 60 }, (_, i) => entry(100 + i)), { snapshot: 3 });
  assert.ok(parts.length > 1);
  t.add(dec(parts[0]!));
  const now = t.forAddress('10.0.0.100').map((e) => e.path);
  assert.ok(now.includes('boot/vmlinuz-2') && now.includes('boot/vmlinuz-100'));
  // A flood of entries stays bounded.
  const flood = new AnnouncedTable();
  for (const d of snap(Array.from({ length: 5000 }, (_, i) => entry(i)), { snapshot: 9 })) flood.add(dec(d));
  assert.ok(flood.size() <= MAX_PER_PEER, `${flood.size()} entries kept`);
});
