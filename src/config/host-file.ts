// The host-file format: one `MAC  [server-IP]  [# comment]` per line, exact or wildcard MACs.
// Pure: text in, entries and errors (file:line:col) out; config/load.ts and the relay read the
// files and call this.

import type { ConfigError } from './errors.ts';
import { isIpv4, parseMacPattern, type MacPattern } from './values.ts';

export interface HostLine { line: number; mac: MacPattern; nextServer?: string; comment?: string }

/** One host file in the `MAC  [server-IP]  [# comment]` format (exact or wildcard MACs). */
export function parseHostFile(text: string, file: string): { entries: HostLine[]; errors: ConfigError[] } {
  const entries: HostLine[] = [];
  const errors: ConfigError[] = [];
  const err = (line: number, message: string) => errors.push({ file, line, col: 0, path: '', message });
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const hash = raw.indexOf('#');
    const body = (hash >= 0 ? raw.slice(0, hash) : raw).trim();
    const comment = hash >= 0 ? raw.slice(hash + 1).trim() : '';
    if (body === '') continue;
    const [macText = '', ip, ...rest] = body.split(/\s+/);
    const mac = parseMacPattern(macText);
    if (!mac.ok) {
      err(i + 1, macText.includes('*')
        ? `"${macText}" ${mac.reason}`
        : `"${macText}" is not a MAC address (write aa:bb:cc:dd:ee:ff)`);
      continue;
    }
    if (ip !== undefined && !isIpv4(ip)) {
      err(i + 1, `"${ip}" is not an IPv4 server address (write MAC [server-IP] [# comment], e.g. 00:11:22:33:44:55  192.168.1.10)`);
      continue;
    }
    if (rest.length > 0) {
      err(i + 1, `unexpected "${rest[0]}" after the server address (write MAC [server-IP] [# comment])`);
      continue;
    }
    const entry: HostLine = { line: i + 1, mac: mac.value };
    if (ip !== undefined) entry.nextServer = ip;
    if (comment !== '') entry.comment = comment;
    entries.push(entry);
  }
  return { entries, errors };
}
