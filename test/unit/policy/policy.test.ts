import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, decide, describePolicy, explainDecision } from '../../../src/policy/policy.ts';
import { EMBEDDED_DEFAULT } from '../../../src/config/load.ts';
import { config, facts } from './helpers.ts';
import { parseConfigText } from '../../../src/config/load.ts';

const PROFILES = `profiles:
  thin:
    bios: pxelinux.0
    efiX64: syslinux.efi
    rootPath: /opt/ltsp/i386
  win:
    bios: boot/pxeboot.n12
    efiX64: boot/x64/wdsmgfw.efi
    nextServer: 10.0.0.20
  ipxe:
    bios: undionly.kpxe
    efiIa32: ipxe-ia32.efi
    efiX64: ipxe.efi
    efiArm64: ipxe-arm64.efi
    efiX64Http: http://\${server}/ipxe.efi
    efiArm64Http: http://\${server}/ipxe-arm64.efi
    ipxe: http://\${server}/boot.ipxe?mac=\${mac}
    pin: [peer-a, peer-b]
`;

test('embedded default boots every firmware, and iPXE clients get the script', () => {
  const p = compilePolicy(EMBEDDED_DEFAULT);
  const cases: [number, string][] = [[0, 'pxelinux.0'], [6, 'ipxe-ia32.efi'], [7, 'ipxe.efi'], [9, 'ipxe.efi'], [11, 'ipxe-arm64.efi'], [16, 'http://${server}/ipxe.efi'], [19, 'http://${server}/ipxe-arm64.efi']];
  for (const [arch, file] of cases) {
    const d = decide(p, facts({ arch }));
    assert.equal(d.action, 'boot');
    assert.equal(d.action === 'boot' && d.bootFile, file, `arch ${arch}`);
    assert.equal(d.rule, 'default');
  }
  const d = decide(p, facts({ arch: 7, isIpxe: true, userClass: ['iPXE'] }));
  assert.equal(d.action === 'boot' && d.bootFile, 'http://${server}/boot.ipxe');
});

test('firmware picks the profile field; a missing field ignores with the field to set', () => {
  const p = compilePolicy(config(`${PROFILES}default: thin\n`));
  const bios = decide(p, facts({ arch: 0 }));
  assert.deepEqual(bios, { action: 'boot', rule: 'default', profile: 'thin', firmware: 'bios', bootFile: 'pxelinux.0', rootPath: '/opt/ltsp/i386' });
  assert.deepEqual(decide(p, facts({ arch: 11 })), {
    action: 'ignore', rule: 'default',
    reason: 'default chose profile "thin", which has no boot file for efi-arm64 clients (arch 11); set profiles.thin.efiArm64',
  });
  const unknown = decide(p, facts({ arch: 42 }));
  assert.equal(unknown.action, 'ignore');
  assert.match(unknown.action === 'ignore' ? unknown.reason : '', /firmware is unknown \(arch 42\)/);
});

test('iPXE clients get the ipxe script with ${mac} filled; others keep ${server} for the responder', () => {
  const p = compilePolicy(config(`${PROFILES}default: ipxe\n`));
  const d = decide(p, facts({ arch: 7, isIpxe: true, mac: '52:54:00:aa:bb:cc' }));
  assert.deepEqual(d, {
    action: 'boot', rule: 'default', profile: 'ipxe', firmware: 'efi-x64',
    bootFile: 'http://${server}/boot.ipxe?mac=52:54:00:aa:bb:cc', pin: ['peer-a', 'peer-b'],
  });
  // A profile without `ipxe` hands iPXE clients the firmware file as usual.
  const p2 = compilePolicy(config(`${PROFILES}default: thin\n`));
  assert.equal((decide(p2, facts({ arch: 0, isIpxe: true })) as { bootFile: string }).bootFile, 'pxelinux.0');
});

