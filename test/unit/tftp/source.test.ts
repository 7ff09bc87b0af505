import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chunkedSource, memorySource, netasciiEncoder, netasciiSize } from '../../../src/tftp/source.ts';

function reference(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (const b of data) {
    if (b === 0x0a) out.push(0x0d, 0x0a);
    else if (b === 0x0d) out.push(0x0d, 0x00);
    else out.push(b);
  }
  return Uint8Array.from(out);
}

test('netascii: LF → CR LF, CR → CR NUL, size matches', async () => {
  const raw = new TextEncoder().encode('a\nb\r\nc\r');
  const enc = netasciiEncoder((p, l) => raw.subarray(p, p + l));
  const out = await enc.next(100);
  assert.deepEqual([...out], [...reference(raw)]);
  assert.equal(netasciiSize(raw), out.length);
});

test('property: netascii chunks reassemble to the reference encoding at any chunk size', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 3000 }).map((a) => a.map((b) => (b % 4 === 0 ? 0x0a : b % 4 === 1 ? 0x0d : b))),
      fc.integer({ min: 1, max: 700 }),
      async (raw, chunk) => {
        const src = chunkedSource(chunk, ((enc) => () => enc.next(chunk))(netasciiEncoder((p, l) => raw.subarray(p, p + l))), true);
        const want = reference(raw);
        const got: number[] = [];
        for (let off = 0; off <= want.length + chunk; off += chunk) {
          let part = src.read(off, chunk);
          if (part === null) {
            await src.fetch(off, chunk);
            part = src.read(off, chunk);
          }
          assert.ok(part !== null);
          got.push(...part);
          if (part.length < chunk) break;
        }
        assert.deepEqual(got, [...want]);
        assert.equal(netasciiSize(raw), want.length);
      },
    ),
    { numRuns: 200 },
  );
});

test('chunked source reads ahead and drops chunks behind the window', async () => {
  const data = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff);
  const loads: number[] = [];
  const src = chunkedSource(
    1000,
    async (k) => {
      loads.push(k);
      return data.subarray(k * 1000, Math.min((k + 1) * 1000, data.length));
    },
    false,
  );
  assert.equal(src.read(0, 500), null);
  await src.fetch(0, 500);
  assert.deepEqual([...src.read(0, 500)!], [...data.subarray(0, 500)]);
  await new Promise((r) => setImmediate(r));
  assert.ok(loads.includes(1), 'next chunk is prefetched');
  // A block straddling two chunks is stitched together.
  await src.fetch(900, 200);
  assert.deepEqual([...src.read(900, 200)!], [...data.subarray(900, 1100)]);
  // End of file: short read, then empty reads.
  await src.fetch(9500, 1000);
  assert.equal(src.read(9500, 1000)!.length, 500);
  await src.fetch(10_000, 1);
  assert.equal(src.read(10_000, 100)!.length, 0);
});

test('memory source slices without copying', () => {
  const data = new Uint8Array(10);
  const s = memorySource(data).read(4, 100)!;
  assert.equal(s.buffer, data.buffer);
  assert.equal(s.length, 6);
});

test('chunkedSource recycles released chunks only when allowed', async () => {
  const data = Uint8Array.from({ length: 10 * 64 }, (_, i) => i & 0xff);
  for (const allowed of [true, false]) {
    const reused: Array<Uint8Array | null> = [];
    const given = new Set<Uint8Array>();
    const src = chunkedSource(
      64,
      async (k, reuse) => {
        if (reuse) assert.ok(given.has(reuse), 'only buffers the source handed out come back');
        reused.push(reuse);
        const out = reuse ?? new Uint8Array(64);
        out.set(data.subarray(k * 64, k * 64 + 64));
        const chunk = out.subarray(0, Math.min(64, data.length - k * 64));
        given.add(chunk);
        return chunk;
      },
      false,
      () => allowed,
    );
    // Read the whole file block by block (16-byte blocks), fetching whatever is missing.
    const got: number[] = [];
    for (let off = 0; off < data.length; off += 16) {
      let b = src.read(off, 16);
      for (let i = 0; b === null && i < 3; i++) {
        await src.fetch(off, 16);
        b = src.read(off, 16);
      }
      assert.ok(b, `block at ${off}`);
      got.push(...b);
    }
    assert.deepEqual(Uint8Array.from(got), data, 'recycled buffers never corrupt what is read');
    const recycled = reused.filter((r) => r !== null);
    if (allowed) {
      assert.ok(recycled.length > 0, 'released chunks were reused');
    } else {
      assert.equal(recycled.length, 0);
    }
  }
});
