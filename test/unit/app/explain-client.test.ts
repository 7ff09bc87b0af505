// One peer's explain answer: the policy's decision and the pool gate's verdict in words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explainClient, normaliseMac, type ExplainInput } from '../../../src/app/explain-client.ts';
import { factsFromQuery } from '../../../src/app/ipxe-script.ts';

const facts = { ...factsFromQuery(new URLSearchParams({ mac: '52:54:00:00:00:01' }))!, firmware: 'bios' as const, hostname: 'lab-1' };
const boot = { action: 'boot' as const, rule: 'rules[0]', profile: 'lab', firmware: 'bios' as const, bootFile: 'pxelinux.0' };
const base: ExplainInput = { peer: 'a', mac: facts.mac, now: 1000, facts, known: true, decision: boot, events: [] };
const rank = { order: ['b', 'a', 'c'], live: ['a', 'b'], owner: 'b' };

test('a single server answers what the policy decides', () => {
  const x = explainClient(base);
  assert.equal(x.verdict, 'answer');
  assert.equal(x.reason, 'rules[0] → profile lab');
  assert.equal(x.bootFile, 'pxelinux.0');
  assert.equal(x.facts?.hostname, 'lab-1');
  assert.equal(x.rank, undefined);
});

test('in a pool: the backup holds and names the owner; the owner answers', () => {
  const held = explainClient({ ...base, rank, gate: { action: 'hold', delayMs: 0, rank: 1, reason: 'backup' } });
  assert.equal(held.verdict, 'hold');
  assert.match(held.reason, /^backup \(rank 1\): b answers; rules\[0\] → profile lab$/);
  assert.deepEqual(held.rank, { order: ['b', 'a', 'c'], live: ['a', 'b'], owner: 'b' });
  const owner = explainClient({ ...base, rank: { ...rank, owner: 'a' }, gate: { action: 'now', delayMs: 0, rank: 0, reason: 'owner-dead' } });
  assert.equal(owner.verdict, 'answer');
  assert.match(owner.reason, /peers ranked above this one are down/);
  const late = explainClient({ ...base, rank, gate: { action: 'after', delayMs: 40, rank: 1, reason: 'retransmit' } });
  assert.match(late.reason, /^takeover after 40 ms/);
});

test('an ignored client says which rule and why; an unseen one says it was judged on the MAC alone', () => {
  const x = explainClient({ ...base, decision: { action: 'ignore', rule: 'rules[1]', reason: 'MAC is on the deny list' } });
  assert.equal(x.verdict, 'ignore');
  assert.equal(x.reason, 'rules[1]: MAC is on the deny list');
  const unseen = explainClient({ ...base, known: false });
  assert.match(unseen.reason, /^not seen here lately, judged on the MAC alone: /);
});

test('normaliseMac takes colons or dashes in any case, and nothing else', () => {
  assert.equal(normaliseMac('52-54-00-AA-bb-01'), '52:54:00:aa:bb:01');
  assert.equal(normaliseMac('52:54:00:aa:bb'), undefined);
  assert.equal(normaliseMac('<script>'), undefined);
  assert.equal(normaliseMac(null), undefined);
});
