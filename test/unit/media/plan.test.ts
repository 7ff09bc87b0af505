// `pxepool media`: which servers go on the media, how the machine gets onto the network, and the
// two loaders' scripts. Bad input is refused with what to write instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { config } from '../policy/helpers.ts';
import { grubMediaConfig, ipxeMediaScript, MAX_MEDIA_PEERS, netmaskOf, planMedia } from '../../../src/media/plan.ts';

const POOL = `
pool:
  name: a
  secret: "0123456789abcdef0123"
  peers:
    - { name: a, address: 10.0.0.11, serviceAddress: 10.0.0.21 }
    - { name: b, address: 10.0.0.12, serviceAddress: 10.0.0.22 }
`;
const pooled = config(`http: { port: 8080 }\n${POOL}`);

function plan(c = pooled, req = {}) {
  const r = planMedia(c, req, 'pxepool.yaml');
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.plan;
}
function refused(c: ReturnType<typeof config>, req: object, re: RegExp) {
  const r = planMedia(c, req, 'pxepool.yaml');
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error, re);
}

test('the pool\'s peers in config order, each by the address clients use (service address first)', () => {
  const p = plan();
  assert.deepEqual(p.servers, [{ name: 'a', host: '10.0.0.21', port: 8080 }, { name: 'b', host: '10.0.0.22', port: 8080 }]);
  assert.deepEqual(p.network, { kind: 'dhcp' });
});

test('--peers overrides, with ports', () => {
  const p = plan(pooled, { peers: '10.0.0.30:80, boot.example.org' });
  assert.deepEqual(p.servers.map((s) => `${s.host}:${s.port}`), ['10.0.0.30:80', 'boot.example.org:8080']);
});

