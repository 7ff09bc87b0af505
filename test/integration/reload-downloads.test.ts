// Reload never loses work (issue 14, part 3): 20 reloads, good and broken alternately, while a
// 100 MiB file is downloaded over TFTP (curl, lock-step) and over HTTP (curl, rate-limited so it
// lasts). Both downloads complete byte-exact; every broken file is refused with file:line:col;
// every good one takes effect (the /boot.ipxe answer changes with it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '../../src/app/serve.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';

const run = promisify(execFile);
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('20 good and broken reloads during a 100 MiB TFTP and a 100 MiB HTTP download lose nothing', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-reload-dl-'));
  const big = randomBytes(100 * 1024 * 1024);
  writeFileSync(join(dir, 'big.img'), big);
  const base = 43000 + (process.pid % 2000) * 2;
  const file = join(dir, 'pxepool.yaml');
  const good = (kernel: string): string => `root: ${dir}
server: { proxyDhcp: off }
tftp: { port: ${base} }
http: { port: ${base + 1} }
profiles:
  lab: { efiX64: snponly.efi, kernel: ${kernel} }
rules:
  - { match: { mac: "52:54:00:*" }, profile: lab }
default: ignore
`;
  const broken = [
    (k: string) => good(k).replace('default: ignore', 'default: ignore\nrules: [ { match: { mac: 52:54 }'), // YAML cut short
    (k: string) => good(k).replace('profile: lab }', 'profile: nosuch }'), // names a missing profile
    (k: string) => good(k).replace(`tftp: { port: ${base} }`, `tftp: { port: ${base}, maxBlksize: 7 }`), // out of range
  ];
  writeFileSync(file, good('vmlinuz-0'));
  const r = loadConfig(file);
  assert.ok(r.ok);
  if (!r.ok) return;
  const app = await serve({ config: r.config, configPath: file, logger: createLogger('silent'), listen: ['127.0.0.1'] });
  try {
    const tftpOut = join(dir, 'tftp.out');
    const httpOut = join(dir, 'http.out');
    const tftp = run('curl', ['-sf', '--tftp-blksize', '1468', '-o', tftpOut, `tftp://127.0.0.1:${base}/big.img`], { timeout: 200_000 });
    const http = run('curl', ['-sf', '--limit-rate', '25M', '-o', httpOut, `http://127.0.0.1:${base + 1}/big.img`], { timeout: 200_000 });
    const script = async (): Promise<string> => (await fetch(`http://127.0.0.1:${base + 1}/boot.ipxe?mac=52:54:00:00:00:01&platform=efi&buildarch=x86_64`)).text();
    await new Promise((res) => setTimeout(res, 300));
    let during = 0;
    for (let i = 0; i < 20; i++) {
      const busy = (app.tftp?.stats().activeTransfers ?? 0) > 0 && (app.http?.active() ?? 0) > 0;
      if (busy) during++;
      if (i % 2 === 0) {
        writeFileSync(file, good(`vmlinuz-${i + 1}`));
        const res = app.reload();
        assert.equal(res.ok, true, res.message);
        assert.match(await script(), new RegExp(`^kernel vmlinuz-${i + 1}$`, 'm'), 'the good reload took effect');
      } else {
        writeFileSync(file, broken[(i >> 1) % broken.length]!(`vmlinuz-x${i}`));
        const res = app.reload();
        assert.equal(res.ok, false);
        assert.match(res.message, new RegExp(`${file.replace(/[/.]/g, '\\$&')}:\\d+:\\d+`), `no file:line:col in: ${res.message}`);
        assert.match(await script(), new RegExp(`^kernel vmlinuz-${i}$`, 'm'), 'a refused reload changed nothing');
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(during >= 18, `the downloads ran during only ${during} of 20 reloads: the test would prove nothing`);
    await Promise.all([tftp, http]);
    assert.equal(sha(readFileSync(tftpOut)), sha(big), 'TFTP download byte-exact');
    assert.equal(sha(readFileSync(httpOut)), sha(big), 'HTTP download byte-exact');
  } finally {
    await app.close();
  }
});
