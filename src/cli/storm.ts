// `pxepool storm`: power on N simulated PXE clients at once against the boot servers on a
// segment (or behind a relay) and report whether, and how fast, they all boot.

import { Command, Option } from 'commander';
import { interfaceAddress, parseMix, runStorm, type Progress, type StormOptions, type StormSummary, type Transport } from '../storm/run.ts';

interface StormCliOptions {
  interface?: string;
  address?: string;
  clientNet?: string;
  relay?: string;
  relayPort?: number;
  server?: string[];
  serverPort: number;
  pxePort: number;
  tftpPort: number;
  clients: number;
  mix: string;
  ramp: number;
  files?: string;
  pxelinux?: boolean;
  loss: number;
  seed: number;
  timeLimit: number;
  concurrency?: number;
  edk2CollectMs: number;
  tftpTimeoutMs?: string;
  maxRestarts: number;
  dhcpWait?: boolean;
  json?: boolean;
  perClient?: boolean;
  progress?: boolean;
}

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}: "${v}" is not a number in ${min}..${max}`);
    return n;
  };
}

const ms = (v: number | null): string => (v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);

function shares(map: Record<string, number>, total: number): string {
  const e = Object.entries(map).sort((a, b) => b[1] - a[1]);
  if (e.length === 0) return '-';
  return e.map(([k, v]) => `${k} ${v} (${Math.round((100 * v) / Math.max(1, total))}%)`).join(', ');
}

/** The human summary table. */
export function formatSummary(s: StormSummary): string {
  const rows: Array<[string, string]> = [
    ['clients', `${s.clients}  (${Object.entries(s.mix).map(([k, v]) => `${k} ${v}`).join(', ')})`],
    ['booted', `${s.booted}`],
    ['failed', s.failed === 0 ? '0' : `${s.failed}  ${Object.entries(s.failures).map(([k, v]) => `${v}× ${k}`).join('; ')}`],
    ['time to all booted', s.timeToAllBootedMs === null ? `- (last booted at ${ms(s.timeToLastBootedMs)})` : ms(s.timeToAllBootedMs)],
    ['first offer p50/p95/p99', `${ms(s.firstOfferMs.p50)} / ${ms(s.firstOfferMs.p95)} / ${ms(s.firstOfferMs.p99)}`],
    ['NBP loaded p50/p95/p99', `${ms(s.nbpMs.p50)} / ${ms(s.nbpMs.p95)} / ${ms(s.nbpMs.p99)}`],
    ['last file p50/p95/p99', `${ms(s.lastFileMs.p50)} / ${ms(s.lastFileMs.p95)} / ${ms(s.lastFileMs.p99)}`],
    ['offer chosen from', shares(s.servers.offer, s.clients)],
    ['4011 answered by', shares(s.servers.bootServer, s.clients)],
    ['files served by', shares(s.servers.files, s.clients)],
    ['offers per client', `${s.offersPerClient.mean} (DHCP ${s.offersPerClient.dhcpMean}, proxy ${s.offersPerClient.proxyMean}, max ${s.offersPerClient.max}, duplicates ${s.offersPerClient.duplicates})`],
    ['retransmits', `${s.retransmits.total} (DISCOVER ${s.retransmits.discover}, 4011 ${s.retransmits.request}, TFTP ${s.retransmits.tftp})`],
    ['restarts / failovers', `${s.restarts} / ${s.failovers}${s.bootedAfterRestart > 0 ? ` (${s.bootedAfterRestart} booted only after a restart)` : ''}`],
    ['files (misses)', `${s.files} (${s.fileMisses})`],
    ['data', `${(s.bytes / 1e6).toFixed(2)} MB, ${s.mbPerSec} MB/s over ${ms(s.wallMs)}`],
  ];
  if (s.injectedDrops > 0 || s.strayPackets > 0) rows.push(['dropped (injected) / stray', `${s.injectedDrops} / ${s.strayPackets}`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

function progressLine(p: Progress): string {
  const ph = p.phases;
  return `${(p.elapsedMs / 1000).toFixed(1)}s  waiting ${p.waiting}  discover ${ph.discover}  4011 ${ph.request}  tftp ${ph.tftp}  http ${ph.http}  done ${p.done}  failed ${p.failed}  ${p.mbPerSec.toFixed(1)} MB/s`;
}

export function makeStormCommand(): Command {
  const cmd = new Command('storm');
  cmd
    .description('simulate N PXE clients powering on at once against the boot servers; report whether all boot and how fast')
    .option('-i, --interface <name>', 'segment mode: broadcast from this interface (run inside the segment, needs UDP 68)')
    .option('--address <ip>', 'client address for 4011/TFTP/HTTP (default: the interface address, or the relay address)')
    .option('--client-net <ip>', 'give client i its own address <ip>+i+1 (default for a 127.x relay: 127.77.0.0; on a segment add the addresses to the interface first)')
    .option('--relay <ip>', 'relay mode: act as a relay agent at this local address (giaddr); servers answer it')
    .option('--relay-port <port>', 'port the relay listens on (default: --server-port)', int('relay-port', 1, 65535))
    .option('--server <ip...>', 'relay mode: boot/DHCP servers to unicast DISCOVERs to (like IP helpers)')
    .option('--server-port <port>', 'DHCP server port', int('server-port', 1, 65535), 67)
    .option('--pxe-port <port>', 'boot server port', int('pxe-port', 1, 65535), 4011)
    .option('--tftp-port <port>', 'TFTP port', int('tftp-port', 1, 65535), 69)
    .option('-n, --clients <n>', 'number of clients', int('clients', 1, 65535), 20)
    .option('--mix <weights>', 'firmware mix: bios (iPXE ROM), efi (EDK2/OVMF), ipxe (iPXE EFI)', 'bios=100')
    .option('--ramp <seconds>', 'power clients on over this many seconds (0: all at once)', int('ramp', 0, 3600), 0)
    .option('--files <list>', 'comma-separated files fetched after the NBP (relative to an http:// NBP)')
    .option('--pxelinux', 'BIOS clients run pxelinux\'s config search after the NBP (ldlinux.c32, 01-<mac>, hex IP, default)')
    .option('--loss <percent>', 'drop this % of received packets (seeded)', int('loss', 0, 100), 0)
    .option('--seed <n>', 'seed for mix order, MACs, xids and drops', int('seed', 0, 2 ** 32 - 1), 1)
    .option('--time-limit <seconds>', 'hard limit: clients still running then count as failed', int('time-limit', 1, 86400), 120)
    .option('--concurrency <n>', 'most clients running at once (default: all)', int('concurrency', 1, 65535))
    .option('--edk2-collect-ms <ms>', 'EDK2 offer-collection window (real firmware: ~4000)', int('edk2-collect-ms', 0, 60000), 4000)
    .option('--tftp-timeout-ms <list>', 'TFTP silence schedule, e.g. 1000,2000,4000,8000')
    .option('--max-restarts <n>', 'restarts from DISCOVER after a dead transfer (default 0: as real firmware, a dead transfer fails the boot)', int('max-restarts', 0, 15), 0)
    .addOption(new Option('--dhcp-wait', 'wait for a site DHCP offer as firmware does (default on a segment)'))
    .addOption(new Option('--no-dhcp-wait', 'proceed with ProxyDHCP offers alone (pure ProxyDHCP benchmark; default in relay mode)'))
    .option('--json', 'print the summary as JSON on stdout')
    .option('--per-client', 'with --json: include every client\'s record')
    .option('--no-progress', 'no live progress on stderr')
    .addHelpText('after', `
