import { test } from 'node:test';
import assert from 'node:assert/strict';
import { warmUp } from '../../../src/tftp/warmup.ts';

test('the start-up warm-up runs whole transfers through the machine (lock-step and windowed)', () => {
  // 16 KiB + 100 bytes at 1468: 12 DATA + OACK per transfer, at least; ticks add none after done
  const sent = warmUp(30);
  assert.ok(sent >= 30 * 13, `sent ${sent}`);
  assert.equal(warmUp(0), 0);
});
