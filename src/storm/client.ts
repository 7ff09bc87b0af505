// One simulated PXE client as a sans-I/O state machine: the run loop feeds it packets and timer
// expiries with an explicit `now` (ms) and carries out the actions it returns. Timings and the
// firmware behaviours it models come from shared/FIRMWARE.md (see docs/storm.md for which are
// observed and which are assumptions).

import { bootServerRequest, discover, encode, type ClientIdentity, type ClientKind } from '../dhcp/pxe-client.ts';
import { BROADCAST_FLAG, getOption, type DhcpPacket } from '../dhcp/packet.ts';
import { decodeIp, decodeString, decodeU8, MessageType, Opt } from '../dhcp/options.ts';
import { decodeIpxeOptions, decodePxeOptions, DiscoveryControl, ipxePriority } from '../dhcp/pxe.ts';
import { encodeAck, encodeError, encodeRequest, parsePacket, ERR, type OptionList } from '../tftp/packet.ts';

/** The families a storm mixes: `--mix bios=…,efi=…,ipxe=…`. */
export type Family = 'bios' | 'efi' | 'ipxe';
export const FAMILIES: readonly Family[] = ['bios', 'efi', 'ipxe'];

export interface FirmwareModel {
  family: Family;
  kind: ClientKind;
  /** how the client picks among offers: iPXE leaves early, EDK2 collects a whole window */
  choice: 'ipxe' | 'edk2';
  /** ms after the first DISCOVER of an attempt at which DISCOVER is (re)sent; [0] first */
  discoverAt: number[];
  /** ms after the first DISCOVER when the client gives up with no usable offer */
  discoverGiveUpMs: number;
  /** iPXE: once it holds a DHCP offer, how long from the first DISCOVER it waits for a proxy offer */
  proxyWaitMs: number;
  /** ms after the first 4011 request of one boot server at which it is (re)sent */
  requestAt: number[];
  /** ms after the first 4011 request when that boot server counts as dead */
  requestGiveUpMs: number;
  tftp: {
    /** EDK2 asks for the size first and aborts after the OACK */
    sizeProbe: boolean;
    blksize: number;
    /** RFC 7440; undefined: not asked for */
    windowsize: number | undefined;
    tsize: boolean;
    /** gaps between retransmissions of the last RRQ/ACK; one more silence kills the transfer */
    retransmitMs: number[];
  };
  /** can fetch http:// boot files (iPXE) */
  http: boolean;
}

export interface ModelTuning {
  /** EDK2's first offer-collection window (real firmware: about 4 s) */
  edk2CollectMs?: number;
  /** TFTP silence schedule override (tests, lossy benchmarks) */
  tftpRetransmitMs?: number[];
}

/** Firmware behaviour per family; sources and guesses are listed in docs/storm.md. */
export function firmwareModel(family: Family, tuning: ModelTuning = {}): FirmwareModel {
  const tftpRetransmitMs = tuning.tftpRetransmitMs ?? [1000, 2000, 4000, 8000];
  if (family === 'efi') {
    const c = tuning.edk2CollectMs ?? 4000;
    return {
      family, kind: 'ovmf', choice: 'edk2',
      // first window, then +8, +16, +32 s; gives up near the observed ~64 s
      discoverAt: [0, c, c + 8000, c + 24000],
      discoverGiveUpMs: c + 56000,
      proxyWaitMs: 0,
      requestAt: [0, 1000, 3000, 6000],
      requestGiveUpMs: 10000,
      tftp: { sizeProbe: true, blksize: 1468, windowsize: 4, tsize: true, retransmitMs: tftpRetransmitMs },
      http: false,
    };
  }
  return {
    family, kind: family === 'bios' ? 'ipxe-bios' : 'ipxe-efi', choice: 'ipxe',
    discoverAt: [0, 1000, 3000, 7000, 15000],
    discoverGiveUpMs: 30000,
    proxyWaitMs: 3000,
    requestAt: [0, 1000, 3000],
    requestGiveUpMs: 6000,
    tftp: { sizeProbe: false, blksize: 1432, windowsize: undefined, tsize: true, retransmitMs: tftpRetransmitMs },
    http: true,
  };
}

