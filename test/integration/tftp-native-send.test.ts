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
    sock,
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

test('windowed downloads by atftp are byte-exact on every send path, and stats say which was used', { timeout: 90_000 }, async () => {
  const root = path.join(base, 'root');
  const out = path.join(base, 'out');
  await mkdir(root, { recursive: true });
  await mkdir(out, { recursive: true });
  const files = { 'mem.bin': randomBytes(300_000), 'stream.bin': randomBytes(3 * 1024 * 1024 + 17) };
  for (const [n, d] of Object.entries(files)) await writeFile(path.join(root, n), d);
  const modes = [
    { path: 'native', nativeSend: true, nativeReceive: true },
    { path: 'batched', nativeSend: true, nativeReceive: false },
    { path: 'node', nativeSend: false, nativeReceive: false },
  ].filter((m) => !disabled || m.path === 'node');
  for (const mode of modes) {
    // cache 1 MiB: mem.bin is served from memory, stream.bin in chunks from disk
    const server = await startTftpServer({ host: '127.0.0.1', port: 0, root, cacheBytes: 1024 * 1024, nativeSend: mode.nativeSend, nativeReceive: mode.nativeReceive });
    try {
      for (const [name, data] of Object.entries(files)) {
        for (const win of ['16', '7', '1']) {
          const local = path.join(out, `${mode.path}-${win}-${name}`);
          await run('atftp', ['--option', 'blksize 1468', ...(win === '1' ? [] : ['--option', `windowsize ${win}`]), '-g', '-r', name, '-l', local, '127.0.0.1', String(server.port)], { timeout: 30_000 });
          assert.equal(sha(await readFile(local)), sha(data), `${name} windowsize ${win} via ${mode.path}`);
        }
      }
      const st = server.stats();
      assert.equal(st.transfersOk, 6);
      assert.equal(st.sendPath, mode.path);
      if (mode.path !== 'node') assert.ok(st.datagramsBatched > 6000, `batched ${st.datagramsBatched}`);
      else assert.equal(st.datagramsBatched, 0);
      // Armed windows: every window after the first of each transfer, from memory and from disk.
      if (mode.path === 'native') assert.ok(st.windowsArmedSent > 2000, `armed ${st.windowsArmedSent}`);
      else assert.equal(st.windowsArmedSent, 0);
    } finally {
      await server.close();
    }
  }
});

