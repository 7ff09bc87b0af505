// Every error must say where (file:line:col), which key, what was found and what to write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatError, formatErrors, parseConfigText, type ConfigError } from '../../../src/config/load.ts';

function errorsOf(text: string, files: Record<string, string> = {}): string[] {
  const r = parseConfigText(text, '/etc/pxepool/pxepool.yaml', {
    readFile: (p) => {
      const body = files[p];
      if (body === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return body;
    },
  });
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors.map(formatError);
}

function warningsOf(text: string, files: Record<string, string> = {}): string[] {
  const r = parseConfigText(text, '/etc/pxepool/pxepool.yaml', { readFile: (p) => files[p] ?? '' });
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors));
  return r.warnings.map(formatError);
}

const F = '/etc/pxepool/pxepool.yaml';

test('wrong leaf type names the key, what was found and what is allowed', () => {
  assert.deepEqual(errorsOf('profiles:\n  thin:\n    bios: 42\n'), [
    `${F}:3:11: profiles.thin.bios: expected a file name, found 42`,
  ]);
});

test('structured fields on an error are filled in', () => {
  const r = parseConfigText('profiles:\n  thin:\n    bios: 42\n', 'a.yaml');
  assert.ok(!r.ok);
  const e: ConfigError = r.errors[0]!;
  assert.deepEqual(e, { file: 'a.yaml', line: 3, col: 11, path: 'profiles.thin.bios', message: 'expected a file name, found 42', found: '42', allowed: 'a file name' });
});

test('unknown keys suggest the nearest known key, or list the allowed ones', () => {
  assert.deepEqual(errorsOf('profiles:\n  thin:\n    bios: pxelinux.0\n    nextserver: 10.0.0.1\n'), [
    `${F}:4:5: profiles.thin: unknown key "nextserver" — did you mean "nextServer"?`,
  ]);
  assert.deepEqual(errorsOf('tftp:\n  zzz: 1\n'), [
    `${F}:2:3: tftp: unknown key "zzz" (allowed here: enabled, port, maxBlksize, maxWindowsize, cacheBytes, maxTransfers, maxPerClient, maxUnconfirmed, busyPollUs)`,
  ]);
  assert.deepEqual(errorsOf('rule:\n  - profile: a\n'), [
    `${F}:1:1: unknown key "rule" — did you mean "rules"?`,
  ]);
});

test('unknown profile in a rule lists the profiles and suggests one', () => {
  assert.deepEqual(errorsOf('profiles:\n  thin: { bios: a }\n  lab: { bios: b }\nrules:\n  - profile: thn\n'), [
    `${F}:5:14: rules[0].profile: no profile "thn" (profiles: thin, lab) — did you mean "thin"?`,
  ]);
  assert.deepEqual(errorsOf('profiles:\n  thin: { bios: a }\nrules:\n  - profile: ignore\n'), [
    `${F}:4:14: rules[0].profile: no profile "ignore" (profiles: thin) — write action: ignore`,
  ]);
});

test('rule action: both, neither, or a wrong word', () => {
  assert.deepEqual(errorsOf('rules:\n  - profile: default\n    action: ignore\n  - match: { arch: bios }\n'), [
    `${F}:2:5: rules[0]: give either profile: NAME or action: ignore, not both`,
    `${F}:4:5: rules[1]: a rule needs profile: NAME or action: ignore, found neither`,
  ]);
  assert.deepEqual(errorsOf('rules:\n  - action: ignroe\n'), [
    `${F}:2:13: rules[0].action: expected one of ignore, found "ignroe" — did you mean "ignore"?`,
  ]);
});

