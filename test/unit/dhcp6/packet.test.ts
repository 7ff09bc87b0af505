// The DHCPv6 codec against a real EDK2 Solicit, relay nesting, malformed input, a round-trip
// property and mutated copies of the capture (never an exception).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { encodeDhcp6, MAX_HOPS, MSG, OPT, parseDhcp6, pxe6Facts, type Dhcp6Message } from '../../../src/dhcp6/packet.ts';
import { mutate, rng } from '../../lib/fuzz.ts';

const fixture = (name: string): Uint8Array => Uint8Array.from(Buffer.from(readFileSync(join(import.meta.dirname, '../../fixtures/firmware6', `${name}.hex`), 'utf8').replace(/\s+/g, ''), 'hex'));
const SOLICIT = fixture('ovmf-pxe6-solicit');

test('EDK2 PXE-over-IPv6 Solicit: type, transaction id, and the facts a boot decision needs', () => {
  const r = parseDhcp6(SOLICIT);
  assert.ok(r.ok);
  const m = r.message;
  assert.equal(m.kind, 'client');
  if (m.kind !== 'client') return;
  assert.equal(m.type, MSG.SOLICIT);
  assert.equal(m.xid, 0x7fab6f);
  assert.deepEqual(m.options.map((o) => o.code), [OPT.CLIENTID, OPT.ELAPSED_TIME, OPT.IA_NA, OPT.ORO, OPT.NII, OPT.CLIENT_ARCH_TYPE, OPT.VENDOR_CLASS]);
  const f = pxe6Facts(m)!;
  assert.equal(f.arch, 7);
  assert.equal(f.vendorEnterprise, 343);
  assert.deepEqual(f.vendorClass, ['PXEClient:Arch:00007:UNDI:003000']);
  assert.deepEqual(f.requested, [OPT.BOOTFILE_URL, OPT.BOOTFILE_PARAM, OPT.DNS_SERVERS, OPT.VENDOR_CLASS]);
  assert.equal(f.duid, '0004dfde4ec573818742aa2db9148e2e1de2');
  assert.equal(f.hops, 0);
  const elapsed = m.options.find((o) => o.code === OPT.ELAPSED_TIME)!.data;
  assert.equal(f.elapsedSecs, Math.floor(((elapsed[0]! << 8) | elapsed[1]!) / 100), 'elapsed time counts hundredths');
  assert.deepEqual(encodeDhcp6(m), SOLICIT, 'encodes back to the same bytes');
  const later = pxe6Facts({ ...m, options: m.options.map((o) => (o.code === OPT.ELAPSED_TIME ? { code: o.code, data: Uint8Array.from([0x0b, 0xb8]) } : o)) })!;
  assert.equal(later.elapsedSecs, 30, '3000 hundredths are 30 s (the pool gate reads it as DHCPv4 secs)');
  const odd = pxe6Facts({ ...m, options: m.options.map((o) => (o.code === OPT.ELAPSED_TIME ? { code: o.code, data: Uint8Array.from([1]) } : o)) })!;
  assert.equal(odd.elapsedSecs, 0, 'an elapsed time of the wrong length counts as none');
});

const relay = (inner: Dhcp6Message, hopCount: number): Dhcp6Message => ({
  kind: 'relay', type: MSG.RELAY_FORW, hopCount, linkAddress: new Uint8Array(16).fill(0xfd), peerAddress: new Uint8Array(16).fill(0xfe), options: [{ code: OPT.INTERFACE_ID, data: new Uint8Array([1, 2]) }], inner,
});

test('relayed twice (dhcrelay -6 style): the client inside, its facts, the hops counted', () => {
  const inner = parseDhcp6(SOLICIT);
  assert.ok(inner.ok);
  const bytes = encodeDhcp6(relay(relay(inner.message, 0), 1));
  const r = parseDhcp6(bytes);
  assert.ok(r.ok);
  assert.equal(r.message.kind, 'relay');
  const f = pxe6Facts(r.message)!;
  assert.equal(f.hops, 2);
  assert.equal(f.arch, 7);
  assert.deepEqual(encodeDhcp6(r.message), bytes);
});

