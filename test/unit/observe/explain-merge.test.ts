// explain --pool's merge: peers' answers (and the ones that gave none) into one account, and
// the text of it, where nothing a client sent can drive the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatMerged, mergeExplains, type PeerAnswer } from '../../../src/observe/explain-merge.ts';
import type { ExplainBody } from '../../../src/app/explain-client.ts';

const MAC = '52:54:00:00:00:01';
const order = ['pxe-b', 'pxe-a', 'pxe-c'];
function body(peer: string, o: Partial<ExplainBody> = {}): ExplainBody {
  return { peer, mac: MAC, at: 10_000, known: true, verdict: 'hold', reason: 'backup', rule: 'default', profile: 'lab', rank: { order, live: ['pxe-a', 'pxe-b'], owner: 'pxe-b' }, events: [], ...o };
}
const up = (peer: string, o: Partial<ExplainBody> = {}): PeerAnswer => ({ peer, url: `http://${peer}/`, ok: true, body: body(peer, o) });

test('three peers, one down: order and owner, verdicts, the down peer with its error', () => {
  const m = mergeExplains(MAC, [
    up('pxe-a', { events: [{ at: 1, kind: 'held', mac: MAC, port: 67, reason: 'backup: pxe-b owns this client' }] }),
    up('pxe-b', {
      verdict: 'answer', reason: 'owner: this peer ranks first',
      events: [
        { at: 2, kind: 'offer', mac: MAC, port: 67, file: 'pxelinux.0', reason: 'owner', hostname: 'lab-1', vendorClass: 'PXEClient:Arch:00000' },
        { at: 3, kind: 'ack', mac: MAC, port: 4011, file: 'pxelinux.0' },
        { at: 4, kind: 'file', mac: MAC, protocol: 'tftp', file: 'pxelinux.0', result: 'ok', bytes: 1000 },
      ],
    }),
    { peer: 'pxe-c', url: 'http://pxe-c/', ok: false, error: 'ECONNREFUSED' },
  ]);
  assert.deepEqual(m.order, order);
  assert.equal(m.owner, 'pxe-b');
  assert.deepEqual(m.disagree, []);
  assert.deepEqual(m.peers.map((p) => [p.peer, p.state, p.verdict ?? p.error]), [['pxe-a', 'up', 'hold'], ['pxe-b', 'up', 'answer'], ['pxe-c', 'down', 'ECONNREFUSED']]);
  assert.deepEqual(m.timeline.map((e) => `${e.peer}:${e.kind}`), ['pxe-a:held', 'pxe-b:offer', 'pxe-b:ack', 'pxe-b:file']);
  assert.deepEqual(m.files, [{ at: 4, peer: 'pxe-b', protocol: 'tftp', file: 'pxelinux.0', result: 'ok', bytes: 1000 }]);
  assert.equal(m.lastBoot, 'fetched pxelinux.0 from pxe-b: ok (the last file seen)');
  assert.equal(m.facts.hostname, 'lab-1');
  const text = formatMerged(m);
  assert.match(text, /rank order: pxe-b > pxe-a > pxe-c; owner now: pxe-b/);
  assert.match(text, /pxe-c: down: ECONNREFUSED/);
  assert.match(text, /pxe-b: answer: owner: this peer ranks first/);
  assert.match(text, /pxelinux.0 from pxe-b over tftp: ok/);
  assert.match(text, /last boot: fetched pxelinux.0 from pxe-b/);
});

test('peers that see a different owner are named', () => {
  const m = mergeExplains(MAC, [up('pxe-a'), up('pxe-b', { rank: { order, live: ['pxe-a'], owner: 'pxe-a' } })]);
  assert.deepEqual(m.disagree, ['pxe-b']);
  assert.match(formatMerged(m), /warning: pxe-b sees a different order or owner/);
});

test('every peer down: no order, every peer says why', () => {
  const m = mergeExplains(MAC, [{ peer: 'a', url: 'u', ok: false, error: 'no answer within 500 ms' }]);
  assert.deepEqual(m.order, []);
  assert.equal(m.owner, null);
  assert.equal(m.lastBoot, 'nothing seen');
  assert.match(formatMerged(m), /a: down: no answer within 500 ms/);
});

test('the text neutralises control characters from client strings', () => {
  const hostile = 'x\u001b[2J\u001b]0;owned\u0007\r\nfake line\u009b31m';
  const m = mergeExplains(MAC, [up('pxe-a', { events: [{ at: 1, kind: 'file', mac: MAC, protocol: 'tftp', file: hostile, result: 'ok', hostname: hostile }] })]);
  const text = formatMerged(m);
  assert.doesNotMatch(text, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  assert.ok(!text.includes('\nfake line'), 'no forged line');
  assert.ok(text.includes('x?[2J?]0;owned???fake line?31m'), text);
});
