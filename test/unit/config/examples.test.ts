import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatErrors, loadConfig } from '../../../src/config/load.ts';
import { compilePolicy, decide, describePolicy } from '../../../src/policy/policy.ts';
import type { ClientFacts } from '../../../src/dhcp/facts-types.ts';

const DIR = join(import.meta.dirname, '../../../examples');
const examples = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

test('there are examples for the five seed scenarios', () => {
  assert.deepEqual(examples, ['citrix-pvs.yaml', 'ltsp-thin-clients.yaml', 'mac-steering.yaml', 'mode2-colocated.yaml', 'selective-response.yaml']);
});

for (const name of examples) {
  test(`examples/${name} loads without errors or warnings and compiles`, () => {
    const r = loadConfig(join(DIR, name));
    assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors));
    assert.equal(formatErrors(r.warnings), '');
    assert.ok(describePolicy(compilePolicy(r.config)).text.length > 0);
  });
}

const client = (mac: string, arch = 0): ClientFacts => ({
  mac, xid: 1, messageType: 1, arch, firmware: arch === 0 ? 'bios' : 'efi-x64', undi: undefined, uuid: undefined, uuidSwapped: undefined,
  vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClass: [], pxeClient: true, httpClient: false, isIpxe: false,
  relayed: false, giaddr: '0.0.0.0', ciaddr: '0.0.0.0', secs: 0, broadcast: true, bootItem: undefined, maxMessageSize: undefined,
});

test('examples decide as their comments say', () => {
  const load = (n: string) => {
    const r = loadConfig(join(DIR, n));
    assert.ok(r.ok);
    return compilePolicy(r.config);
  };
  const steer = load('mac-steering.yaml');
  assert.deepEqual(decide(steer, client('00:11:22:33:44:57')), {
    action: 'boot', rule: `hosts:${join(DIR, 'thin-clients.hosts')}:4`, profile: 'thin', firmware: 'bios', bootFile: 'pxelinux.0', nextServer: '192.168.10.96',
  });
  assert.equal((decide(steer, client('00:11:33:00:00:01')) as { nextServer?: string }).nextServer, '192.168.10.97');
  assert.equal((decide(steer, client('00:99:00:00:00:01')) as { nextServer?: string }).nextServer, '192.168.10.20');

  const ltsp = load('ltsp-thin-clients.yaml');
  assert.equal((decide(ltsp, client('00:01:02:03:04:05')) as { rootPath?: string }).rootPath, '/opt/ltsp/i386');
  assert.equal((decide(ltsp, client('00:01:02:03:04:25')) as { rootPath?: string }).rootPath, '/opt/ltsp/amd64');
  assert.equal(decide(ltsp, client('00:99:02:03:04:25')).action, 'ignore');

  const pvs = load('citrix-pvs.yaml');
  assert.equal((decide(pvs, client('00:16:3e:00:00:01')) as { bootFile?: string }).bootFile, 'ARDBP32.BIN');
  assert.equal((decide(pvs, client('00:15:5d:00:00:01', 7)) as { action: string }).action, 'ignore');
  assert.equal((decide(pvs, { ...client('00:15:5d:00:00:01', 7), relayed: true, giaddr: '10.20.3.1' }) as { bootFile?: string }).bootFile, 'pvsnbpx64.efi');

  const sel = load('selective-response.yaml');
  assert.equal(decide(sel, client('00:00:00:00:00:01')).action, 'ignore');
  assert.equal(decide(sel, { ...client('00:00:00:00:00:01'), uuid: '44454c4c-4200-1035-8052-b2c04f503232', uuidSwapped: '4c4c4544-0042-3510-8052-b2c04f503232' }).action, 'boot');
});
