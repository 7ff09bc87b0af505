// RecentClients: the latest facts per MAC, bounded; a repeat that differs only in xid, secs or
// message type refreshes the kept copy in place (no new object per packet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentClients, sameClient } from '../../../src/app/recent-clients.ts';
import type { ClientFacts } from '../../../src/dhcp/facts-types.ts';

const facts = (o: Partial<ClientFacts> = {}): ClientFacts => ({
  mac: '52:54:00:00:00:01', xid: 1, messageType: 1, arch: 7, firmware: 'efi-x64', undi: { type: 1, major: 3, minor: 16 },
  uuid: 'u', uuidSwapped: 'v', vendorClass: 'PXEClient:Arch:00007:UNDI:003016', userClass: [], pxeClient: true, httpClient: false,
  isIpxe: false, relayed: false, giaddr: '0.0.0.0', ciaddr: '0.0.0.0', secs: 0, broadcast: true, bootItem: undefined, maxMessageSize: 1472, ...o,
});

test('sameClient ignores xid, secs and message type, and nothing else', () => {
  assert.ok(sameClient(facts(), facts({ xid: 9, secs: 4, messageType: 3 })));
  assert.ok(sameClient(facts({ userClass: ['iPXE'] }), facts({ userClass: ['iPXE'] })));
  assert.ok(!sameClient(facts(), facts({ arch: 0, firmware: 'bios' })));
  assert.ok(!sameClient(facts(), facts({ undi: { type: 1, major: 2, minor: 1 } })));
  assert.ok(!sameClient(facts(), facts({ undi: undefined })));
  assert.ok(!sameClient(facts(), facts({ userClass: ['iPXE'] })));
  assert.ok(!sameClient(facts(), facts({ relayed: true, giaddr: '10.0.0.1' })));
  assert.ok(!sameClient(facts(), facts({ bootItem: { type: 0, layer: 0 } })));
  assert.ok(!sameClient(facts(), facts({ hostname: 'h' })), 'a field only one of them has');
  assert.ok(!sameClient(facts({ source: '10.0.0.5:68' }), facts()));
});

test('a repeat refreshes the kept copy in place; a change keeps the new facts; the caller\'s object is not kept', () => {
  const rc = new RecentClients({ max: 2, ttlMs: 1000 });
  const first = facts();
  rc.remember(first, 0);
  const kept = rc.get(first.mac, 0)!;
  assert.notEqual(kept, first, 'a copy is kept');
  assert.deepEqual(kept, first);
  rc.remember(facts({ xid: 7, secs: 3, messageType: 3 }), 500);
  assert.equal(rc.get(first.mac, 500), kept, 'the same object, refreshed');
  assert.equal(kept.xid, 7);
  assert.equal(kept.secs, 3);
  assert.equal(kept.messageType, 3);
  assert.equal(first.xid, 1, 'the caller\'s facts are untouched');
  assert.ok(rc.get(first.mac, 1400) !== undefined, 'the refresh restarted the TTL');
  rc.remember(facts({ arch: 0, firmware: 'bios' }), 1400);
  assert.equal(rc.get(first.mac, 1400)!.firmware, 'bios', 'its latest request wins');
  assert.equal(rc.get(first.mac, 2500), undefined, 'expired');
});

test('bounded: the least recently seen MAC goes first, a refresh counts as seen', () => {
  const rc = new RecentClients({ max: 2 });
  const a = facts({ mac: 'aa' });
  const b = facts({ mac: 'bb' });
  rc.remember(a, 0);
  rc.remember(b, 1);
  rc.remember({ ...a, xid: 5 }, 2); // refresh: a is now the newest
  rc.remember(facts({ mac: 'cc' }), 3);
  assert.equal(rc.size, 2);
  assert.ok(rc.get('aa', 3) !== undefined);
  assert.equal(rc.get('bb', 3), undefined);
  assert.ok(rc.get('cc', 3) !== undefined);
});
