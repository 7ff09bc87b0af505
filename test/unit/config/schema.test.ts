import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMBEDDED_DEFAULT, EMBEDDED_DEFAULT_YAML, parseConfigText } from '../../../src/config/load.ts';
import { parseCidr, parseMacPattern, parseSize, parseUuid, suggest } from '../../../src/config/values.ts';

function load(text: string) {
  const r = parseConfigText(text, 'test.yaml', { readFile: () => '' });
  if (!r.ok) assert.fail(r.errors.map((e) => e.message).join('\n'));
  return r;
}

test('an empty file gets every default', () => {
  const { config, warnings } = load('');
  assert.deepEqual(warnings, []);
  assert.equal(config.server.name, undefined, 'unset: serve uses the host name');
  assert.equal(config.server.proxyDhcp, 'proxy');
  assert.equal(config.server.interface, undefined);
  assert.equal(config.root, '/srv/pxepool');
  assert.deepEqual(config.tftp, { enabled: true, port: 69, maxBlksize: 65464, maxWindowsize: 64, cacheBytes: 256 * 1024 * 1024, maxTransfers: 2000, maxPerClient: 16, busyPollUs: 300 });
  assert.deepEqual(config.http, { enabled: true, port: 8080, maxConnections: 2000, maxPerAddress: 32, headersTimeoutMs: 5000 });
  assert.equal(config.log.level, 'info');
  assert.deepEqual(config.rules, []);
  assert.deepEqual(config.hostEntries, []);
  // No profiles given: the embedded ones, so an empty file behaves like no file.
  assert.deepEqual(config.profiles, EMBEDDED_DEFAULT.profiles);
  assert.equal(config.default, 'default');
});

test('partial sections keep the other defaults', () => {
  const { config } = load('tftp:\n  port: 1069\n  cacheBytes: 64MiB\nserver:\n  name: peer-a\n  proxyDhcp: 4011-only\n');
  assert.equal(config.tftp.port, 1069);
  assert.equal(config.tftp.cacheBytes, 64 * 1024 * 1024);
  assert.equal(config.tftp.maxBlksize, 65464);
  assert.equal(config.server.name, 'peer-a');
  assert.equal(config.server.proxyDhcp, '4011-only');
});

test('pool and relay sections are validated and get their defaults', () => {
  const { config } = load('pool:\n  name: a\n  secret: 0123456789abcdef\n  peers:\n    - { name: a, address: 10.0.0.1 }\n    - { name: b, address: 10.0.0.2, weight: 2 }\nrelay:\n  dhcpServers: [10.0.0.9]\n');
  assert.equal(config.pool?.heartbeatMs, 500);
  assert.equal(config.pool?.peers[0]?.port, 4012);
  assert.equal(config.pool?.peers[1]?.weight, 2);
  assert.deepEqual(config.relay?.dhcpServers, ['10.0.0.9']);
  assert.equal(config.relay?.maxHops, 4);
});

test('the embedded default boots every firmware and loads cleanly', () => {
  const r = parseConfigText(EMBEDDED_DEFAULT_YAML, 'embedded', { readFile: () => '' });
  assert.ok(r.ok);
  const p = EMBEDDED_DEFAULT.profiles['default']!;
  assert.equal(p.bios, 'pxelinux.0');
  assert.equal(p.efiX64, 'ipxe.efi');
  assert.equal(p.efiIa32, 'ipxe-ia32.efi');
  assert.equal(p.efiArm64, 'ipxe-arm64.efi');
  assert.equal(p.efiX64Http, 'http://${server}/ipxe.efi');
  assert.equal(p.ipxe, 'http://${server}/boot.ipxe');
  assert.equal(EMBEDDED_DEFAULT.default, 'default');
});

test('rule values are normalised: MAC lists, arch names, uuid case', () => {
  const { config } = load(`profiles: { a: { bios: x } }
rules:
  - match:
      mac: "00-11-22-AA-BB-CC"
      uuid: "{4C4C4544-0042-3510-8052-B2C04F503232}"
      arch: [0, efi-x64]
      relaySubnet: 10.1.0.0/16
      userClass: iPXE
    profile: a
`);
  const m = config.rules[0]!.match;
  assert.deepEqual(m.mac, [{ kind: 'exact', value: 0x001122aabbcc, text: '00:11:22:aa:bb:cc' }]);
  assert.deepEqual(m.uuid, ['4c4c4544-0042-3510-8052-b2c04f503232']);
  assert.deepEqual(m.arch, [0, 'efi-x64']);
  assert.deepEqual(m.userClass, ['iPXE']);
  assert.equal(m.relaySubnet?.[0]?.prefix, 16);
});

test('value parsers', () => {
  assert.deepEqual(parseMacPattern('00:11:22:*'), { ok: true, value: { kind: 'prefix', bytes: [0, 0x11, 0x22], text: '00:11:22:*' } });
  assert.deepEqual(parseMacPattern('00:11:22:*:*:*'), parseMacPattern('00:11:22:*'));
  assert.deepEqual(parseMacPattern('*'), { ok: true, value: { kind: 'prefix', bytes: [], text: '*' } });
  for (const form of ['0011.22aa.bbcc', '001122AABBCC', '0:11:22:aa:bb:cc', '00-11-22-aa-bb-cc']) {
    assert.deepEqual(parseMacPattern(form), parseMacPattern('00:11:22:aa:bb:cc'), form);
  }
  assert.equal(parseMacPattern('00:11:2*').ok, false);
  assert.equal(parseMacPattern('00:11:22:33:44').ok, false);
  assert.equal(parseMacPattern('00:11:22:33:44:5g').ok, false);
  assert.deepEqual(parseUuid('4c4c454400423510805 2b2c04f503232'.replace(' ', '')), { ok: true, value: '4c4c4544-0042-3510-8052-b2c04f503232' });
  assert.equal(parseUuid('nope').ok, false);
  assert.deepEqual(parseCidr('10.1.2.5/24'), { ok: false, reason: 'has host bits set (write 10.1.2.0/24)' });
  assert.equal(parseCidr('10.1.2.0/33').ok, false);
  assert.deepEqual(parseSize('1GiB'), { ok: true, value: 1024 ** 3 });
  assert.deepEqual(parseSize('256 MB'), { ok: true, value: 256_000_000 });
  assert.equal(parseSize('12 parsecs').ok, false);
  assert.equal(suggest('nextserver', ['nextServer', 'rootPath']), 'nextServer');
  assert.equal(suggest('qqqqqq', ['nextServer', 'rootPath']), undefined);
});
