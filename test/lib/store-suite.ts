// One test suite for every store backend: the same calls and the same answers from node:sqlite
// and from PostgreSQL (test/integration/store-*.test.ts run it against each).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Store } from '../../src/store/store.ts';

export function storeSuite(name: string, open: () => Promise<Store>, skip: string | false): void {
  const T0 = 1_800_000_000_000;

  test(`${name}: put, get, list, clear`, { skip }, async () => {
    const s = await open();
    try {
      assert.equal(await s.get('52:54:00:00:00:01'), undefined);
      const r = await s.put('52:54:00:00:00:01', { profile: 'debian', mode: 'persistent' }, T0);
      assert.deepEqual(r, { mac: '52:54:00:00:00:01', assignment: { profile: 'debian', mode: 'persistent', generation: 1, assignedAt: T0 } });
      await s.put('52:54:00:00:00:02', { profile: 'debian', mode: 'once', expiresAt: T0 + 60_000 }, T0);
      const again = await s.put('52:54:00:00:00:01', { profile: 'rescue', mode: 'once' }, T0 + 1);
      assert.equal(again.assignment?.generation, 2);
      assert.equal(again.assignment?.profile, 'rescue');
      assert.deepEqual((await s.list(10)).map((c) => c.mac), ['52:54:00:00:00:01', '52:54:00:00:00:02']);
      assert.equal((await s.list(1)).length, 1);
      assert.equal((await s.get('52:54:00:00:00:02'))?.assignment?.expiresAt, T0 + 60_000);
      assert.deepEqual([...(await s.assignments(100)).keys()], ['52:54:00:00:00:01', '52:54:00:00:00:02']);
      const withUuid = await s.put('52:54:00:00:00:03', { profile: 'debian', mode: 'once', uuid: '4c4c4544-0042-3510-8052-b2c04f503232' }, T0);
      assert.equal(withUuid.assignment?.uuid, '4c4c4544-0042-3510-8052-b2c04f503232');
      assert.equal((await s.assignments(100)).get('52:54:00:00:00:03')?.uuid, '4c4c4544-0042-3510-8052-b2c04f503232');
      assert.equal((await s.put('52:54:00:00:00:03', { profile: 'debian', mode: 'once' }, T0)).assignment?.uuid, undefined, 'a put without uuid drops it');
      await s.clear('52:54:00:00:00:03');
      assert.equal(await s.clear('52:54:00:00:00:01'), true);
      assert.equal(await s.clear('52:54:00:00:00:01'), false, 'nothing left to clear');
      assert.equal(await s.clear('52:54:00:00:00:09'), false);
      assert.deepEqual([...(await s.assignments(100)).keys()], ['52:54:00:00:00:02']);
    } finally { await s.close(); }
  });

  test(`${name}: a once is consumed exactly once, and re-arming makes a new generation`, { skip }, async () => {
    const s = await open();
    try {
      const mac = '52:54:00:00:01:01';
      assert.equal(await s.consume(mac, undefined, T0, 'a'), 'none');
      await s.put(mac, { profile: 'debian', mode: 'once' }, T0);
      assert.equal(await s.consume(mac, 7, T0 + 1, 'a'), 'stale', 'a consume for another generation takes nothing');
      assert.equal(await s.consume(mac, 1, T0 + 2, 'pxe-a'), 'consumed');
      assert.equal(await s.consume(mac, 1, T0 + 3, 'pxe-b'), 'already');
      assert.equal(await s.consume(mac, undefined, T0 + 3, 'pxe-b'), 'already');
      const got = (await s.get(mac))!.assignment!;
      assert.equal(got.consumedAt, T0 + 2);
      assert.equal(got.consumedBy, 'pxe-a');
      const re = await s.put(mac, { profile: 'debian', mode: 'once' }, T0 + 4);
      assert.equal(re.assignment?.consumedAt, undefined);
      assert.equal(await s.consume(mac, 1, T0 + 5, 'pxe-a'), 'stale', 'a consume that waited through an outage does not use up the re-armed one');
      assert.equal(await s.consume(mac, 2, T0 + 5, 'pxe-a'), 'consumed');
      await s.put('52:54:00:00:01:02', { profile: 'debian', mode: 'persistent' }, T0);
      assert.equal(await s.consume('52:54:00:00:01:02', undefined, T0 + 1, 'a'), 'persistent');
      await s.put('52:54:00:00:01:03', { profile: 'debian', mode: 'once', expiresAt: T0 + 10 }, T0);
      assert.equal(await s.consume('52:54:00:00:01:03', undefined, T0 + 10, 'a'), 'expired');
    } finally { await s.close(); }
  });

  test(`${name}: 20 racing consumes of one once (two connections): exactly one wins`, { skip }, async () => {
    const a = await open();
    const b = await open();
    try {
      const mac = '52:54:00:00:02:01';
      await a.put(mac, { profile: 'debian', mode: 'once' }, T0);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume(mac, 1, T0 + i, `peer-${i}`)));
      assert.equal(results.filter((r) => r === 'consumed').length, 1, results.join(','));
      assert.equal(results.filter((r) => r === 'already').length, 19);
    } finally { await a.close(); await b.close(); }
  });

  test(`${name}: what the pool saw is kept beside the assignment and survives a clear`, { skip }, async () => {
    const s = await open();
    try {
      const mac = '52:54:00:00:03:01';
      await s.see([{ mac, seen: { firstSeen: T0, lastSeen: T0, firmware: 'bios', arch: 0, vendorClass: 'PXEClient:Arch:00000' } }], 1000);
      await s.put(mac, { profile: 'debian', mode: 'persistent' }, T0);
      await s.see([{ mac, seen: { firstSeen: T0 + 5, lastSeen: T0 + 9, firmware: 'bios', arch: 0, file: 'pxelinux.0', peer: 'pxe-a' } }], 1000);
      const r = (await s.get(mac))!;
      assert.equal(r.assignment?.profile, 'debian', 'a report does not touch the assignment');
      assert.equal(r.seen?.file, 'pxelinux.0');
      await s.clear(mac);
      assert.equal((await s.get(mac))?.seen?.peer, 'pxe-a');
      assert.equal((await s.get(mac))?.assignment, undefined);
    } finally { await s.close(); }
  });

  test(`${name}: past maxRows clients, reports update known clients and add none`, { skip }, async () => {
    const s = await open();
    try {
      const rows = (await s.list(10_000)).length;
      const seen = (at: number) => ({ firstSeen: at, lastSeen: at, firmware: 'bios' });
      await s.see([{ mac: '52:54:00:00:06:01', seen: seen(T0) }], rows + 1);
      await s.see([{ mac: '52:54:00:00:06:02', seen: seen(T0) }, { mac: '52:54:00:00:06:01', seen: { ...seen(T0 + 7), firstSeen: T0 } }], rows + 1);
      assert.equal(await s.get('52:54:00:00:06:02'), undefined, 'the table was full: no new row');
      assert.equal((await s.get('52:54:00:00:06:01'))?.seen?.lastSeen, T0 + 7, 'a known client is still updated');
      assert.equal((await s.list(10_000)).length, rows + 1);
    } finally { await s.close(); }
  });

  test(`${name}: unchanged() says whether another connection changed an assignment since the last read`, { skip }, async () => {
    const a = await open();
    const b = await open();
    try {
      await a.assignments(100_000);
      assert.equal(await a.unchanged!(), true);
      await b.put('52:54:00:00:07:01', { profile: 'debian', mode: 'once' }, T0);
      assert.equal(await a.unchanged!(), false, 'a put by another connection');
      await a.assignments(100_000);
      assert.equal(await a.unchanged!(), true);
      await b.consume('52:54:00:00:07:01', undefined, T0 + 1, 'pxe-b');
      assert.equal(await a.unchanged!(), false, 'a consume by another connection');
      await a.assignments(100_000);
      await b.clear('52:54:00:00:07:01');
      assert.equal(await a.unchanged!(), false, 'a clear by another connection');
    } finally { await a.close(); await b.close(); }
  });

  test(`${name}: opening an existing store again migrates nothing twice`, { skip }, async () => {
    const a = await open();
    await a.put('52:54:00:00:04:01', { profile: 'debian', mode: 'persistent' }, T0);
    await a.close();
    const b = await open();
    try {
      assert.equal((await b.get('52:54:00:00:04:01'))?.assignment?.profile, 'debian');
    } finally { await b.close(); }
  });
}
