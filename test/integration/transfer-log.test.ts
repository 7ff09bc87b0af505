// A log line at info for every finished TFTP and HTTP transfer (issue 19), from a real serve on
// loopback fetched by real clients (curl over TFTP and HTTP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { serve } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';

const run = promisify(execFile);

test('every finished TFTP and HTTP transfer is one info line: client, file, bytes, duration, rate, result', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-xferlog-'));
  writeFileSync(join(dir, 'pxelinux.0'), Buffer.alloc(40_000, 3));
  const base = 44500 + (process.pid % 1000) * 2;
  const r = parseConfigText(`root: ${dir}\nserver: { proxyDhcp: off }\ntftp: { port: ${base} }\nhttp: { port: ${base + 1} }\n`, 'x.yaml', { readFile: () => '' });
  assert.ok(r.ok);
  if (!r.ok) return;
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  const app = await serve({ config: r.config, logger, listen: ['127.0.0.1'] });
  try {
    await run('curl', ['-sf', '-o', '/dev/null', `tftp://127.0.0.1:${base}/pxelinux.0`]);
    await run('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${base + 1}/pxelinux.0`]);
    await run('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${base + 1}/metrics`]);
    await new Promise((res) => setTimeout(res, 200));
    const tftp = lines.filter((l) => l.event === 'tftp-transfer');
    assert.equal(tftp.length, 1, JSON.stringify(lines.map((l) => l.msg)));
    assert.equal(tftp[0]!.level, 30);
    assert.equal(tftp[0]!.file, 'pxelinux.0');
    assert.equal(tftp[0]!.bytes, 40_000);
    assert.equal(tftp[0]!.result, 'ok');
    assert.match(String(tftp[0]!.msg), /^tftp 127\.0\.0\.1:\d+ pxelinux\.0: 39\.1 KiB in \d+\.\d\d s \(.*\/s\), ok$/);
    const http = lines.filter((l) => l.event === 'http-transfer');
    assert.equal(http.length, 1, 'one line for the file, none for /metrics');
    assert.equal(http[0]!.file, '/pxelinux.0');
    assert.equal(http[0]!.status, 200);
    assert.ok(Number(http[0]!.bytes) >= 40_000);
  } finally {
    await app.close();
  }
});
