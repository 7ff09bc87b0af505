// Experiments on real firmware with scripted ProxyDHCP responders (test/lib/pxe-responder.ts):
//   (a) iPXE (BIOS ROM) with two ProxyDHCP offers: which wins; does 175.1 (priority) decide?
//   (b) OVMF given a ProxyDHCP offer with option 43: does it drop it?
//   (c) OVMF with two BINL offers, the first server dead on 4011: time to fall back.
// Results are printed as diagnostics and recorded in docs/firmware.md; the assertions pin the
// behaviour observed with Debian 12's ipxe-qemu 1.0.0+git-20190125 and ovmf 2022.11.
// Not part of the test suite (seven more VM boots, about 12 minutes): an experiment to re-run
// when Debian's firmware changes. Run as root: node --test scripts/firmware-experiments.ts
// PXEPOOL_E2E_OUT=<dir> keeps pcaps and serial logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Lab, type Proc } from '../test/lib/netns.ts';
import { startDhcpd, startKea, startRadvd } from '../test/lib/services.ts';
import { startResponder, responderEvents, type ResponderConfig } from '../test/lib/pxe-responder.ts';
import { startClient, type Firmware } from '../test/e2e/qemu.ts';
import { bin, E2E, needs } from '../test/lib/require.ts';

const skip = needs(...E2E, bin('/usr/sbin/kea-dhcp4', 'kea-dhcp4-server'), bin('/usr/sbin/dhcpd', 'isc-dhcp-server'));

type Ev = Record<string, unknown> & { t: number; ev: string };

interface Scenario {
  name: string;
  firmware: Firmware;
  site: 'kea' | 'dhcpd';
  servers: Array<Omit<ResponderConfig, 'serverId'>>;
  /** Stop when this holds over all responders' events (or at watchMs). */
  until: (evs: Ev[][]) => boolean;
  watchMs: number;
}

interface Outcome {
  evs: Ev[][];
  /** Epoch ms of the first DISCOVER seen by any responder. */
  t0: number;
  serial: string;
  pcap: string;
}

/** Server i gets address 10.77.1.(11+i). */
const serverIp = (i: number) => `10.77.1.${11 + i}`;

/** A PXE boot menu (43.6/8/9/10) pointing at one boot server of type 0x8000. */
export function menu43(server: string, label: string): string {
  const lab = Buffer.from(label);
  const ipb = Buffer.from(server.split('.').map(Number));
  const parts = [
    Buffer.from([6, 1, 3]), // discovery control: no broadcast/multicast discovery, use the list
    Buffer.concat([Buffer.from([8, 7, 0x80, 0x00, 1]), ipb]), // boot servers
    Buffer.concat([Buffer.from([9, 3 + lab.length, 0x80, 0x00, lab.length]), lab]), // menu
    Buffer.from([10, 4, 0, 0x50, 0x58, 0x45]), // prompt: timeout 0, "PXE"
    Buffer.from([255]),
  ];
  return Buffer.concat(parts).toString('hex');
}

async function runScenario(s: Scenario, diag: (m: string) => void): Promise<Outcome> {
  const lab = await Lab.create();
  try {
    const out = process.env.PXEPOOL_E2E_OUT !== undefined ? join(process.env.PXEPOOL_E2E_OUT, s.name) : join(lab.tmpDir, 'out');
    mkdirSync(out, { recursive: true });
    const dhcp = await lab.addHost('dhcp', { address: '10.77.1.1/24' });
    const pcap = join(out, 'lan.pcap');
    const cap = await lab.captureSegment('lan', pcap, { filter: 'not ip6' });
    const pool = { subnet: '10.77.1.0/24', rangeStart: '10.77.1.100', rangeEnd: '10.77.1.199', router: '10.77.1.1' };
    if (s.site === 'kea') await startKea(lab, dhcp, pool);
    else await startDhcpd(lab, dhcp, pool, { pingCheck: true });
    await startRadvd(lab, dhcp);
    const responders: Proc[] = [];
    for (const [i, cfg] of s.servers.entries()) {
      const h = await lab.addHost(`bs${i + 1}`, { address: `${serverIp(i)}/24` });
      responders.push(await startResponder(lab, h, { serverId: serverIp(i), logTftp: true, ...cfg }));
    }
    const tap = await lab.addTap();
    const vm = startClient(lab, { firmware: s.firmware, tap, workDir: out });
    const end = Date.now() + s.watchMs;
    const evs = () => responders.map((r) => responderEvents(r));
    while (Date.now() < end && !s.until(evs()) && !vm.proc.exited) await new Promise((r) => setTimeout(r, 200));
    await vm.stop();
    await cap.stop();
    const all = evs();
    const t0 = Math.min(...all.flat().filter((e) => e.ev === 'rx' && e.type === 1).map((e) => e.t));
    for (const [i, list] of all.entries()) {
      diag(`${s.name} bs${i + 1}: ${list.filter((e) => e.ev !== 'ready').map((e) => `${e.ev}${e.ev === 'rx' ? `(${e.type}@${e.port})` : e.ev === 'rrq' ? `(${String(e.file)} ${(e.opts as string[]).join(',')})` : ''}+${e.t - t0}ms`).join(' ')}`);
    }
    return { evs: all, t0, serial: vm.serial, pcap };
  } finally {
    await lab.destroy();
  }
}