Examples:
  ip netns exec lab pxepool storm --interface eth0 --clients 200 --mix bios=50,efi=30,ipxe=20
  pxepool storm --relay 127.0.0.2 --server 127.0.0.1 --clients 1000 --edk2-collect-ms 200 --json
Exit status: 0 all booted, 1 some failed, 2 usage error.`)
    .action(async (o: StormCliOptions) => {
      const fail = (msg: string): never => {
        process.stderr.write(`pxepool storm: ${msg}\n`);
        process.exit(2);
      };
      let transport: Transport;
      if (o.relay !== undefined) {
        if (o.interface !== undefined) fail('use --interface or --relay, not both');
        if (o.server === undefined || o.server.length === 0) fail('--relay needs --server <ip...>');
        transport = { mode: 'relay', relay: o.relay, servers: o.server!, serverPort: o.serverPort, ...(o.relayPort !== undefined ? { relayPort: o.relayPort } : {}), ...(o.address !== undefined ? { address: o.address } : {}) };
      } else {
        if (o.interface === undefined) fail('give --interface <name> (segment mode) or --relay <ip> --server <ip...> (relay mode)');
        const address = o.address ?? interfaceAddress(o.interface!);
        if (address === undefined) fail(`interface ${o.interface} has no IPv4 address here (run inside the segment's namespace, or give --address)`);
        transport = { mode: 'segment', address: address!, serverPort: o.serverPort };
      }
      let mix;
      try {
        mix = parseMix(o.mix);
      } catch (e) {
        fail((e as Error).message);
      }
      let tftpRetransmitMs: number[] | undefined;
      if (o.tftpTimeoutMs !== undefined) {
        tftpRetransmitMs = o.tftpTimeoutMs.split(',').map(Number);
        if (tftpRetransmitMs.some((x) => !Number.isFinite(x) || x <= 0)) fail('--tftp-timeout-ms: want positive numbers, e.g. 1000,2000');
      }
      const tty = process.stderr.isTTY === true;
      let lastLine = 0;
      const onProgress = o.progress === false ? undefined : (p: Progress): void => {
        if (tty) {
          process.stderr.write(`\r\x1b[K${progressLine(p)}`);
        } else if (p.elapsedMs - lastLine >= 2000 || p.done + p.failed === o.clients) {
          lastLine = p.elapsedMs;
          process.stderr.write(`storm: ${progressLine(p)}\n`);
        }
      };
      const opts: StormOptions = {
        clients: o.clients, transport, mix: mix!, rampMs: o.ramp * 1000, loss: o.loss / 100, seed: o.seed,
        timeLimitMs: o.timeLimit * 1000, maxRestarts: o.maxRestarts, pxePort: o.pxePort, tftpPort: o.tftpPort,
        tuning: { edk2CollectMs: o.edk2CollectMs, ...(tftpRetransmitMs !== undefined ? { tftpRetransmitMs } : {}) },
        ...(o.files !== undefined ? { files: o.files.split(',').map((s) => s.trim()).filter((s) => s !== '') } : {}),
        ...(o.pxelinux ? { pxelinux: true } : {}),
        ...(o.clientNet !== undefined ? { clientNet: o.clientNet } : {}),
        ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
        ...(o.dhcpWait !== undefined ? { dhcpWait: o.dhcpWait } : {}),
        ...(onProgress !== undefined ? { onProgress, progressMs: 250 } : {}),
      };
      let result;
      try {
        result = await runStorm(opts);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        const hint = err.code === 'EACCES' ? ' (port 68/67 needs root or CAP_NET_BIND_SERVICE)' : err.code === 'EADDRINUSE' ? ' (another DHCP client or relay holds the port)' : '';
        process.stderr.write(`pxepool storm: ${err.message}${hint}\n`);
        process.exit(2);
      }
      if (tty && onProgress !== undefined) process.stderr.write('\n');
      if (o.json) {
        process.stdout.write(JSON.stringify(o.perClient ? result.summary && result : result.summary, null, 2) + '\n');
      } else {
        process.stdout.write(formatSummary(result.summary) + '\n');
      }
      process.exitCode = result.summary.failed === 0 ? 0 : 1;
    });
  return cmd;
}

/** Register with `program.addCommand(stormCommand)`. */
export const stormCommand: Command = makeStormCommand();
