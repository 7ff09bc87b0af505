// `pxepool relay`: the MAC-steering DHCP relay agent (dhcrelay with a host file).
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../observe/log.ts';
import { parseRelayConfig, type RelayConfig } from '../relay/config.ts';
import { formatErrors, loadConfig } from '../config/load.ts';

export interface RelayCliOptions {
  interface?: string[];
  hosts?: string[];
  default?: string;
  dhcpServer?: string[];
  config?: string;
  debug?: boolean;
  maxHops?: number;
  option82?: boolean;
  remoteId?: string;
  allClients?: boolean;
  replyUnicast?: boolean;
  logLevel?: string;
}

/** The relay section of a config file (host file paths made absolute), then the flags on top. */
export function relayConfigFrom(o: RelayCliOptions): { ok: true; config: RelayConfig } | { ok: false; errors: string[] } {
  let section: Record<string, unknown> = {};
  if (o.config !== undefined) {
    // The same loader as `serve`: a mistake anywhere in the file is reported with file:line:col.
    const checked = loadConfig(o.config);
    if (!checked.ok) return { ok: false, errors: formatErrors(checked.errors).split('\n') };
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(o.config, 'utf8'));
    } catch (e) {
      return { ok: false, errors: [`${o.config}: ${(e as Error).message}`] };
    }
    const relay = (doc as { relay?: unknown } | null)?.relay;
    if (relay !== undefined && (relay === null || typeof relay !== 'object' || Array.isArray(relay))) {
      return { ok: false, errors: [`${o.config}: relay: expected a mapping`] };
    }
    section = { ...(relay as Record<string, unknown> | undefined) };
    if (Array.isArray(section.hostsFiles)) {
      section.hostsFiles = section.hostsFiles.map((f) => (typeof f === 'string' ? resolve(dirname(o.config!), f) : f));
    }
  }
  if (o.interface !== undefined) section.interfaces = [...o.interface];
  if (o.hosts !== undefined) section.hostsFiles = o.hosts;
  if (o.default !== undefined) section.default = o.default;
  if (o.dhcpServer !== undefined) section.dhcpServers = o.dhcpServer;
  if (o.maxHops !== undefined) section.maxHops = o.maxHops;
  if (o.allClients) section.pxeOnlyToPxe = false;
  if (o.replyUnicast) section.replyDelivery = 'unicast';
  if (o.option82 || o.remoteId !== undefined) {
    section.option82 = { ...(section.option82 as object | undefined), enabled: true, ...(o.remoteId !== undefined ? { remoteId: o.remoteId } : {}) };
  }
  const r = parseRelayConfig(section);
  return r.ok ? { ok: true, config: r.value } : r;
}

export const relayCommand = new Command('relay')
  .description('MAC-steering DHCP relay: forward client broadcasts to the DHCP servers and to the PXE server chosen by MAC (host file, wildcards, default, pools)')
  .option('-i, --interface <name...>', 'client-facing interface(s); several need the native helper (scripts/build-native.sh)')
  .option('--hosts <file...>', 'host file(s): "MAC  server-IP  # comment" per line, wildcards like 00:11:22:*')
  .option('--default <server>', 'PXE target for clients not listed: an IPv4 address or a pool name from the config')
  .option('--dhcp-server <addr...>', 'site DHCP server(s): every request is forwarded to each')
  .option('-c, --config <file>', 'pxepool YAML config; its relay: section is read, flags override it')
  .option('-d, --debug', 'stay in the foreground and log every forwarding decision (MAC → targets, why)')
  .option('--max-hops <n>', 'drop requests that already crossed this many relays (1-16, default 4)', Number)
  .option('--option82', 'add relay agent information (circuit-id = interface name)')
  .option('--remote-id <text>', 'option 82 remote-id (implies --option82)')
  .option('--all-clients', 'steer non-PXE clients to PXE targets too (default: only option 60 PXEClient/HTTPClient)')
  .option('--reply-unicast', 'unicast replies to yiaddr when the client did not ask for broadcast (needs ARP; default broadcast)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addHelpText('after', `
Examples:
  pxepool relay -i eth1 --dhcp-server 10.0.0.5 --hosts /etc/dhcrelay.hosts --default 10.0.0.20
  pxepool relay -d -i eth1 --config /etc/pxepool/pxepool.yaml     # pools and options from relay:
Reload the host files with SIGHUP (they are also watched); a bad file keeps the old table.`)
  .action(async (o: RelayCliOptions) => {
    const r = relayConfigFrom(o);
    if (!r.ok) {
      process.stderr.write(`${r.errors.join('\n')}\nnothing was started.\n`);
      process.exit(1);
    }
    const logger = createLogger(o.logLevel ?? (o.debug ? 'debug' : 'info'), 'pxepool-relay');
    const { startRelay } = await import('../relay/relay.ts');
    let relay;
    try {
      relay = await startRelay({ config: r.config, logger, debug: o.debug === true });
    } catch (e) {
      process.stderr.write(`pxepool relay: ${(e as Error).message}\n`);
      process.exit(1);
    }
    const running = relay;
    process.on('SIGHUP', () => { void running.reload(); });
    const stop = (sig: string): void => {
      logger.info({ event: 'stop', signal: sig }, 'stopping');
      void running.close().then(() => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
