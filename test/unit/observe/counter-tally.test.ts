// CounterTally: the DHCP path counts in plain numbers; a scrape (or get()) sees the same totals
// as if every increment had gone to prom-client itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CounterTally, createMetrics } from '../../../src/observe/metrics.ts';

test('counts per label combination reach the counter when it is read', async () => {
  const m = createMetrics({ defaultMetrics: false });
  for (let i = 0; i < 5; i++) m.dhcpRepliesTally.inc('67|offer|efi-x64', () => ({ port: '67', type: 'offer', firmware: 'efi-x64' }));
  m.dhcpRepliesTally.inc('4011|ack|bios', () => ({ port: '4011', type: 'ack', firmware: 'bios' }));
  m.dhcpRequestsTally.inc('67|1', () => ({ port: '67', type: '1' }));
  m.dhcpRequests.inc({ port: '67', type: '1' }); // the slow path still adds up with it
  const text = await m.registry.metrics();
  assert.match(text, /pxepool_dhcp_replies_total\{port="67",type="offer",firmware="efi-x64"\} 5/);
  assert.match(text, /pxepool_dhcp_replies_total\{port="4011",type="ack",firmware="bios"\} 1/);
  assert.match(text, /pxepool_dhcp_requests_total\{port="67",type="1"\} 2/);
  // counted once: a second read adds nothing, later increments add on
  m.dhcpRepliesTally.inc('67|offer|efi-x64', () => ({ port: '67', type: 'offer', firmware: 'efi-x64' }));
  const again = await m.dhcpReplies.get();
  const v = again.values.find((x) => x.labels.port === '67')!;
  assert.equal(v.value, 6);
  assert.equal((await m.dhcpReplies.get()).values.find((x) => x.labels.port === '67')!.value, 6);
});

test('labels are made once per combination; flush hands each count over once', () => {
  const t = new CounterTally<'a'>();
  let made = 0;
  for (let i = 0; i < 3; i++) t.inc('x', () => { made++; return { a: 'x' }; });
  t.inc('y', () => { made++; return { a: 'y' }; });
  assert.equal(made, 2);
  const got: [string, number][] = [];
  t.flush((l, n) => got.push([String(l.a), n]));
  t.flush((l, n) => got.push([String(l.a), n]));
  assert.deepEqual(got, [['x', 3], ['y', 1]]);
  t.flush(); // no counter attached: nothing happens
});
