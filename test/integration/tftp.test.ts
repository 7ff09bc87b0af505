// The TFTP server on 127.0.0.1 against real Debian clients (tftp-hpa, atftp, curl) and a raw
// UDP client for the cases the stock clients cannot produce.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtemp, mkdir, readFile, rm, writeFile, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTftpServer, type TftpServer, type TransferRecord } from '../../src/tftp/server.ts';
import { encodeAck, encodeError, encodeRequest, parsePacket, type TftpPacket } from '../../src/tftp/packet.ts';

const run = promisify(execFile);
let base: string;
let root: string;
let out: string;
let server: TftpServer;
const records: TransferRecord[] = [];
const files: Record<string, Buffer> = {};
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

before(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'pxepool-tftp-'));
  root = path.join(base, 'root');
  out = path.join(base, 'out');
  await mkdir(path.join(root, 'pxelinux.cfg'), { recursive: true });
  await mkdir(out);
  files['small.bin'] = randomBytes(100_000);
  files['exact.bin'] = randomBytes(1468 * 10); // a multiple of the block size: ends with an empty block
  files['big.bin'] = randomBytes(5 * 1024 * 1024 + 3); // above the cache's per-file cap: streamed
  files['empty'] = Buffer.alloc(0);
  files['pxelinux.cfg/default'] = Buffer.from('DEFAULT linux\nLABEL linux\r\n  KERNEL vmlinuz\n');
  for (const [name, data] of Object.entries(files)) await writeFile(path.join(root, name), data);
  await writeFile(path.join(base, 'secret'), 'outside the root');
  await symlink(path.join(base, 'secret'), path.join(root, 'escape-link'));
  server = await startTftpServer({
    host: '127.0.0.1',
    port: 0,
    root,
    cacheBytes: 2 * 1024 * 1024,
    maxPerClient: 600,
    onTransfer: (r) => records.push(r),
  });
});

after(async () => {
  await server?.close();
  await rm(base, { recursive: true, force: true });
});

async function check(name: string, local: string) {
  const got = await readFile(local);
  assert.equal(got.length, files[name]!.length, `${name}: length`);
  assert.equal(sha(got), sha(files[name]!), `${name}: sha256`);
}