test('non-PXE DHCP clients are ignored before any rule', () => {
  const p = compilePolicy(EMBEDDED_DEFAULT);
  assert.deepEqual(decide(p, facts({ pxeClient: false, vendorClass: 'MSFT 5.0' })), {
    action: 'ignore', rule: 'not-pxe', reason: 'not a PXE or HTTP boot client (vendor class "MSFT 5.0")',
  });
  assert.equal(decide(p, facts({ pxeClient: false, httpClient: true, arch: 16, vendorClass: 'HTTPClient:Arch:00016' })).action, 'boot');
});

test('default: ignore answers only recognised clients (selective response)', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { mac: "52:54:00:00:00:01" }
    profile: win
default: ignore
`));
  assert.deepEqual(decide(p, facts({ mac: '52:54:00:00:00:02' })), { action: 'ignore', rule: 'default', reason: 'no rule matched and default is ignore' });
  const d = decide(p, facts({ mac: '52:54:00:00:00:01', arch: 0 }));
  assert.equal(d.action === 'boot' && d.nextServer, '10.0.0.20');
});

test('wildcards and OUIs; first match wins over specificity', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { mac: "00:1b:21:*" }
    profile: win
  - match: { mac: "00:1b:21:00:00:01" }
    profile: thin
  - match: { mac: ["aa:bb:*", "cc:dd:ee:ff:00:11"] }
    action: ignore
default: ipxe
`));
  assert.equal(decide(p, facts({ mac: '00:1b:21:00:00:01' })).rule, 'rules[0]');
  assert.equal(decide(p, facts({ mac: '00:1b:22:00:00:01' })).rule, 'default');
  assert.deepEqual(decide(p, facts({ mac: 'aa:bb:01:02:03:04' })), { action: 'ignore', rule: 'rules[2]', reason: 'rules[2] says ignore' });
  assert.equal(decide(p, facts({ mac: 'cc:dd:ee:ff:00:11' })).rule, 'rules[2]');
});

test('a MAC rule with extra conditions falls through to later rules when they fail', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { mac: "52:54:00:00:00:01", arch: bios }
    profile: thin
  - match: { vendorClass: "PXEClient:Arch:00007" }
    profile: win
  - match: { mac: "52:54:00:00:00:01" }
    profile: ipxe
default: ignore
`));
  assert.equal(decide(p, facts({ mac: '52:54:00:00:00:01', arch: 0 })).rule, 'rules[0]');
  assert.equal(decide(p, facts({ mac: '52:54:00:00:00:01', arch: 7 })).rule, 'rules[1]');
  assert.equal(decide(p, facts({ mac: '52:54:00:00:00:01', arch: 11 })).rule, 'rules[2]');
});

test('UUID matches in either byte order', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { uuid: "4C4C4544-0042-3510-8052-B2C04F503232" }
    profile: win
default: ignore
`));
  const wire = { uuid: '4c4c4544-0042-3510-8052-b2c04f503232', uuidSwapped: '44454c4c-4200-1035-8052-b2c04f503232' };
  const swapped = { uuid: '44454c4c-4200-1035-8052-b2c04f503232', uuidSwapped: '4c4c4544-0042-3510-8052-b2c04f503232' };
  assert.equal(decide(p, facts(wire)).rule, 'rules[0]');
  assert.equal(decide(p, facts(swapped)).rule, 'rules[0]');
  assert.equal(decide(p, facts({})).rule, 'default');
});

test('arch by number or by firmware name', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { arch: 9 }
    profile: thin
  - match: { arch: [efi-x64, bios] }
    profile: ipxe
default: ignore
`));
  assert.equal(decide(p, facts({ arch: 9 })).rule, 'rules[0]');
  assert.equal(decide(p, facts({ arch: 7 })).rule, 'rules[1]');
  assert.equal(decide(p, facts({ arch: 0 })).rule, 'rules[1]');
  assert.equal(decide(p, facts({ arch: 11 })).rule, 'default');
});

test('vendor class prefix, user class, relay subnet', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { userClass: iPXE }
    profile: ipxe
  - match: { relaySubnet: [10.1.0.0/16, 192.168.5.7] }
    profile: win
  - match: { vendorClass: "PXEClient:Arch:00000" }
    profile: thin
default: ignore
`));
  assert.equal(decide(p, facts({ userClass: ['gPXE', 'iPXE'] })).rule, 'rules[0]');
  assert.equal(decide(p, facts({ relayed: true, giaddr: '10.1.250.1' })).rule, 'rules[1]');
  assert.equal(decide(p, facts({ relayed: true, giaddr: '192.168.5.7' })).rule, 'rules[1]');
  assert.equal(decide(p, facts({ relayed: true, giaddr: '10.2.0.1' })).rule, 'default');
  assert.equal(decide(p, facts({ arch: 0 })).rule, 'rules[2]');
});

