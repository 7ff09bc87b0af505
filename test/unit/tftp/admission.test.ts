// Which RRQs get a slot (src/tftp/admission.ts), over data: no sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admit, type AdmissionView, type Slot, transferKey } from '../../../src/tftp/admission.ts';

const limits = { maxTransfers: 10, maxPerClient: 3, maxUnconfirmed: 4 };
const slot = (address: string, port: number, o: Partial<Slot> = {}): Slot => ({ key: `${address}|${port}|f`, clientAddress: address, clientPort: port, confirmed: true, retrying: false, ...o });
function view(slots: Slot[]): AdmissionView {
  const unconfirmed = slots.filter((s) => !s.confirmed);
  return {
    total: slots.length, unconfirmed: unconfirmed.length, oldestUnconfirmed: unconfirmed[0],
    ofClient: [], has: (k) => slots.some((s) => s.key === k),
  };
}
const of = (slots: Slot[], address: string): AdmissionView => ({ ...view(slots), ofClient: slots.filter((s) => s.clientAddress === address) });

test('a retransmitted RRQ is a duplicate; a new one is admitted', () => {
  const running = [slot('10.0.0.1', 2000)];
  assert.equal(admit({ address: '10.0.0.1', port: 2000, file: 'f' }, of(running, '10.0.0.1'), limits).verdict, 'duplicate');
  const a = admit({ address: '10.0.0.1', port: 2001, file: 'f' }, of(running, '10.0.0.1'), limits);
  assert.deepEqual(a, { verdict: 'admit', key: transferKey({ address: '10.0.0.1', port: 2001, file: 'f' }), supersede: [], evict: undefined });
});

test('a request from a new port supersedes a retransmitting transfer of the same address, not a healthy one', () => {
  const stuck = slot('10.0.0.1', 2000, { retrying: true });
  const healthy = slot('10.0.0.1', 2002);
  const a = admit({ address: '10.0.0.1', port: 2001, file: 'f' }, of([stuck, healthy], '10.0.0.1'), limits);
  assert.equal(a.verdict, 'admit');
  assert.deepEqual(a.supersede, [stuck]);
});

test('busy and per-client limits refuse with a message', () => {
  const full = Array.from({ length: 10 }, (_, i) => slot(`10.0.1.${i}`, 2000));
  const busy = admit({ address: '10.0.0.9', port: 1, file: 'f' }, of(full, '10.0.0.9'), limits);
  assert.equal(busy.verdict === 'refuse' && busy.reason, 'busy');
  const three = [1, 2, 3].map((p) => slot('10.0.0.1', p));
  const lim = admit({ address: '10.0.0.1', port: 9, file: 'f' }, of(three, '10.0.0.1'), limits);
  assert.equal(lim.verdict === 'refuse' && lim.reason, 'client-limit');
  assert.match(lim.verdict === 'refuse' ? lim.message : '', /limit 3/);
});

test('unconfirmed transfers have their own pool: when it is full the oldest gives way, confirmed ones never do', () => {
  const confirmed = [slot('10.0.2.1', 1), slot('10.0.2.2', 1)];
  const forged = [1, 2, 3, 4].map((i) => slot(`10.9.0.${i}`, 7, { confirmed: false }));
  const a = admit({ address: '10.0.0.5', port: 3000, file: 'f' }, of([...forged, ...confirmed], '10.0.0.5'), limits);
  assert.equal(a.verdict, 'admit');
  assert.deepEqual(a.verdict === 'admit' && a.evict, forged[0]);
});

test('property: a flood of unconfirmed requests never refuses a real client while confirmed transfers fit, and never evicts a confirmed one', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 40 }), (nConfirmed, flood) => {
    let slots: Slot[] = Array.from({ length: nConfirmed }, (_, i) => slot(`10.0.3.${i}`, 1));
    for (let i = 0; i < flood; i++) {
      const r = { address: `10.9.${i >> 8}.${i & 255}`, port: 7, file: 'f' };
      const a = admit(r, of(slots, r.address), limits);
      if (a.verdict !== 'admit') continue;
      assert.ok(a.evict === undefined || !a.evict.confirmed, 'evicted a confirmed transfer');
      slots = slots.filter((s) => s.key !== a.evict?.key);
      slots.push({ ...slot(r.address, r.port), key: a.key, confirmed: false });
      assert.ok(slots.filter((s) => !s.confirmed).length <= limits.maxUnconfirmed);
    }
    assert.equal(slots.filter((s) => s.confirmed).length, nConfirmed, 'a confirmed transfer was lost');
    const real = admit({ address: '10.0.0.77', port: 5, file: 'f' }, of(slots, '10.0.0.77'), limits);
    assert.equal(real.verdict, 'admit', 'a real client was refused during the flood');
  }));
});

test('the pool is not vacuous: without it (maxUnconfirmed = maxTransfers) the flood refuses the real client', () => {
  const open = { ...limits, maxUnconfirmed: limits.maxTransfers };
  let slots: Slot[] = [];
  for (let i = 0; i < 40; i++) {
    const r = { address: `10.9.0.${i}`, port: 7, file: 'f' };
    const a = admit(r, of(slots, r.address), open);
    if (a.verdict === 'admit') slots = [...slots.filter((s) => s.key !== a.evict?.key), { ...slot(r.address, 7), key: a.key, confirmed: false }];
  }
  assert.equal(admit({ address: '10.0.0.77', port: 5, file: 'f' }, of(slots, '10.0.0.77'), { ...open, maxUnconfirmed: 1e9 }).verdict, 'refuse');
});
