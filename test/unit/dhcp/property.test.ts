import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DHCP_PARSE_REASONS, parseDhcp, serializeDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { clientFacts } from '../../../src/dhcp/facts.ts';
import { decodePxeOptions, encodePxeOptions, type PxeVendorOptions } from '../../../src/dhcp/pxe.ts';

const REASONS = new Set<string>(DHCP_PARSE_REASONS);

const latin1Text = (max: number) =>
  fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: max }).map((cs) => String.fromCharCode(...cs));

// fc.record builds null-prototype objects; the parser returns plain ones.
const plain = <T extends object>(o: T): T => ({ ...o });

const arbPacket: fc.Arbitrary<DhcpPacket> = fc.record({
  op: fc.constantFrom(1, 2),
  htype: fc.integer({ min: 0, max: 255 }),
  hlen: fc.integer({ min: 0, max: 16 }),
  hops: fc.integer({ min: 0, max: 255 }),
  xid: fc.integer({ min: 0, max: 0xffffffff }),
  secs: fc.integer({ min: 0, max: 0xffff }),
  flags: fc.integer({ min: 0, max: 0xffff }),
  ciaddr: fc.ipV4(),
  yiaddr: fc.ipV4(),
  siaddr: fc.ipV4(),
  giaddr: fc.ipV4(),
  chaddr: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  sname: latin1Text(64),
  file: latin1Text(128),
  options: fc.uniqueArray(
    fc.record({
      // 52 would turn sname/file into option space; overload has its own tests.
      code: fc.integer({ min: 1, max: 254 }).filter((c) => c !== 52),
      data: fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 700 })),
    }),
    { selector: (o) => o.code, maxLength: 20 },
  ).map((os) => os.map(plain)),
}).map(plain);

/** A valid overloaded packet: options continue in file and sname, one of them split across. */
function overloadedSeed(): Uint8Array {
  const b = new Uint8Array(300);
  b.set([1, 1, 6], 0);
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  b.set([53, 1, 1, 52, 1, 3, 43, 3, 6, 1, 7, 255], 240);
  b.set([43, 3, 71, 4, 0, 67, 4, 0x61, 0x62, 0x63, 0x64, 255], 108);
  b.set([43, 4, 1, 0, 0, 255, 66, 1, 0x73, 255], 44);
  return b;
}

function assertParsesOrReason(b: Uint8Array): void {
  const r = parseDhcp(b);
  if (r.ok) return;
  assert.ok(REASONS.has(r.reason), `unexpected reason ${r.reason}`);
  assert.equal(typeof r.detail, 'string');
}

/** Every packet the parser accepts must encode and come back identical. */
function assertRoundTrip(b: Uint8Array): boolean {
  const r = parseDhcp(b);
  if (!r.ok) return false;
  const again = parseDhcp(serializeDhcp(r.packet));
  if (!again.ok) assert.fail(`re-parse failed: ${again.reason} ${again.detail}`);
  assert.deepEqual(again.packet, r.packet);
  // Facts are a pure function of content, so they must agree too.
  assert.deepEqual(clientFacts(again.packet), clientFacts(r.packet));
  return true;
}

test('model → serialize → parse gives the model back', () => {
  fc.assert(
    fc.property(arbPacket, fc.integer({ min: 0, max: 1500 }), (p, minSize) => {
      const wire = serializeDhcp(p, { minSize });
      assert.ok(wire.length >= minSize);
      const r = parseDhcp(wire);
      if (!r.ok) assert.fail(`${r.reason} ${r.detail}`);
      assert.deepEqual(r.packet, p);
    }),
    { numRuns: 2000 },
  );
});

test('random bytes never throw and either parse or give a known reason', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
      assertParsesOrReason(b);
      assertRoundTrip(b);
    }),
    { numRuns: 3000 },
  );
});

test('a valid header followed by random option bytes never throws; accepted ones round-trip', () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 236, maxLength: 236 }), fc.uint8Array({ maxLength: 400 }), (head, tail) => {
      const b = new Uint8Array(240 + tail.length);
      b.set(head);
      b[0] = 1 + (head[0]! & 1);
      b[2] = head[2]! % 17;
      b.set([0x63, 0x82, 0x53, 0x63], 236);
      b.set(tail, 240);
      assertParsesOrReason(b);
      if (assertRoundTrip(b)) accepted++;
    }),
    { numRuns: 3000 },
  );
  // Guard against a generator that only ever exercises the failure path.
  assert.ok(accepted > 100, `only ${accepted} accepted`);
});

test('mutated valid packets never throw; accepted ones round-trip', () => {
  const seeds = fc.oneof(
    arbPacket.map((p) => serializeDhcp(p)),
    fc.constant(null).map(() => overloadedSeed()),
  );
  const mutation = fc.oneof(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map(
      (edits) => (b: Uint8Array) => {
        const c = new Uint8Array(b);
        for (const [at, v] of edits) c[240 + (at % Math.max(1, c.length - 240))] = v;
        return c;
      },
    ),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map(
      (edits) => (b: Uint8Array) => {
        const c = new Uint8Array(b);
        for (const [at, v] of edits) c[at % c.length] = v;
        return c;
      },
    ),
    fc.nat().map((n) => (b: Uint8Array) => b.slice(0, n % (b.length + 1))),
  );
  let accepted = 0;
  fc.assert(
    fc.property(seeds, mutation, (seed, mutate) => {
      const b = mutate(seed);
      assertParsesOrReason(b);
      if (assertRoundTrip(b)) accepted++;
    }),
    { numRuns: 3000 },
  );
  assert.ok(accepted > 300, `only ${accepted} accepted`);
});

test('the overloaded seed itself parses as intended', () => {
  const r = parseDhcp(overloadedSeed());
  assert.ok(r.ok);
  const o43 = r.packet.options.find((o) => o.code === 43)!;
  assert.deepEqual([...o43.data], [6, 1, 7, 71, 4, 0, 1, 0, 0, 255]);
  const pxe = decodePxeOptions(o43.data);
  assert.ok(pxe.ok);
  assert.deepEqual(pxe.value.bootItem, { type: 1, layer: 0 });
  assert.equal(clientFacts(r.packet).bootItem?.type, 1);
});

const arbPxe: fc.Arbitrary<PxeVendorOptions> = fc.record(
  {
    discoveryControl: fc.integer({ min: 0, max: 15 }),
    multicastAddress: fc.ipV4(),
    bootServers: fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), ips: fc.array(fc.ipV4(), { maxLength: 4 }) }).map(plain), { maxLength: 4 }),
    bootMenu: fc.array(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), description: latin1Text(40) }).map(plain), { maxLength: 4 }),
    menuPrompt: fc.record({ timeout: fc.integer({ min: 0, max: 255 }), prompt: latin1Text(60) }).map(plain),
    bootItem: fc.record({ type: fc.integer({ min: 0, max: 0xffff }), layer: fc.integer({ min: 0, max: 0xffff }) }).map(plain),
  },
  { requiredKeys: [] },
).map(plain);

test('option 43: decode(encode(v)) = v, and decode never throws on random bytes', () => {
  fc.assert(
    fc.property(arbPxe, (v) => {
      const r = decodePxeOptions(encodePxeOptions(v));
      if (!r.ok) assert.fail(`${r.reason} ${r.detail}`);
      assert.deepEqual(r.value, v);
    }),
    { numRuns: 1000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const r = decodePxeOptions(b);
      assert.ok(r.ok || typeof r.reason === 'string');
    }),
    { numRuns: 2000 },
  );
});
