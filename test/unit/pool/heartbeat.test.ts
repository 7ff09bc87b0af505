// Heartbeat codec and verifier: authenticity first, then sender, clock window, replay order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat, HeartbeatVerifier, NO_ECHO } from '../../../src/pool/heartbeat.ts';
import { formatIpv6 } from '../../../src/config/values.ts';

const SECRET = 'correct horse battery staple';
const T0 = 1_700_000_000_000;
const INST_A = 'a'.repeat(32);
const INST_B = 'b'.repeat(32);
const HASH = '0123456789abcdef0123456789abcdef';
const SELF = 'c'.repeat(32);

function hb(over: Partial<Omit<Heartbeat, 'version'>> = {}): Omit<Heartbeat, 'version'> {
  return {
    peer: 'pxe-b', instance: INST_A, epoch: T0 - 60_000, echo: SELF, seq: 1, ts: T0, health: 'ok', tftp: 3, http: 1, weight: 2, configHash: HASH,
    held: ['10.0.0.7', '192.168.1.254'], ...over,
  };
}

const verifier = () => new HeartbeatVerifier({ secret: SECRET, peers: ['pxe-b', 'pxe-c'], self: 'pxe-a', selfInstance: SELF, skewMs: 30_000 });

test('round trip keeps every field', () => {
  const bytes = encodeHeartbeat(hb(), SECRET);
  const r = decodeHeartbeat(bytes, SECRET);
  assert.ok(r.ok);
  assert.deepEqual(r.hb, { version: 3, ...hb() });
  assert.ok(bytes.length < 200, `${bytes.length} bytes`);
});

test('round trip on random heartbeats', () => {
  const arb = fc.record({
    peer: fc.stringMatching(/^[a-z0-9.-]{1,40}$/),
    instance: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    seq: fc.nat({ max: 0xffffffff }),
    ts: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    health: fc.constantFrom('ok' as const, 'busy' as const, 'draining' as const, 'leaving' as const),
    tftp: fc.nat({ max: 0xffffffff }),
    http: fc.nat({ max: 0xffffffff }),
    epoch: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    echo: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
    // IPv4 first, then IPv6 (RFC 5952 text), as the codec lists them back
    held: fc.tuple(
      fc.array(fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.')), { maxLength: 16 }),
      fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b)), { maxLength: 16 }),
    ).map(([a, b]) => [...a, ...b]),
    weight: fc.double({ min: 0.001, max: 1000, noNaN: true }),
    configHash: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')),
  });
  fc.assert(fc.property(arb, (h) => {
    const r = decodeHeartbeat(encodeHeartbeat(h, SECRET), SECRET);
    assert.ok(r.ok);
    assert.deepEqual(r.hb, { version: 3, ...h });
  }), { numRuns: 300 });
});

test('a wrong secret, or any flipped bit, is bad-mac (or malformed framing)', () => {
  const bytes = encodeHeartbeat(hb(), SECRET);
  const forged = encodeHeartbeat(hb(), 'not the pool secret at all');
  const v = verifier();
  const r = v.verify(forged, T0);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'bad-mac');
  for (let i = 7; i < bytes.length; i++) {
    const m = new Uint8Array(bytes);
    m[i]! ^= 0x01;
    const rr = decodeHeartbeat(m, SECRET);
    assert.equal(rr.ok, false, `bit flip at ${i} accepted`);
    assert.ok(!rr.ok && ['bad-mac', 'malformed'].includes(rr.reason));
  }
});

test('a forged heartbeat changes nothing: the genuine sequence that follows is still accepted', () => {
  const v = verifier();
  assert.ok(v.verify(encodeHeartbeat(hb({ seq: 10 }), SECRET), T0).ok);
  // Forger tries to push the sequence far ahead and to switch instance.
  assert.equal(v.verify(encodeHeartbeat(hb({ seq: 1_000_000 }), 'wrong-secret-wrong-secret'), T0).ok, false);
  assert.equal(v.verify(encodeHeartbeat(hb({ seq: 1, instance: INST_B }), 'wrong-secret-wrong-secret'), T0).ok, false);
  assert.ok(v.verify(encodeHeartbeat(hb({ seq: 11 }), SECRET), T0 + 500).ok);
});