test('MAC, arch, uuid, subnet and IP values', () => {
  assert.deepEqual(errorsOf(`profiles: { a: { bios: x, nextServer: 10.0.0.300 } }
rules:
  - match:
      mac: ["00:11:22:33:44:55", "00:11:22:33:44"]
      arch: efiX64
      uuid: nope
      relaySubnet: 10.1.2.5/24
    profile: a
  - match: { mac: 001122334455 }
    profile: a
  - match: { mac: "00:11:2*" }
    profile: a
`), [
    `${F}:1:39: profiles.a.nextServer: expected an IPv4 address like 192.168.1.10, found "10.0.0.300"`,
    `${F}:4:34: rules[0].match.mac[1]: expected a MAC address like aa:bb:cc:dd:ee:ff or a wildcard like aa:bb:cc:*, found "00:11:22:33:44"`,
    `${F}:5:13: rules[0].match.arch: expected an arch number (0-65535) or a firmware name (bios, efi-ia32, efi-x64, efi-arm64, efi-x64-http, efi-arm64-http), found "efiX64" — did you mean "efi-x64"?`,
    `${F}:6:13: rules[0].match.uuid: expected a UUID like 4c4c4544-0042-3510-8052-b2c04f503232, found "nope"`,
    `${F}:7:20: rules[0].match.relaySubnet: expected an IPv4 subnet like 10.1.20.0/24, found "10.1.2.5/24" — has host bits set (write 10.1.2.0/24)`,
    `${F}:9:19: rules[1].match.mac: expected a MAC address like aa:bb:cc:dd:ee:ff or a wildcard like aa:bb:cc:*, found 1122334455 — put MAC addresses in quotes`,
    `${F}:11:19: rules[2].match.mac: expected a MAC address like aa:bb:cc:dd:ee:ff or a wildcard like aa:bb:cc:*, found "00:11:2*" — wildcards are whole bytes then *, e.g. 00:11:22:*`,
  ]);
});

test('enums, ports, sizes, booleans, templates, sections of the wrong kind', () => {
  assert.deepEqual(errorsOf(`server: { proxyDhcp: proxi }
tftp: { port: 0, cacheBytes: lots, enabled: yes }
log: { level: verbose }
http: [8080]
profiles:
  a:
    efiX64Http: "http://\${srvr}/ipxe.efi"
    menu: { prompt: Boot, items: [] }
`), [
    `${F}:1:22: server.proxyDhcp: expected one of proxy, 4011-only, off, found "proxi" — did you mean "proxy"?`,
    `${F}:2:15: tftp.port: expected a port number from 1 to 65535, found 0`,
    `${F}:2:30: tftp.cacheBytes: expected a size in bytes (e.g. 268435456, 256MiB, 1GiB), found "lots"`,
    `${F}:2:45: tftp.enabled: expected true or false, found "yes"`,
    `${F}:3:15: log.level: expected one of fatal, error, warn, info, debug, trace, silent, found "verbose"`,
    `${F}:4:7: http: expected a mapping (key: value lines), found a list`,
    `${F}:7:17: profiles.a.efiX64Http: expected a URL like http://\${server}/ipxe.efi using only \${server} and \${mac}, found "http://\${srvr}/ipxe.efi" — unknown variable \${srvr} (allowed: \${server}, \${mac})`,
    `${F}:8:34: profiles.a.menu.items: expected at least 1 entry, found an empty list`,
  ]);
});

test('default must be ignore or a profile', () => {
  assert.deepEqual(errorsOf('profiles: { thin: { bios: a } }\ndefault: thim\n'), [
    `${F}:2:10: default: no profile "thim" (profiles: thin) — did you mean "thin"?`,
  ]);
  assert.deepEqual(errorsOf('profiles: { thin: { bios: a } }\ndefault: lab\n'), [
    `${F}:2:10: default: no profile "lab" (profiles: thin) — write a profile name or ignore`,
  ]);
});

test('"ignore" is not a profile name', () => {
  assert.deepEqual(errorsOf('profiles:\n  ignore: { bios: a }\n'), [
    `${F}:2:3: profiles: "ignore" cannot be a profile name (it is the word for ignoring clients); rename it`,
  ]);
});

