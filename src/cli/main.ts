#!/usr/bin/env node
// The `pxepool` command.

import { Command, Option } from 'commander';
import { VERSION } from '../version.ts';
import { EMBEDDED_DEFAULT, formatErrors, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { compilePolicy, describePolicy, explainDecision } from '../policy/policy.ts';
import { bootChain } from '../policy/chain.ts';
import { discover, encode, type ClientKind } from '../dhcp/pxe-client.ts';
import { respondToPacket, STANDARD_PORTS } from '../proxy/responder.ts';
import { decide } from '../policy/policy.ts';
import { parseDhcp } from '../dhcp/packet.ts';
import { clientFacts } from '../dhcp/facts.ts';
import { describeFailover } from '../pool/describe.ts';
import { unsignedBootFiles } from '../app/boot-root.ts';
import { readSmallFile } from '../files/read-small.ts';
import { relayCommand } from './relay.ts';
import { snippetCommand } from './snippet.ts';
import { mediaCommand } from './media.ts';
import { stormCommand } from './storm.ts';
import { clientsCommand } from './clients.ts';
import { formatStatus, type StatusView } from './status.ts';
import { formatMerged } from '../observe/explain-merge.ts';
import { normaliseMac } from '../app/explain-client.ts';

function loadOrExit(path: string | undefined): Config {
  if (path === undefined) return structuredClone(EMBEDDED_DEFAULT);
  const r = loadConfig(path);
  for (const w of r.warnings) process.stderr.write(`warning: ${formatErrors([w])}\n`);
  if (!r.ok) {
    process.stderr.write(`${formatErrors(r.errors)}\n${r.errors.length} error${r.errors.length === 1 ? '' : 's'} in ${path}; nothing was started.\n`);
    process.exit(1);
  }
  return r.config;
}

const program = new Command();
program
  .name('pxepool')
  .description('A pool of peer PXE boot servers (ProxyDHCP + TFTP + HTTP) beside the DHCP server you do not control.')
  .version(VERSION, '-V, --version')
  .addHelpText('after', `
Examples:
  pxepool serve                                   # embedded default: serve /srv/pxepool, answer every PXE client
  pxepool serve --config /etc/pxepool/pxepool.yaml --interface eth1
  pxepool check /etc/pxepool/pxepool.yaml         # validate, print the effective policy
  pxepool explain --config pxepool.yaml --mac 00:11:22:33:44:55 --arch efi-x64
  pxepool explain --config pxepool.yaml --pool --mac 00:11:22:33:44:55   # ask every running peer
`);

program
  .command('serve')
  .description('run the boot server: ProxyDHCP on UDP 67 and 4011, TFTP on 69, HTTP (files, /metrics, /status)')
  .option('-c, --config <file>', 'YAML config file (default: the embedded default config)')
  .option('-r, --root <dir>', 'boot directory served over TFTP and HTTP (overrides root:)')
  .option('-i, --interface <name>', 'serve only this network interface (overrides server.interface)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addOption(new Option('--log-format <format>', 'readable lines (text) or JSON lines (json); auto: text on a terminal').choices(['auto', 'json', 'text']))
  .option('--listen <addr...>', 'bind only these local addresses, no broadcast socket (boot server reached through relays, or tests)')
  .option('--dhcp-port <port>', 'ProxyDHCP port instead of 67 (with --listen, for unprivileged tests)', Number)
  .option('--pxe-port <port>', 'boot server port instead of 4011', Number)
  .option('--tftp-port <port>', 'TFTP port instead of tftp.port', Number)
  .option('--http-port <port>', 'HTTP port instead of http.port', Number)
  .action(async (o: { config?: string; root?: string; interface?: string; logLevel?: string; logFormat?: string; listen?: string[]; dhcpPort?: number; pxePort?: number; tftpPort?: number; httpPort?: number }) => {
    const config = loadOrExit(o.config);
    if (o.root !== undefined) config.root = o.root;
    if (o.interface !== undefined) config.server.interface = o.interface;
    if (o.logLevel !== undefined) config.log.level = o.logLevel as Config['log']['level'];
    if (o.logFormat !== undefined) config.log.format = o.logFormat as Config['log']['format'];
    if (o.tftpPort !== undefined) config.tftp.port = o.tftpPort;
    if (o.httpPort !== undefined) config.http.port = o.httpPort;
    const { serve } = await import('../app/serve.ts');
    let app;
    try {
      app = await serve({
        config,
        ...(o.config !== undefined ? { configPath: o.config } : {}),
        createRoot: o.config === undefined && o.root === undefined,
        ...(o.listen !== undefined ? { listen: o.listen } : {}),
        ports: { ...(o.dhcpPort !== undefined ? { dhcp: o.dhcpPort } : {}), ...(o.pxePort !== undefined ? { pxe: o.pxePort } : {}) },
      });
    } catch (err) {
      process.stderr.write(`pxepool: ${(err as Error).message}\n`);
      process.exit(1);
    }
    const running = app;
    running.logger.info({ event: 'start', version: VERSION, config: config.source, root: config.root }, 'pxepool serving');
    process.on('SIGHUP', () => { running.reload(); });
    const stop = (sig: string) => {
      running.logger.info({ event: 'stop', signal: sig }, 'stopping');
      void running.close().then(() => process.exit(0));
      setTimeout(() => process.exit(0), 3000).unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('check')
  .description('validate a config file (and its host files); print the effective policy. Exit 0 valid, 1 invalid')
  .argument('<file>', 'YAML config file')
  .option('--json', 'print the effective policy as JSON')
  .action((file: string, o: { json?: boolean }) => {
    const config = loadOrExit(file);
    const summary = describePolicy(compilePolicy(config));
    const failover = describeFailover(config.pool);
    const unsigned = unsignedBootFiles(config, readSmallFile);
    const warn = unsigned.map((u) => `warning: profile ${u.profile} is marked secureBoot, but its ${u.field} ${u.file} is ${u.why}`);
    process.stdout.write(o.json ? JSON.stringify({ ...summary, failover, unsigned }, null, 2) + '\n' : `${file}: valid\n${summary.text}\n${failover.length > 0 ? `${failover.join('\n')}\n` : ''}${warn.length > 0 ? `${warn.join('\n')}\n` : ''}`);
  });

program
  .command('release-addresses')
  .description('remove the pool\'s service addresses from this host\'s interfaces (after the server stopped; the systemd unit\'s ExecStopPost)')
  .requiredOption('-c, --config <file>', 'YAML config file')
  .action(async (o: { config: string }) => {
    const config = loadOrExit(o.config);
    const addresses = (config.pool?.peers ?? []).flatMap((p) => (p.serviceAddress !== undefined ? [p.serviceAddress] : []));
    if (addresses.length === 0) {
      process.stdout.write(`${o.config}: no pool serviceAddress configured; nothing to release\n`);
      return;
    }
    const { releaseLeftovers } = await import('../pool/address-edge.ts');
    try {
      const done = await releaseLeftovers(addresses);
      process.stdout.write(done.length === 0 ? 'no service address was configured on this host\n' : done.map((d) => `released ${d.address} from ${d.dev}\n`).join(''));
    } catch (err) {
      process.stderr.write(`pxepool: ${(err as Error).message}\n`);
      process.exit(1);
    }
  });

const KINDS: Record<string, ClientKind> = { bios: 'ipxe-bios', 'efi-x64': 'ovmf', 'efi-ia32': 'ovmf', 'efi-arm64': 'ovmf', 'efi-x64-http': 'ovmf', 'efi-arm64-http': 'ovmf', ipxe: 'ipxe-efi' };
const ARCH: Record<string, number> = { bios: 0, 'efi-ia32': 6, 'efi-x64': 7, 'efi-arm64': 11, 'efi-x64-http': 16, 'efi-arm64-http': 19 };

program
  .command('explain')
  .description('show which rule a client matches and the exact offer it would get, or why it is ignored')
  .option('-c, --config <file>', 'YAML config file (default: the embedded default config)')
  .requiredOption('--mac <mac>', 'client MAC address')
  .option('--arch <arch>', 'firmware: bios, efi-x64, efi-ia32, efi-arm64, efi-x64-http, efi-arm64-http, or an arch number', 'bios')
  .option('--ipxe', 'the client is already running iPXE (sends user class iPXE)')
  .option('--uuid <uuid>', 'client UUID (option 97)')
  .option('--giaddr <ip>', 'relay agent address (relayed request)')
  .option('--server-id <ip>', 'the server address to show in the offer', '192.0.2.1')
  .option('--pool', 'ask every running peer of the config\'s pool (pool.peers, http.port) what it would do now and what it saw of this MAC')
  .option('--timeout <ms>', 'with --pool: how long to wait for each peer', Number, 2000)
  .option('--json', 'with --pool: print the merged answer as JSON')
  .action(async (o: { config?: string; mac: string; arch: string; ipxe?: boolean; uuid?: string; giaddr?: string; serverId: string; pool?: boolean; timeout: number; json?: boolean }) => {
    const config = loadOrExit(o.config);
    if (o.pool) {
      const mac = normaliseMac(o.mac);
      if (mac === undefined) {
        process.stderr.write(`--mac "${o.mac}" is not a MAC address (write aa:bb:cc:dd:ee:ff)\n`);
        process.exit(2);
      }
      if (config.pool === undefined) {
        process.stderr.write(`${o.config ?? 'the embedded default config'} has no pool: section; --pool asks the peers it lists\n`);
        process.exit(2);
      }
      const { explainPool } = await import('./explain-pool.ts');
      const merged = await explainPool(config, mac, Number.isFinite(o.timeout) && o.timeout > 0 ? o.timeout : 2000);
      process.stdout.write(o.json ? JSON.stringify(merged, null, 2) + '\n' : formatMerged(merged));
      // Exit 3 when no peer answered: scripts can tell "the pool is down" from "the client is ignored".
      if (merged.peers.every((p) => p.state === 'down')) process.exit(3);
      return;
    }
    const policy = compilePolicy(config);
    const arch = /^\d+$/.test(o.arch) ? Number(o.arch) : ARCH[o.arch];
    if (arch === undefined) {
      process.stderr.write(`unknown --arch "${o.arch}" (write one of ${Object.keys(ARCH).join(', ')}, or a number)\n`);
      process.exit(2);
    }
    const kind: ClientKind = o.ipxe ? (arch === 0 ? 'ipxe-bios' : 'ipxe-efi') : arch === 0 ? 'ipxe-bios' : (KINDS[o.arch] ?? 'ovmf');
    const req = discover({ kind, mac: o.mac, arch, ...(o.uuid !== undefined ? { uuid: o.uuid } : {}) }, { xid: 0x1234abcd, ...(o.giaddr !== undefined ? { giaddr: o.giaddr } : {}) });
    if (kind === 'ipxe-bios' && !o.ipxe) req.options = req.options.filter((x) => x.code !== 77 && x.code !== 175);
    const parsed = parseDhcp(encode(req));
    if (!parsed.ok) throw new Error(parsed.reason);
    const ex = explainDecision(policy, clientFacts(parsed.packet));
    process.stdout.write(ex.text + '\n');
    const chain = bootChain(ex.decision, ex.decision.action === 'boot' ? policy.profiles[ex.decision.profile] : undefined);
    if (chain.length > 0) process.stdout.write(`\nthen:\n${chain.map((l) => `  ${l}`).join('\n')}\n`);
    const o2 = respondToPacket(parsed.packet, { address: '0.0.0.0', port: 68 }, 'dhcp', { serverId: o.serverId, mode: 'proxy', ports: STANDARD_PORTS, httpPort: config.http.port }, (f) => decide(policy, f));
    if (o2.kind === 'reply') {
      const r = o2.reply;
      process.stdout.write(`\noffer to ${o2.to.address}:${o2.to.port}:\n  yiaddr ${r.yiaddr}  siaddr ${r.siaddr}  file ${JSON.stringify(r.file)}\n`);
      for (const opt of r.options) process.stdout.write(`  option ${opt.code}: ${Buffer.from(opt.data).toString('hex')}${/^[\x20-\x7e]+$/.test(Buffer.from(opt.data).toString('latin1')) ? `  "${Buffer.from(opt.data).toString('latin1')}"` : ''}\n`);
    } else {
      process.stdout.write(`\nno offer: ${o2.reason} (${o2.detail})\n`);
    }
  });

program
  .command('status')
  .description('show a running server: pool peers, health, load, ownership share, takeovers, config agreement')
  .option('--url <url>', 'the server HTTP address', 'http://127.0.0.1:8080')
  .option('--json', 'print the raw /status JSON')
  .action(async (o: { url: string; json?: boolean }) => {
    let body: unknown;
    try {
      const res = await fetch(new URL('/status', o.url), { signal: AbortSignal.timeout(3000) });
      body = await res.json();
    } catch (err) {
      process.stderr.write(`pxepool status: cannot read ${o.url}/status: ${(err as Error).message}\n`);
      process.exit(1);
    }
    process.stdout.write(o.json ? JSON.stringify(body, null, 2) + '\n' : formatStatus(body as StatusView));
  });

program.addCommand(relayCommand);
program.addCommand(snippetCommand);
program.addCommand(mediaCommand);
program.addCommand(stormCommand);
program.addCommand(clientsCommand);

await program.parseAsync(process.argv);
