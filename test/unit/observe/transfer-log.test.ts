// One line per finished transfer, and readable lines on a terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transferLine } from '../../../src/observe/transfer-log.ts';
import { humanLine } from '../../../src/observe/log.ts';

test('a finished transfer: fields and a line like tftpd-hpa -v', () => {
  const t = transferLine({ protocol: 'tftp', client: '10.0.0.5:2070', file: 'pxelinux.0', bytes: 46_000, durationMs: 250, result: 'ok' });
  assert.equal(t.msg, 'tftp 10.0.0.5:2070 pxelinux.0: 44.9 KiB in 0.25 s (179.7 KiB/s), ok');
  assert.deepEqual(t.fields, { event: 'tftp-transfer', client: '10.0.0.5:2070', file: 'pxelinux.0', bytes: 46_000, durationMs: 250, bytesPerSec: 184_000, result: 'ok' });
  const h = transferLine({ protocol: 'http', client: '10.0.0.6:40000', file: '/vmlinuz', bytes: 14 * 1024 * 1024, durationMs: 0, result: 'aborted', status: 200 });
  assert.equal(h.msg, 'http 10.0.0.6:40000 /vmlinuz: 14.0 MiB in 0.00 s (0 B/s), 200 aborted');
  assert.equal(h.fields.status, 200);
});

test('human log lines: time, level, message, fields; nothing a client sent can move the cursor', () => {
  const line = humanLine(JSON.stringify({ level: 30, time: '2026-12-03T11:30:00.123Z', pid: 1, name: 'pxepool', msg: 'answered PXE client', mac: '52:54:00:aa:bb:cc', vendor: 'PXEClient\u001b[2J x', port: 67 }));
  assert.equal(line, '11:30:00.123 INFO  answered PXE client  mac=52:54:00:aa:bb:cc vendor="PXEClient\\u001b[2J x" port=67\n');
  assert.equal(humanLine('not json'), 'not json\n');
  assert.doesNotMatch(humanLine(JSON.stringify({ level: 40, msg: 'a\u0007b' })), /\u0007/);
});