test('YAML syntax errors carry line and column', () => {
  const errs = errorsOf('rules:\n  - match: { mac: "00:11:22:33:44:55"\n    profile: a\n');
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /^\/etc\/pxepool\/pxepool\.yaml:\d+:\d+: YAML syntax: /);
  assert.deepEqual(errorsOf('tftp:\n  port: 69\ntftp:\n  port: 70\n'), [`${F}:3:1: YAML syntax: Map keys must be unique`]);
});

test('a config that is not a mapping', () => {
  assert.deepEqual(errorsOf('- a\n- b\n'), [
    `${F}:1:1: the config must be a mapping of sections (server, root, tftp, http, log, profiles, rules, hostFiles, default), found a list`,
  ]);
});

test('all errors are reported at once, in file order', () => {
  const errs = errorsOf(`tftp: { port: 0 }
profiles:
  thin: { bios: 42 }
  lab: { bios: x }
rules:
  - { profile: x }
`);
  // Schema errors stop before cross-checks (a broken profile cannot be referenced reliably).
  assert.deepEqual(errs.map((e) => e.split(': ')[0]), [`${F}:1:15`, `${F}:3:17`]);
  const cross = errorsOf(`profiles: { thin: { bios: a } }
rules:
  - { profile: x }
  - { profile: y }
hostFiles:
  - { path: hosts, profile: z }
default: w
`);
  assert.equal(cross.length, 5);
});

test('host file problems name the host file and line', () => {
  const hosts = '# thin clients\n00:11:22:33:44:55  10.0.0.5  # one\n\n00:11:22:33:44\n00:11:22:33:44:56 10.0.0.300\n00:11:22:33:44:57 10.0.0.5 extra\n00:11:2* 10.0.0.5\n';
  assert.deepEqual(errorsOf('hostFiles:\n  - { path: hosts, profile: default }\n', { '/etc/pxepool/hosts': hosts }), [
    '/etc/pxepool/hosts:4: "00:11:22:33:44" is not a MAC address (write aa:bb:cc:dd:ee:ff)',
    '/etc/pxepool/hosts:5: "10.0.0.300" is not an IPv4 server address (write MAC [server-IP] [# comment], e.g. 00:11:22:33:44:55  192.168.1.10)',
    '/etc/pxepool/hosts:6: unexpected "extra" after the server address (write MAC [server-IP] [# comment])',
    '/etc/pxepool/hosts:7: "00:11:2*" is not a MAC wildcard (wildcards are whole bytes then *, e.g. 00:11:22:*)',
  ]);
});

test('an unreadable host file is reported at its path key; its profile is checked too', () => {
  assert.deepEqual(errorsOf('hostFiles:\n  - path: /nope/hosts\n    profile: thn\n'), [
    `${F}:2:11: hostFiles[0].path: cannot read host file "/nope/hosts": no such file`,
    `${F}:3:14: hostFiles[0].profile: no profile "thn" (profiles: default)`,
  ]);
});

test('duplicate exact MACs warn, naming the entry that wins', () => {
  const w = warningsOf(`profiles: { a: { bios: x }, b: { bios: y } }
rules:
  - match: { mac: "00:11:22:33:44:55" }
    profile: a
  - match: { mac: "00:11:22:33:44:66", arch: bios }
    profile: a
  - match: { mac: ["00:11:22:33:44:66", "00:11:22:33:44:55"] }
    profile: b
hostFiles:
  - { path: hosts, profile: b }
default: ignore
`, { '/etc/pxepool/hosts': '00:11:22:33:44:66\n00:11:22:33:44:77\n00:11:22:33:44:77\n' });
  assert.deepEqual(w, [
    `${F}:7:41: rules[2].match.mac[1]: 00:11:22:33:44:55 is already matched by rules[0].match.mac; first match wins, so this entry never applies to it`,
    '/etc/pxepool/hosts:1: 00:11:22:33:44:66 is already matched by rules[2].match.mac[0]; first match wins, so this line never applies',
    '/etc/pxepool/hosts:3: 00:11:22:33:44:77 is already matched by /etc/pxepool/hosts:2; first match wins, so this line never applies',
  ]);
});

