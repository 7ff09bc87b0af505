// A multi-homed boot server with `interface:` serves only that interface's clients, names that
// interface's address as server identifier, and broadcasts out of it (SO_BINDTODEVICE helper).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type Host } from '../lib/netns.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { deviceBindingAvailable } from '../../src/net/udp.ts';

const PROBE = fileURLToPath(new URL('../lib/probe-cli.ts', import.meta.url));

let lab: Lab;
let clientA: Host;
let clientB: Host;
let srv: ServeProc;

before(async () => {
  lab = await Lab.create({ segments: ['a', 'b'] });
  const pxe = await lab.addRouter('pxe', [{ segment: 'a', address: '10.77.40.2/24' }, { segment: 'b', address: '10.77.41.2/24' }]);
  await lab.exec(pxe.ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
  clientA = await lab.addHost('ca', { segment: 'a', address: '10.77.40.50/24', gateway: '10.77.40.254' });
  clientB = await lab.addHost('cb', { segment: 'b', address: '10.77.41.50/24', gateway: '10.77.41.254' });
  const cfg = join(lab.tmpDir, 'pxepool.yaml');
  writeFileSync(cfg, `root: ${lab.tmpDir}\nserver: { interface: eth1 }\nprofiles: { p: { bios: pxelinux.0 } }\ndefault: p\n`);
  srv = await startServe(['--config', cfg], { ns: pxe.ns });
});
after(async () => {
  await srv?.stop();
  await lab?.destroy();
});

async function offers(host: Host, mac: string, xid: number): Promise<{ proxy: boolean; serverId?: string; from: string }[]> {
  const r = await lab.exec(host.ns, process.execPath, [PROBE, 'discover', 'ipxe-bios', mac, String(xid), '1500'], 20_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { proxy: boolean; serverId?: string; from: string }[];
}

test('the native device-binding helper is built', () => {
  assert.ok(deviceBindingAvailable(), 'run scripts/build-native.sh');
});

test('a client on the served interface gets an offer naming that interface address', async () => {
  const seen = await offers(clientB, '02:00:00:00:41:01', 0x4101);
  assert.equal(seen.length, 1, JSON.stringify(seen));
  assert.equal(seen[0]!.serverId, '10.77.41.2');
  assert.equal(seen[0]!.from, '10.77.41.2');
});

test('a client on another interface of the same host gets nothing', async () => {
  const seen = await offers(clientA, '02:00:00:00:40:01', 0x4001);
  assert.deepEqual(seen, []);
  // Not even decided on: the DISCOVER never reached the eth1 server (an answer sent out of eth1
  // would be invisible to this client, so the log is the real evidence).
  assert.equal(srv.logs.filter((l) => l.mac === '02:00:00:00:40:01').length, 0, JSON.stringify(srv.logs.filter((l) => l.mac === '02:00:00:00:40:01')));
});
