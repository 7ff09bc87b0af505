// IPv6 text in and out: one spelling per address (service addresses and heartbeats compare them
// as strings), checked against Node's own parser on random addresses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { canonicalIpv6, formatIpv6, ipv6InPrefix, parseIpv6 } from '../../../src/config/values.ts';

test('RFC 5952 spellings', () => {
  assert.equal(canonicalIpv6('FD77:0000:0000:0003:0000:0000:0000:0011'), 'fd77:0:0:3::11');
  assert.equal(canonicalIpv6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of two equal runs');
  assert.equal(canonicalIpv6('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'one zero group stays');
  assert.equal(canonicalIpv6('::'), '::');
  assert.equal(canonicalIpv6('::1'), '::1');
  assert.equal(canonicalIpv6('fe80::'), 'fe80::');
  for (const bad of ['', ':', ':::', '1::2::3', '12345::', 'fd00::g', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1:2:3:4::5:6:7:8', '10.0.0.1', 'fd00::1%eth0']) {
    assert.equal(parseIpv6(bad), undefined, bad);
  }
});

test('agrees with Node on 2,000 random addresses, zero runs included', () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 2000; i++) {
    const b = Uint8Array.from({ length: 16 }, () => (rnd() < 0.5 ? 0 : Math.floor(rnd() * 256)));
    const text = formatIpv6(b);
    assert.ok(isIPv6(text), text);
    assert.deepEqual(parseIpv6(text), b, text);
    assert.equal(new URL(`http://[${text}]/`).hostname, `[${text}]`, `WHATWG spells ${text} the same`);
  }
});

test('prefix membership', () => {
  assert.equal(ipv6InPrefix('fd77:0:0:3::20', 'fd77:0:0:3::11', 64), true);
  assert.equal(ipv6InPrefix('fd77:0:0:4::20', 'fd77:0:0:3::11', 64), false);
  assert.equal(ipv6InPrefix('fd77::81', 'fd77::ff', 121), true, 'the 121st bit agrees');
  assert.equal(ipv6InPrefix('fd77::81', 'fd77::ff', 122), false, 'the 122nd does not');
  assert.equal(ipv6InPrefix('fd77::1', 'fd77::ff', 121), false);
  assert.equal(ipv6InPrefix('2001:db8::1', '::', 0), true);
});
