import { test } from 'node:test';
import assert from 'node:assert/strict';
import { negotiate } from '../../../src/tftp/options.ts';

const limits = { maxBlksize: 1468, maxWindowsize: 64 };

test('a client asking nothing gets no OACK and RFC 1350 defaults', () => {
  assert.deepEqual(negotiate([], limits, 1000), { blksize: 512, windowsize: 1, timeoutSec: null, oack: [] });
});

test('tsize only: OACK carries the real size', () => {
  const n = negotiate([['tsize', '0']], limits, 123456);
  assert.deepEqual(n.oack, [['tsize', '123456']]);
  assert.equal(n.blksize, 512);
});

test('tsize is declined when the size is unknown', () => {
  assert.deepEqual(negotiate([['tsize', '0']], limits, null).oack, []);
});

test('EDK2 request: tsize, blksize 1468, windowsize 4, in client order', () => {
  const n = negotiate(
    [
      ['tsize', '0'],
      ['blksize', '1468'],
      ['windowsize', '4'],
    ],
    limits,
    9,
  );
  assert.deepEqual(n.oack, [
    ['tsize', '9'],
    ['blksize', '1468'],
    ['windowsize', '4'],
  ]);
  assert.equal(n.blksize, 1468);
  assert.equal(n.windowsize, 4);
});

test('blksize is capped by the configured maximum and invalid values are ignored', () => {
  assert.equal(negotiate([['blksize', '65464']], limits, 1).blksize, 1468);
  assert.deepEqual(negotiate([['blksize', '65464']], limits, 1).oack, [['blksize', '1468']]);
  assert.equal(negotiate([['blksize', '70000']], { ...limits, maxBlksize: 100000 }, 1).blksize, 65464);
  assert.deepEqual(negotiate([['blksize', '7']], limits, 1).oack, []);
  assert.deepEqual(negotiate([['blksize', 'abc']], limits, 1).oack, []);
  assert.deepEqual(negotiate([['blksize', '1e3']], limits, 1).oack, []);
  assert.equal(negotiate([['blksize', '8']], limits, 1).blksize, 8);
  assert.equal(negotiate([['blksize', '1432']], limits, 1).blksize, 1432);
});

test('windowsize capped, 0 ignored', () => {
  assert.equal(negotiate([['windowsize', '1000']], limits, 1).windowsize, 64);
  assert.deepEqual(negotiate([['windowsize', '0']], limits, 1).oack, []);
  assert.equal(negotiate([['windowsize', '65535']], { ...limits, maxWindowsize: 1e6 }, 1).windowsize, 65535);
});

test('timeout accepted 1..255 unchanged, otherwise declined', () => {
  assert.equal(negotiate([['timeout', '3']], limits, 1).timeoutSec, 3);
  assert.deepEqual(negotiate([['timeout', '255']], limits, 1).oack, [['timeout', '255']]);
  assert.deepEqual(negotiate([['timeout', '0']], limits, 1).oack, []);
  assert.deepEqual(negotiate([['timeout', '256']], limits, 1).oack, []);
});

test('unknown and repeated options are ignored', () => {
  const n = negotiate(
    [
      ['multicast', ''],
      ['blksize', '1024'],
      ['BLKSIZE', '512'],
      ['rollover', '0'],
    ],
    limits,
    1,
  );
  assert.deepEqual(n.oack, [['blksize', '1024']]);
});
