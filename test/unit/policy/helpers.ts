import assert from 'node:assert/strict';
import type { ClientFacts, FirmwareType } from '../../../src/dhcp/facts-types.ts';
import { formatErrors, parseConfigText } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';

const FIRMWARE: Record<number, FirmwareType> = { 0: 'bios', 6: 'efi-ia32', 7: 'efi-x64', 9: 'efi-x64', 11: 'efi-arm64', 16: 'efi-x64-http', 19: 'efi-arm64-http' };

/** A PXE client as clientFacts() would describe it; override what the test cares about. */
export function facts(over: Partial<ClientFacts> = {}): ClientFacts {
  const arch = 'arch' in over ? over.arch : 7;
  const base: ClientFacts = {
    mac: '52:54:00:12:34:56',
    xid: 1,
    messageType: 1,
    arch,
    firmware: arch === undefined ? 'unknown' : FIRMWARE[arch] ?? 'unknown',
    undi: { type: 1, major: 3, minor: 16 },
    uuid: undefined,
    uuidSwapped: undefined,
    vendorClass: `PXEClient:Arch:${String(arch ?? 0).padStart(5, '0')}:UNDI:003016`,
    userClass: [],
    pxeClient: true,
    httpClient: false,
    isIpxe: false,
    relayed: false,
    giaddr: '0.0.0.0',
    ciaddr: '0.0.0.0',
    secs: 0,
    broadcast: true,
    bootItem: undefined,
    maxMessageSize: 1464,
  };
  return { ...base, ...over };
}

export function config(text: string, files: Record<string, string> = {}): Config {
  const r = parseConfigText(text, '/etc/pxepool/pxepool.yaml', {
    readFile: (p) => {
      const body = files[p];
      if (body === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
      return body;
    },
  });
  if (!r.ok) assert.fail(formatErrors(r.errors));
  return r.config;
}