test('host files: exact and wildcard lines, server-IP becomes nextServer, rules come first', () => {
  const hosts = `# MAC  server-IP  # comment
00:11:22:33:44:55    10.0.0.95   # Thin Client 1
00:11:22:33:44:56                # Thin Client 2, this server
00:11:22:77:*        10.0.0.97
`;
  const p = compilePolicy(config(`${PROFILES}rules:
  - match: { mac: "00:11:22:33:44:56", arch: efi-x64 }
    profile: win
hostFiles:
  - path: hosts
    profile: thin
default: ignore
`, { '/etc/pxepool/hosts': hosts }));
  assert.deepEqual(decide(p, facts({ mac: '00:11:22:33:44:55', arch: 0 })), {
    action: 'boot', rule: 'hosts:/etc/pxepool/hosts:2', profile: 'thin', firmware: 'bios', bootFile: 'pxelinux.0', nextServer: '10.0.0.95', rootPath: '/opt/ltsp/i386',
  });
  const d2 = decide(p, facts({ mac: '00:11:22:33:44:56', arch: 0 }));
  assert.equal(d2.rule, 'hosts:/etc/pxepool/hosts:3');
  assert.equal(d2.action === 'boot' && d2.nextServer, undefined);
  assert.equal(decide(p, facts({ mac: '00:11:22:33:44:56', arch: 7 })).rule, 'rules[0]');
  const d3 = decide(p, facts({ mac: '00:11:22:77:00:01', arch: 0 }));
  assert.equal(d3.rule, 'hosts:/etc/pxepool/hosts:4');
  assert.equal(d3.action === 'boot' && d3.nextServer, '10.0.0.97');
});

