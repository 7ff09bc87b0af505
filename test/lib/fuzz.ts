// Our own fuzzer for the wire formats anyone on the segment can send us: DHCPv4 (ports 67 and
// 4011), TFTP (69), the pool's heartbeats and transfer announcements, and DHCPv6 (547 and 4011,
// pure only: bench/fuzz.ts). Seeded and
// deterministic, so a failing case can be replayed by its number. Each case is a well-formed
// packet of the kind real peers send, then mutated: bit flips, byte overwrites, truncation,
// extension, spliced copies, and structure-aware edits (option lengths, addresses, opcodes,
// TFTP option values) that reach deeper than random bytes do.
//
// Used by test/integration/fuzz.test.ts (10,000 cases per format, over real sockets, counting
// every outcome in /metrics) and bench/fuzz.ts (100,000 and more, pure and over sockets).

import { rng } from '../../src/storm/run.ts';
import { bootServerRequest, type ClientKind, discover, encode } from '../../src/dhcp/pxe-client.ts';
import { encodeAck, encodeError, encodeRequest } from '../../src/tftp/packet.ts';
import { encodeHeartbeat, NO_ECHO } from '../../src/pool/heartbeat.ts';
import { encodeSnapshot } from '../../src/pool/announce.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeDhcp6, MSG, OPT, parseDhcp6, type Dhcp6Message } from '../../src/dhcp6/packet.ts';

export type Rand = () => number;
export { rng };

const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;

/** Generic byte-level mutations, 1–4 of them. */
export function mutate(seed: Uint8Array, r: Rand): Uint8Array {
  let b: Buffer = Buffer.from(seed);
  const n = 1 + int(r, 4);
  for (let i = 0; i < n; i++) {
    const kind = int(r, 7);
    if (b.length === 0 && kind < 5) { b = Buffer.from([int(r, 256)]); continue; }
    switch (kind) {
      case 0: { // flip bits
        for (let k = 0; k < 1 + int(r, 8); k++) { const at = int(r, b.length); b[at] = b[at]! ^ (1 << int(r, 8)); }
        break;
      }
      case 1: { // overwrite bytes with boundary values
        for (let k = 0; k < 1 + int(r, 8); k++) b[int(r, b.length)] = pick(r, [0, 1, 0x7f, 0x80, 0xfe, 0xff, int(r, 256)]);
        break;
      }
      case 2: b = b.subarray(0, int(r, b.length)); break; // truncate
      case 3: b = Buffer.concat([b, randomBytes(r, 1 + int(r, pick(r, [8, 64, 1500])))]); break; // extend
      case 4: { // splice a copy of one region over another
        const from = int(r, b.length); const len = 1 + int(r, Math.min(64, b.length - from)); const to = int(r, b.length);
        b = Buffer.concat([b.subarray(0, to), b.subarray(from, from + len), b.subarray(to)]);
        break;
      }
      case 5: b = randomBytes(r, int(r, pick(r, [4, 32, 300, 600, 1500]))); break; // noise
      default: { // delete a region
        const from = int(r, b.length); const len = int(r, b.length - from + 1);
        b = Buffer.concat([b.subarray(0, from), b.subarray(from + len)]);
      }
    }
  }
  return new Uint8Array(b);
}

function randomBytes(r: Rand, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = int(r, 256);
  return b;
}

const KINDS: readonly ClientKind[] = ['ipxe-bios', 'ovmf', 'ipxe-efi', 'plain'];
const mac = (r: Rand): string => Array.from({ length: 6 }, (_, i) => (i === 0 ? int(r, 256) & 0xfe : int(r, 256)).toString(16).padStart(2, '0')).join(':');
const ip = (r: Rand): string => pick(r, ['0.0.0.0', '255.255.255.255', '127.0.0.1', '224.0.0.1', `10.${int(r, 256)}.${int(r, 256)}.${int(r, 256)}`]);