const got4011 = (evs: Ev[]) => evs.filter((e) => e.ev === 'rx' && e.port === 4011);
const gotRrq = (evs: Ev[]) => evs.filter((e) => e.ev === 'rrq');
/** The client chose this server: it asked it on 4011 or for a file over TFTP. */
const chosen = (evs: Ev[]) => got4011(evs).length > 0 || gotRrq(evs).length > 0;

test('(a) iPXE BIOS, two proxy offers before the (slow, dhcpd) DHCP offer: the last one wins', { skip, timeout: 120_000 }, async (t) => {
  const r = await runScenario(
    {
      name: 'a1-ipxe-two-offers',
      firmware: 'bios',
      site: 'dhcpd',
      servers: [
        { offerFile: 'pxelinux.0', offerDelayMs: 0, onlyFirstDiscover: true },
        { offerFile: 'pxelinux.0', offerDelayMs: 300, onlyFirstDiscover: true },
      ],
      until: (e) => e.some((l) => chosen(l)),
      watchMs: 30_000,
    },
    (m) => t.diagnostic(m),
  );
  const [bs1, bs2] = r.evs as [Ev[], Ev[]];
  assert.ok(!chosen(bs1), 'bs1 (first offer) not used');
  assert.ok(chosen(bs2), 'bs2 (last offer) used');
});

test('(a) iPXE BIOS, two proxy offers, the first with 175.1 priority 10: priority wins over arrival order', { skip, timeout: 120_000 }, async (t) => {
  const r = await runScenario(
    {
      name: 'a2-ipxe-priority',
      firmware: 'bios',
      site: 'dhcpd',
      servers: [
        { offerFile: 'pxelinux.0', offerDelayMs: 0, offer175: '01010a', onlyFirstDiscover: true },
        { offerFile: 'pxelinux.0', offerDelayMs: 300, onlyFirstDiscover: true },
      ],
      until: (e) => e.some((l) => chosen(l)),
      watchMs: 30_000,
    },
    (m) => t.diagnostic(m),
  );
  const [bs1, bs2] = r.evs as [Ev[], Ev[]];
  assert.ok(chosen(bs1), 'bs1 (priority 10) used');
  assert.ok(!chosen(bs2), 'bs2 not used');
});

test('(a) iPXE BIOS with a fast DHCP server (Kea): leaves discovery with the first proxy offer', { skip, timeout: 120_000 }, async (t) => {
  const r = await runScenario(
    {
      name: 'a3-ipxe-kea-fast',
      firmware: 'bios',
      site: 'kea',
      servers: [
        { offerFile: 'pxelinux.0', offerDelayMs: 0, onlyFirstDiscover: true },
        { offerFile: 'pxelinux.0', offerDelayMs: 300, onlyFirstDiscover: true },
      ],
      until: (e) => e.some((l) => chosen(l)),
      watchMs: 30_000,
    },
    (m) => t.diagnostic(m),
  );
  const [bs1, bs2] = r.evs as [Ev[], Ev[]];
  assert.ok(chosen(bs1), 'bs1 used');
  assert.ok(!chosen(bs2), 'bs2 not used');
});

for (const [name, cfg] of [
  ['b1-ovmf-43-discovery-control', { offerFile: 'snponly.efi', offer43: '060108ff' }],
  ['b2-ovmf-43-menu', { offer43: menu43(serverIp(0), 'snponly'), ackFile: 'snponly.efi', ack43: '47048000 0000ff'.replace(' ', '') }],
  ['b3-ovmf-file-no-43', { offerFile: 'snponly.efi' }],
] as const) {
  test(`(b) OVMF, one ProxyDHCP offer: ${name}`, { skip, timeout: 150_000 }, async (t) => {
    const r = await runScenario(
      {
        name,
        firmware: 'uefi',
        site: 'kea',
        servers: [cfg],
        until: (e) => e.some((l) => chosen(l)),
        watchMs: 45_000,
      },
      (m) => t.diagnostic(m),
    );
    const tail = r.serial.split('\n').filter((l) => /PXE|TFTP|Boot|Start/i.test(l)).slice(-6).join(' | ');
    t.diagnostic(`${name}: serial: ${tail}`);
    // Observed (docs/firmware.md): OVMF tolerates option 43 in a ProxyDHCP offer and uses it.
    assert.ok(r.evs.some((l) => chosen(l)), `${name}: OVMF did not use the offer`);
  });
}

test('(c) OVMF, two BINL offers, the first server dead on 4011: falls back to the second', { skip, timeout: 180_000 }, async (t) => {
  const r = await runScenario(
    {
      name: 'c1-ovmf-dead-first',
      firmware: 'uefi',
      site: 'kea',
      servers: [
        { ackFile: 'snponly.efi', offerDelayMs: 0, dead4011: true },
        { ackFile: 'snponly.efi', offerDelayMs: 200 },
      ],
      until: (e) => e.length > 1 && got4011(e[1] ?? []).length > 0,
      watchMs: 90_000,
    },
    (m) => t.diagnostic(m),
  );
  const [bs1, bs2] = r.evs as [Ev[], Ev[]];
  const first = got4011(bs1)[0];
  const second = got4011(bs2)[0];
  assert.ok(first !== undefined && second !== undefined, 'both asked');
  t.diagnostic(`fallback: ${bs1.length} evs; first 4011 to bs1 at +${first.t - r.t0} ms, bs1 retries at ${got4011(bs1).map((e) => e.t - r.t0).join(',')} ms, bs2 asked at +${second.t - r.t0} ms`);
});
