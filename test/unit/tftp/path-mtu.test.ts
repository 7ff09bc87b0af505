import { test } from 'node:test';
import assert from 'node:assert/strict';
import { onLink, pathBlksize, unmapV4, type Link } from '../../../src/tftp/path-mtu.ts';
import { linkReader } from '../../../src/tftp/links.ts';

const links: Link[] = [
  { name: 'lo', family: 'IPv4', address: '127.0.0.1', prefix: 8, mtu: 65536 },
  { name: 'lo', family: 'IPv6', address: '::1', prefix: 128, mtu: 65536 },
  { name: 'eth0', family: 'IPv4', address: '10.1.0.11', prefix: 16, mtu: 1500 },
  { name: 'jumbo', family: 'IPv4', address: '10.1.7.1', prefix: 24, mtu: 9000 },
  { name: 'eth0', family: 'IPv6', address: '2001:db8:1::11', prefix: 64, mtu: 1500 },
  { name: 'eth0', family: 'IPv6', address: 'fe80::1', prefix: 64, mtu: 1500 },
  { name: 'small', family: 'IPv4', address: '192.0.2.1', prefix: 30, mtu: 576 },
];

test('an on-link client gets its link MTU minus IP, UDP and TFTP headers', () => {
  assert.equal(pathBlksize('10.1.3.4', links), 1468);
  assert.equal(pathBlksize('192.0.2.2', links), 576 - 32);
  assert.equal(pathBlksize('2001:db8:1::99', links), 1500 - 52);
  assert.equal(pathBlksize('fe80::abcd%eth0', links), 1500 - 52);
});

test('the longest matching prefix decides: a jumbo subnet inside a larger one', () => {
  assert.equal(onLink('10.1.7.20', links)?.name, 'jumbo');
  assert.equal(pathBlksize('10.1.7.20', links), 8968);
  assert.equal(onLink('10.1.8.20', links)?.name, 'eth0');
});

test('loopback carries the largest block RFC 2348 allows', () => {
  assert.equal(pathBlksize('127.0.0.1', links), 65504);
  assert.equal(pathBlksize('127.10.3.7', links), 65504);
  assert.equal(pathBlksize('::1', links), 65484);
});

test('a routed client (not on any of our links) is assumed behind Ethernet', () => {
  assert.equal(onLink('172.16.5.5', links), null);
  assert.equal(pathBlksize('172.16.5.5', links), 1468);
  assert.equal(pathBlksize('2001:db8:99::1', links), 1448);
  assert.equal(pathBlksize('10.1.3.4', []), 1468);
});

test('an IPv4 client seen on a dual-stack socket is matched as IPv4', () => {
  assert.equal(unmapV4('::ffff:10.1.7.20'), '10.1.7.20');
  assert.equal(pathBlksize('::ffff:10.1.7.20', links), 8968);
  assert.equal(unmapV4('::1'), '::1');
});

test('garbage never throws and never raises the cap', () => {
  for (const a of ['', 'not-an-ip', '::ffff:zz', '1.2.3', 'fe80::%', '::1::2']) {
    const n = pathBlksize(a, links);
    assert.ok(n <= 1468 && n >= 8, `${a}: ${n}`);
  }
});

test('links are read at most once per 10 s', () => {
  let now = 0;
  let reads = 0;
  const get = linkReader(() => now, () => {
    reads++;
    return links;
  });
  get();
  now = 9_999;
  get();
  assert.equal(reads, 1);
  now = 10_000;
  get();
  assert.equal(reads, 2);
});