/** A file fetched after the NBP. Optional misses are normal (pxelinux config search). */
export interface NextFile {
  name: string;
  optional?: boolean;
  /** after a hit, the rest of the files with the same group are skipped */
  group?: string;
}

/** pxelinux's config search: ldlinux.c32, then 01-<mac>, hex IP prefixes, default. */
export function pxelinuxFiles(mac: string, ip: string): NextFile[] {
  const out: NextFile[] = [{ name: 'ldlinux.c32' }];
  out.push({ name: `pxelinux.cfg/01-${mac.toLowerCase().replace(/:/g, '-')}`, optional: true, group: 'cfg' });
  const hex = ip.split('.').map((o) => Number(o).toString(16).toUpperCase().padStart(2, '0')).join('');
  for (let n = 8; n >= 1; n--) out.push({ name: `pxelinux.cfg/${hex.slice(0, n)}`, optional: true, group: 'cfg' });
  out.push({ name: 'pxelinux.cfg/default', optional: true, group: 'cfg' });
  return out;
}

export interface ClientOptions {
  index: number;
  mac: string;
  /** first xid; restarts use the following ones, so the run loop can give each client a block */
  xid: number;
  model: FirmwareModel;
  /** the address this client uses for 4011 and TFTP (ciaddr) */
  address: string;
  /** wait for a site DHCP offer as real firmware does; false: proxy offers alone suffice */
  dhcpWait: boolean;
  /** relay mode: giaddr/hops in DISCOVERs */
  giaddr?: string;
  /** set the broadcast flag whatever the firmware does (needed to hear offers on a shared address) */
  forceBroadcast?: boolean;
  files?: NextFile[];
  /**
   * Restarts from DISCOVER after a dead transfer before the client counts as failed. Default 0:
   * real firmware does not restart (an iPXE ROM moves to the next boot device, pxelinux hangs,
   * EDK2 fails the boot option); a site whose firmware retries network boot may ask for more.
   */
  maxRestarts?: number;
}

export type Phase = 'idle' | 'discover' | 'request' | 'tftp' | 'http' | 'done' | 'failed';

export type Action =
  /** a DISCOVER: broadcast on a segment, or unicast to each server in relay mode */
  | { type: 'dhcp-send'; data: Uint8Array }
  /** a request to a boot server's 4011 (from the client's own socket) */
  | { type: 'pxe-send'; data: Uint8Array; to: string }
  /** an RRQ to the server's TFTP port from a new socket (`session`) */
  | { type: 'tftp-rrq'; session: number; data: Uint8Array; to: string }
  /** ACK/ERROR to the server's transfer port from the session's socket */
  | { type: 'tftp-send'; session: number; data: Uint8Array; to: string; port: number }
  | { type: 'http-get'; url: string }
  /** (re)arm the client's single timer; replaces any earlier one */
  | { type: 'timer'; at: number };

export interface OfferSeen {
  server: string;
  dhcp: boolean;
  proxy: boolean;
  atMs: number;
}

export interface ClientStats {
  index: number;
  family: Family;
  mac: string;
  phase: Phase;
  failure?: string;
  /** all ms since power-on */
  firstOfferMs?: number;
  firstProxyOfferMs?: number;
  ackMs?: number;
  nbpMs?: number;
  lastFileMs?: number;
  /** address of the site DHCP offer (bookkeeping only: the lease is never completed) */
  dhcpAddress?: string;
  /** the server whose offer was chosen, the one that answered 4011, the one that served files */
  offerServer?: string;
  bootServer?: string;
  fileServer?: string;
  bootFile?: string;
  offers: number;
  dhcpOffers: number;
  proxyOffers: number;
  /** offers from a server that had already offered in the same transaction (xid) */
  duplicateOffers: number;
  retransmits: { discover: number; request: number; tftp: number };
  /** restarts from DISCOVER after a dead transfer */
  restarts: number;
  /** why the last restart happened */
  restartReason?: string;
  /** EDK2: moves to the next BINL offer after a silent boot server */
  failovers: number;
  bytes: number;
  files: number;
  fileMisses: number;
}