test('tftp-hpa (lock-step, 512-byte blocks, no options)', { timeout: 60_000 }, async () => {
  for (const name of ['small.bin', 'exact.bin', 'empty', 'big.bin']) {
    const local = path.join(out, `hpa-${name}`);
    await run('tftp', ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', name, local], { timeout: 30_000 });
    await check(name, local);
  }
});

test('tftp-hpa verbose netascii: CR/LF conversion round-trips', { timeout: 20_000 }, async () => {
  const local = path.join(out, 'hpa-default');
  const r = await run('tftp', ['-v', '127.0.0.1', String(server.port), '-m', 'netascii', '-c', 'get', 'pxelinux.cfg/default', local], {
    timeout: 10_000,
  });
  assert.match(r.stdout, /Received/);
  await check('pxelinux.cfg/default', local);
});

test('atftp with blksize 1428 (pxelinux-like) and with windowsize 16', { timeout: 60_000 }, async () => {
  for (const opts of [['--option', 'blksize 1428', '--option', 'tsize 0'], ['--option', 'blksize 1468', '--option', 'windowsize 16']]) {
    for (const name of ['small.bin', 'exact.bin', 'big.bin', 'empty']) {
      const local = path.join(out, `atftp-${name}`);
      await run('atftp', [...opts, '-g', '-r', name, '-l', local, '127.0.0.1', String(server.port)], { timeout: 30_000 });
      await check(name, local);
    }
  }
  const w = records.filter((r) => r.ok && r.windowsize === 16);
  assert.ok(w.length >= 4, 'windowsize was negotiated');
  assert.ok(records.some((r) => r.ok && r.blksize === 1428));
});

test('curl tftp:// with --tftp-blksize 1468', { timeout: 60_000 }, async () => {
  for (const name of ['small.bin', 'exact.bin', 'big.bin']) {
    const local = path.join(out, `curl-${name}`);
    await run('curl', ['-sS', '--max-time', '30', '--tftp-blksize', '1468', '-o', local, `tftp://127.0.0.1:${server.port}/${name}`]);
    await check(name, local);
  }
});

test('blksize is capped by the path: 8192 on loopback, 1468 for a client on a 1500-byte link', { timeout: 60_000 }, async () => {
  // loopback's MTU carries 8192-byte blocks unfragmented: granted (curl and atftp, windowed too)
  const before = records.length;
  const local = path.join(out, 'curl-8192-big.bin');
  await run('curl', ['-sS', '--max-time', '30', '--tftp-blksize', '8192', '-o', local, `tftp://127.0.0.1:${server.port}/big.bin`]);
  await check('big.bin', local);
  await run('atftp', ['--option', 'blksize 8192', '--option', 'windowsize 16', '-g', '-r', 'small.bin', '-l', path.join(out, 'atftp-8192'), '127.0.0.1', String(server.port)], { timeout: 30_000 });
  await check('small.bin', path.join(out, 'atftp-8192'));
  assert.deepEqual(records.slice(before).map((r) => r.blksize), [8192, 8192]);
  // the same request from a client whose link says MTU 1500 gets an Ethernet frame's worth
  const eth = await startTftpServer({
    host: '127.0.0.1',
    port: 0,
    root,
    links: () => [{ name: 'eth0', family: 'IPv4', address: '127.0.0.1', prefix: 8, mtu: 1500 }],
    onTransfer: (r) => records.push(r),
  });
  try {
    const n = records.length;
    await run('curl', ['-sS', '--max-time', '30', '--tftp-blksize', '8192', '-o', path.join(out, 'curl-1500'), `tftp://127.0.0.1:${eth.port}/small.bin`]);
    await check('small.bin', path.join(out, 'curl-1500'));
    assert.equal(records[n]?.blksize, 1468);
  } finally {
    await eth.close();
  }
});

test('a missing file is a TFTP error for every client', { timeout: 20_000 }, async () => {
  await assert.rejects(
    run('curl', ['-sS', '--max-time', '5', '-o', path.join(out, 'x'), `tftp://127.0.0.1:${server.port}/pxelinux.cfg/01-52-54-00-12-34-56`]),
    (e: { code?: number }) => e.code === 68, // curl: "file not found on TFTP server"
  );
  const r = await run('tftp', ['127.0.0.1', String(server.port), '-m', 'binary', '-c', 'get', 'nope', path.join(out, 'nope')], {
    timeout: 10_000,
  }).catch((e: { stdout: string; stderr: string }) => e);
  assert.match(r.stdout + r.stderr, /not found/i);
});

// ---- raw client ---------------------------------------------------------------------------------

type Raw = {
  sock: dgram.Socket;
  send(buf: Uint8Array, port: number): void;
  next(ms?: number): Promise<{ p: TftpPacket; port: number }>;
  /** waits for queued datagrams to leave: closing a socket cancels its pending sends */
  close(): Promise<void>;
};

async function rawClient(address = '127.0.0.1'): Promise<Raw> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  const inbox: { p: TftpPacket; port: number }[] = [];
  const pending = new Set<Promise<void>>();
  const waiters: ((v: { p: TftpPacket; port: number }) => void)[] = [];
  sock.on('message', (msg, rinfo) => {
    const parsed = parsePacket(msg);
    if (!parsed.ok) return;
    const item = { p: parsed.value, port: rinfo.port };
    const w = waiters.shift();
    if (w) w(item);
    else inbox.push(item);
  });
  return {
    sock,
    send: (buf, port) => {
      const p = new Promise<void>((r) => sock.send(buf, port, '127.0.0.1', () => r()));
      pending.add(p);
      void p.then(() => pending.delete(p));
    },
    next: (ms = 3000) =>
      new Promise((resolve, reject) => {
        const item = inbox.shift();
        if (item) return resolve(item);
        const t = setTimeout(() => reject(new Error('no reply')), ms);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      }),
    close: async () => {
      await Promise.all(pending);
      sock.close();
    },
  };
}

async function expectError(req: Uint8Array, code: number, text: RegExp) {
  const c = await rawClient();
  try {
    c.send(req, server.port);
    const { p } = await c.next();
    assert.equal(p.op, 'ERROR');
    if (p.op === 'ERROR') {
      assert.equal(p.code, code);
      assert.match(p.message, text);
    }
  } finally {
    await c.close();
  }
}

