// A tiny scriptable ProxyDHCP responder for firmware experiments (NOT pxepool): it answers
// PXEClient DISCOVERs on UDP 67 with a crafted ProxyDHCP OFFER after a fixed delay, and
// REQUESTs on UDP 4011 with an ACK (or stays silent: `dead4011`). Every packet it receives
// is logged as one JSON line on stdout, so a test can see which server a firmware chose.
//
// Run inside a namespace:  node test/lib/pxe-responder.ts '<ResponderConfig as JSON>'
// or from a test:          startResponder(lab, host, config)
//
// Deliberately self-contained (its own minimal option TLV code) so that it can craft packets
// the real codec would refuse to build.

import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import type { Host, Lab, Proc } from './netns.ts';
import { runOk } from './netns.ts';

export interface ResponderConfig {
  /** Our address (option 54 and siaddr unless nextServer is set). */
  serverId: string;
  nextServer?: string;
  /** Boot file in the OFFER (omit for a "BINL" offer that defers to 4011). */
  offerFile?: string;
  /** Boot file in the 4011 ACK. */
  ackFile?: string;
  /** Delay before sending the OFFER, ms. */
  offerDelayMs?: number;
  /** Raw option 43 (hex) to put in the OFFER. */
  offer43?: string;
  /** Raw option 43 (hex) to put in the 4011 ACK. */
  ack43?: string;
  /** Raw option 175 (hex) to put in the OFFER, e.g. "010114" = priority 20. */
  offer175?: string;
  /** Do not answer on 4011 (a server dead after offering). */
  dead4011?: boolean;
  /** Only answer DISCOVERs whose option 93 (arch) is one of these. */
  arches?: number[];
  /** Answer only the first DISCOVER of each client (MAC), not its retransmissions. */
  onlyFirstDiscover?: boolean;
  /** Also listen on UDP 69 and log TFTP RRQs (never answered), to see which server a client chose. */
  logTftp?: boolean;
}

export interface Rx {
  /** Epoch ms. */
  t: number;
  port: number;
  from: string;
  type: number;
  xid: string;
  mac: string;
  opts: number[];
}

interface Parsed {
  op: number;
  xid: Buffer;
  flags: number;
  ciaddr: string;
  chaddr: Buffer;
  options: Map<number, Buffer>;
  order: number[];
}

const MAGIC = 0x63825363;

function parse(b: Buffer): Parsed | undefined {
  if (b.length < 240 || b.readUInt32BE(236) !== MAGIC) return undefined;
  const options = new Map<number, Buffer>();
  const order: number[] = [];
  let i = 240;
  while (i < b.length) {
    const code = b[i] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      i++;
      continue;
    }
    const len = b[i + 1] ?? 0;
    const v = b.subarray(i + 2, i + 2 + len);
    options.set(code, Buffer.concat([options.get(code) ?? Buffer.alloc(0), v]));
    order.push(code);
    i += 2 + len;
  }
  return {
    op: b[0] ?? 0,
    xid: b.subarray(4, 8),
    flags: b.readUInt16BE(10),
    ciaddr: [...b.subarray(12, 16)].join('.'),
    chaddr: b.subarray(28, 44),
    options,
    order,
  };
}

