// `pxepool dhcp-snippet`: the site DHCP server's side of each PXE mode.
import { Command, Option } from 'commander';
import { EMBEDDED_DEFAULT, formatErrors, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { buildModel, renderSnippet, SNIPPET_FORMATS, type SnippetFormat, type SnippetMode } from '../snippet/index.ts';

export interface SnippetCliOptions {
  format: SnippetFormat;
  mode: string;
  config?: string;
  peers?: string;
  dhcpServer?: string[];
}

/** Text to print, or an error message; exported for tests. */
export function snippetText(o: SnippetCliOptions): { ok: true; text: string } | { ok: false; error: string } {
  let config: Config;
  if (o.config === undefined) config = structuredClone(EMBEDDED_DEFAULT);
  else {
    const r = loadConfig(o.config);
    if (!r.ok) return { ok: false, error: `${formatErrors(r.errors)}\n${r.errors.length} error(s) in ${o.config}` };
    config = r.config;
  }
  const mode = Number(o.mode);
  if (mode !== 1 && mode !== 2 && mode !== 3) return { ok: false, error: `--mode must be 1, 2 or 3, found "${o.mode}"` };
  const peers = o.peers === undefined ? undefined : o.peers.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const m = buildModel(config, mode as SnippetMode, peers);
  if (!m.ok) return { ok: false, error: m.error };
  return { ok: true, text: renderSnippet(o.format, m.model, o.dhcpServer ?? []) };
}

export const snippetCommand = new Command('dhcp-snippet')
  .description('print the site DHCP server configuration for a PXE mode: 1 boot data in the DHCP server, 2 option 60 for pxepool on the same host, 3 nothing (router IP helpers)')
  .addOption(new Option('-f, --format <format>', 'DHCP server syntax').choices([...SNIPPET_FORMATS]).makeOptionMandatory())
  .addOption(new Option('-m, --mode <mode>', 'PXE mode').choices(['1', '2', '3']).makeOptionMandatory())
  .option('-c, --config <file>', 'pxepool YAML config (default: the embedded default) for boot files per firmware')
  .option('--peers <list>', 'pool peers as ip,ip,… (first = next-server); default pool.peers or server.address')
  .option('--dhcp-server <addr...>', 'site DHCP server(s), for the mode 3 router lines')
  .addHelpText('after', `
Examples:
  pxepool dhcp-snippet --format isc --mode 1 --config pxepool.yaml --peers 10.0.0.20,10.0.0.21 > /etc/dhcp/pxepool.conf
  pxepool dhcp-snippet --format kea --mode 2 --peers 10.0.0.5
  pxepool dhcp-snippet --format windows --mode 3 --peers 10.0.0.20,10.0.0.21 --dhcp-server 10.0.0.5`)
  .action((o: SnippetCliOptions) => {
    const r = snippetText(o);
    if (!r.ok) {
      process.stderr.write(`pxepool dhcp-snippet: ${r.error}\n`);
      process.exit(1);
    }
    process.stdout.write(r.text);
  });