// The helper's own transfer socket (native/tftp_socket.c): datagrams read in place, and a window
// armed to leave the moment its ACK arrives from the client, before JavaScript runs.
for (const [type, host] of [['udp4', '127.0.0.1'], ['udp6', '::1']] as const) {
  test(`tftp socket (${type}): an armed window leaves on exactly its ACK from the client, once`, { skip: disabled }, async () => {
    const api = native.tftpSocket;
    assert.ok(api, 'helper built without the tftp socket');
    type Rec = { bytes: number[]; fromPeer: boolean; fired: boolean; port: number; family: number };
    const recs: Rec[] = [];
    let wakes = 0;
    const view = new DataView(api.rxBuffer.buffer, api.rxBuffer.byteOffset, api.rxBuffer.byteLength);
    const { socket, port } = api.open(host, (n) => {
      wakes++;
      for (let i = 0; i < n; i++) {
        const b = i * api.rxSlot;
        const len = view.getUint16(b, true);
        recs.push({
          bytes: [...api.rxBuffer.subarray(b + 32, b + 32 + len)],
          fromPeer: (api.rxBuffer[b + 2]! & 1) !== 0,
          fired: (api.rxBuffer[b + 2]! & 2) !== 0,
          port: view.getUint16(b + 4, true),
          family: api.rxBuffer[b + 3]!,
        });
      }
    });
    const client = await receiver(type, host);
    const stranger = await receiver(type, host);
    const from = async (who: 'client' | 'stranger', block: number) => {
      const s = (who === 'client' ? client : stranger).sock;
      await new Promise<void>((r) => s.send(Buffer.from([0, 4, block >> 8, block & 0xff]), port, host, () => r()));
      const want = recs.length + 1;
      const deadline = Date.now() + 3000;
      while (recs.length < want && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      return recs.at(-1)!;
    };
    try {
      assert.ok(port > 0);
      assert.equal(api.peer(socket, host, client.port), 0);
      const payloads = [randomBytes(1468), randomBytes(1468), randomBytes(300)];
      api.arm(socket, 0xffff, blocksOf(0x10000, 3), payloads, 3); // armed across the 16-bit wrap

      let r = await from('stranger', 0xffff); // right ACK, wrong TID: must not fire
      assert.deepEqual([r.fromPeer, r.fired, r.port, r.family], [false, false, stranger.port, type === 'udp4' ? 4 : 6]);
      r = await from('client', 0xfffe); // the client, but not the armed ACK
      assert.deepEqual([r.fromPeer, r.fired, r.bytes], [true, false, [0, 4, 0xff, 0xfe]]);
      await new Promise((res) => setTimeout(res, 50));
      assert.equal(client.got.length, 0, 'nothing may leave before the armed ACK');

      r = await from('client', 0xffff);
      assert.deepEqual([r.fromPeer, r.fired], [true, true]);
      const got = await client.waitFor(3);
      assert.deepEqual(
        got.map((d) => [d.readUInt16BE(0), d.readUInt16BE(2), sha(d.subarray(4))]),
        payloads.map((p, i) => [3, i & 0xffff, sha(p)]),
      );
      r = await from('client', 0xffff); // the same ACK again: fired once, now disarmed
      assert.equal(r.fired, false);

      api.arm(socket, 5, blocksOf(6, 1), [payloads[0]!], 1);
      api.arm(socket, 0, blocksOf(0, 0), [], 0); // disarm
      r = await from('client', 5);
      assert.equal(r.fired, false);
      await new Promise((res) => setTimeout(res, 50));
      assert.equal(client.got.length, 3, 'a disarmed window must not leave');
      assert.equal(stranger.got.length, 0);

      assert.equal(api.sendTo(socket, Uint8Array.from([0, 5, 0, 5, 0]), host, stranger.port), 1);
      assert.deepEqual([...(await stranger.waitFor(1))[0]!], [0, 5, 0, 5, 0]);
      assert.equal(api.sendBlocks(socket, blocksOf(9, 2), [payloads[0]!, payloads[2]!], 2), 2);
      assert.deepEqual((await client.waitFor(5)).slice(3).map((d) => d.readUInt16BE(2)), [9, 10]);
      assert.ok(wakes >= 5);
    } finally {
      assert.equal(api.close(socket), 1, 'one window left through the armed path');
      await client.close();
      await stranger.close();
    }
    assert.throws(() => api.arm(socket, 1, blocksOf(2, 1), [randomBytes(4)], 1), /closed/);
  });
}

test('growFdTable grows the descriptor table once, leaks nothing and never takes a descriptor in use', { skip: disabled }, async () => {
  const { readdirSync } = await import('node:fs');
  const fds = () => readdirSync('/proc/self/fd').length;
  const grow = native.growFdTable!;
  const before = fds();
  assert.equal(grow(3000), 2999);
  assert.equal(fds(), before, 'the borrowed slot is given back');
  // The lowest free descriptor after growing is still a low one: nothing was left up there.
  const fd = native.openUdp('127.0.0.1', 0);
  try {
    assert.ok(fd < 2999);
    assert.equal(grow(fd + 1), fd, 'a slot in use is reported, not reused');
    assert.ok(fds() === before + 1);
  } finally {
    (await import('node:fs')).closeSync(fd);
  }
  assert.throws(() => grow(0), TypeError);
});

test('an armed window is not sent again by the step that processes its ACK: each DATA block arrives once', { skip: disabled, timeout: 30_000 }, async () => {
  const root = path.join(base, 'once');
  await mkdir(root, { recursive: true });
  const data = randomBytes(200 * 1468 + 5);
  await writeFile(path.join(root, 'f.bin'), data);
  // A timer far above any loopback round trip: no retransmission can add copies of its own.
  const server = await startTftpServer({ host: '127.0.0.1', port: 0, root, minRtoMs: 3000, maxRtoMs: 5000 });
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const seen = new Map<number, number>();
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      let next = 1;
      sock.on('message', (m, rinfo) => {
        const op = m.readUInt16BE(0);
        if (op === 6) return void sock.send(Buffer.from([0, 4, 0, 0]), rinfo.port, rinfo.address);
        if (op !== 3) return;
        const b = m.readUInt16BE(2);
        seen.set(b, (seen.get(b) ?? 0) + 1);
        if (b !== (next & 0xffff)) return;
        got.push(m.subarray(4));
        const last = m.length - 4 < 1468;
        if (last || next % 8 === 0) sock.send(Buffer.from([0, 4, b >> 8, b & 0xff]), rinfo.port, rinfo.address);
        next++;
        if (last) resolve();
      });
    });
    sock.send(Buffer.from('\0\x01f.bin\0octet\0blksize\x001468\0windowsize\x008\0', 'latin1'), server.port, '127.0.0.1');
    await done;
    assert.equal(sha(Buffer.concat(got)), sha(data));
    assert.equal(seen.size, 201);
    assert.deepEqual([...seen.values()].filter((c) => c !== 1), [], 'a block arrived more than once');
    assert.ok(server.stats().windowsArmedSent >= 20, `armed ${server.stats().windowsArmedSent}`);
  } finally {
    sock.close();
    await server.close();
  }
});
