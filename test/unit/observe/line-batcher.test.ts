// LineBatcher: a turn's log lines reach the sink as one chunk, in order, at the end of the turn
// (or at once past maxBytes); flush() empties it (exit, pino's flush).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { isoTimeCached, LineBatcher } from '../../../src/observe/log.ts';

function manual() {
  const chunks: string[] = [];
  const turns: (() => void)[] = [];
  const b = new LineBatcher({ write: (c) => { chunks.push(c); } }, { maxBytes: 100, schedule: (f) => { turns.push(f); } });
  const endTurn = () => { for (const f of turns.splice(0)) f(); };
  return { b, chunks, turns, endTurn };
}

test('lines written in one turn leave as one chunk, in order, when the turn ends', () => {
  const { b, chunks, turns, endTurn } = manual();
  b.write('a\n');
  b.write('b\n');
  b.write('c\n');
  assert.deepEqual(chunks, []);
  assert.equal(b.pending, 3);
  assert.equal(turns.length, 1, 'one flush scheduled per turn, not one per line');
  endTurn();
  assert.deepEqual(chunks, ['a\nb\nc\n']);
  assert.equal(b.pending, 0);
  b.write('d\n');
  endTurn();
  assert.deepEqual(chunks, ['a\nb\nc\n', 'd\n']);
});

test('past maxBytes the lines leave at once; flush() empties the batch and calls back', () => {
  const { b, chunks, endTurn } = manual();
  const line = `${'x'.repeat(59)}\n`;
  b.write(line);
  b.write(line);
  assert.deepEqual(chunks, [line + line], '120 bytes ≥ 100: written without waiting');
  b.write('tail\n');
  let called = false;
  b.flush(() => { called = true; });
  assert.ok(called);
  assert.deepEqual(chunks, [line + line, 'tail\n']);
  endTurn(); // the scheduled flush finds nothing
  assert.equal(chunks.length, 2);
  b.flush();
  assert.equal(chunks.length, 2, 'an empty flush writes nothing');
});

test('pino through a LineBatcher writes the same JSON lines it writes directly', async () => {
  const direct: string[] = [];
  const chunks: string[] = [];
  const opts = { name: 'pxepool', base: { pid: 1 }, timestamp: false };
  const a = pino(opts, { write: (s: string) => { direct.push(s); } });
  const b = pino(opts, new LineBatcher({ write: (c) => { chunks.push(c); } }));
  for (const l of [a, b]) {
    l.info({ event: 'answer', port: 67, mac: '52:54:00:00:00:01', file: 'snponly.efi', to: '255.255.255.255:68' }, 'answered PXE client');
    l.warn({ event: 'boot-root', missing: 'x"y' }, 'missing');
  }
  assert.deepEqual(chunks, []);
  await new Promise((r) => setImmediate(r));
  assert.equal(chunks.join(''), direct.join(''));
  const first = JSON.parse(chunks.join('').split('\n')[0]!) as Record<string, unknown>;
  assert.equal(first.event, 'answer');
  assert.equal(first.mac, '52:54:00:00:00:01');
});

test('isoTimeCached gives what pino.stdTimeFunctions.isoTime gives, for the same millisecond', () => {
  const t = Date.UTC(2026, 11, 3, 17, 25, 53, 123);
  assert.equal(isoTimeCached(t), ',"time":"2026-12-03T17:25:53.123Z"');
  assert.equal(isoTimeCached(t), ',"time":"2026-12-03T17:25:53.123Z"');
  assert.equal(isoTimeCached(t + 1), ',"time":"2026-12-03T17:25:53.124Z"');
  assert.match(pino.stdTimeFunctions.isoTime(), /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  assert.match(isoTimeCached(), /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
});
