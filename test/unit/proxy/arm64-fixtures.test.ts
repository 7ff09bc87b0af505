// AAVMF (EDK2 for ARM64) as captured in test/e2e/arm64.test.ts (test/fixtures/firmware/aavmf-*):
// what pxepool's responder answers under a config that names an ARM64 boot file, decided by the
// real policy. PXE (arch 11) gets a BINL offer and the file on 4011, as x64 EDK2 does; HTTP boot
// (arch 19) gets the file's URL in the offer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { respond, STANDARD_PORTS, type Outcome, type ResponderContext } from '../../../src/proxy/responder.ts';
import { getOption, parseDhcp, type DhcpPacket } from '../../../src/dhcp/packet.ts';
import { decodeString, Opt } from '../../../src/dhcp/options.ts';
import { compilePolicy, decide } from '../../../src/policy/policy.ts';
import { config } from '../policy/helpers.ts';

const ctx: ResponderContext = { serverId: '10.77.92.11', mode: 'proxy', ports: STANDARD_PORTS, httpPort: 8080 };
const policy = compilePolicy(config(`
profiles:
  arm64: { efiArm64: grubaa64.efi, efiArm64Http: "http://\${server}/grubaa64.efi", kernel: vmlinuz }
  x64: { efiX64: snponly.efi }
rules:
  - { match: { arch: [efi-arm64, efi-arm64-http] }, profile: arm64 }
default: x64
`));

function fixture(name: string): Uint8Array {
  const hex = readFileSync(new URL(`../../fixtures/firmware/${name}.hex`, import.meta.url), 'utf8');
  return new Uint8Array(Buffer.from(hex.replace(/[^0-9a-f]/gi, ''), 'hex'));
}
function reply(o: Outcome): { p: DhcpPacket; o: Extract<Outcome, { kind: 'reply' }> } {
  assert.equal(o.kind, 'reply', o.kind === 'drop' ? `${o.reason}: ${o.detail}` : '');
  if (o.kind !== 'reply') throw new Error('unreachable');
  const parsed = parseDhcp(o.bytes);
  assert.ok(parsed.ok);
  return { p: parsed.packet, o };
}
const d = (f: Parameters<typeof decide>[1]) => decide(policy, f);

test('AAVMF PXE (arch 11): a BINL offer, then grubaa64.efi on 4011 to the client\'s port 4011', () => {
  const offer = reply(respond(fixture('aavmf-discover'), { address: '0.0.0.0', port: 68 }, 'dhcp', ctx, d));
  assert.equal(offer.p.yiaddr, '0.0.0.0');
  assert.equal(offer.p.siaddr, '10.77.92.11');
  assert.equal(offer.p.file, '', 'EDK2 is sent to 4011 for the file');
  assert.equal(getOption(offer.p, Opt.VendorSpecific), undefined, 'no option 43 (EDK2 cancels a BINL boot that has one)');
  assert.equal(decodeString(getOption(offer.p, Opt.VendorClass)), 'PXEClient');
  assert.deepEqual(offer.o.to, { address: '255.255.255.255', port: 68, broadcast: true });
  const ack = reply(respond(fixture('aavmf-request-4011'), { address: '10.77.92.100', port: 4011 }, 'pxe', ctx, d));
  assert.equal(ack.p.file, 'grubaa64.efi');
  assert.equal(ack.p.siaddr, '10.77.92.11');
  assert.deepEqual(ack.o.to, { address: '10.77.92.100', port: 4011, broadcast: false });
});

test('AAVMF HTTP boot (arch 19): the offer carries the boot file\'s URL and vendor class HTTPClient', () => {
  const offer = reply(respond(fixture('aavmf-http-discover'), { address: '0.0.0.0', port: 68 }, 'dhcp', ctx, d));
  assert.equal(offer.p.yiaddr, '0.0.0.0');
  assert.equal(offer.p.file, 'http://10.77.92.11:8080/grubaa64.efi');
  assert.equal(decodeString(getOption(offer.p, Opt.VendorClass)), 'HTTPClient');
});

test('a played EDK2 HTTP boot client (pxepool explain, storm) says HTTPClient as AAVMF did, and gets the same answer', async () => {
  const { discover, encode } = await import('../../../src/dhcp/pxe-client.ts');
  const { clientFacts } = await import('../../../src/dhcp/facts.ts');
  const captured = parseDhcp(fixture('aavmf-http-discover'));
  assert.ok(captured.ok);
  const real = clientFacts(captured.packet);
  for (const arch of [19, 16]) {
    const played = clientFacts(discover({ kind: 'ovmf', mac: real.mac, arch }, { xid: 1 }));
    assert.equal(played.vendorClass, `HTTPClient:Arch:000${arch}:UNDI:003000`);
    assert.equal(played.httpClient, true);
    assert.equal(played.pxeClient, false);
  }
  const played = clientFacts(discover({ kind: 'ovmf', mac: real.mac, arch: 19 }, { xid: 1 }));
  for (const k of ['arch', 'firmware', 'vendorClass', 'pxeClient', 'httpClient', 'isIpxe', 'broadcast', 'undi', 'maxMessageSize'] as const) assert.deepEqual(played[k], real[k], k);
  const a = reply(respond(encode(discover({ kind: 'ovmf', mac: real.mac, arch: 19 }, { xid: 1 })), { address: '0.0.0.0', port: 68 }, 'dhcp', ctx, d)).p;
  assert.equal(a.file, 'http://10.77.92.11:8080/grubaa64.efi');
  assert.equal(decodeString(getOption(a, Opt.VendorClass)), 'HTTPClient');
  // EDK2 PXE (arch 11) still says PXEClient.
  assert.equal(clientFacts(discover({ kind: 'ovmf', mac: real.mac, arch: 11 }, { xid: 1 })).vendorClass, 'PXEClient:Arch:00011:UNDI:003000');
});
