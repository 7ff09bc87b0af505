// A peer's copy of the assignments (store/deployments.ts) over a store that fails on demand: a
// once used up while the store cannot take the write stays used up on this peer through every
// refresh, and reaches the store when it can; a re-arm meanwhile is not used up by it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deployments, StoreDown } from '../../../src/store/deployments.ts';
import type { Store } from '../../../src/store/store.ts';
import { arm, consume, type Assignment } from '../../../src/store/model.ts';

/** The store rules from model.ts over a Map; `down` makes every call throw, `consumeDown` only consumes. */
function fakeStore() {
  const rows = new Map<string, Assignment>();
  const f = { rows, down: false, consumeDown: false, consumes: 0 };
  const check = () => { if (f.down) throw new Error('ECONNREFUSED'); };
  const store: Store = {
    kind: 'sqlite',
    async get(mac) { check(); const a = rows.get(mac); return a === undefined ? undefined : { mac, assignment: a }; },
    async list() { check(); return [...rows].map(([mac, a]) => ({ mac, assignment: a })); },
    async assignments() { check(); return new Map(rows); },
    async put(mac, input, now) { check(); const a = arm(rows.get(mac), input, now); rows.set(mac, a); return { mac, assignment: a }; },
    async clear(mac) { check(); return rows.delete(mac); },
    async consume(mac, gen, now, by) {
      check();
      if (f.consumeDown) throw new Error('timeout');
      f.consumes++;
      const r = consume(rows.get(mac), gen, now, by);
      if (r.next !== undefined) rows.set(mac, r.next);
      return r.result;
    },
    async see() { check(); },
    async close() {},
  };
  return { f, store };
}

const MAC = '52:54:00:00:00:01';
const PROFILES = { lab: { bios: 'pxelinux.0' } };

test('used up while the consume cannot be written: quiet through refreshes, written later, exactly once', async () => {
  const { f, store } = fakeStore();
  const d = new Deployments({ open: async () => store, peer: 'pxe-a' });
  await d.sync();
  await d.put(MAC, { profile: 'lab', mode: 'once' }, 1);
  f.consumeDown = true;
  d.delivered(MAC, 'pxelinux.0', PROFILES, 2);
  assert.equal(d.lookup(MAC, 2)?.state, 'consumed', 'quiet at once');
  await d.sync();
  await d.sync();
  assert.equal(f.rows.get(MAC)?.consumedAt, undefined, 'the store has not taken it yet');
  assert.equal(d.lookup(MAC, 3)?.state, 'consumed', 'a failed round keeps the copy as it was');
  f.consumeDown = false;
  await d.sync();
  assert.equal(f.rows.get(MAC)?.consumedAt, 2);
  assert.equal(f.rows.get(MAC)?.consumedBy, 'pxe-a');
  const before = f.consumes;
  await d.sync();
  assert.equal(f.consumes, before, 'nothing left to write');
  await d.close();
});

test('used up while a refresh was reading the store: the answer read before it does not bring it back', async () => {
  const { f, store } = fakeStore();
  let d: Deployments | undefined;
  let during: (() => void) | undefined;
  const slow: Store = { ...store, async assignments(limit) { const m = await store.assignments(limit); during?.(); during = undefined; return m; } };
  d = new Deployments({ open: async () => slow, peer: 'pxe-a' });
  await d.sync();
  await d.put(MAC, { profile: 'lab', mode: 'once' }, 1);
  // The delivery lands after the round wrote what waited and read the rows, before it swaps them in.
  during = () => { f.consumeDown = true; d!.delivered(MAC, 'pxelinux.0', PROFILES, 2); };
  await d.sync();
  assert.equal(d.lookup(MAC, 3)?.state, 'consumed');
  f.consumeDown = false;
  await d.sync();
  await d.sync();
  assert.equal(f.rows.get(MAC)?.consumedAt, 2);
  await d.close();
});

