// The configs every DHCP-server snippet is generated from in the tests: the embedded default and
// one with every firmware, a root path and templates.
import { EMBEDDED_DEFAULT, parseConfigText } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';

export const SNIPPET_PEERS = ['10.0.0.20', '10.0.0.21', '10.0.0.22'];

/** The full config; `rootPath` lets a test put characters in it that need quoting. */
export function fullSnippetConfig(rootPath = '/opt/ltsp/i386'): Config {
  const r = parseConfigText(`
profiles:
  thin:
    bios: pxelinux.0
    efiX64: grubx64.efi
    efiArm64: grubaa64.efi
    efiX64Http: http://\${server}/ipxe.efi
    ipxe: http://\${server}/boot.ipxe
    rootPath: ${JSON.stringify(rootPath)}
default: thin
`, 'full.yaml', { readFile: () => '' });
  if (!r.ok) throw new Error(`the full snippet config is invalid: ${JSON.stringify(r.errors)}`);
  return r.config;
}

export const snippetConfigs = (rootPath?: string): Record<string, Config> => ({ embedded: EMBEDDED_DEFAULT, full: fullSnippetConfig(rootPath) });