function ip(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function build(req: Parsed, type: number, cfg: ResponderConfig, file: string | undefined, opt43: string | undefined, opt175: string | undefined): Buffer {
  const h = Buffer.alloc(240);
  h[0] = 2;
  h[1] = 1;
  h[2] = 6;
  req.xid.copy(h, 4);
  h.writeUInt16BE(req.flags, 10);
  ip(cfg.nextServer ?? cfg.serverId).copy(h, 20);
  req.chaddr.copy(h, 28);
  if (file !== undefined) h.write(file, 108, 127, 'latin1');
  h.writeUInt32BE(MAGIC, 236);
  const opts: Buffer[] = [];
  const put = (code: number, v: Buffer) => opts.push(Buffer.from([code, v.length]), v);
  put(53, Buffer.from([type]));
  put(54, ip(cfg.serverId));
  put(60, Buffer.from('PXEClient'));
  const uuid = req.options.get(97);
  if (uuid !== undefined) put(97, uuid);
  if (opt43 !== undefined) put(43, Buffer.from(opt43, 'hex'));
  if (opt175 !== undefined) put(175, Buffer.from(opt175, 'hex'));
  opts.push(Buffer.from([255]));
  return Buffer.concat([h, ...opts]);
}

export function runResponder(cfg: ResponderConfig): void {
  const log = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`);
  const s67 = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const s4011 = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const offered = new Set<string>();
  if (cfg.logTftp === true) {
    const s69 = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    s69.on('message', (msg, rinfo) => {
      if (msg.readUInt16BE(0) !== 1) return;
      const fields = msg.subarray(2).toString('latin1').split('\0');
      log({ ev: 'rrq', from: `${rinfo.address}:${rinfo.port}`, file: fields[0], opts: fields.slice(2, -1), hex: msg.toString('hex') });
    });
    s69.bind(69);
  }
  const describe = (p: Parsed, port: number, from: string): Rx => ({
    t: Date.now(),
    port,
    from,
    type: p.options.get(53)?.[0] ?? 0,
    xid: p.xid.toString('hex'),
    mac: [...p.chaddr.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
    opts: p.order,
  });
  s67.on('message', (msg, rinfo) => {
    const p = parse(msg);
    if (p === undefined || p.op !== 1) return;
    const rx = describe(p, 67, `${rinfo.address}:${rinfo.port}`);
    log({ ev: 'rx', ...rx, vci: p.options.get(60)?.toString('latin1') });
    const vci = p.options.get(60)?.toString('latin1') ?? '';
    if (rx.type !== 1 || !vci.startsWith('PXEClient')) return;
    const arch = p.options.get(93)?.readUInt16BE(0);
    if (cfg.arches !== undefined && (arch === undefined || !cfg.arches.includes(arch))) return;
    if (cfg.onlyFirstDiscover === true) {
      if (offered.has(rx.mac)) return;
      offered.add(rx.mac);
    }
    setTimeout(() => {
      const out = build(p, 2, cfg, cfg.offerFile, cfg.offer43, cfg.offer175);
      s67.send(out, 68, '255.255.255.255', (err) => log({ ev: 'offer', xid: rx.xid, err: err?.message }));
    }, cfg.offerDelayMs ?? 0);
  });
  s4011.on('message', (msg, rinfo) => {
    const p = parse(msg);
    if (p === undefined || p.op !== 1) return;
    const rx = describe(p, 4011, `${rinfo.address}:${rinfo.port}`);
    log({ ev: 'rx', ...rx, opt43: p.options.get(43)?.toString('hex') });
    if (cfg.dead4011 === true || rx.type !== 3) return;
    const out = build(p, 5, cfg, cfg.ackFile ?? cfg.offerFile, cfg.ack43, undefined);
    s4011.send(out, rinfo.port, rinfo.address, (err) => log({ ev: 'ack', xid: rx.xid, to: `${rinfo.address}:${rinfo.port}`, err: err?.message }));
  });
  let ready = 0;
  const up = () => {
    if (++ready === 2) log({ ev: 'ready', cfg });
  };
  s67.bind(67, () => {
    s67.setBroadcast(true);
    up();
  });
  s4011.bind(4011, up);
  const stop = () => {
    s67.close();
    s4011.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Start a responder in `host`'s namespace (adds a limited-broadcast route there first). */
export async function startResponder(lab: Lab, host: Host, cfg: ResponderConfig): Promise<Proc> {
  await runOk('ip', ['route', 'replace', '255.255.255.255/32', 'dev', host.iface.name], { ns: host.ns });
  const self = fileURLToPath(import.meta.url);
  const p = lab.spawn(host.ns, process.execPath, [self, JSON.stringify(cfg)], { name: `responder@${host.name}` });
  await p.waitForLine(/"ev":"ready"/, 10_000);
  return p;
}

/** Parse the JSON lines a responder logged. */
export function responderEvents(p: Proc): Array<Record<string, unknown> & { t: number; ev: string }> {
  const out: Array<Record<string, unknown> & { t: number; ev: string }> = [];
  for (const l of p.lines) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown> & { t: number; ev: string });
    } catch {
      /* not ours */
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  runResponder(JSON.parse(process.argv[2] ?? '{}') as ResponderConfig);
}