test('replay: same or older sequence of the same instance is rejected', () => {
  const v = verifier();
  const a5 = encodeHeartbeat(hb({ seq: 5 }), SECRET);
  assert.ok(v.verify(a5, T0).ok);
  const again = v.verify(a5, T0 + 10);
  assert.ok(!again.ok && again.reason === 'replay');
  const older = v.verify(encodeHeartbeat(hb({ seq: 4 }), SECRET), T0 + 10);
  assert.ok(!older.ok && older.reason === 'replay');
  assert.ok(v.verify(encodeHeartbeat(hb({ seq: 6 }), SECRET), T0 + 20).ok);
});

test('restart: a new instance is accepted from any sequence; the old instance stays dead', () => {
  const v = verifier();
  const old = encodeHeartbeat(hb({ seq: 900 }), SECRET);
  assert.ok(v.verify(old, T0).ok);
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_B, epoch: T0 + 900, seq: 1 }), SECRET), T0 + 1000).ok);
  const replayOld = v.verify(encodeHeartbeat(hb({ seq: 901 }), SECRET), T0 + 1100);
  assert.ok(!replayOld.ok && replayOld.reason === 'replay');
});

test('stale: outside the clock window either way', () => {
  const v = verifier();
  const late = v.verify(encodeHeartbeat(hb({ ts: T0 - 30_001 }), SECRET), T0);
  assert.ok(!late.ok && late.reason === 'stale');
  const early = v.verify(encodeHeartbeat(hb({ ts: T0 + 30_001 }), SECRET), T0);
  assert.ok(!early.ok && early.reason === 'stale');
  // A stale datagram does not consume its sequence number.
  assert.ok(v.verify(encodeHeartbeat(hb({ ts: T0 + 29_000 }), SECRET), T0).ok);
});

test('unknown peer, our own name from another process, our own echo', () => {
  const v = verifier();
  const u = v.verify(encodeHeartbeat(hb({ peer: 'intruder' }), SECRET), T0);
  assert.ok(!u.ok && u.reason === 'unknown-peer');
  const twin = v.verify(encodeHeartbeat(hb({ peer: 'pxe-a' }), SECRET), T0);
  assert.ok(!twin.ok && twin.reason === 'unknown-peer');
  const echo = v.verify(encodeHeartbeat(hb({ peer: 'pxe-a', instance: 'c'.repeat(32) }), SECRET), T0);
  assert.ok(!echo.ok && echo.reason === 'replay');
});

test('malformed: short, wrong magic, wrong length, random bytes never throw', () => {
  const v = verifier();
  for (const b of [new Uint8Array(0), new Uint8Array(10), Buffer.from('GET / HTTP/1.1\r\n\r\n')]) {
    const r = v.verify(b, T0);
    assert.ok(!r.ok && r.reason === 'malformed');
  }
  const good = encodeHeartbeat(hb(), SECRET);
  const r = v.verify(good.subarray(0, good.length - 1), T0);
  assert.ok(!r.ok && r.reason === 'malformed');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
    const x = v.verify(b, T0);
    assert.equal(x.ok, false);
  }), { numRuns: 500 });
});

test('more than 16 held addresses of a family, or one that is no address, is refused at encode; v1 and v2 datagrams are malformed', () => {
  assert.throws(() => encodeHeartbeat(hb({ held: Array.from({ length: 17 }, (_, i) => `10.0.0.${i}`) }), SECRET), /at most 16/);
  assert.throws(() => encodeHeartbeat(hb({ held: Array.from({ length: 17 }, (_, i) => `fd00::${i + 1}`) }), SECRET), /at most 16/);
  assert.throws(() => encodeHeartbeat(hb({ held: ['fd00::1::2'] }), SECRET), /neither IPv4 nor IPv6/);
  const both = decodeHeartbeat(encodeHeartbeat(hb({ held: ['10.0.0.9', 'fd77:0:0:3::21'] }), SECRET), SECRET);
  assert.ok(both.ok);
  assert.deepEqual(both.hb.held, ['10.0.0.9', 'fd77:0:0:3::21']);
  for (const version of [1, 2]) {
    const bytes = new Uint8Array(encodeHeartbeat(hb({ held: [] }), SECRET));
    bytes[4] = version;
    const r = decodeHeartbeat(bytes, SECRET);
    assert.ok(!r.ok && ['bad-mac', 'malformed'].includes(r.reason));
  }
  // A version-2 datagram as an earlier release sent it: one byte shorter (no IPv6 count).
  const v3 = encodeHeartbeat(hb({ held: [] }), SECRET);
  const v2 = new Uint8Array(v3.length - 1);
  v2.set(v3.subarray(0, v3.length - 33));
  v2.set(v3.subarray(v3.length - 32), v3.length - 33);
  v2[4] = 2;
  const r2 = decodeHeartbeat(v2, SECRET);
  assert.ok(!r2.ok && r2.reason === 'malformed' && /run one pxepool release/.test(r2.detail ?? ''), JSON.stringify(r2));
});

