// Range parsing (issue 13, defect 2): one linear pass, a header size cap; no timing measured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_RANGE_HEADER, parseRange } from '../../../src/http/files.ts';

test('the forms a boot client sends', () => {
  assert.deepEqual(parseRange('bytes=0-0', 10), { kind: 'range', range: { start: 0, end: 0 } });
  assert.deepEqual(parseRange(' Bytes = 2 - 4 ', 10), { kind: 'range', range: { start: 2, end: 4 } });
  assert.deepEqual(parseRange('bytes=7-', 10), { kind: 'range', range: { start: 7, end: 9 } });
  assert.deepEqual(parseRange('bytes=-3', 10), { kind: 'range', range: { start: 7, end: 9 } });
  assert.deepEqual(parseRange('bytes=-0', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=10-', 10), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=5-2', 10), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=0-1,3-4', 10), { kind: 'none' });
  assert.deepEqual(parseRange('items=0-1', 10), { kind: 'none' });
  assert.deepEqual(parseRange('bytes=-', 10), { kind: 'none' });
});

test('a header past the cap is ignored without being read, however it looks', () => {
  for (const h of ['bytes=' + ' '.repeat(16_000) + 'x', 'bytes=' + '0'.repeat(MAX_RANGE_HEADER) + '-', ' '.repeat(16_000) + 'bytes=0-1']) {
    const steps = { n: 0 };
    assert.deepEqual(parseRange(h, 10), { kind: 'none' });
    parseRange(h, 10, steps);
    assert.equal(steps.n, 0);
  }
});

test('property: each character is looked at a bounded number of times (linear, whatever the input)', () => {
  const alphabet = fc.constantFrom(' ', '\t', '-', '=', ',', '0', '1', '9', 'b', 'y', 't', 'e', 's', 'x');
  fc.assert(fc.property(fc.array(alphabet, { maxLength: MAX_RANGE_HEADER }).map((a) => a.join('')), fc.boolean(), (body, prefix) => {
    const h = prefix ? `bytes=${body}` : body;
    const steps = { n: 0 };
    parseRange(h, 1_000_000, steps);
    // A character ends one scan and is looked at again by the next: at most three looks each.
    assert.ok(steps.n <= 3 * h.length, `${steps.n} steps for ${h.length} characters`);
  }), { numRuns: 2_000 });
  // The adversarial shapes of the report, just under the cap: still linear.
  for (const h of ['bytes=' + ' '.repeat(150) + '1' + ' '.repeat(30) + 'x', 'bytes=' + '1'.repeat(190) + 'x']) {
    const steps = { n: 0 };
    assert.deepEqual(parseRange(h, 10, steps), { kind: 'none' });
    assert.ok(steps.n > 0 && steps.n <= 3 * h.length, `${steps.n} steps`);
  }
});
