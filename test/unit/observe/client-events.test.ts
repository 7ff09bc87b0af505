// The per-MAC ring of recent events: bounded in MACs, events per MAC, recent list, addresses
// and string length; file fetches tied to a MAC by the client's address; the last boot in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bareAddress, ClientEventLog, lastBootEnd, SIZE_PROBE, type ClientEvent } from '../../../src/observe/client-events.ts';

const mac = (i: number): string => `52:54:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const ev = (m: string, at: number, kind: ClientEvent['kind'] = 'offer', extra: Partial<ClientEvent> = {}): ClientEvent => ({ at, kind, mac: m, ...extra });

test('each MAC keeps its last perMac events, oldest first', () => {
  const log = new ClientEventLog({ perMac: 3 });
  for (let i = 0; i < 5; i++) log.record(ev(mac(1), i));
  assert.deepEqual(log.eventsOf(mac(1)).map((e) => e.at), [2, 3, 4]);
  assert.deepEqual(log.eventsOf('52:54:00:00:00:02'), []);
  assert.deepEqual(log.eventsOf(mac(1).toUpperCase()).length, 3, 'a MAC is looked up in any case');
});

test('memory is bounded: maxMacs × perMac events however many MACs a storm forges', () => {
  const log = new ClientEventLog({ maxMacs: 50, perMac: 4, recent: 20 });
  for (let i = 0; i < 5000; i++) for (let k = 0; k < 3; k++) log.record(ev(mac(i), i * 10 + k));
  assert.equal(log.macs, 50);
  assert.ok(log.size <= 50 * 4);
  assert.equal(log.recent().length, 20);
  // the least recently seen went first: the last 50 MACs are the ones kept
  assert.equal(log.eventsOf(mac(4999)).length, 3);
  assert.equal(log.eventsOf(mac(4949)).length, 0);
  assert.equal(log.eventsOf(mac(4950)).length, 3);
});

test('a MAC seen again is the most recent and survives eviction', () => {
  const log = new ClientEventLog({ maxMacs: 2 });
  log.record(ev(mac(1), 1));
  log.record(ev(mac(2), 2));
  log.record(ev(mac(1), 3));
  log.record(ev(mac(3), 4));
  assert.equal(log.eventsOf(mac(2)).length, 0);
  assert.equal(log.eventsOf(mac(1)).length, 2);
});

test('recent(): newest first, across clients, filterable by MAC', () => {
  const log = new ClientEventLog({ recent: 5 });
  for (let i = 0; i < 8; i++) log.record(ev(mac(i % 2), i));
  assert.deepEqual(log.recent().map((e) => e.at), [7, 6, 5, 4, 3]);
  assert.deepEqual(log.recent(2).map((e) => e.at), [7, 6]);
  assert.deepEqual(log.recent(10, mac(0)).map((e) => e.at), [6, 4]);
});

test('client-sent strings are clipped', () => {
  const log = new ClientEventLog({ maxString: 16 });
  log.record(ev(mac(1), 1, 'offer', { hostname: 'h'.repeat(1000), vendorClass: 'PXEClient' + 'v'.repeat(100), file: 'f'.repeat(17) }));
  const [e] = log.eventsOf(mac(1));
  assert.equal(e!.hostname, `${'h'.repeat(16)}…`);
  assert.equal(e!.vendorClass!.length, 17);
  assert.equal(e!.file!.length, 17);
});

test('a fetch is kept under the MAC last seen at its address; unknown addresses are not kept', () => {
  const log = new ClientEventLog({ maxAddresses: 2 });
  log.learnAddress('10.0.0.5', mac(1));
  assert.equal(log.recordFetch({ at: 5, client: '10.0.0.5:2070', protocol: 'tftp', file: 'pxelinux.0', bytes: 10, result: 'ok' }), true);
  assert.equal(log.recordFetch({ at: 6, client: '10.0.0.9:2070', protocol: 'tftp', file: 'x', bytes: 0, result: 'ok' }), false);
  assert.deepEqual(log.eventsOf(mac(1)).map((e) => [e.kind, e.file, e.result]), [['file', 'pxelinux.0', 'ok']]);
  log.learnAddress('::ffff:10.0.0.6', mac(2));
  assert.equal(log.macOf('10.0.0.6:80'), mac(2));
  log.learnAddress('10.0.0.7', mac(3));
  assert.equal(log.macOf('10.0.0.5'), undefined, 'the oldest address went');
  log.learnAddress('0.0.0.0', mac(4));
  assert.equal(log.macOf('0.0.0.0'), undefined);
});

test('bareAddress strips the port and the IPv4-mapped prefix', () => {
  assert.equal(bareAddress('10.1.2.3:69'), '10.1.2.3');
  assert.equal(bareAddress('::ffff:10.1.2.3:8080'), '10.1.2.3');
  assert.equal(bareAddress('10.1.2.3'), '10.1.2.3');
});

test('the last boot, in words', () => {
  assert.equal(lastBootEnd([]), 'nothing seen');
  assert.equal(lastBootEnd([ev(mac(1), 1, 'held')]), 'not answered (held)');
  assert.equal(lastBootEnd([ev(mac(1), 1, 'offer')]), 'answered; no file fetched since');
  const boot = [ev(mac(1), 1, 'offer'), { ...ev(mac(1), 2, 'file', { file: 'pxelinux.0', result: 'ok' }), peer: 'a' }, { ...ev(mac(1), 3, 'file', { file: 'ldlinux.c32', result: 'timeout' }), peer: 'b' }];
  assert.equal(lastBootEnd(boot), 'failed fetching ldlinux.c32 from b: timeout');
  assert.equal(lastBootEnd(boot.slice(0, 2)), 'fetched pxelinux.0 from a: ok (the last file seen)');
  assert.equal(lastBootEnd([...boot, ev(mac(1), 4, 'offer')]), 'answered; no file fetched since', 'a new attempt starts over');
  assert.equal(lastBootEnd([ev(mac(1), 1, 'ack'), ev(mac(1), 2, 'file', { file: 'bootx64.efi', result: 'ok' }), ev(mac(1), 3, 'file', { file: 'x.efi', result: SIZE_PROBE })]), 'fetched bootx64.efi: ok (the last file seen)', 'an EDK2 size probe is not how a boot ends');
});
