// /boot.ipxe served by a pool peer names every live peer for each fetch, itself first, so a peer
// dying between the script and the kernel costs iPXE one failed fetch (failover issue, item 3).
// Two real `serve` apps on loopback (127.0.0.1 and 127.0.0.2), heartbeats and HTTP only.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type App } from '../../src/app/serve.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';
import { waitFor } from '../lib/netns.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-poolscript-'));
const http = 43000 + (process.pid % 2000);
const hb = 45100 + (process.pid % 2000);
const peers = { a: '127.0.0.1', b: '127.0.0.2' } as const;
const apps: Partial<Record<'a' | 'b', App>> = {};

function cfg(name: 'a' | 'b') {
  const r = parseConfigText(`
root: ${dir}
tftp: { enabled: false }
server: { proxyDhcp: off }
http: { port: ${http} }
profiles:
  lab: { efiX64: snponly.efi, kernel: vmlinuz, initrd: initrd.gz, cmdline: quiet }
default: lab
pool:
  name: ${name}
  bind: ${peers[name]}
  secret: "pool-script-test-secret-0123"
  heartbeatMs: 100
  peers:
    - { name: a, address: ${peers.a}, port: ${hb} }
    - { name: b, address: ${peers.b}, port: ${hb} }
`, `${name}.yaml`, { readFile: () => '' });
  assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.errors));
  return r.ok ? r.config : (undefined as never);
}

const script = async (at: string): Promise<string> =>
  (await fetch(`http://${at}:${http}/boot.ipxe?mac=52:54:00:aa:00:01&platform=efi&buildarch=x86_64`)).text();

before(async () => {
  writeFileSync(join(dir, 'vmlinuz'), 'k');
  for (const n of ['a', 'b'] as const) apps[n] = await serve({ config: cfg(n), logger: createLogger('silent'), listen: [peers[n]] });
  await waitFor(() => apps.a!.pool!.live().length === 2 && apps.b!.pool!.live().length === 2, 5000, 'both peers live');
});
after(async () => { await Promise.all(Object.values(apps).map((a) => a?.close())); });

test('each peer names itself first, then the other live peer, for kernel and initrd', async () => {
  for (const [self, other] of [['a', 'b'], ['b', 'a']] as const) {
    const s = await script(peers[self]);
    const [me, them] = [`http://${peers[self]}:${http}`, `http://${peers[other]}:${http}`];
    assert.match(s, new RegExp(`^kernel ${me}/vmlinuz quiet \\|\\| kernel ${them}/vmlinuz quiet$`, 'm'), s);
    assert.match(s, new RegExp(`^initrd ${me}/initrd.gz \\|\\| initrd ${them}/initrd.gz$`, 'm'), s);
  }
});

test('a peer that left is no longer named', async () => {
  await apps.b!.close();
  delete apps.b;
  await waitFor(() => apps.a!.pool!.live().length === 1, 5000, 'a sees b down');
  const s = await script(peers.a);
  assert.match(s, /^kernel vmlinuz quiet$/m, s);
  assert.doesNotMatch(s, /127\.0\.0\.2/);
});