test('no default and no "default" profile warns that unmatched clients are ignored', () => {
  assert.deepEqual(warningsOf('profiles: { a: { bios: x } }\n'), [
    `${F}: default: not set and there is no profile named "default": clients that match no rule are ignored (write default: ignore to say so)`,
  ]);
  assert.deepEqual(warningsOf('profiles: { a: { bios: x } }\ndefault: ignore\n'), []);
  assert.deepEqual(warningsOf('profiles: { a: { rootPath: /x } }\ndefault: ignore\n'), [
    `${F}:1:16: profiles.a: names no boot file (bios, efiIa32, efiX64, efiArm64, efiX64Http, efiArm64Http, ipxe); clients it matches are ignored`,
  ]);
});

test('iPXE settings pass through in ipxe URLs only; elsewhere an unknown variable is an error', () => {
  const good = parseConfigText('profiles:\n  p:\n    ipxe: "http://${server}/boot.ipxe?mac=${mac}&p=${platform}&a=${buildarch}&n=${net0/mac:hexhyp}"\ndefault: p\n', 'x.yaml', { readFile: () => '' });
  assert.ok(good.ok, JSON.stringify(!good.ok && good.errors));
  const bad = parseConfigText('profiles:\n  p:\n    efiX64: "${platform}.efi"\ndefault: p\n', 'x.yaml', { readFile: () => '' });
  assert.ok(!bad.ok);
  assert.match(formatErrors(bad.ok ? [] : bad.errors), /x\.yaml:3:13: profiles\.p\.efiX64: .*unknown variable \$\{platform\}/);
});

test('an empty or comment-only config file is refused at file:1:1, never read as "answer everyone"', async () => {
  const { loadConfig } = await import('../../../src/config/load.ts');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-empty-'));
  for (const [name, text] of [['empty.yaml', ''], ['blank.yaml', '  \n\n\t\n'], ['comments.yaml', '# truncated\n# nothing else\n']] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    const r = loadConfig(file);
    assert.equal(r.ok, false, name);
    if (r.ok) continue;
    assert.equal(r.errors[0]!.file, file);
    assert.equal(r.errors[0]!.line, 1);
    assert.match(formatErrors(r.errors), /empty.*default: ignore/s);
  }
  // The smallest meaningful file is accepted.
  writeFileSync(join(dir, 'ok.yaml'), 'default: ignore\n');
  assert.equal(loadConfig(join(dir, 'ok.yaml')).ok, true);
});

test('a pool serviceAddress given to one peer only points at the peer without one', () => {
  const errs = errorsOf(`pool:
  name: a
  secret: "sixteen-chars-at-least"
  peers:
    - { name: a, address: 10.0.0.1, serviceAddress: 10.0.0.101 }
    - { name: b, address: 10.0.0.2 }
`);
  assert.equal(errs.length, 1);
  assert.match(errs[0]!, /^\/etc\/pxepool\/pxepool\.yaml:6:7: pool\.peers\[1\]: give every peer a serviceAddress, or none \(1 of 2 have one\)$/);
});

test('IPv6 service addresses without server.address6 are refused where the first one is written', () => {
  const pool = (server: string) => `server: { name: a${server} }\npool:\n  name: a\n  secret: 0123456789abcdef0123\n  peers:\n    - { name: a, address: 10.0.0.1, serviceAddress6: "fd00::21" }\n    - { name: b, address: 10.0.0.2, serviceAddress6: "fd00::22" }\ndefault: ignore\n`;
  assert.deepEqual(errorsOf(pool('')), [
    `${F}:6:54: pool.peers[0].serviceAddress6: IPv6 service addresses serve IPv6 clients: set server.address6 to this peer's own IPv6 address too, or remove serviceAddress6`,
  ]);
  const r = parseConfigText(pool(', address6: "fd00::11"'), F);
  assert.ok(r.ok, r.ok ? '' : formatErrors(r.errors));
});
