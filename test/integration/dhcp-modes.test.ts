// The site DHCP server's side of PXE modes 1 and 2, with Kea configured from pxepool's own
// `dhcp-snippet` output, in network namespaces:
//   mode 1: Kea hands out next-server + the per-arch file; pxepool runs TFTP only (proxyDhcp off)
//           and a client fetches the file Kea named from pxepool's TFTP (curl).
//   mode 2: Kea adds option 60 PXEClient; pxepool on the same host answers 4011 only.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, type Host, type Proc } from '../lib/netns.ts';
import { startServe, type ServeProc } from '../lib/serve-proc.ts';
import { snippetText } from '../../src/cli/snippet.ts';

const PROBE = fileURLToPath(new URL('../lib/probe-cli.ts', import.meta.url));

interface Seen { from: string; proxy: boolean; type: number; yiaddr: string; siaddr: string; file: string; serverId?: string; vendorClass?: string }

async function probe(lab: Lab, host: Host, args: string[]): Promise<unknown> {
  const r = await lab.exec(host.ns, process.execPath, [PROBE, ...args], 20_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as unknown;
}

function pxepoolConfig(root: string, mode: string): string {
  return `root: ${root}\nserver: { proxyDhcp: ${mode} }\nprofiles:\n  lab: { bios: pxelinux.0, efiX64: snponly.efi }\ndefault: lab\n`;
}

/** Kea with the pxepool snippet included among the Dhcp4 keys, as the snippet header says. */
async function startKeaWithSnippet(lab: Lab, host: Host, snippet: string, subnet: string, range: string): Promise<Proc> {
  const dir = join(lab.tmpDir, `kea-${host.name}`);
  const snippetFile = `${dir}.pxepool.json`;
  writeFileSync(snippetFile, snippet);
  const conf = `{ "Dhcp4": {
    <?include "${snippetFile}"?>,
    "interfaces-config": { "interfaces": ["${host.iface.name}"], "dhcp-socket-type": "raw" },
    "lease-database": { "type": "memfile", "persist": false },
    "valid-lifetime": 3600,
    "subnet4": [ { "id": 1, "subnet": "${subnet}", "pools": [ { "pool": "${range}" } ] } ],
    "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "stdout" } ], "severity": "INFO" } ]
  } }`;
  const file = `${dir}.conf`;
  writeFileSync(file, conf);
  const check = await lab.exec(host.ns, 'kea-dhcp4', ['-t', file]);
  assert.equal(check.code, 0, `kea-dhcp4 -t refused the snippet:\n${check.stdout}${check.stderr}`);
  const p = lab.spawn(host.ns, 'kea-dhcp4', ['-c', file], { name: `kea@${host.name}`, env: { KEA_PIDFILE_DIR: lab.tmpDir, KEA_LOCKFILE_DIR: lab.tmpDir } });
  await p.waitForLine(/DHCP4_STARTED|server version .* started/, 10_000);
  return p;
}

describe('mode 1: Kea gives the boot file (from the mode-1 snippet), pxepool serves it over TFTP', { timeout: 90_000 }, () => {
  let lab: Lab;
  let client: Host;
  let srv: ServeProc;
  let root: string;

  before(async () => {
    lab = await Lab.create();
    const dhcp = await lab.addHost('dhcp', { address: '10.77.14.1/24' });
    const pxe = await lab.addHost('pxe', { address: '10.77.14.2/24' });
    client = await lab.addHost('client', { address: '10.77.14.50/24', gateway: '10.77.14.254' });
    root = lab.tmpDir;
    writeFileSync(join(root, 'snponly.efi'), Buffer.alloc(300_000, 0x5a).map((_, i) => (i * 7) & 0xff));
    const cfg = join(lab.tmpDir, 'pxepool.yaml');
    writeFileSync(cfg, pxepoolConfig(root, 'off'));
    const snip = snippetText({ format: 'kea', mode: '1', config: cfg, peers: '10.77.14.2' });
    assert.ok(snip.ok, snip.ok ? '' : snip.error);
    if (!snip.ok) return;
    await startKeaWithSnippet(lab, dhcp, snip.text, '10.77.14.0/24', '10.77.14.100 - 10.77.14.199');
    srv = await startServe(['--config', cfg], { ns: pxe.ns });
  });
  after(async () => {
    await srv?.stop();
    await lab?.destroy();
  });

  test('a UEFI client gets next-server and snponly.efi from Kea and fetches it from pxepool TFTP', async () => {
    const seen = (await probe(lab, client, ['discover', 'ovmf', '02:00:00:00:14:01', '5121', '1500'])) as Seen[];
    assert.equal(seen.length, 1, `only Kea answers (pxepool has proxyDhcp off): ${JSON.stringify(seen)}`);
    const offer = seen[0]!;
    assert.equal(offer.from, '10.77.14.1');
    assert.match(offer.yiaddr, /^10\.77\.14\.1\d\d$/);
    assert.equal(offer.siaddr, '10.77.14.2');
    assert.equal(offer.file, 'snponly.efi');
    const out = join(lab.tmpDir, 'fetched.efi');
    const r = await lab.exec(client.ns, 'curl', ['-sS', '--max-time', '10', '--tftp-blksize', '1468', '-o', out, `tftp://${offer.siaddr}/${offer.file}`], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex');
    assert.equal(sha(out), sha(join(root, 'snponly.efi')));
  });
});

describe('mode 2: Kea adds option 60 PXEClient (mode-2 snippet); pxepool on the same host answers 4011 only', { timeout: 90_000 }, () => {
  let lab: Lab;
  let client: Host;
  let srv: ServeProc;

  before(async () => {
    lab = await Lab.create();
    const dhcp = await lab.addHost('dhcp', { address: '10.77.15.1/24' });
    client = await lab.addHost('client', { address: '10.77.15.50/24', gateway: '10.77.15.254' });
    const cfg = join(lab.tmpDir, 'pxepool.yaml');
    writeFileSync(cfg, pxepoolConfig(lab.tmpDir, '4011-only'));
    const snip = snippetText({ format: 'kea', mode: '2', config: cfg, peers: '10.77.15.1' });
    assert.ok(snip.ok, snip.ok ? '' : snip.error);
    if (!snip.ok) return;
    await startKeaWithSnippet(lab, dhcp, snip.text, '10.77.15.0/24', '10.77.15.100 - 10.77.15.199');
    srv = await startServe(['--config', cfg], { ns: dhcp.ns });
  });
  after(async () => {
    await srv?.stop();
    await lab?.destroy();
  });

  test('the PXE client sees one offer, from Kea, carrying option 60 PXEClient; pxepool stays off port 67', async () => {
    const seen = (await probe(lab, client, ['discover', 'ovmf', '02:00:00:00:15:01', '5377', '1500'])) as Seen[];
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.equal(seen[0]!.vendorClass, 'PXEClient');
    assert.match(seen[0]!.yiaddr, /^10\.77\.15\.1\d\d$/);
    assert.equal(srv.logs.filter((l) => l.event === 'answer').length, 0);
  });

  test('a plain DHCP client gets no option 60 from Kea (the snippet matches PXE clients only)', async () => {
    const seen = (await probe(lab, client, ['discover', 'plain', '02:00:00:00:15:02', '5378', '1500'])) as Seen[];
    assert.equal(seen.length, 1, JSON.stringify(seen));
    assert.equal(seen[0]!.vendorClass, undefined);
  });

  test('the boot-server request to the DHCP host on 4011 is answered by pxepool with the file', async () => {
    const ack = (await probe(lab, client, ['request', 'ovmf', '02:00:00:00:15:01', '10.77.15.1', '10.77.15.50', '5379'])) as Seen;
    assert.equal(ack?.type, 5);
    assert.equal(ack.file, 'snponly.efi');
    assert.equal(ack.serverId, '10.77.15.1');
  });
});
