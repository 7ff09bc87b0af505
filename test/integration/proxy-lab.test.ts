// ProxyDHCP beside a site DHCP server it does not control, in network namespaces: Kea (no PXE
// options) and pxepool on one segment; a scripted PXE client sees both offers, the proxy offer
// shaped per firmware, the 4011 exchange, and nothing for a client policy ignores. Then the
// same through Debian's isc-dhcp-relay across two subnets.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type Host } from '../lib/netns.ts';
import { startKea } from '../lib/services.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';

const PROBE = fileURLToPath(new URL('../lib/probe-cli.ts', import.meta.url));

interface Seen {
  from: string; proxy: boolean; type: number; yiaddr: string; siaddr: string; giaddr: string; flags: number; file: string;
  serverId?: string; vendorClass?: string; option43?: { discoveryControl?: number } | string; options: number[];
}

async function probe(lab: Lab, host: Host, args: string[]): Promise<unknown> {
  const r = await lab.exec(host.ns, process.execPath, [PROBE, ...args], 20_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as unknown;
}

function config(root: string): string {
  return `
root: ${root}
profiles:
  lab:
    bios: pxelinux.0
    efiX64: snponly.efi
rules:
  - name: somebody else's client
    match: { mac: "02:00:00:00:0e:*" }
    action: ignore
default: lab
`;
}

describe('ProxyDHCP on a segment beside Kea', { timeout: 120_000 }, () => {
  let lab: Lab;
  let client: Host;
  let srv: ServeProc;

  before(async () => {
    lab = await Lab.create();
    const dhcp = await lab.addHost('dhcp', { address: '10.77.10.1/24' });
    const pxe = await lab.addHost('pxe', { address: '10.77.10.2/24' });
    client = await lab.addHost('client', { address: '10.77.10.50/24', gateway: '10.77.10.254' });
    await startKea(lab, dhcp, { subnet: '10.77.10.0/24', rangeStart: '10.77.10.100', rangeEnd: '10.77.10.199' });
    const cfg = join(lab.tmpDir, 'pxepool.yaml');
    writeFileSync(cfg, config(lab.tmpDir));
    srv = await startServe(['--config', cfg, '--http-port', '8080'], { ns: pxe.ns });
  });
  after(async () => {
    await srv?.stop();
    await lab?.destroy();
  });

  test('BIOS client: an address offer from Kea and a proxy offer with option 43 and the file from pxepool', async () => {
    const seen = (await probe(lab, client, ['discover', 'ipxe-bios', '02:00:00:00:0b:01', '4097'])) as Seen[];
    const kea = seen.filter((s) => !s.proxy);
    const proxy = seen.filter((s) => s.proxy);
    assert.equal(kea.length, 1, JSON.stringify(seen));
    assert.match(kea[0]!.yiaddr, /^10\.77\.10\.1\d\d$/);
    assert.ok(!kea[0]!.options.includes(60) && !kea[0]!.options.includes(43), 'site DHCP server sends no PXE options');
    assert.equal(proxy.length, 1);
    const p = proxy[0]!;
    assert.equal(p.from, '10.77.10.2');
    assert.equal(p.yiaddr, '0.0.0.0');
    assert.equal(p.serverId, '10.77.10.2');
    assert.equal(p.siaddr, '10.77.10.2');
    assert.equal(p.file, 'pxelinux.0');
    assert.deepEqual(p.option43, { discoveryControl: 8 });
  });

  test('UEFI client: a BINL proxy offer (no option 43, no file), then the 4011 ACK with the file', async () => {
    const seen = (await probe(lab, client, ['discover', 'ovmf', '02:00:00:00:0a:01', '4098'])) as Seen[];
    const proxy = seen.filter((s) => s.proxy);
    assert.equal(proxy.length, 1, JSON.stringify(seen));
    assert.equal(proxy[0]!.option43, undefined);
    assert.equal(proxy[0]!.file, '');
    assert.equal(seen.filter((s) => !s.proxy).length, 1, 'Kea offered too');
    const ack = (await probe(lab, client, ['request', 'ovmf', '02:00:00:00:0a:01', '10.77.10.2', '10.77.10.50', '4099'])) as Seen;
    assert.equal(ack.type, 5);
    assert.equal(ack.file, 'snponly.efi');
    assert.equal(ack.siaddr, '10.77.10.2');
  });

  test('a client policy ignores gets nothing from pxepool (Kea still offers it an address)', async () => {
    const seen = (await probe(lab, client, ['discover', 'ipxe-bios', '02:00:00:00:0e:07', '4100'])) as Seen[];
    assert.equal(seen.filter((s) => s.proxy).length, 0, JSON.stringify(seen));
    assert.equal(seen.filter((s) => !s.proxy).length, 1);
    await srv.waitForLog((l) => l.event === 'ignore' && l.mac === '02:00:00:00:0e:07');
  });

  test('a non-PXE DHCP client gets nothing from pxepool', async () => {
    const seen = (await probe(lab, client, ['discover', 'plain', '02:00:00:00:0c:01', '4101'])) as Seen[];
    assert.equal(seen.filter((s) => s.from === '10.77.10.2').length, 0, JSON.stringify(seen));
  });
});

describe('ProxyDHCP through Debian isc-dhcp-relay across two subnets', { timeout: 120_000 }, () => {
  let lab: Lab;
  let client: Host;
  let srv: ServeProc;

  before(async () => {
    lab = await Lab.create({ segments: ['servers', 'clients'] });
    const router = await lab.addRouter('router', [{ segment: 'servers', address: '10.77.11.254/24' }, { segment: 'clients', address: '10.77.12.1/24' }]);
    const dhcp = await lab.addHost('dhcp', { segment: 'servers', address: '10.77.11.1/24', gateway: '10.77.11.254' });
    const pxe = await lab.addHost('pxe', { segment: 'servers', address: '10.77.11.2/24', gateway: '10.77.11.254' });
    client = await lab.addHost('client', { segment: 'clients', address: '10.77.12.50/24', gateway: '10.77.12.1' });
    await startKea(lab, dhcp, { subnet: '10.77.12.0/24', rangeStart: '10.77.12.100', rangeEnd: '10.77.12.199', router: '10.77.12.1' });
    const cfg = join(lab.tmpDir, 'pxepool.yaml');
    writeFileSync(cfg, config(lab.tmpDir));
    srv = await startServe(['--config', cfg], { ns: pxe.ns });
    // The router's IP helpers: the site DHCP server and the boot server (seed 004).
    const relay = lab.spawn(router.ns, 'dhcrelay', ['-d', '-4', '-id', 'eth1', '-iu', 'eth0', '10.77.11.1', '10.77.11.2'], { name: 'dhcrelay' });
    await relay.waitForLine(/Sending on|Listening on/, 10_000);
    await new Promise((r) => setTimeout(r, 500));
  });
  after(async () => {
    await srv?.stop();
    await lab?.destroy();
  });

  test('relayed DISCOVER: both offers reach the client through the relay; the proxy offer names pxepool', async () => {
    const seen = (await probe(lab, client, ['discover', 'ipxe-bios', '02:00:00:00:0b:02', '8193', '4000'])) as Seen[];
    const proxy = seen.filter((s) => s.proxy);
    assert.equal(proxy.length, 1, JSON.stringify(seen));
    assert.equal(proxy[0]!.serverId, '10.77.11.2');
    assert.equal(proxy[0]!.giaddr, '10.77.12.1');
    assert.equal(proxy[0]!.file, 'pxelinux.0');
    assert.equal(seen.filter((s) => !s.proxy).length, 1, 'Kea offered through the relay');
    const log = await srv.waitForLog((l) => l.event === 'answer' && l.mac === '02:00:00:00:0b:02');
    // To the relay agent that sent it (dhcrelay's upstream address), not to the giaddr written in
    // the request: dhcrelay forwards it all the same.
    assert.equal(log.to, '10.77.11.254:67', 'answered to the relay agent it came from');
  });

  test('the 4011 exchange works across the router', async () => {
    const ack = (await probe(lab, client, ['request', 'ovmf', '02:00:00:00:0a:02', '10.77.11.2', '10.77.12.50', '8194'])) as Seen;
    assert.equal(ack?.type, 5);
    assert.equal(ack.file, 'snponly.efi');
  });

  test('an ignored client gets nothing through the relay either', async () => {
    const seen = (await probe(lab, client, ['discover', 'ipxe-bios', '02:00:00:00:0e:08', '8195', '3000'])) as Seen[];
    assert.equal(seen.filter((s) => s.proxy).length, 0, JSON.stringify(seen));
  });
});