test('escape attempts are refused with an access violation; misses with file not found', async () => {
  for (const name of ['../secret', '..\\secret', 'a/../../secret', 'escape-link', 'C:\\secret']) {
    await expectError(encodeRequest('RRQ', name, 'octet'), 2, /Access violation/);
  }
  await expectError(encodeRequest('RRQ', '/etc/passwd', 'octet'), 1, /File not found/);
  await expectError(encodeRequest('RRQ', 'pxelinux.cfg', 'octet'), 1, /File not found/);
});

test('WRQ is refused: the server is read-only', async () => {
  await expectError(encodeRequest('WRQ', 'upload.bin', 'octet'), 2, /read-only/);
  assert.ok((server.stats().errors['wrq'] ?? 0) >= 1);
});

test('EDK2 size probe: OACK with tsize, ERROR 8, then a windowed download with a wrong-TID intruder', async () => {
  const c = await rawClient();
  const intruder = await rawClient();
  try {
    const opts = [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']] as const;
    const probesBefore = server.stats().probes;
    c.send(encodeRequest('RRQ', 'small.bin', 'octet', opts), server.port);
    const o = await c.next();
    assert.equal(o.p.op, 'OACK');
    if (o.p.op === 'OACK') assert.deepEqual(o.p.options, [['tsize', '100000'], ['blksize', '1468'], ['windowsize', '4']]);
    assert.notEqual(o.port, server.port, 'transfer comes from its own TID');
    c.send(encodeError(8, 'User aborted the transfer'), o.port);
    // The real download.
    c.send(encodeRequest('RRQ', 'small.bin', 'octet', opts), server.port);
    const o2 = await c.next();
    assert.equal(o2.p.op, 'OACK');
    const tid = o2.port;
    c.send(encodeAck(0), tid);
    const chunks: Buffer[] = [];
    let block = 0;
    let intruded = false;
    for (let i = 0; i < 200; i++) {
      const { p, port } = await c.next();
      assert.equal(port, tid);
      assert.equal(p.op, 'DATA');
      if (p.op !== 'DATA') break;
      assert.equal(p.block, block + 1);
      block = p.block;
      chunks.push(Buffer.from(p.data));
      if (!intruded && block === 8) {
        intruded = true;
        intruder.send(encodeAck(8), tid);
        const e = await intruder.next();
        assert.ok(e.p.op === 'ERROR' && e.p.code === 5, 'wrong TID gets ERROR 5');
      }
      if (p.data.length < 1468) {
        c.send(encodeAck(block), tid);
        break;
      }
      if (block % 4 === 0) c.send(encodeAck(block), tid);
    }
    assert.equal(sha(Buffer.concat(chunks)), sha(files['small.bin']!));
    assert.equal(server.stats().probes, probesBefore + 1);
    assert.ok(server.stats().wrongTidPackets >= 1);
  } finally {
    await c.close();
    await intruder.close();
  }
});

test('a retransmitted RRQ of a live transfer is dropped, not answered twice', async () => {
  const c = await rawClient();
  try {
    const before = server.stats().duplicateRequestsDropped;
    const rrq = encodeRequest('RRQ', 'small.bin', 'octet', [['tsize', '0']]);
    c.send(rrq, server.port);
    c.send(rrq, server.port);
    c.send(rrq, server.port);
    const first = await c.next();
    assert.equal(first.p.op, 'OACK');
    await assert.rejects(c.next(150), /no reply/); // no second OACK (our RTO is ≥ 1 s before any sample)
    assert.equal(server.stats().duplicateRequestsDropped, before + 2);
    c.send(encodeError(8, 'done'), first.port);
  } finally {
    await c.close();
  }
});

test('per-client limit gives a clear error', async () => {
  const limited = await startTftpServer({ host: '127.0.0.1', port: 0, root, maxPerClient: 2 });
  const cs = await Promise.all([rawClient(), rawClient(), rawClient()]);
  try {
    for (const c of cs) c.send(encodeRequest('RRQ', 'small.bin', 'octet', [['tsize', '0']]), limited.port);
    const replies = await Promise.all(cs.map((c) => c.next()));
    const errs = replies.filter((r) => r.p.op === 'ERROR');
    assert.equal(errs.length, 1);
    const e = errs[0]!.p;
    assert.ok(e.op === 'ERROR' && /Too many transfers from 127\.0\.0\.1 \(limit 2\)/.test(e.message));
  } finally {
    await Promise.all(cs.map((c) => c.close()));
    await limited.close();
  }
});

test('a burst of 500 RRQs is answered at once, none left to the client retransmit timer', { timeout: 30_000 }, async () => {
  const n = 500;
  const cs = await Promise.all(Array.from({ length: n }, () => rawClient()));
  try {
    const probes = server.stats().probes;
    const t0 = performance.now();
    for (const c of cs) c.send(encodeRequest('RRQ', 'exact.bin', 'octet', [['tsize', '0'], ['blksize', '1468']]), server.port);
    const replies = await Promise.all(cs.map((c) => c.next(5000)));
    const elapsed = performance.now() - t0;
    assert.ok(replies.every((r) => r.p.op === 'OACK'));
    assert.ok(elapsed < 1000, `500 OACKs took ${elapsed.toFixed(0)} ms`);
    cs.forEach((c, i) => c.send(encodeError(8, 'probe'), replies[i]!.port));
    const deadline = Date.now() + 5000;
    while (server.stats().probes < probes + n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(server.stats().probes, probes + n);
    assert.equal(server.stats().activeTransfers, 0);
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

test('every socket of the reuseport group answers: 64 clients from 64 addresses all get their OACK', { timeout: 20_000 }, async () => {
  // The kernel spreads requests over the group by source address and port; a listener that was
  // bound but never read would leave some of these clients without an answer.
  const cs = await Promise.all(Array.from({ length: 64 }, (_, i) => rawClient(`127.0.${40 + (i >> 5)}.${1 + (i & 31)}`)));
  try {
    for (const c of cs) c.send(encodeRequest('RRQ', 'exact.bin', 'octet', [['tsize', '0']]), server.port);
    const replies = await Promise.all(cs.map((c) => c.next(3000)));
    assert.ok(replies.every((r) => r.p.op === 'OACK'));
    cs.forEach((c, i) => c.send(encodeError(8, 'probe'), replies[i]!.port));
  } finally {
    await Promise.all(cs.map((c) => c.close()));
  }
});

test('a second server on a port already served refuses to start instead of sharing it', async () => {
  const second = await startTftpServer({ host: '127.0.0.1', port: server.port, root }).then(
    (s) => s,
    (err: unknown) => err as Error,
  );
  if (!(second instanceof Error)) await second.close();
  assert.ok(second instanceof Error && /EADDRINUSE/.test(second.message), 'the second server must not start');
});

test('stats add up', () => {
  const s = server.stats();
  assert.ok(s.transfersOk >= 17, `ok ${s.transfersOk}`);
  assert.equal(s.transfersFailed, 0);
  assert.ok(s.bytesSent > 5 * 1024 * 1024);
  assert.ok((s.errors['not-found'] ?? 0) >= 2);
  assert.ok(s.recvBufferSize >= 1024 * 1024, `SO_RCVBUF ${s.recvBufferSize}`);
});

test('a per-profile root is served as /<profile>/… to tftp-hpa and curl, confined to its tree', { timeout: 30_000 }, async () => {
  const lab = path.join(base, 'lab-tree');
  await mkdir(path.join(lab, 'pxelinux.cfg'), { recursive: true });
  const nbp = randomBytes(70_000);
  await writeFile(path.join(lab, 'pxelinux.0'), nbp);
  await writeFile(path.join(lab, 'pxelinux.cfg', 'default'), 'DEFAULT lab\n');
  const s2 = await startTftpServer({ host: '127.0.0.1', port: 0, root, mounts: { lab } });
  try {
    const a = path.join(out, 'mount-curl');
    await run('curl', ['-sS', '--max-time', '10', '--tftp-blksize', '1468', '-o', a, `tftp://127.0.0.1:${s2.port}/lab/pxelinux.0`]);
    assert.equal(sha(await readFile(a)), sha(nbp));
    const b = path.join(out, 'mount-hpa');
    await run('tftp', ['127.0.0.1', String(s2.port), '-m', 'binary', '-c', 'get', 'lab/pxelinux.cfg/default', b]);
    assert.equal(await readFile(b, 'utf8'), 'DEFAULT lab\n');
    // The main root is still there, and the mount does not open a way out of either tree.
    const c = path.join(out, 'mount-main');
    await run('curl', ['-sS', '--max-time', '10', '-o', c, `tftp://127.0.0.1:${s2.port}/small.bin`]);
    assert.equal(sha(await readFile(c)), sha(files['small.bin']!));
    const esc = await run('curl', ['-sS', '--max-time', '10', '-o', path.join(out, 'x'), `tftp://127.0.0.1:${s2.port}/lab/../../secret`]).then(() => 'served', (e: { stderr?: string }) => e.stderr ?? 'error');
    assert.notEqual(esc, 'served');
  } finally {
    await s2.close();
  }
});

test('a stalled transfer is ended when its address sends a new request from a new port (firmware restart)', { timeout: 20_000 }, async () => {
  const a = await rawClient();
  const b = await rawClient();
  try {
    const before = server.stats().superseded;
    a.send(encodeRequest('RRQ', 'small.bin', 'octet', [['tsize', '0'], ['blksize', '1468']]), server.port);
    const oack = await a.next();
    assert.equal(oack.p.op, 'OACK');
    // A never ACKs: the server retransmits its OACK after one RTO (≥ 1 s before any RTT sample).
    const again = await a.next(5000);
    assert.equal(again.p.op, 'OACK', 'the stalled transfer is retransmitting');
    b.send(encodeRequest('RRQ', 'exact.bin', 'octet', [['tsize', '0'], ['blksize', '1468']]), server.port);
    const fresh = await b.next();
    assert.equal(fresh.p.op, 'OACK', 'the new request is served');
    const gone = await a.next(2000);
    assert.ok(gone.p.op === 'ERROR' && /Superseded/.test(gone.p.message), 'the old TID is told why');
    assert.equal(server.stats().superseded, before + 1);
    b.send(encodeError(8, 'done'), fresh.port);
  } finally {
    await a.close();
    await b.close();
  }
});

// Issue 13, defect 3: TFTP has no handshake, so RRQs can come from any address anyone writes.
test('a flood of RRQs that never ACK neither locks out a real client nor draws more than 4 packets each', { timeout: 60_000 }, async () => {
  const names = Array.from({ length: 16 }, (_, i) => `flood-${i}.bin`);
  for (const n of names) await writeFile(path.join(root, n), files['small.bin']!);
  const small = await startTftpServer({ host: '127.0.0.1', port: 0, root, maxTransfers: 100, maxPerClient: 16, maxRtoMs: 200 });
  const flood: { sock: dgram.Socket; got: number }[] = [];
  try {
    // 2,000 requests from 125 addresses, 16 each: the shape the independent probe sent.
    for (let a = 0; a < 125; a++) {
      const sock = dgram.createSocket('udp4');
      const f = { sock, got: 0 };
      sock.on('message', () => { f.got++; });
      await new Promise<void>((r) => sock.bind(0, `127.88.${a >> 8}.${(a & 255) + 1}`, () => r()));
      flood.push(f);
      for (const n of names) sock.send(encodeRequest('RRQ', n, 'octet', [['blksize', '1024']]), small.port, '127.0.0.1');
    }
    // A real client asks meanwhile, and gets its file.
    const local = path.join(out, 'during-flood.bin');
    await run('tftp', ['127.0.0.1', String(small.port), '-m', 'binary', '-c', 'get', 'small.bin', local], { timeout: 20_000 });
    await check('small.bin', local);
    const st = small.stats();
    assert.ok((st.errors['evicted-unconfirmed'] ?? 0) > 0, `the unconfirmed pool gave way: ${JSON.stringify(st.errors)}`);
    // Every flood transfer ends within its few first-packet retransmissions.
    for (let i = 0; i < 100 && small.stats().activeTransfers > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(small.stats().activeTransfers, 0);
    const perRequest = Math.max(...flood.map((f) => f.got)) / names.length;
    assert.ok(perRequest <= 4, `a never-answering address drew ${perRequest} packets per request`);
    console.log(`# flood: ${flood.reduce((n, f) => n + f.got, 0)} packets to 2000 forged requests; errors ${JSON.stringify(st.errors)}`);
  } finally {
    for (const f of flood) f.sock.close();
    await small.close();
  }
});
