// Every snippet format and mode is fed to the real server that reads it: ISC dhcpd -t, Kea
// kea-dhcp4 -t (through <?include?>, as the header tells people to), dnsmasq --test. A broken
// snippet of each kind proves the checks can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EMBEDDED_DEFAULT } from '../../src/config/load.ts';
import { buildModel, renderSnippet, type SnippetFormat, type SnippetMode } from '../../src/snippet/index.ts';
import { snippetText } from '../../src/cli/snippet.ts';
import { bin, needs } from '../lib/require.ts';
import { SNIPPET_PEERS, snippetConfigs } from '../lib/snippet-configs.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-snippet-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Run a checker; returns its combined output and whether it exited 0. */
function check(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
    return { ok: true, out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

function dhcpdCheck(snippet: string): { ok: boolean; out: string } {
  const s = join(dir, `isc-${n}.conf`);
  const main = join(dir, `dhcpd-${n++}.conf`);
  writeFileSync(s, snippet);
  writeFileSync(main, `include "${s}";\nsubnet 10.1.20.0 netmask 255.255.255.0 {\n  range 10.1.20.100 10.1.20.200;\n}\n`);
  return check('dhcpd', ['-4', '-t', '-cf', main]);
}

function keaCheck(snippet: string): { ok: boolean; out: string } {
  const s = join(dir, `kea-${n}.json`);
  const main = join(dir, `kea-dhcp4-${n++}.conf`);
  writeFileSync(s, snippet);
  // Mode 3 is comments only: included where a key would go, it must not need a comma.
  const onlyComments = snippet.split('\n').every((l) => l.trim() === '' || l.trim().startsWith('//'));
  writeFileSync(main, `{ "Dhcp4": {\n  <?include "${s}"?>${onlyComments ? '' : ','}\n  "interfaces-config": { "interfaces": [] },\n  "lease-database": { "type": "memfile", "persist": false },\n  "subnet4": [ { "id": 1, "subnet": "10.1.20.0/24", "pools": [ { "pool": "10.1.20.100 - 10.1.20.200" } ] } ]\n} }\n`);
  return check('kea-dhcp4', ['-t', main]);
}

function dnsmasqCheck(snippet: string): { ok: boolean; out: string } {
  const s = join(dir, `dnsmasq-${n++}.conf`);
  writeFileSync(s, snippet);
  return check('dnsmasq', ['--test', `--conf-file=${s}`]);
}

const CHECKERS: Partial<Record<SnippetFormat, { bin: string; pkg: string; run: (s: string) => { ok: boolean; out: string }; broken: string }>> = {
  isc: { bin: 'dhcpd', pkg: 'isc-dhcp-server', run: dhcpdCheck, broken: 'if option pxe-system-type = 00:07 {\n  filename "x"\n}\n' },
  kea: { bin: 'kea-dhcp4', pkg: 'kea-dhcp4-server', run: keaCheck, broken: '"client-classes": [ { "name": "x", "test": "option[93].hex ==" } ]\n' },
  dnsmasq: { bin: 'dnsmasq', pkg: 'dnsmasq-base', run: dnsmasqCheck, broken: 'dhcp-boot=tag:x,,,,,,\ndhcp-optoin=66,1.2.3.4\n' },
};

const CONFIGS = snippetConfigs();
const PEERS = SNIPPET_PEERS;

for (const [format, c] of Object.entries(CHECKERS)) {
  const skip = needs(bin(`/usr/sbin/${c.bin}`, c.pkg));
  for (const mode of [1, 2, 3] as SnippetMode[]) {
    for (const [cname, config] of Object.entries(CONFIGS)) {
      test(`${format} mode ${mode} (${cname} config) is accepted by ${c.bin}`, { skip }, () => {
        const m = buildModel(config, mode, PEERS);
        assert.ok(m.ok);
        const text = renderSnippet(format as SnippetFormat, m.model, ['10.0.0.5']);
        assert.match(text.split('\n')[0]!, /^(#|\/\/) pxepool: .* snippet, mode \d/);
        assert.match(text, /include|conf-file|leave .* as it is/i, 'the header says how to use it');
        const r = c.run(text);
        assert.ok(r.ok, `${c.bin} rejected the snippet:\n${r.out}\n--- snippet ---\n${text}`);
      });
    }
  }
  test(`${format}: a broken snippet is rejected by ${c.bin} (the check can fail)`, { skip }, () => {
    assert.equal(c.run(c.broken).ok, false);
  });
}

test('mode 1 carries per-arch files, next-server, option 66 and the 150 list with its caveat', () => {
  const m = buildModel(CONFIGS.full!, 1, PEERS);
  assert.ok(m.ok);
  const isc = renderSnippet('isc', m.model);
  assert.match(isc, /option pxe-system-type = 00:07 or option pxe-system-type = 00:09 \{.*\n\s+filename "grubx64\.efi";/);
  assert.match(isc, /next-server 10\.0\.0\.20;/);
  assert.match(isc, /option tftp-server-name "10\.0\.0\.20";/);
  assert.match(isc, /option pxepool-tftp-servers 10\.0\.0\.20, 10\.0\.0\.21, 10\.0\.0\.22;/);
  assert.match(isc, /Few PXE ROMs read it/);
  assert.match(isc, /filename "http:\/\/10\.0\.0\.20:8080\/boot\.ipxe"/, '${server} filled with the first peer');
  assert.match(isc, /option root-path "\/opt\/ltsp\/i386"/);
  const dm = renderSnippet('dnsmasq', m.model);
  assert.match(dm, /dhcp-boot=tag:pxepool-pxe,tag:pxepool-efi-x64,tag:!pxepool-ipxe,grubx64\.efi,,10\.0\.0\.20/);
  assert.match(dm, /dhcp-option=tag:pxepool-pxe,150,10\.0\.0\.20,10\.0\.0\.21,10\.0\.0\.22/);
  const kea = renderSnippet('kea', m.model);
  assert.match(kea, /"code": 150/);
  assert.match(kea, /"boot-file-name": "grubaa64\.efi"/);
});

test('mode 2 puts option 60 PXEClient in offers to PXE clients only', () => {
  const m = buildModel(EMBEDDED_DEFAULT, 2, ['10.0.0.5']);
  assert.ok(m.ok);
  assert.match(renderSnippet('isc', m.model), /match if substring \(option vendor-class-identifier, 0, 9\) = "PXEClient";\n\s+option vendor-class-identifier "PXEClient";/);
  assert.match(renderSnippet('kea', m.model), /"name": "vendor-class-identifier",\s+"data": "PXEClient"/);
  assert.match(renderSnippet('dnsmasq', m.model), /dhcp-option-force=tag:pxepool-pxe,option:vendor-class,PXEClient/);
  assert.match(renderSnippet('isc', m.model), /4011-only/);
});

test('mode 3: router helper lines per peer, nothing for the DHCP server', () => {
  const m = buildModel(EMBEDDED_DEFAULT, 3, PEERS);
  assert.ok(m.ok);
  for (const f of ['isc', 'kea', 'dnsmasq', 'windows'] as const) {
    const t = renderSnippet(f, m.model, ['10.0.0.5']);
    for (const p of ['10.0.0.5', ...PEERS]) assert.match(t, new RegExp(`ip helper-address ${p.replaceAll('.', '\\.')}\\b`), `${f}: helper for ${p}`);
    assert.match(t, /needs nothing/);
  }
});

test('windows: PowerShell and netsh lines for each mode', () => {
  const m1 = buildModel(CONFIGS.full!, 1, PEERS);
  assert.ok(m1.ok);
  const w1 = renderSnippet('windows', m1.model);
  assert.match(w1, /Set-DhcpServerv4OptionValue -ScopeId \$Scope -OptionId 66 -Value '10\.0\.0\.20'/);
  assert.match(w1, /Add-DhcpServerv4OptionDefinition -OptionId 150 .* -Type IPv4Address -MultiValued/);
  assert.match(w1, /Add-DhcpServerv4Class -Name 'pxepool efi-x64 7' -Type Vendor -Data 'PXEClient:Arch:00007'/);
  assert.match(w1, /-PolicyName 'pxepool-efi-x64' -OptionId 67 -Value 'grubx64\.efi'/);
  assert.match(w1, /netsh dhcp server scope <scope-id> set optionvalue 066 STRING "10\.0\.0\.20"/);
  const m2 = buildModel(EMBEDDED_DEFAULT, 2, ['10.0.0.5']);
  assert.ok(m2.ok);
  const w2 = renderSnippet('windows', m2.model);
  assert.match(w2, /netsh dhcp server add optiondef 60 PXEClient STRING 0/);
  assert.match(w2, /Set-DhcpServerv4OptionValue -ScopeId \$Scope -OptionId 60 -Value 'PXEClient'/);
});

test('CLI entry: peers from --peers, errors for bad input', () => {
  const ok = snippetText({ format: 'isc', mode: '1', peers: '10.0.0.9, 10.0.0.10' });
  assert.ok(ok.ok && /next-server 10\.0\.0\.9;/.test(ok.text));
  const none = snippetText({ format: 'isc', mode: '1' });
  assert.ok(!none.ok && /--peers/.test(none.error));
  const bad = snippetText({ format: 'kea', mode: '1', peers: '10.0.0.300' });
  assert.ok(!bad.ok && /not an IPv4 address/.test(bad.error));
  assert.equal(snippetText({ format: 'kea', mode: '4', peers: '10.0.0.1' }).ok, false);
});