test('malformed: short, unknown type, an option longer than the packet, too many hops, a bad relayed message', () => {
  assert.deepEqual(parseDhcp6(new Uint8Array([1, 2])), { ok: false, reason: 'short' });
  assert.deepEqual(parseDhcp6(new Uint8Array([0, 0, 0, 0])), { ok: false, reason: 'unknown-type' });
  assert.deepEqual(parseDhcp6(new Uint8Array([99, 0, 0, 0])), { ok: false, reason: 'unknown-type' });
  const cut = SOLICIT.subarray(0, SOLICIT.length - 3);
  assert.deepEqual(parseDhcp6(cut), { ok: false, reason: 'truncated-option' });
  const inner = parseDhcp6(SOLICIT);
  assert.ok(inner.ok);
  const over = encodeDhcp6(relay(inner.message, MAX_HOPS + 1));
  assert.deepEqual(parseDhcp6(over), { ok: false, reason: 'hop-count' });
  const badInner = encodeDhcp6({ kind: 'relay', type: MSG.RELAY_FORW, hopCount: 0, linkAddress: new Uint8Array(16), peerAddress: new Uint8Array(16), inner: undefined, options: [{ code: OPT.RELAY_MSG, data: new Uint8Array([7]) }] });
  assert.deepEqual(parseDhcp6(badInner), { ok: false, reason: 'relay-msg' });
  // Nested beyond MAX_HOPS relays, each hop count legal: refused, not recursed into without end.
  let m: Dhcp6Message = inner.message;
  for (let i = 0; i < MAX_HOPS + 2; i++) m = relay(m, 0);
  assert.deepEqual(parseDhcp6(encodeDhcp6(m)), { ok: false, reason: 'nested-too-deep' });
});

test('property: any client message encodes and parses back to itself', () => {
  const option = fc.record({ code: fc.integer({ min: 0, max: 65535 }).filter((c) => c !== OPT.RELAY_MSG), data: fc.uint8Array({ maxLength: 64 }) });
  fc.assert(fc.property(fc.integer({ min: 1, max: 11 }), fc.integer({ min: 0, max: 0xffffff }), fc.array(option, { maxLength: 12 }), (type, xid, options) => {
    const m: Dhcp6Message = { kind: 'client', type, xid, options };
    const r = parseDhcp6(encodeDhcp6(m));
    assert.ok(r.ok);
    assert.deepEqual(r.message, { ...m, options: options.map((o) => ({ code: o.code, data: Uint8Array.from(o.data) })) });
  }), { numRuns: 300 });
});

test('10,000 mutated copies of the capture and of a relayed one: an answer or an error, never an exception', () => {
  const inner = parseDhcp6(SOLICIT);
  assert.ok(inner.ok);
  const seeds = [SOLICIT, encodeDhcp6(relay(inner.message, 0))];
  const r = rng(6);
  const reasons = new Map<string, number>();
  let parsed = 0;
  for (let i = 0; i < 10_000; i++) {
    const res = parseDhcp6(mutate(seeds[i % 2]!, r));
    if (res.ok) { parsed++; pxe6Facts(res.message); } else reasons.set(res.reason, (reasons.get(res.reason) ?? 0) + 1);
  }
  // Not vacuous: mutations reach both sides of the parser.
  assert.ok(parsed > 500, `parsed ${parsed}`);
  assert.ok((reasons.get('truncated-option') ?? 0) > 500, JSON.stringify([...reasons]));
});

test('EDK2\'s 4011 boot-server Request over IPv6 and Kea\'s Advertise parse; the Request asks the proxy by its server id, with no IA_NA', () => {
  const req = parseDhcp6(fixture('ovmf-pxe6-request-4011'));
  assert.ok(req.ok && req.message.kind === 'client');
  if (!req.ok || req.message.kind !== 'client') return;
  assert.equal(req.message.type, MSG.REQUEST);
  const codes = req.message.options.map((o) => o.code);
  assert.ok(codes.includes(OPT.SERVERID) && !codes.includes(OPT.IA_NA), codes.join(','));
  assert.equal(pxe6Facts(req.message)!.arch, 7);
  const adv = parseDhcp6(fixture('kea6-advertise'));
  assert.ok(adv.ok && adv.message.kind === 'client' && adv.message.type === MSG.ADVERTISE);
  if (!adv.ok || adv.message.kind !== 'client') return;
  assert.ok(adv.message.options.some((o) => o.code === OPT.IA_NA));
  assert.ok(!adv.message.options.some((o) => o.code === OPT.BOOTFILE_URL), 'the site server sends no boot file');
});