// Issue 13, defect 1: datagrams recorded from a peer's earlier run, replayed to us.
test('a recording of an older run cannot displace the running instance, and the genuine one stays accepted', () => {
  const v = verifier();
  const oldRun = (seq: number) => encodeHeartbeat(hb({ instance: INST_A, epoch: T0 - 600_000, seq }), SECRET);
  const newRun = (seq: number) => encodeHeartbeat(hb({ instance: INST_B, epoch: T0 - 5_000, seq }), SECRET);
  assert.ok(v.verify(newRun(1), T0).ok);
  for (let i = 0; i < 20; i++) {
    const r = v.verify(oldRun(1000 + i), T0 + 10 * i);
    assert.ok(!r.ok && r.reason === 'replay', `old run accepted at ${i}`);
  }
  assert.ok(v.verify(newRun(2), T0 + 500).ok, 'the running peer is still accepted');
});

test('a fresh receiver fed an old run first still switches to the genuine newer run', () => {
  const v = verifier();
  // The recording happens to echo us (worst case); it is accepted, as nothing newer is known yet.
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_A, epoch: T0 - 600_000, seq: 50 }), SECRET), T0).ok);
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_B, epoch: T0 - 5_000, seq: 1 }), SECRET), T0 + 100).ok);
  const back = v.verify(encodeHeartbeat(hb({ instance: INST_A, epoch: T0 - 600_000, seq: 51 }), SECRET), T0 + 200);
  assert.ok(!back.ok && back.reason === 'replay');
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_B, epoch: T0 - 5_000, seq: 2 }), SECRET), T0 + 600).ok);
});

test('unconfirmed: a heartbeat that does not echo our run is refused but teaches us what to echo', () => {
  const v = verifier();
  assert.equal(v.echoFor('pxe-b'), NO_ECHO);
  const first = v.verify(encodeHeartbeat(hb({ echo: NO_ECHO, seq: 1 }), SECRET), T0);
  assert.ok(!first.ok && first.reason === 'unconfirmed' && first.hb?.peer === 'pxe-b');
  assert.equal(v.echoFor('pxe-b'), INST_A, 'we now echo the sender');
  // A recording made before we started echoes another run of ours: never accepted.
  const old = v.verify(encodeHeartbeat(hb({ echo: 'd'.repeat(32), seq: 2 }), SECRET), T0 + 10);
  assert.ok(!old.ok && old.reason === 'unconfirmed');
  // The unconfirmed datagrams did not consume sequence numbers.
  assert.ok(v.verify(encodeHeartbeat(hb({ seq: 1 }), SECRET), T0 + 20).ok);
});

test('a peer whose clock stepped back rejoins once its old run has been silent for the clock window', () => {
  const v = verifier();
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_A, epoch: T0 - 1_000, seq: 9 }), SECRET), T0).ok);
  const early = v.verify(encodeHeartbeat(hb({ instance: INST_B, epoch: T0 - 2_000, seq: 1 }), SECRET), T0 + 1_000);
  assert.ok(!early.ok && early.reason === 'replay');
  assert.ok(v.verify(encodeHeartbeat(hb({ instance: INST_B, epoch: T0 - 2_000, seq: 2, ts: T0 + 31_000 }), SECRET), T0 + 31_000).ok);
});
