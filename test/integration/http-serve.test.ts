// The HTTP side of `serve` on loopback: per-client iPXE scripts from the profile, files from the
// boot root, /status and /metrics.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-http-'));
const port = 41000 + (process.pid % 2000);
let app: App;

before(async () => {
  writeFileSync(join(dir, 'boot.ipxe'), '#!ipxe\necho static script\n');
  writeFileSync(join(dir, 'vmlinuz'), Buffer.alloc(100_000, 1));
  const r = parseConfigText(`
root: ${dir}
tftp: { enabled: false }
server: { proxyDhcp: off }
http: { port: ${port} }
profiles:
  thin:
    efiX64: snponly.efi
    ipxe: http://\${server}/boot.ipxe?mac=\${mac}&platform=\${platform}
    kernel: vmlinuz
    initrd: [initrd.img, extra.img]
    cmdline: console=ttyS0 root=/dev/nfs
rules:
  - { match: { mac: "52:54:00:aa:*" }, profile: thin }
default: ignore
`, 'http.yaml', { readFile: () => '' });
  assert.ok(r.ok);
  if (!r.ok) return;
  app = await serve({ config: r.config, logger: createLogger('silent'), listen: ['127.0.0.1'] });
});
after(() => app?.close());

const url = (p: string): string => `http://127.0.0.1:${port}${p}`;

test('/boot.ipxe gives a known client the script of its profile', async () => {
  const res = await fetch(url('/boot.ipxe?mac=52:54:00:aa:00:01&platform=efi&buildarch=x86_64'));
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.match(body, /^#!ipxe\n/);
  assert.match(body, /^kernel vmlinuz console=ttyS0 root=\/dev\/nfs$/m);
  assert.match(body, /^initrd initrd\.img$/m);
  assert.match(body, /^initrd extra\.img$/m);
  assert.match(body, /^boot$/m);
});

test('/boot.ipxe tells an ignored client it is not served; without a MAC the file is served', async () => {
  const ignored = await (await fetch(url('/boot.ipxe?mac=52:54:00:bb:00:01&platform=efi'))).text();
  assert.match(ignored, /not served/);
  assert.match(ignored, /exit 1/);
  const plain = await (await fetch(url('/boot.ipxe'))).text();
  assert.equal(plain, '#!ipxe\necho static script\n');
});

test('boot files, ranges and escapes over HTTP', async () => {
  const res = await fetch(url('/vmlinuz'), { headers: { range: 'bytes=10-19' } });
  assert.equal(res.status, 206);
  assert.equal((await res.arrayBuffer()).byteLength, 10);
  assert.equal((await fetch(url('/../../etc/passwd'))).status >= 400, true);
  assert.equal((await fetch(url('/nothing-here'))).status, 404);
});

test('shim asks for its second stage as //grubx64.efi: a run of slashes is one, not a host name', async () => {
  const res = await fetch(url('//vmlinuz'));
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 100_000);
});

test('header names in canonical case, byte for byte: GRUB\'s http reads "Content-Length: " exactly', async () => {
  const { connect } = await import('node:net');
  const head = await new Promise<string>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write('HEAD /vmlinuz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let buf = '';
    sock.setEncoding('latin1').on('data', (d: string) => (buf += d)).on('end', () => resolve(buf)).on('error', reject);
  });
  assert.match(head, /\r\nContent-Length: 100000\r\n/);
  assert.match(head, /\r\nContent-Type: /);
  const script = await (await fetch(url('/boot.ipxe?mac=52:54:00:aa:00:01&platform=efi'))).headers;
  assert.ok(script.get('content-length') !== null);
});

test('/status and /metrics', async () => {
  const status = (await (await fetch(url('/status'))).json()) as { http: { port: number }; proxyDhcp: { mode: string } };
  assert.equal(status.http.port, port);
  assert.equal(status.proxyDhcp.mode, 'off');
  const metrics = await (await fetch(url('/metrics'))).text();
  assert.match(metrics, /^pxepool_http_requests_total\{code="206"\} 1$/m);
});