test('100,000-line host file: every MAC decides to its own line', () => {
  const N = 100_000;
  const mac = (i: number) => `02:00:${[(i >> 24) & 255, (i >> 16) & 255, (i >> 8) & 255, i & 255].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
  const lines: string[] = [];
  for (let i = 0; i < N; i++) lines.push(`${mac(i)}  10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}  # host ${i}`);
  const t0 = performance.now();
  const cfg = config(`${PROFILES}rules:
  - match: { userClass: iPXE }
    profile: ipxe
hostFiles:
  - { path: big-hosts, profile: thin }
default: ignore
`, { '/etc/pxepool/big-hosts': lines.join('\n') });
  const p = compilePolicy(cfg);
  const t1 = performance.now();
  for (let i = 0; i < N; i++) {
    const d = decide(p, facts({ mac: mac(i), arch: 0 }));
    if (d.rule !== `hosts:/etc/pxepool/big-hosts:${i + 1}` || d.action !== 'boot' || d.nextServer !== `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) {
      assert.fail(`host ${i}: ${JSON.stringify(d)}`);
    }
  }
  assert.equal(decide(p, facts({ mac: '02:01:00:00:00:00' })).rule, 'default');
  const t2 = performance.now();
  console.log(`policy: loaded+compiled ${N} host lines in ${(t1 - t0).toFixed(0)} ms, ${N} decisions in ${(t2 - t1).toFixed(0)} ms`);
  assert.equal(describePolicy(p).counts.exactMacs, N);
});

test('explainDecision shows each rule tried and why; describePolicy counts', () => {
  const p = compilePolicy(config(`${PROFILES}rules:
  - name: lab arm boards
    match: { arch: efi-arm64 }
    profile: ipxe
  - match: { mac: "00:11:22:*", uuid: 4c4c4544-0042-3510-8052-b2c04f503232 }
    action: ignore
hostFiles:
  - { path: hosts, profile: thin }
default: ignore
`, { '/etc/pxepool/hosts': '00:11:22:33:44:55 10.0.0.95\n00:11:22:33:44:66\n' }));
  const f = facts({ mac: '00:11:22:33:44:55', arch: 0 });
  const e = explainDecision(p, f);
  assert.deepEqual(e.decision, decide(p, f));
  assert.deepEqual(e.tried, [
    { rule: 'rules[0]', name: 'lab arm boards', matched: false, why: 'arch 0 (bios) is not efi-arm64' },
    { rule: 'rules[1]', matched: false, why: 'client sent no UUID (option 97)' },
    { rule: 'hosts:/etc/pxepool/hosts:1', matched: true, why: 'matched: profile thin' },
  ]);
  assert.equal(e.hostEntriesSkipped, 1);
  assert.match(e.text, /→ boot pxelinux\.0 \(profile thin, hosts:\/etc\/pxepool\/hosts:1, next-server 10\.0\.0\.95, root-path \/opt\/ltsp\/i386\)/);

  const s = describePolicy(p);
  assert.deepEqual(s.counts, { rules: 2, hostEntries: 2, exactMacs: 2, wildcardMacs: 1, nonMacRules: 1, profiles: 3 });
  assert.deepEqual(s.rules, [
    { rule: 'rules[0]', name: 'lab arm boards', match: 'arch efi-arm64', then: 'profile ipxe' },
    { rule: 'rules[1]', match: 'mac 00:11:22:* and uuid 4c4c4544-0042-3510-8052-b2c04f503232', then: 'ignore' },
  ]);
  assert.match(s.text, /host file \/etc\/pxepool\/hosts: 2 lines → profile thin/);
  assert.match(s.text, /2 exact MACs, 1 wildcard, 1 rule without a MAC test, 3 profiles/);
});

test('a profile with its own root names its files under /<profile>/; URLs stay as written', async () => {
  const { ipxeScriptFor } = await import('../../../src/app/ipxe-script.ts');
  const text = `profiles:
  lab:
    root: /srv/lab
    bios: pxelinux.0
    efiX64: /efi/snponly.efi
    efiX64Http: http://\${server}/ipxe.efi
    kernel: vmlinuz
    initrd: [initrd.img, http://cdn.example/extra.img]
  plain: { bios: pxelinux.0 }
rules:
  - { match: { mac: "52:54:00:00:00:*" }, profile: plain }
default: lab
`;
  const p = compilePolicy(config(text));
  const file = (over: Parameters<typeof facts>[0]) => (decide(p, facts(over)) as { bootFile: string }).bootFile;
  assert.equal(file({ arch: 0 }), 'lab/pxelinux.0');
  assert.equal(file({ arch: 7 }), 'lab/efi/snponly.efi');
  assert.equal(file({ arch: 16, httpClient: true, vendorClass: 'HTTPClient:Arch:00016:UNDI:003016' }), 'http://${server}/ipxe.efi');
  assert.equal(file({ arch: 0, mac: '52:54:00:00:00:01' }), 'pxelinux.0', 'profiles without a root are unchanged');
  const script = ipxeScriptFor(p, new URLSearchParams({ mac: '52:54:00:12:34:56', platform: 'efi', buildarch: 'x86_64' })) ?? '';
  assert.match(script, /^kernel lab\/vmlinuz$/m);
  assert.match(script, /^initrd lab\/initrd\.img$/m);
  assert.match(script, /^initrd http:\/\/cdn\.example\/extra\.img$/m);
  const bad = parseConfigText('profiles:\n  "..": { root: /srv/x, bios: a }\ndefault: ".."\n', 'x.yaml', { readFile: () => '' });
  assert.equal(bad.ok, false);
});
