// The native send path (native/udp_send.c): DATA windows in one sendmmsg or UDP GSO call. Checked
// datagram by datagram on loopback, then end to end with a real client (atftp, windowsize 16).
// CI builds the helper, so its absence fails here instead of silently testing the fallback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadNative, type NativeHelper } from '../../src/native/helper.ts';
import { startTftpServer } from '../../src/tftp/server.ts';

const run = promisify(execFile);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const disabled = process.env.PXEPOOL_NO_NATIVE === '1';
let native: NativeHelper;
let base: string;

before(async () => {
  const n = loadNative();
  assert.ok(disabled || n !== null, 'native helper not built: run scripts/build-native.sh');
  if (n) native = n;
  base = await mkdtemp(path.join(tmpdir(), 'pxepool-native-'));
});
after(async () => {
  await rm(base, { recursive: true, force: true });
});

async function receiver(type: 'udp4' | 'udp6', address: string) {
  const sock = dgram.createSocket(type);
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  return {
    port: sock.address().port,
    got,
    async waitFor(n: number) {
      const deadline = Date.now() + 3000;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return got;
    },
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}

function blocksOf(first: number, count: number): Uint16Array {
  const b = new Uint16Array(new ArrayBuffer(128));
  for (let i = 0; i < count; i++) b[i] = (first + i) & 0xffff;
  return b;
}

for (const [name, sizes] of [
  ['equal blocks and a short last one (the GSO path)', [1468, 1468, 1468, 1468, 1468, 100]],
  ['blocks of unequal size (the sendmmsg path)', [512, 100, 512, 7]],
  ['a window of 64 full blocks wider than one GSO buffer', Array.from({ length: 64 }, () => 1468)],
  ['one empty final block', [0]],
] as const) {
  test(`sendBlocks: ${name} arrive in order, headers and payloads intact`, { skip: disabled }, async () => {
    const rx = await receiver('udp4', '127.0.0.1');
    const fd = native.openUdp('127.0.0.1', 0);
    const tx = dgram.createSocket('udp4');
    await new Promise<void>((r) => tx.bind({ fd }, () => r()));
    try {
      const payloads = sizes.map((n) => randomBytes(n));
      const first = 65533; // crosses the 16-bit rollover
      const sent = native.sendBlocks(fd, '127.0.0.1', rx.port, blocksOf(first, sizes.length), payloads, sizes.length);
      assert.equal(sent, sizes.length);
      const got = await rx.waitFor(sizes.length);
      assert.equal(got.length, sizes.length);
      got.forEach((m, i) => {
        assert.equal(m.readUInt16BE(0), 3, 'opcode DATA');
        assert.equal(m.readUInt16BE(2), (first + i) & 0xffff, `block of datagram ${i}`);
        assert.equal(sha(m.subarray(4)), sha(payloads[i]!), `payload of datagram ${i}`);
      });
    } finally {
      tx.close();
      await rx.close();
    }
  });
}

test('sendBlocks over IPv6, and an address it cannot parse is a negative result, not a throw', { skip: disabled }, async () => {
  const rx = await receiver('udp6', '::1');
  const fd = native.openUdp('::1', 0);
  const tx = dgram.createSocket('udp6');
  await new Promise<void>((r) => tx.bind({ fd }, () => r()));
  try {
    const payloads = [randomBytes(1000), randomBytes(1000)];
    assert.equal(native.sendBlocks(fd, '::1', rx.port, blocksOf(1, 2), payloads, 2), 2);
    const got = await rx.waitFor(2);
    assert.deepEqual(got.map((m) => m.readUInt16BE(2)), [1, 2]);
    assert.ok(native.sendBlocks(fd, 'fe80::1%nosuchif', rx.port, blocksOf(1, 2), payloads, 2) < 0);
    assert.throws(() => native.sendBlocks(fd, '::1', rx.port, blocksOf(1, 2), payloads, 65), RangeError);
  } finally {
    tx.close();
    await rx.close();
  }
});

test('windowed downloads by atftp are byte-exact with and without the native path, and stats say which was used', { timeout: 60_000 }, async () => {
  const root = path.join(base, 'root');
  const out = path.join(base, 'out');
  await mkdir(root, { recursive: true });
  await mkdir(out, { recursive: true });
  const files = { 'mem.bin': randomBytes(300_000), 'stream.bin': randomBytes(3 * 1024 * 1024 + 17) };
  for (const [n, d] of Object.entries(files)) await writeFile(path.join(root, n), d);
  for (const nativeSend of disabled ? [false] : [true, false]) {
    // cache 1 MiB: mem.bin is served from memory, stream.bin in chunks from disk
    const server = await startTftpServer({ host: '127.0.0.1', port: 0, root, cacheBytes: 1024 * 1024, nativeSend });
    try {
      for (const [name, data] of Object.entries(files)) {
        for (const win of ['16', '7']) {
          const local = path.join(out, `${nativeSend}-${win}-${name}`);
          await run('atftp', ['--option', 'blksize 1468', '--option', `windowsize ${win}`, '-g', '-r', name, '-l', local, '127.0.0.1', String(server.port)], { timeout: 30_000 });
          assert.equal(sha(await readFile(local)), sha(data), `${name} windowsize ${win} native ${nativeSend}`);
        }
      }
      const st = server.stats();
      assert.equal(st.transfersOk, 4);
      assert.equal(st.sendPath, nativeSend ? 'native' : 'node');
      if (nativeSend) assert.ok(st.datagramsBatched > 4000, `batched ${st.datagramsBatched}`);
      else assert.equal(st.datagramsBatched, 0);
    } finally {
      await server.close();
    }
  }
});