test('refused: no servers, HTTP off, too many, duplicates, bad addresses', () => {
  refused(config(''), {}, /names no boot servers.*--peers 10\.0\.0\.20,10\.0\.0\.21/);
  refused(config(`http: { enabled: false }\n${POOL}`), {}, /http\.enabled is false.*remove "enabled: false"/);
  const many = Array.from({ length: MAX_MEDIA_PEERS + 1 }, (_, i) => `10.0.1.${i + 1}`).join(',');
  refused(pooled, { peers: many }, /more than media hold \(16/);
  refused(pooled, { peers: '10.0.0.1,10.0.0.1' }, /listed twice/);
  refused(pooled, { peers: '10.0.0.1;reboot' }, /is not a host or host:port/);
  refused(pooled, { peers: '10.0.0.1:99999' }, /is not a host or host:port/);
  refused(pooled, { peers: ' , ' }, /--peers is empty/);
  refused(pooled, { ip: '10.0.0.50' }, /--ip 10\.0\.0\.50\/24/);
  refused(pooled, { ip: '10.0.0.50/24', gateway: 'router' }, /--gateway "router" is not an IPv4 address/);
  refused(pooled, { gateway: '10.0.0.1' }, /go with a static address/);
  refused(pooled, { vlan: '4095' }, /from 1 to 4094/);
  refused(pooled, { vlan: '1e3' }, /from 1 to 4094/);
  refused(pooled, { peers: 'boot.example.org', ip: '10.0.0.50/24' }, /add --dns/);
});

test('iPXE script: DHCP without the IPv6 wait, each server in order, then the next boot device', () => {
  const s = ipxeMediaScript(plan());
  const lines = s.split('\n');
  assert.equal(lines[0], '#!ipxe');
  assert.ok(lines.includes('ifconf -c dhcp || goto nonet'));
  const fetches = lines.filter((l) => l.startsWith('imgfetch'));
  assert.deepEqual(fetches, [
    'imgfetch --name pxepool http://10.0.0.21:8080/boot.ipxe?mac=${netX/mac}&platform=${platform}&buildarch=${buildarch} && goto run ||',
    'imgfetch --name pxepool http://10.0.0.22:8080/boot.ipxe?mac=${netX/mac}&platform=${platform}&buildarch=${buildarch} && goto run ||',
  ]);
  // The fetched script runs; if it ends (not served, or no kernel anywhere) the machine moves on.
  assert.ok(lines.indexOf('boot pxepool ||') < lines.indexOf(':next'));
  assert.equal(lines.at(-2), 'exit 1');
});

test('iPXE script: static address and VLAN', () => {
  const s = ipxeMediaScript(plan(pooled, { ip: '10.0.5.50/23', gateway: '10.0.4.1', dns: '10.0.4.2', vlan: '20' }));
  for (const l of ['vcreate --tag 20 net0 || goto nonet', 'set net0-20/ip 10.0.5.50', 'set net0-20/netmask 255.255.254.0', 'set net0-20/gateway 10.0.4.1', 'set net0-20/dns 10.0.4.2', 'ifopen net0-20 || goto nonet']) {
    assert.ok(s.split('\n').includes(l), l);
  }
  assert.ok(!s.includes('ifconf'));
  assert.match(s, /mac=\$\{net0-20\/mac\}/);
});

test('GRUB config: DHCP, the MAC of the card that got an address, each server in order', () => {
  const s = grubMediaConfig(plan());
  assert.match(s, /^net_dhcp$/m);
  const sources = s.split('\n').filter((l) => l.startsWith('source'));
  assert.deepEqual(sources, [
    'source "(http,10.0.0.21:8080)/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu"',
    'source "(http,10.0.0.22:8080)/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu"',
  ]);
  assert.match(s, /no boot server answered \(a, b\); booting from the next device'\nsleep 5\nexit\n$/);
});

test('GRUB config: static address with its subnet route and gateway; a VLAN is said to be the firmware\'s', () => {
  const s = grubMediaConfig(plan(pooled, { ip: '10.0.5.50/23', gateway: '10.0.4.1', vlan: '20' }));
  assert.match(s, /^net_add_addr pxepool efinet0 10\.0\.5\.50$/m);
  assert.match(s, /^net_add_route pxepool_lan 10\.0\.4\.0\/23 pxepool$/m);
  assert.match(s, /^net_add_route pxepool_gw 0\.0\.0\.0\/0 gw 10\.0\.4\.1$/m);
  assert.match(s, /VLAN 20 must be set in the firmware/);
  assert.ok(!s.includes('net_dhcp'));
});

test('Secure Boot media fetch by TFTP (Debian\'s signed GRUB has no http), and need TFTP on', () => {
  const p = plan(pooled, { secureBoot: true });
  assert.equal(p.uefiFetch, 'tftp');
  const s = grubMediaConfig(p);
  assert.ok(s.split('\n').includes('source "(tftp,10.0.0.21)/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu&proto=tftp"'));
  assert.ok(!s.includes('(http,'));
  assert.ok(!s.includes('eval'), 'the signed GRUB has no eval');
  const odd = config(`http: { port: 8080 }\ntftp: { port: 1069 }\n${POOL}`);
  assert.match(grubMediaConfig(plan(odd, { secureBoot: true })), /\(tftp,10\.0\.0\.21:1069\)/);
  refused(config(`tftp: { enabled: false }\n${POOL}`), { secureBoot: true }, /fetches over TFTP only/);
  assert.equal(plan(config(`tftp: { enabled: false }\n${POOL}`)).uefiFetch, 'http', 'without --secure-boot TFTP may be off');
});

test('a network boot file (--format nbp) uses the network the firmware configured, DHCP only without one', () => {
  const p = plan(pooled, { nbp: true });
  assert.deepEqual(p.network, { kind: 'firmware' });
  assert.equal(p.uefiFetch, 'http');
  const s = grubMediaConfig(p);
  const lines = s.split('\n');
  // Loaded by PXE or HTTP boot, GRUB names the card it came from the default: its MAC first.
  assert.ok(lines.indexOf('set pxepool_mac="$net_default_mac"') < lines.indexOf('  net_dhcp'));
  assert.deepEqual(lines.slice(lines.indexOf('set pxepool_mac="$net_default_mac"'), lines.indexOf('  net_dhcp') + 1), ['set pxepool_mac="$net_default_mac"', 'if [ -z "$pxepool_mac" ]; then', '  net_dhcp']);
  assert.ok(!lines.includes('net_dhcp'), 'no DHCP of its own when the firmware gave an address');
  assert.deepEqual(lines.filter((l) => l.startsWith('source')), [
    'source "(http,10.0.0.21:8080)/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu"',
    'source "(http,10.0.0.22:8080)/boot.grub?mac=$pxepool_mac&platform=efi&buildarch=$grub_cpu"',
  ]);
  // The media's own config is unchanged by the boot file's.
  assert.match(grubMediaConfig(plan()), /^# pxepool boot media: a=http:\/\/10\.0\.0\.21:8080 b=http:\/\/10\.0\.0\.22:8080\necho 'pxepool media: getting onto the network'\nnet_dhcp\nif \[ -n "\$net_efinet7_dhcp_ip" \]/);
});

test('refused with --format nbp: a static address, a VLAN, Secure Boot', () => {
  for (const [req, re] of [
    [{ nbp: true, ip: '10.0.0.5/24' }, /--ip does not go with --format nbp/],
    [{ nbp: true, vlan: '20' }, /--vlan does not go with --format nbp/],
    [{ nbp: true, gateway: '10.0.0.1' }, /--gateway does not go with --format nbp/],
    [{ nbp: true, secureBoot: true }, /unsigned GRUB: with Secure Boot, name Debian's shim and signed network GRUB/],
  ] as const) refused(pooled, req, re);
  refused(config('http: { enabled: false }\n' + POOL), { nbp: true }, /http\.enabled is false/);
});

test('netmaskOf', () => {
  assert.equal(netmaskOf(24), '255.255.255.0');
  assert.equal(netmaskOf(23), '255.255.254.0');
  assert.equal(netmaskOf(32), '255.255.255.255');
  assert.equal(netmaskOf(1), '128.0.0.0');
});