test('a once that waited through an outage does not use up the assignment re-armed meanwhile (by another peer)', async () => {
  const { f, store } = fakeStore();
  const d = new Deployments({ open: async () => store, peer: 'pxe-a' });
  await d.sync();
  await d.put(MAC, { profile: 'lab', mode: 'once' }, 1);
  f.down = true;
  assert.equal(await d.done(MAC, 2), 'queued');
  await assert.rejects(d.put(MAC, { profile: 'lab', mode: 'once' }, 3), StoreDown, 'this peer refuses writes while the store is down');
  // Another peer re-arms it directly in the store.
  f.rows.set(MAC, arm(f.rows.get(MAC), { profile: 'lab', mode: 'once' }, 4));
  f.down = false;
  await d.sync();
  assert.equal(f.rows.get(MAC)?.consumedAt, undefined, 'the stale consume took nothing');
  assert.equal(d.lookup(MAC, 5)?.state, 'active', 'and this peer answers the re-armed client again');
  await d.close();
});

test('a once is used up only by the profile\'s last file, and a persistent one never', async () => {
  const { store } = fakeStore();
  const d = new Deployments({ open: async () => store, peer: 'pxe-a' });
  await d.sync();
  const profiles = { deb: { bios: 'pxelinux.0', kernel: 'vmlinuz', initrd: ['initrd.gz'] }, lab: { bios: 'pxelinux.0' } };
  await d.put(MAC, { profile: 'deb', mode: 'once' }, 1);
  d.delivered(MAC, 'pxelinux.0', profiles, 2);
  d.delivered(MAC, 'vmlinuz', profiles, 3);
  assert.equal(d.lookup(MAC, 3)?.state, 'active');
  d.delivered(MAC, '/initrd.gz', profiles, 4);
  assert.equal(d.lookup(MAC, 4)?.state, 'consumed');
  await d.put('52:54:00:00:00:02', { profile: 'lab', mode: 'persistent' }, 1);
  d.delivered('52:54:00:00:00:02', 'pxelinux.0', profiles, 2);
  assert.equal(d.lookup('52:54:00:00:00:02', 2)?.state, 'active');
  await d.close();
});

test('found by its UUID from another MAC: decides, and that MAC\'s delivery uses up the one assignment', async () => {
  const { f, store } = fakeStore();
  const d = new Deployments({ open: async () => store, peer: 'pxe-a' });
  await d.sync();
  const UUID = '4c4c4544-0042-3510-8052-b2c04f503232';
  await d.put(MAC, { profile: 'lab', mode: 'once', uuid: UUID }, 1);
  const other = '52:54:00:00:00:77';
  assert.equal(d.lookup(other, 2), undefined, 'no UUID, no match');
  assert.deepEqual(d.lookup(other, 2, ['00000000-0000-0000-0000-000000000000', UUID]), { profile: 'lab', mode: 'once', state: 'active', viaUuidOf: MAC });
  d.delivered(other, 'pxelinux.0', PROFILES, 3);
  await d.sync();
  assert.equal(f.rows.get(MAC)?.consumedAt, 3);
  assert.equal(d.lookup(other, 4, [UUID])?.state, 'consumed');
  await d.clear(MAC);
  assert.equal(d.lookup(other, 5, [UUID]), undefined, 'cleared: the UUID no longer finds it');
  // A refresh rebuilds the UUID index from the store.
  f.rows.set('52:54:00:00:00:05', arm(undefined, { profile: 'lab', mode: 'persistent', uuid: UUID }, 6));
  await d.sync();
  assert.equal(d.lookup(other, 7, [UUID])?.viaUuidOf, '52:54:00:00:00:05');
  await d.close();
});

test('a store down at start: no copy, the rules decide, and the first good round fills it', async () => {
  const { f, store } = fakeStore();
  f.rows.set(MAC, arm(undefined, { profile: 'lab', mode: 'persistent' }, 1));
  let opens = 0;
  const d = new Deployments({ open: async () => { opens++; if (opens < 3) throw new Error('ECONNREFUSED'); return store; }, peer: 'pxe-a' });
  await d.sync();
  assert.equal(d.reachable, false);
  assert.equal(d.lookup(MAC, 2), undefined);
  await d.sync();
  await d.sync();
  assert.equal(d.reachable, true);
  assert.equal(d.lookup(MAC, 2)?.profile, 'lab');
  await d.close();
});