interface Offer {
  server: string;
  dhcp: boolean;
  proxy: boolean;
  yiaddr: string;
  siaddr: string;
  file: string;
  /** PXE menu: boot server discovery needed, with this item, at this server */
  menu: { type: number; server: string | undefined } | undefined;
  useBootFile: boolean;
  priority: number;
}

interface Transfer {
  session: number;
  file: string;
  optional: boolean;
  server: string;
  /** the server's transfer port (TID), 0 until its first reply */
  tid: number;
  probe: boolean;
  blksize: number;
  windowsize: number;
  /** next block expected, mod 65536 */
  expected: number;
  sinceAck: number;
  bytes: number;
  last: { data: Uint8Array; to: number } | undefined;
  rrq: Uint8Array;
  silences: number;
  gapAcked: boolean;
}

const ZERO = '0.0.0.0';
const DEFAULT_BLKSIZE = 512;

function bootFileOf(p: DhcpPacket): string {
  return p.file !== '' ? p.file : (decodeString(getOption(p, Opt.BootfileName)) ?? '');
}

function classify(p: DhcpPacket, from: string): Offer {
  const vc = decodeString(getOption(p, Opt.VendorClass)) ?? '';
  const server = decodeIp(getOption(p, Opt.ServerId)) ?? from;
  const dhcp = p.yiaddr !== ZERO;
  let menu: Offer['menu'];
  let useBootFile = false;
  const o43 = getOption(p, Opt.VendorSpecific);
  if (o43 !== undefined) {
    const v = decodePxeOptions(o43);
    if (v.ok) {
      useBootFile = ((v.value.discoveryControl ?? 0) & DiscoveryControl.UseBootFile) !== 0;
      const item = v.value.bootMenu?.[0];
      if (item !== undefined && !useBootFile) {
        const listed = v.value.bootServers?.find((b) => b.type === item.type)?.ips[0];
        menu = { type: item.type, server: listed };
      }
    }
  }
  let priority = 0;
  const o175 = getOption(p, Opt.IpxeEncap);
  if (o175 !== undefined) {
    const m = decodeIpxeOptions(o175);
    if (m.ok) priority = ipxePriority(m.value);
  }
  return {
    server, dhcp, proxy: vc.startsWith('PXEClient'), yiaddr: p.yiaddr, siaddr: p.siaddr,
    file: bootFileOf(p), menu, useBootFile, priority,
  };
}

function isHttp(file: string): boolean {
  return /^https?:\/\//i.test(file);
}

export class StormClient {
  readonly opts: ClientOptions;
  readonly model: FirmwareModel;
  readonly stats: ClientStats;
  #t0 = 0;
  #xid: number;
  #attemptStart = 0;
  #sendIdx = 0;
  #offers: Offer[] = [];
  #bestProxy: Offer | undefined;
  #dhcpOffer: Offer | undefined;
  #offeredBy = new Set<string>();
  /** EDK2 boot servers still to try, in arrival order */
  #candidates: Offer[] = [];
  #current: Offer | undefined;
  #requestStart = 0;
  #requestIdx = 0;
  #session = 0;
  #xfer: Transfer | undefined;
  #queue: NextFile[] = [];
  #skipGroups = new Set<string>();
  #nbpDone = false;
  #fileBase = '';
  #fileServer = '';

