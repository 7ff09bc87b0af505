// One entry point: (format, mode, model) → snippet text.
import { renderDnsmasq } from './dnsmasq.ts';
import { renderIsc } from './isc.ts';
import { renderKea } from './kea.ts';
import { renderWindows } from './windows.ts';
import type { SnippetFormat, SnippetModel } from './model.ts';

export { buildModel, helperLines, SNIPPET_FORMATS, type SnippetFormat, type SnippetMode, type SnippetModel } from './model.ts';

/** `dhcpServers` only feeds the mode-3 router lines (the helper towards the site DHCP server). */
export function renderSnippet(format: SnippetFormat, model: SnippetModel, dhcpServers: string[] = []): string {
  switch (format) {
    case 'isc': return renderIsc(model, dhcpServers);
    case 'kea': return renderKea(model, dhcpServers);
    case 'dnsmasq': return renderDnsmasq(model, dhcpServers);
    case 'windows': return renderWindows(model, dhcpServers);
  }
}
