// literalLookup: an IP literal is answered at once (in the same tick), so dgram's send() writes the
// datagram when called; a name still goes to dns.lookup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { literalLookup } from '../../../src/net/udp.ts';

test('IP literals are answered synchronously with their family', () => {
  const got: unknown[] = [];
  const lookup = literalLookup as unknown as (a: string, o: object, cb: (e: unknown, a: string, f: number) => void) => void;
  lookup('10.0.0.1', {}, (e, a, f) => got.push([e, a, f]));
  lookup('::1', {}, (e, a, f) => got.push([e, a, f]));
  assert.deepEqual(got, [[null, '10.0.0.1', 4], [null, '::1', 6]]);
});

test('a name goes through dns.lookup (asynchronously)', async () => {
  const lookup = literalLookup as unknown as (a: string, o: object, cb: (e: unknown, a: string, f: number) => void) => void;
  const r = await new Promise<[unknown, string, number]>((res) => { lookup('localhost', { family: 4 }, (e, a, f) => res([e, a, f])); });
  assert.equal(r[0], null);
  assert.equal(r[2], 4);
});

test('a socket with it sends on loopback before send() returns to the next tick', async () => {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', () => r()));
  const got = new Promise<string>((r) => rx.once('message', (m) => r(m.toString())));
  let sentCb = false;
  tx.send(Buffer.from('hi'), rx.address().port, '127.0.0.1', (err) => { assert.ifError(err); sentCb = true; });
  assert.equal(await got, 'hi');
  await new Promise((r) => setImmediate(r));
  assert.ok(sentCb, 'the send callback still runs');
  tx.close();
  rx.close();
});
