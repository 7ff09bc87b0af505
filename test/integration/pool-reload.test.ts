// A reload that changes the boot policy changes the config hash in this peer's heartbeats
// (hostile-segment issue, defect 7): the peers report the mismatch until both run the new policy.
// Two real `serve` apps on loopback (127.0.0.1 and 127.0.0.3), reloading real files.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type App } from '../../src/app/serve.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';
import { waitFor } from '../lib/netns.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-poolreload-'));
const hb = 47200 + (process.pid % 2000);
const peers = { a: '127.0.0.1', b: '127.0.0.3' } as const;

const text = (name: 'a' | 'b', defaultAction: string) => `
root: ${dir}
tftp: { enabled: false }
http: { enabled: false }
server: { proxyDhcp: off }
profiles: { lab: { bios: pxelinux.0 } }
default: ${defaultAction}
pool:
  name: ${name}
  bind: ${peers[name]}
  secret: "pool-reload-test-secret-0123"
  heartbeatMs: 100
  peers:
    - { name: a, address: ${peers.a}, port: ${hb} }
    - { name: b, address: ${peers.b}, port: ${hb} }
`;

test('reloading a changed policy on one peer is reported as a mismatch by both, then agreement once both reloaded', async () => {
  const apps: Record<string, App> = {};
  const files: Record<string, string> = {};
  try {
    for (const n of ['a', 'b'] as const) {
      files[n] = join(dir, `${n}.yaml`);
      writeFileSync(files[n], text(n, 'lab'));
      const r = loadConfig(files[n]);
      assert.ok(r.ok);
      if (!r.ok) return;
      apps[n] = await serve({ config: r.config, configPath: files[n], logger: createLogger('silent'), listen: [peers[n]] });
    }
    const agree = (n: string): boolean => (apps[n]!.status() as { pool: { configAgreement: { agree: boolean }; live: string[] } }).pool.configAgreement.agree;
    const live = (n: string): number => apps[n]!.pool!.live().length;
    await waitFor(() => live('a') === 2 && live('b') === 2 && agree('a') && agree('b'), 5000, 'both live and agreeing');

    writeFileSync(files.a!, text('a', 'ignore'));
    assert.equal(apps.a!.reload().ok, true);
    await waitFor(() => !agree('a') && !agree('b'), 5000, 'both report the mismatch');

    writeFileSync(files.b!, text('b', 'ignore'));
    assert.equal(apps.b!.reload().ok, true);
    await waitFor(() => agree('a') && agree('b'), 5000, 'both agree again');

    // A change to pool: is refused with the reason, never applied silently or half-way; the
    // policy change in the same file is not applied either (the running config stays whole).
    writeFileSync(files.a!, text('a', 'lab').replace('heartbeatMs: 100', 'heartbeatMs: 200'));
    const r = apps.a!.reload();
    assert.equal(r.ok, false);
    assert.match(r.message, /pool: heartbeatMs changed; pool changes take effect only at a restart/);
    assert.equal(apps.a!.config.default, 'ignore', 'the rest of that file was not applied');
    assert.ok(agree('a') && agree('b'), 'the peers still agree');
  } finally {
    await Promise.all(Object.values(apps).map((a) => a.close()));
  }
});
