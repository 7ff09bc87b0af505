// The `once` rules as a pure model (what every store's conditional UPDATE must implement), and
// the API's input checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { arm, assignmentState, completes, completionFiles, consume, mergeSeen, type Assignment } from '../../../src/store/model.ts';
import { checkAssignment, checkMac, parseExpires } from '../../../src/store/validate.ts';

const once = (over: Partial<Assignment> = {}): Assignment => ({ profile: 'debian', mode: 'once', generation: 1, assignedAt: 0, ...over });

test('consume: only an active once of the named generation is consumed', () => {
  assert.equal(consume(undefined, undefined, 1, 'a').result, 'none');
  assert.equal(consume(once({ mode: 'persistent' }), undefined, 1, 'a').result, 'persistent');
  assert.equal(consume(once(), 2, 1, 'a').result, 'stale');
  assert.equal(consume(once({ expiresAt: 10 }), 1, 10, 'a').result, 'expired');
  const r = consume(once(), 1, 5, 'pxe-a');
  assert.equal(r.result, 'consumed');
  assert.equal(r.next?.consumedAt, 5);
  assert.equal(consume(r.next, 1, 6, 'pxe-b').result, 'already');
});

test('any sequence of consumes, re-arms and clocks: each generation is consumed at most once, and a consume after a re-arm never takes it', () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('consume' as const), gen: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }) }),
    fc.record({ k: fc.constant('arm' as const), mode: fc.constantFrom('once' as const, 'persistent' as const) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
    let a: Assignment | undefined;
    const consumedGens = new Set<number>();
    let now = 0;
    for (const o of ops) {
      now++;
      if (o.k === 'arm') { a = arm(a, { profile: 'p', mode: o.mode }, now); continue; }
      const before = a;
      const r = consume(a, o.gen, now, 'x');
      if (r.result === 'consumed') {
        assert.ok(!consumedGens.has(before!.generation), 'consumed twice');
        assert.ok(o.gen === undefined || o.gen === before!.generation);
        consumedGens.add(before!.generation);
      } else {
        assert.deepEqual(r.next, before, 'a refused consume changes nothing');
      }
      a = r.next;
    }
  }), { numRuns: 300 });
});

test('state: consumed beats expired; expiry is exclusive of the instant', () => {
  assert.equal(assignmentState(once({ expiresAt: 10, consumedAt: 3 }), 20), 'consumed');
  assert.equal(assignmentState(once({ expiresAt: 10 }), 9), 'active');
  assert.equal(assignmentState(once({ expiresAt: 10 }), 10), 'expired');
});

test('completion: the last initrd of a kernel profile, else the boot files; under the profile root too', () => {
  assert.deepEqual(completionFiles({ kernel: 'vmlinuz', initrd: ['a.img', 'b.img'] }), ['b.img']);
  assert.deepEqual(completionFiles({ kernel: 'vmlinuz' }), ['vmlinuz']);
  assert.deepEqual(completionFiles({ bios: 'pxelinux.0', efiX64: 'ipxe.efi' }), ['pxelinux.0', 'ipxe.efi']);
  assert.equal(completes('/b.img', ['b.img'], 'p'), true);
  assert.equal(completes('p/b.img', ['b.img'], 'p'), true);
  assert.equal(completes('/debian/initrd.gz?x=1', ['http://${server}/debian/initrd.gz'], 'p'), true);
  assert.equal(completes('/a.img', ['b.img'], 'p'), false);
  assert.equal(completes('/xb.img', ['b.img'], 'p'), false);
});

test('mergeSeen keeps first-seen and fields a later report lacks', () => {
  const a = mergeSeen(undefined, { firmware: 'bios', arch: 0 }, 10);
  const b = mergeSeen(a, { file: 'pxelinux.0', arch: undefined }, 20);
  assert.deepEqual(b, { firstSeen: 10, lastSeen: 20, firmware: 'bios', arch: 0, file: 'pxelinux.0' });
});

test('API input: MACs, profiles, JSON, modes and expiry', () => {
  assert.deepEqual(checkMac('52-54-00-AA-BB-CC'), { ok: true, value: '52:54:00:aa:bb:cc' });
  assert.equal(checkMac('52:54:00:aa:bb').ok, false);
  assert.equal(checkMac('zz:54:00:aa:bb:cc').ok, false);
  const now = Date.UTC(2026, 0, 1);
  assert.deepEqual(checkAssignment('{"profile":"debian"}', ['debian'], now), { ok: true, value: { profile: 'debian', mode: 'persistent' } });
  assert.deepEqual(checkAssignment('{"profile":"debian","mode":"once","expires":"2026-02-01T00:00:00Z"}', ['debian'], now), { ok: true, value: { profile: 'debian', mode: 'once', expiresAt: Date.UTC(2026, 1, 1) } });
  const bad = (body: string, re: RegExp) => {
    const r = checkAssignment(body, ['debian'], now);
    assert.equal(r.ok, false, body);
    if (!r.ok) { assert.equal(r.status, 400); assert.match(r.error, re); }
  };
  bad('profile=debian', /not JSON/);
  bad('{"profile":"nope"}', /no profile "nope"/);
  bad('{"profile":"debian","mode":"twice"}', /^mode:/);
  bad('{"profile":"debian","extra":1}', /extra/);
  bad('{"profile":"debian","expires":"2025-01-01T00:00:00Z"}', /in the past/);
  bad('{"profile":"debian","expires":"tomorrow"}', /^expires:/);
  bad('[]', /body/);
  bad('{"profile":"debian","uuid":"not-a-uuid"}', /^uuid: not a UUID/);
  const u = checkAssignment('{"profile":"debian","uuid":"{4C4C4544-0042-3510-8052-B2C04F503232}"}', ['debian'], now);
  assert.equal(u.ok && u.value.uuid, '4c4c4544-0042-3510-8052-b2c04f503232', 'written any common way, stored one way');
  assert.equal(parseExpires('2h', now), now + 7_200_000);
  assert.equal(parseExpires('2030-01-01T00:00:00Z', now), Date.UTC(2030, 0, 1));
  assert.equal(parseExpires('soon', now), undefined);
});