/** A DHCP case: which port it goes to and its bytes. */
export function dhcpCase(r: Rand): { via: 'dhcp' | 'pxe'; bytes: Uint8Array } {
  const id = { kind: pick(r, KINDS), mac: mac(r), uuid: '11111111-2222-3333-4444-555555555555' };
  const fields = { xid: int(r, 2 ** 32), ...(r() < 0.3 ? { giaddr: ip(r), hops: int(r, 20) } : {}), ...(r() < 0.3 ? { ciaddr: ip(r) } : {}) };
  const via = r() < 0.7 ? 'dhcp' : 'pxe';
  const p = via === 'dhcp' && r() < 0.8 ? discover(id, fields) : bootServerRequest(id, { ...fields, ...(r() < 0.5 ? { serverId: ip(r) } : {}) });
  if (r() < 0.4) {
    // Structure-aware: options of odd sizes, repeated or huge, the fields a reply is built from.
    for (let k = 0; k < 1 + int(r, 4); k++) {
      const code = pick(r, [43, 53, 54, 57, 60, 77, 93, 94, 97, 175, 255, 0, int(r, 256)]);
      const len = pick(r, [0, 1, 2, 3, 16, 17, 255, int(r, 256)]);
      p.options.push({ code, data: new Uint8Array(randomBytes(r, len)) });
    }
    if (r() < 0.2) { p.op = int(r, 4); p.htype = int(r, 4); p.hlen = int(r, 20); }
  }
  let bytes: Uint8Array;
  try {
    bytes = encode(p);
  } catch {
    bytes = encode(discover(id, { xid: 1 }));
  }
  return { via, bytes: r() < 0.85 ? mutate(bytes, r) : bytes };
}

const NAMES = ['pxelinux.0', 'snponly.efi', 'vmlinuz', '../etc/passwd', '/..//../x', 'a/../../b', 'pxelinux.cfg/default', '', 'x'.repeat(600), 'ä\u0000b', 'C:\\boot.ini'];
const OPTS = ['blksize', 'tsize', 'windowsize', 'timeout', 'BLKSIZE', 'x', ''];
const VALS = ['0', '1', '7', '8', '512', '1468', '65464', '65465', '99999999999999999999', '-1', '1e3', '', '0x10'];

/** A TFTP case for the listening port. */
export function tftpCase(r: Rand): Uint8Array {
  const k = int(r, 10);
  let bytes: Uint8Array;
  if (k < 6) {
    const opts: [string, string][] = [];
    for (let i = 0; i < int(r, 6); i++) opts.push([pick(r, OPTS), pick(r, VALS)]);
    try {
      bytes = encodeRequest(r() < 0.9 ? 'RRQ' : 'WRQ', pick(r, NAMES), pick(r, ['octet', 'netascii', 'mail', 'OCTET', 'x']) as 'octet', opts);
    } catch {
      bytes = encodeRequest('RRQ', 'pxelinux.0', 'octet', []);
    }
  } else if (k < 8) bytes = encodeAck(int(r, 65536));
  else bytes = encodeError(int(r, 10), 'fuzz');
  return r() < 0.8 ? mutate(bytes, r) : bytes;
}

export const FUZZ_SECRET = 'fuzz-shared-secret-of-the-test-pool';

/**
 * A pool datagram: heartbeats and announcements signed with the right secret (mutations then
 * break the signature, the framing or the clock checks), or with a wrong one, or noise.
 */
