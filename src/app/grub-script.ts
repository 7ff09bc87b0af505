// Per-client GRUB configs for /boot.grub: what /boot.ipxe is to iPXE, for GRUB's network
// loader (the UEFI side of boot media, see src/media/). GRUB has no `||` between commands, so
// each file is a loop over the boot servers that stops at the first that gives it.
//
// GRUB's script language expands `$` and splits words even in arguments, so everything that
// reaches a command line is single-quoted (grubQuote); the only value from the client, its MAC,
// is checked against a strict pattern before it is used at all (factsFromQuery).

import { decideScript, inProfileRoot, isUrl, type Policy } from '../policy/policy.ts';
import { scriptFacts, type ScriptOptions } from './ipxe-script.ts';

/** A word GRUB reads back exactly: single quotes, and a quote inside as '\'' (as in sh). */
export function grubQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * `http://host:port` → `(http,host:port)`, GRUB's device for that server; with `tftp`, the same
 * host's TFTP server (Debian's signed GRUB, the Secure Boot loader, has tftp but no http).
 */
export function grubDevice(base: string, proto: 'http' | 'tftp' = 'http', tftpPort = 69): string | undefined {
  const m = /^http:\/\/([^/\s]+?)\/*$/.exec(base);
  if (m === null) return undefined;
  if (proto === 'http') return `(http,${m[1]})`;
  const host = m[1]!.replace(/:\d+$/, '');
  return tftpPort === 69 ? `(tftp,${host})` : `(tftp,${host}:${tftpPort})`;
}

/** Text for `echo`: one line, printable ASCII (a reason may quote config values). */
function say(s: string): string {
  return grubQuote(s.replace(/[^\x20-\x7e]/g, ' '));
}

/**
 * The GRUB config for a client, or undefined when the query names no valid MAC. A profile
 * without a kernel gets a config that says so and exits: GRUB cannot hand a PXE boot file a
 * network stack of its own.
 * `servers` are the HTTP bases to try in order; with none, the requesting server is
 * `ownBase`, or GRUB's default server when the caller does not know its own address.
 */
export function grubScriptFor(policy: Policy, q: URLSearchParams, ownBase: string | undefined, o: ScriptOptions & { tftpPort?: number } = {}): string | undefined {
  const facts = scriptFacts(q, o.remote, o.seen);
  if (facts === undefined) return undefined;
  const d = decideScript(policy, facts);
  if (d.action === 'ignore') {
    // `exit` leaves GRUB, and the firmware goes on to its next boot option.
    return [
      `# pxepool: ${facts.mac} is not served`,
      `echo ${say(`pxepool: this machine is not served (${d.reason}); booting from the next device`)}`,
      'sleep 5',
      'exit',
      '',
    ].join('\n');
  }
  const profile = policy.profiles[d.profile];
  if (profile?.kernel === undefined) {
    return [
      `# pxepool: ${facts.mac} → profile ${d.profile} (${d.rule}), which names no kernel`,
      `echo ${say(`pxepool: profile ${d.profile} names no kernel, and GRUB can boot only a kernel: set profiles.${d.profile}.kernel (docs/media.md)`)}`,
      'sleep 5',
      'exit',
      '',
    ].join('\n');
  }
  const listed = o.servers?.(facts.mac) ?? [];
  // The media's loader says which protocol it has (proto=tftp from the Secure Boot loader).
  const proto = q.get('proto') === 'tftp' ? 'tftp' : 'http';
  // Not knowing its own address (a wildcard socket, no server.address), the server names no
  // host: GRUB's `(tftp)` / `(http)` mean the server it was loaded from.
  const devices = listed.length > 0
    ? listed.map((b) => grubDevice(b, proto, o.tftpPort)).filter((x): x is string => x !== undefined)
    : ownBase === undefined ? [`(${proto})`] : [grubDevice(ownBase, proto, o.tftpPort)].filter((x): x is string => x !== undefined);
  if (devices.length === 0) return undefined;
  const initrds = profile.initrd === undefined ? [] : Array.isArray(profile.initrd) ? profile.initrd : [profile.initrd];
  const kernel = inProfileRoot(d.profile, profile, profile.kernel);
  const files = initrds.map((i) => inProfileRoot(d.profile, profile, i));
  // A URL names its own server: GRUB gets it as a device path when it is plain http.
  const at = (file: string): string => {
    if (!isUrl(file)) return `"$pxepool_base"${grubQuote('/' + file.replace(/^[\/\\]+/, ''))}`;
    const m = /^http:\/\/([^/]+)(\/.*)?$/.exec(file);
    return m === null ? grubQuote(file) : grubQuote(`(http,${m[1]})${m[2] ?? '/'}`);
  };
  const args = (profile.cmdline ?? '').split(/\s+/).filter((w) => w !== '').map(grubQuote).join(' ');
  const list = devices.map(grubQuote).join(' ');
  const lines = [
    `# pxepool: ${facts.mac} → profile ${d.profile} (${d.rule})`,
    `# boot servers, tried in order for every file: ${devices.join(' ')}`,
    'set pxepool_kernel=0',
    `for pxepool_base in ${list}; do`,
    `  if linux ${at(kernel)}${args === '' ? '' : ' ' + args}; then set pxepool_kernel=1; break; fi`,
    'done',
    `if [ "$pxepool_kernel" != 1 ]; then echo ${say('pxepool: no boot server gave the kernel')}; sleep 5; exit; fi`,
  ];
  if (files.length > 0) {
    lines.push(
      'set pxepool_initrd=0',
      `for pxepool_base in ${list}; do`,
      `  if initrd ${files.map(at).join(' ')}; then set pxepool_initrd=1; break; fi`,
      'done',
      `if [ "$pxepool_initrd" != 1 ]; then echo ${say('pxepool: no boot server gave the initrd')}; sleep 5; exit; fi`,
    );
  }
  lines.push('boot', '');
  return lines.join('\n');
}

/**
 * `grub/grub.cfg` when the boot root has none: where Debian's signed network GRUB looks when it
 * was loaded by PXE (its prefix is /grub on the server it came from). It can find that server
 * only when the site DHCP server's ACK names it (next-server: mode 1, or next-server added
 * beside ProxyDHCP; docs/firmware.md), and then hands over to this machine's own config.
 */
export function grubHandover(proto: 'tftp' | 'http' = 'tftp'): string {
  // By TFTP GRUB's (tftp) device is the server it came from; by HTTP (UEFI HTTP boot, GRUB 2.12)
  // the device it was loaded from, $root, names that server and its port.
  const device = proto === 'tftp' ? '(tftp)' : '($root)';
  return [
    '# pxepool: this machine\'s own config, decided by the pool\'s policy',
    `source "${device}/boot.grub?mac=$net_default_mac&platform=efi&buildarch=$grub_cpu&proto=${proto}"`,
    "echo 'pxepool: no config for this machine (is $net_default_server a pxepool peer?)'",
    'sleep 5',
    'exit',
    '',
  ].join('\n');
}