  constructor(opts: ClientOptions) {
    this.opts = opts;
    this.model = opts.model;
    this.#xid = opts.xid >>> 0;
    this.stats = {
      index: opts.index, family: opts.model.family, mac: opts.mac, phase: 'idle',
      offers: 0, dhcpOffers: 0, proxyOffers: 0, duplicateOffers: 0,
      retransmits: { discover: 0, request: 0, tftp: 0 }, restarts: 0, failovers: 0,
      bytes: 0, files: 0, fileMisses: 0,
    };
  }

  get phase(): Phase {
    return this.stats.phase;
  }

  get xid(): number {
    return this.#xid;
  }

  get finished(): boolean {
    return this.stats.phase === 'done' || this.stats.phase === 'failed';
  }

  get identity(): ClientIdentity {
    return { kind: this.model.kind, mac: this.opts.mac };
  }

  /** Power on. */
  start(now: number): Action[] {
    this.#t0 = now;
    return this.#beginDiscover(now);
  }

  /** A DHCP/BOOTP reply for this client (xid and chaddr already matched by the caller). */
  onDhcp(now: number, p: DhcpPacket, from: string): Action[] {
    if (p.op !== 2) return [];
    const type = decodeU8(getOption(p, Opt.MessageType));
    if (type === MessageType.Offer) return this.#onOffer(now, classify(p, from));
    if (type === MessageType.Ack && this.stats.phase === 'request' && p.xid === this.#xid) return this.#onAck(now, p, from);
    return [];
  }

  /** A datagram on a TFTP session socket. */
  onTftp(now: number, session: number, bytes: Uint8Array, from: { address: string; port: number }): Action[] {
    const x = this.#xfer;
    if (this.stats.phase !== 'tftp' || x === undefined || session !== x.session) return [];
    if (x.tid !== 0 && from.port !== x.tid) return [];
    const parsed = parsePacket(bytes);
    if (!parsed.ok) return [];
    const pkt = parsed.value;
    x.tid = from.port;
    x.silences = 0;
    const out: Action[] = [];
    switch (pkt.op) {
      case 'ERROR':
        if (pkt.code === ERR.FILE_NOT_FOUND || pkt.code === ERR.ACCESS_VIOLATION) return this.#miss(now, x, pkt.message);
        return this.#transferDied(now, `tftp error ${pkt.code}: ${pkt.message}`);
      case 'OACK': {
        if (x.expected !== 1 || x.bytes > 0) return [];
        if (x.probe) return this.#endProbe(now, x);
        for (const [name, value] of pkt.options) {
          if (name === 'blksize') x.blksize = Number(value) || x.blksize;
          if (name === 'windowsize') x.windowsize = Number(value) || 1;
        }
        this.#send(out, x, encodeAck(0));
        break;
      }
      case 'DATA': {
        // A server that ignores options answers the probe with data: the size probe is over too.
        if (x.probe) return this.#endProbe(now, x);
        if (pkt.block === x.expected) {
          x.bytes += pkt.data.length;
          this.stats.bytes += pkt.data.length;
          x.gapAcked = false;
          x.sinceAck++;
          x.expected = (x.expected + 1) & 0xffff;
          if (pkt.data.length < x.blksize) {
            this.#send(out, x, encodeAck(pkt.block));
            return [...out, ...this.#fileDone(now, x)];
          }
          if (x.sinceAck >= x.windowsize) this.#send(out, x, encodeAck(pkt.block));
        } else if (pkt.block === ((x.expected - 1) & 0xffff)) {
          // the server did not hear our last ACK and resent: repeat it
          this.#send(out, x, encodeAck(pkt.block));
        } else if (!x.gapAcked) {
          // RFC 7440: a gap in a window is answered once with the last block received in order
          x.gapAcked = true;
          this.#send(out, x, encodeAck((x.expected - 1) & 0xffff));
        }
        break;
      }
      default:
        return [];
    }
    out.push(this.#tftpTimer(now, x));
    return out;
  }

  /** The run loop's HTTP fetch ended. */
  onHttp(now: number, result: { ok: boolean; bytes: number; status?: number; error?: string }): Action[] {
    if (this.stats.phase !== 'http') return [];
    this.stats.bytes += result.bytes;
    if (result.ok) {
      this.stats.files++;
      return this.#afterFile(now);
    }
    if (result.status === 404) return this.#fail(now, `http 404 ${this.#fileBase}`);
    return this.#transferDied(now, `http ${result.status ?? result.error ?? 'failed'}`);
  }

  onTimer(now: number): Action[] {
    switch (this.stats.phase) {
      case 'discover':
        return this.#discoverTimer(now);
      case 'request':
        return this.#requestTimer(now);
      case 'tftp': {
        const x = this.#xfer;
        if (x === undefined) return [];
        const gaps = this.model.tftp.retransmitMs;
        if (x.silences >= gaps.length) return this.#transferDied(now, `tftp timeout on ${x.file}`);
        x.silences++;
        this.stats.retransmits.tftp++;
        const out: Action[] = [];
        if (x.last === undefined) out.push({ type: 'tftp-rrq', session: x.session, data: x.rrq, to: x.server });
        else out.push({ type: 'tftp-send', session: x.session, data: x.last.data, to: x.server, port: x.last.to });
        out.push(this.#tftpTimer(now, x));
        return out;
      }
      default:
        return [];
    }
  }

  /** The run's hard time limit: whatever is unfinished fails now. */
  abort(now: number, reason: string): void {
    if (!this.finished) this.#fail(now, reason);
  }

  // ---- discover -----------------------------------------------------------------------------

  #beginDiscover(now: number): Action[] {
    this.stats.phase = 'discover';
    this.#attemptStart = now;
    this.#sendIdx = 0;
    this.#offers = [];
    this.#bestProxy = undefined;
    this.#dhcpOffer = undefined;
    this.#candidates = [];
    this.#current = undefined;
    this.#xfer = undefined;
    this.#nbpDone = false;
    this.#skipGroups.clear();
    // duplicates are counted per transaction: a retransmitted DISCOVER answered twice counts
    this.#offeredBy.clear();
    return this.#sendDiscover(now);
  }

  #sendDiscover(now: number): Action[] {
    const p = discover(this.identity, {
      xid: this.#xid,
      secs: Math.min(0xffff, Math.floor((now - this.#attemptStart) / 1000)),
      ...(this.opts.giaddr !== undefined ? { giaddr: this.opts.giaddr, hops: 1 } : {}),
    });
    if (this.opts.forceBroadcast) p.flags |= BROADCAST_FLAG;
    if (this.#sendIdx > 0) this.stats.retransmits.discover++;
    this.#sendIdx++;
    return [{ type: 'dhcp-send', data: encode(p) }, { type: 'timer', at: this.#discoverDeadline() }];
  }

  #discoverDeadline(): number {
    const m = this.model;
    const next = m.discoverAt[this.#sendIdx];
    let at = this.#attemptStart + (next ?? m.discoverGiveUpMs);
    // iPXE holding a DHCP offer stops waiting for a proxy offer at proxyWaitMs
    if (m.choice === 'ipxe' && this.#dhcpOffer !== undefined) at = Math.min(at, this.#attemptStart + m.proxyWaitMs);
    return at;
  }

  #onOffer(now: number, o: Offer): Action[] {
    const s = this.stats;
    s.offers++;
    const ms = now - this.#t0;
    s.firstOfferMs ??= ms;
    if (o.dhcp) s.dhcpOffers++;
    if (o.proxy && !o.dhcp) {
      s.proxyOffers++;
      s.firstProxyOfferMs ??= ms;
    }
    const key = `${o.server}/${o.dhcp ? 'd' : 'p'}`;
    if (this.#offeredBy.has(key)) s.duplicateOffers++;
    else this.#offeredBy.add(key);
    if (s.phase !== 'discover') return [];

    if (o.dhcp) {
      if (this.#dhcpOffer === undefined) {
        this.#dhcpOffer = o;
        s.dhcpAddress ??= o.yiaddr;
      }
    } else if (o.proxy) {
      this.#offers.push(o);
      // iPXE keeps an offer whose priority is >= the best so far: ties go to the later one
      if (this.#bestProxy === undefined || o.priority >= this.#bestProxy.priority) this.#bestProxy = o;
    } else {
      return [];
    }
    if (this.model.choice === 'ipxe') {
      if (this.#bestProxy !== undefined && (this.#dhcpOffer !== undefined || !this.opts.dhcpWait)) {
        return this.#chosen(now, this.#bestProxy, []);
      }
      return [{ type: 'timer', at: this.#discoverDeadline() }];
    }
    return [];
  }

  #discoverTimer(now: number): Action[] {
    const m = this.model;
    const elapsed = now - this.#attemptStart;
    const haveDhcp = this.#dhcpOffer !== undefined || !this.opts.dhcpWait;
    if (m.choice === 'edk2') {
      // EDK2 only looks at what it collected when a round's window closes
      const binl = this.#uniqueProxyOffers();
      if (binl.length > 0 && haveDhcp) return this.#chosen(now, binl[0]!, binl.slice(1));
    } else if (this.#dhcpOffer !== undefined && elapsed >= m.proxyWaitMs) {
      // iPXE gave the proxy offer its chance; a combined DHCP offer may still carry a boot file
      const d = this.#dhcpOffer;
      if (d.proxy && d.file !== '') return this.#chosen(now, d, []);
      return this.#fail(now, 'no proxy offer (nothing to boot)');
    }
    if (this.#sendIdx < m.discoverAt.length) return this.#sendDiscover(now);
    if (elapsed >= m.discoverGiveUpMs) {
      const why = this.#offers.length > 0 ? 'no site DHCP offer' : this.#dhcpOffer !== undefined ? 'no proxy offer' : 'no offer';
      return this.#fail(now, why);
    }
    return [{ type: 'timer', at: this.#discoverDeadline() }];
  }

  #uniqueProxyOffers(): Offer[] {
    const seen = new Set<string>();
    const out: Offer[] = [];
    for (const o of this.#offers) {
      if (seen.has(o.server)) continue;
      seen.add(o.server);
      out.push(o);
    }
    return out;
  }

  #chosen(now: number, offer: Offer, rest: Offer[]): Action[] {
    this.stats.offerServer = offer.server;
    this.#candidates = rest;
    return this.#tryBootServer(now, offer);
  }

  // ---- boot server (4011) -------------------------------------------------------------------

  #needsRequest(o: Offer): boolean {
    if (o.menu !== undefined) return true;
    if (o.dhcp) return false;
    // iPXE always asks the proxy on 4011; EDK2 only for a BINL offer (no file)
    return this.model.choice === 'ipxe' || o.file === '';
  }

  #tryBootServer(now: number, o: Offer): Action[] {
    this.#current = o;
    if (!this.#needsRequest(o)) {
      const server = o.siaddr !== ZERO ? o.siaddr : o.server;
      return this.#startBootFile(now, o.file, server);
    }
    this.stats.phase = 'request';
    this.#requestStart = now;
    this.#requestIdx = 0;
    return this.#sendRequest(now);
  }

  #requestTarget(o: Offer): string {
    if (o.menu?.server !== undefined && o.menu.server !== ZERO) return o.menu.server;
    return o.siaddr !== ZERO && o.menu === undefined ? o.siaddr : o.server;
  }

  #sendRequest(now: number): Action[] {
    const o = this.#current!;
    const p = bootServerRequest(this.identity, {
      xid: this.#xid,
      ciaddr: this.opts.address,
      ...(o.menu !== undefined ? { bootItem: { type: o.menu.type, layer: 0 } } : {}),
    });
    if (this.#requestIdx > 0) this.stats.retransmits.request++;
    this.#requestIdx++;
    const next = this.model.requestAt[this.#requestIdx];
    const at = this.#requestStart + (next ?? this.model.requestGiveUpMs);
    return [{ type: 'pxe-send', data: encode(p), to: this.#requestTarget(o) }, { type: 'timer', at }];
  }

  #requestTimer(now: number): Action[] {
    if (this.#requestIdx < this.model.requestAt.length) return this.#sendRequest(now);
    const o = this.#current!;
    if (this.model.choice === 'edk2') {
      const next = this.#candidates.shift();
      if (next !== undefined) {
        this.stats.failovers++;
        return this.#tryBootServer(now, next);
      }
      // The boot option failed like a dead transfer does: firmware set to retry network boot
      // starts over from DISCOVER (seen in the pool lab when the only boot servers offered died).
      return this.#transferDied(now, 'no answer from boot server on 4011');
    }
    // iPXE gives up on the ProxyDHCP request and goes on with what the offer said, if anything
    if (o.menu === undefined && o.file !== '') return this.#startBootFile(now, o.file, o.siaddr !== ZERO ? o.siaddr : o.server);
    return this.#transferDied(now, 'no answer from boot server on 4011');
  }

  #onAck(now: number, p: DhcpPacket, from: string): Action[] {
    this.stats.ackMs ??= now - this.#t0;
    const server = decodeIp(getOption(p, Opt.ServerId)) ?? from;
    this.stats.bootServer = server;
    const file = bootFileOf(p) || this.#current?.file || '';
    const fileServer = p.siaddr !== ZERO ? p.siaddr : (decodeString(getOption(p, Opt.TftpServerName)) ?? server);
    return this.#startBootFile(now, file, fileServer);
  }

  // ---- files --------------------------------------------------------------------------------

  #startBootFile(now: number, file: string, server: string): Action[] {
    if (file === '') return this.#fail(now, 'no boot file in offer or ACK');
    this.stats.bootFile = file;
    this.#fileServer = server;
    this.#fileBase = file;
    this.#queue = [...(this.opts.files ?? [])];
    if (isHttp(file)) return this.#startHttp(now, file);
    return this.#startTftp(now, { name: file }, this.model.tftp.sizeProbe);
  }

  #startHttp(now: number, url: string): Action[] {
    if (!this.model.http) return this.#fail(now, `firmware cannot fetch ${url}`);
    this.stats.phase = 'http';
    this.#fileBase = url;
    this.stats.fileServer = new URL(url).hostname;
    // the fetch is bounded by the run loop, so no timer here
    return [{ type: 'http-get', url }, { type: 'timer', at: Number.MAX_SAFE_INTEGER }];
  }

  #rrqOptions(probe: boolean): OptionList {
    const t = this.model.tftp;
    const o: Array<readonly [string, string]> = [];
    const tsize = t.tsize && (probe || !t.sizeProbe);
    // EDK2's size probe leads with tsize; iPXE writes blksize first
    if (tsize && t.sizeProbe) o.push(['tsize', '0']);
    o.push(['blksize', String(t.blksize)]);
    if (tsize && !t.sizeProbe) o.push(['tsize', '0']);
    if (t.windowsize !== undefined) o.push(['windowsize', String(t.windowsize)]);
    return o;
  }

  #startTftp(now: number, f: NextFile, probe: boolean): Action[] {
    this.stats.phase = 'tftp';
    this.stats.fileServer = this.#fileServer;
    const session = ++this.#session;
    const rrq = encodeRequest('RRQ', f.name, 'octet', this.#rrqOptions(probe));
    const x: Transfer = {
      session, file: f.name, optional: f.optional === true, server: this.#fileServer, tid: 0, probe,
      blksize: DEFAULT_BLKSIZE, windowsize: 1, expected: 1, sinceAck: 0, bytes: 0, last: undefined,
      rrq, silences: 0, gapAcked: false,
    };
    this.#xfer = x;
    this.#pendingGroup = f.group;
    return [{ type: 'tftp-rrq', session, data: rrq, to: x.server }, this.#tftpTimer(now, x)];
  }

  #pendingGroup: string | undefined;

  #tftpTimer(now: number, x: Transfer): Action {
    const gap = this.model.tftp.retransmitMs[Math.min(x.silences, this.model.tftp.retransmitMs.length - 1)] ?? 1000;
    return { type: 'timer', at: now + gap };
  }

  #send(out: Action[], x: Transfer, data: Uint8Array): void {
    x.last = { data, to: x.tid };
    x.sinceAck = 0;
    out.push({ type: 'tftp-send', session: x.session, data, to: x.server, port: x.tid });
  }

  #endProbe(now: number, x: Transfer): Action[] {
    // EDK2 got the size it wanted; it says "User aborted the transfer" and asks again for real
    const out: Action[] = [{ type: 'tftp-send', session: x.session, data: encodeError(ERR.NOT_DEFINED, 'User aborted the transfer'), to: x.server, port: x.tid }];
    return [...out, ...this.#startTftp(now, { name: x.file }, false)];
  }

  #fileDone(now: number, x: Transfer): Action[] {
    this.stats.files++;
    if (x.optional && this.#pendingGroup !== undefined) this.#skipGroups.add(this.#pendingGroup);
    this.#xfer = undefined;
    return this.#afterFile(now);
  }

  #miss(now: number, x: Transfer, message: string): Action[] {
    this.#xfer = undefined;
    if (!this.#nbpDone) return this.#fail(now, `boot file ${x.file} not found (${message})`);
    if (!x.optional) return this.#fail(now, `file ${x.file} not found (${message})`);
    this.stats.fileMisses++;
    return this.#afterFile(now);
  }

  #afterFile(now: number): Action[] {
    if (!this.#nbpDone) {
      this.#nbpDone = true;
      this.stats.nbpMs = now - this.#t0;
    }
    for (;;) {
      const f = this.#queue.shift();
      if (f === undefined) break;
      if (f.group !== undefined && this.#skipGroups.has(f.group)) continue;
      if (isHttp(this.#fileBase)) return this.#startHttp(now, new URL(f.name, this.#fileBase).toString());
      return this.#startTftp(now, f, false);
    }
    this.stats.phase = 'done';
    this.stats.lastFileMs = now - this.#t0;
    return [{ type: 'timer', at: Number.MAX_SAFE_INTEGER }];
  }

  /** What the real firmware does when its transfer dies (docs/firmware.md, FIRMWARE.md). */
  #fate(): string {
    if (this.model.family === 'efi' && !this.#nbpDone) return 'EDK2 fails the boot option';
    if (this.model.family === 'bios') return this.#nbpDone ? 'pxelinux retries its file, then hangs' : 'the iPXE ROM fails the boot (next boot device)';
    return 'iPXE gives up (the boot fails)';
  }

  #transferDied(now: number, why: string): Action[] {
    this.#xfer = undefined;
    const max = this.opts.maxRestarts ?? 0;
    if (this.stats.restarts >= max) return this.#fail(now, `transfer died: ${this.#fate()} (${why})${max > 0 ? `, after ${max} restart(s)` : ''}`);
    // firmware set to retry network boot starts over from DISCOVER with a new transaction
    this.stats.restarts++;
    this.stats.restartReason = why;
    this.#xid = (this.#xid + 1) >>> 0;
    return this.#beginDiscover(now);
  }

  #fail(now: number, why: string): Action[] {
    this.stats.phase = 'failed';
    this.stats.failure = why;
    this.stats.lastFileMs = undefined;
    this.#xfer = undefined;
    void now;
    return [{ type: 'timer', at: Number.MAX_SAFE_INTEGER }];
  }
}
