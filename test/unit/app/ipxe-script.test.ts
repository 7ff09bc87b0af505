// /boot.ipxe from a pool: every fetch names the serving peer first, then the ranked live peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { config } from '../policy/helpers.ts';
import { compilePolicy } from '../../../src/policy/policy.ts';
import { fetchLine, ipxeScriptFor } from '../../../src/app/ipxe-script.ts';

const policy = compilePolicy(config(`
profiles:
  lab:
    efiX64: snponly.efi
    kernel: vmlinuz
    initrd: [initrd.gz, http://cdn.example/extra.img]
    cmdline: console=ttyS0 quiet
default: lab
`));
const q = new URLSearchParams('mac=52:54:00:12:34:56&platform=efi&buildarch=x86_64');

test('with several pool peers, kernel and initrd are tried on each in order', () => {
  const s = ipxeScriptFor(policy, q, { servers: () => ['http://10.0.0.11:8080', 'http://10.0.0.12:8080'] })!;
  const lines = s.split('\n');
  assert.equal(lines[0], '#!ipxe');
  assert.ok(lines.includes('kernel http://10.0.0.11:8080/vmlinuz console=ttyS0 quiet || kernel http://10.0.0.12:8080/vmlinuz console=ttyS0 quiet'), s);
  assert.ok(lines.includes('initrd http://10.0.0.11:8080/initrd.gz || initrd http://10.0.0.12:8080/initrd.gz'), s);
  // A file the admin wrote as a URL is fetched from there only.
  assert.ok(lines.includes('initrd http://cdn.example/extra.img'), s);
  assert.equal(lines.at(-2), 'boot');
});

test('one server (or none) keeps the relative names iPXE resolves against the script URI', () => {
  for (const servers of [undefined, ['http://10.0.0.11:8080']]) {
    const s = ipxeScriptFor(policy, q, servers === undefined ? {} : { servers: () => servers })!;
    assert.match(s, /^kernel vmlinuz console=ttyS0 quiet$/m);
    assert.match(s, /^initrd initrd\.gz$/m);
    assert.doesNotMatch(s, /\|\|/);
  }
});

test('fetchLine: leading slashes and trailing slashes do not double up', () => {
  assert.equal(fetchLine('kernel', '/lab/vmlinuz', '', ['http://a/', 'http://b']), 'kernel http://a/lab/vmlinuz || kernel http://b/lab/vmlinuz');
  assert.equal(fetchLine('initrd', 'x.img', '', []), 'initrd x.img');
});

test('an ignored client gets no fallback list, only the reason', () => {
  const p = compilePolicy(config('profiles: { lab: { efiX64: a.efi, kernel: vmlinuz } }\ndefault: ignore\n'));
  const s = ipxeScriptFor(p, q, { servers: () => ['http://a', 'http://b'] })!;
  assert.match(s, /not served/);
  assert.doesNotMatch(s, /kernel/);
});

// Issue 13, defect 6: the script is decided with the facts DHCP had, not only what a query says.
import { clientFacts } from '../../../src/dhcp/facts.ts';
import { discover, encode } from '../../../src/dhcp/pxe-client.ts';
import { parseDhcp } from '../../../src/dhcp/packet.ts';
import { RecentClients } from '../../../src/app/recent-clients.ts';

test('/boot.ipxe follows relaySubnet rules and ignores as DHCP decided them, whoever asks', () => {
  const p = compilePolicy(config(`
profiles:
  remote: { efiX64: snponly.efi, kernel: remote/vmlinuz, cmdline: secret=remote }
  local: { efiX64: snponly.efi, kernel: local/vmlinuz }
rules:
  - match: { relaySubnet: 10.1.20.0/24 }
    profile: remote
  - match: { mac: "52:54:00:12:*" }
    profile: local
default: ignore
`));
  const seen = new RecentClients();
  const mac = '52:54:00:12:34:56';
  const remoteQ = new URLSearchParams(`mac=${mac}&platform=efi&buildarch=x86_64`);
  // A DISCOVER relayed from 10.1.20.1 put this client in "remote".
  const pkt = parseDhcp(encode(discover({ kind: 'ovmf', mac, uuid: '11111111-2222-3333-4444-555555555555' }, { xid: 9, giaddr: '10.1.20.1', hops: 1 })));
  assert.ok(pkt.ok);
  if (!pkt.ok) return;
  seen.remember({ ...clientFacts(pkt.packet), relayed: true }, 0);
  const s = ipxeScriptFor(p, remoteQ, { remote: '10.77.0.5', seen: (m) => seen.get(m, 1000) })!;
  assert.match(s, /^kernel remote\/vmlinuz secret=remote$/m, s);
  // Never seen by DHCP: decided from the query and the requesting address (an HTTP request is
  // not relayed; relaySubnet sees the caller's own address).
  const other = new URLSearchParams('mac=52:54:00:12:99:99&platform=efi&buildarch=x86_64');
  assert.match(ipxeScriptFor(p, other, { remote: '10.77.0.5', seen: (m) => seen.get(m, 1000) })!, /^kernel local\/vmlinuz$/m);
  assert.match(ipxeScriptFor(p, other, { remote: '10.1.20.77', seen: (m) => seen.get(m, 1000) })!, /^kernel remote\/vmlinuz/m);
  // A MAC DHCP ignored is not served over HTTP either.
  const stranger = '02:00:00:00:00:01';
  const sp = parseDhcp(encode(discover({ kind: 'ovmf', mac: stranger, uuid: '11111111-2222-3333-4444-555555555555' }, { xid: 9 })));
  if (sp.ok) seen.remember(clientFacts(sp.packet), 0);
  assert.match(ipxeScriptFor(p, new URLSearchParams(`mac=${stranger}&platform=efi`), { remote: '10.77.0.5', seen: (m) => seen.get(m, 1000) })!, /not served/);
});

test('recent clients: bounded, newest wins, entries expire', () => {
  const r = new RecentClients({ max: 2, ttlMs: 100 });
  const f = (mac: string) => ({ mac } as never);
  r.remember(f('a'), 0); r.remember(f('b'), 0); r.remember(f('c'), 0);
  assert.equal(r.size, 2);
  assert.equal(r.get('a', 0), undefined);
  assert.equal(r.get('c', 50)?.mac, 'c');
  assert.equal(r.get('c', 200), undefined);
});
