import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relayConfigFrom } from '../../../src/cli/relay.ts';

test('relay CLI: config relay: section, host files relative to it, flags on top', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-relay-cli-'));
  try {
    const cfg = join(dir, 'pxepool.yaml');
    writeFileSync(cfg, 'relay:\n  interfaces: [eth1]\n  dhcpServers: [10.0.0.5]\n  hostsFiles: [relay.hosts]\n  default: farm\n  pools:\n    farm: { peers: [10.0.0.20, 10.0.0.21] }\n');
    const r = relayConfigFrom({ config: cfg, maxHops: 8, remoteId: 'r1' });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(r.config.hostsFiles, [join(dir, 'relay.hosts')]);
    assert.equal(r.config.default, 'farm');
    assert.equal(r.config.maxHops, 8);
    assert.deepEqual(r.config.option82, { enabled: true, remoteId: 'r1', trustDownstream: false });
    const o = relayConfigFrom({ config: cfg, interface: ['eth2'], default: '10.0.0.9', dhcpServer: ['10.0.0.6'], allClients: true });
    assert.ok(o.ok);
    assert.deepEqual([o.config.interfaces, o.config.default, o.config.dhcpServers, o.config.pxeOnlyToPxe], [['eth2'], '10.0.0.9', ['10.0.0.6'], false]);
    // A mistake in the file is reported as serve reports it: file:line:col.
    writeFileSync(cfg, 'relay:\n  interfaces: [eth1]\n  maxHops: 99\n');
    const located = relayConfigFrom({ config: cfg });
    assert.ok(!located.ok);
    assert.match(located.errors.join('\n'), new RegExp(`${cfg.replace(/[/.]/g, '\\$&')}:3:\\d+: relay\\.maxHops`));
    const bad = relayConfigFrom({ default: 'nope', maxHops: 20 });
    assert.ok(!bad.ok);
    assert.match(bad.errors.join('\n'), /relay\.maxHops/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