export function poolCase(r: Rand, now: number): Uint8Array {
  const k = int(r, 10);
  const secret = k < 8 ? FUZZ_SECRET : 'some-other-secret-nobody-shares';
  let bytes: Uint8Array;
  if (k % 3 === 0) {
    const dgrams = encodeSnapshot({ peer: pick(r, ['b', 'c', 'zz']), instance: 'ab'.repeat(16), seq: () => int(r, 1000), ts: now + pick(r, [0, -60_000, 60_000]), snapshot: int(r, 100) }, [], secret);
    bytes = dgrams[0] ?? new Uint8Array(0);
  } else {
    bytes = encodeHeartbeat({
      peer: pick(r, ['b', 'c', 'zz']), instance: 'cd'.repeat(16), epoch: now - int(r, 1e6), echo: NO_ECHO, seq: int(r, 2 ** 32),
      ts: now + pick(r, [0, 10, -120_000, 120_000]), health: pick(r, ['ok', 'busy', 'draining', 'leaving'] as const),
      tftp: int(r, 100), http: int(r, 100), weight: 1 + int(r, 10), configHash: '0'.repeat(32), held: r() < 0.5 ? [] : ['10.0.0.1'],
    }, secret);
  }
  return r() < 0.75 ? mutate(bytes, r) : bytes;
}

const fixture6 = (name: string): Dhcp6Message => {
  const r = parseDhcp6(Uint8Array.from(Buffer.from(readFileSync(join(import.meta.dirname, '../fixtures/firmware6', `${name}.hex`), 'utf8').replace(/\s+/g, ''), 'hex')));
  if (!r.ok) throw new Error(`fixture ${name}: ${r.reason}`);
  return r.message;
};
let seeds6: Dhcp6Message[] | undefined;

/**
 * A DHCPv6 case: EDK2's captured Solicit or 4011 Request (test/fixtures/firmware6), sometimes with
 * our server id, odd or huge options (client id, vendor class, arch, ORO, user class) or wrapped
 * in relay messages, then mutated. `serverDuid` is the responder's, so some Requests are for us.
 */
export function dhcp6Case(r: Rand, serverDuid: Uint8Array): { via: 'dhcp6' | 'pxe6'; bytes: Uint8Array } {
  seeds6 ??= [fixture6('ovmf-pxe6-solicit'), fixture6('ovmf-pxe6-request-4011')];
  const via = r() < 0.6 ? 'dhcp6' : 'pxe6';
  const seed = seeds6[via === 'dhcp6' ? 0 : 1]!;
  let m: Dhcp6Message = seed.kind === 'client' ? { ...seed, xid: int(r, 2 ** 24), options: [...seed.options] } : seed;
  if (m.kind === 'client') {
    if (via === 'pxe6' && r() < 0.7) m.options = [...m.options.filter((o) => o.code !== OPT.SERVERID), { code: OPT.SERVERID, data: serverDuid }];
    if (r() < 0.4) {
      for (let k = 0; k < 1 + int(r, 4); k++) {
        const code = pick(r, [OPT.CLIENTID, OPT.SERVERID, OPT.IA_NA, OPT.ORO, OPT.ELAPSED_TIME, OPT.USER_CLASS, OPT.VENDOR_CLASS, OPT.BOOTFILE_URL, OPT.CLIENT_ARCH_TYPE, OPT.NII, int(r, 256)]);
        const len = pick(r, [0, 1, 2, 3, 4, 14, 130, 255, 1400, int(r, 256)]);
        if (r() < 0.5) m.options = m.options.filter((o) => o.code !== code); // replace, or add a second
        m.options.push({ code, data: new Uint8Array(randomBytes(r, len)) });
      }
    }
    if (r() < 0.1) m.type = int(r, 16);
  }
  for (let depth = r() < 0.2 ? 1 + int(r, 3) : 0; depth > 0; depth--) {
    m = { kind: 'relay', type: MSG.RELAY_FORW, hopCount: int(r, 40), linkAddress: new Uint8Array(randomBytes(r, 16)), peerAddress: new Uint8Array(randomBytes(r, 16)), options: [], inner: m };
  }
  let bytes: Uint8Array;
  try {
    bytes = encodeDhcp6(m);
  } catch {
    bytes = encodeDhcp6(seed);
  }
  return { via, bytes: r() < 0.8 ? mutate(bytes, r) : bytes };
}
