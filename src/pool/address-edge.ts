// The service-address edge: adds, renews and removes this peer's service addresses in the
// kernel (`ip`), probes the wire before a claim and announces after one (`arping`). Every
// decision is TakeoverPlanner's; this file feeds it time and the kernel's truth, runs the
// commands, and keeps the lease rules the planner relies on:
//
// - An address is added with a lifetime (valid_lft = the lease) and renewed every heartbeat,
//   so a killed or stopped process loses it without anyone's help.
// - Renewal only while our own monotonic clock says the last one is recent (mayRenew), and only
//   if the kernel still lists the address: for IPv4 `ip addr change` re-creates an address that
//   already expired, and a stopped process must not bring one back after a successor took it.
// - A probe whose answer arrives late (we were stopped while it ran) is thrown away.
// - Link down: we cannot serve on the address and no probe can see it; release everything.
// - Only addresses named in the config are ever touched.

import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalIpv6, ipv6InPrefix } from '../config/values.ts';
import { loadNative } from '../native/helper.ts';
import { leaseTimings, mayRenew, PROBE_WAIT_MS, type ServiceAddress, type TakeoverAction, TakeoverPlanner } from './takeover.ts';

export class AddressEdgeError extends Error {}

export interface IfaceAddr { address: string; prefixlen: number }
export interface Iface { name: string; up: boolean; addrs: IfaceAddr[] }
export type ProbeResult = { result: 'free' } | { result: 'held'; mac?: string } | { result: 'error'; detail: string };

/** The kernel and the wire, behind an interface so the edge's rules can be tested without root. */
export interface AddressCommands {
  interfaces(): Promise<Iface[]>;
  add(dev: string, a: IfaceAddr, lifetimeS: number): Promise<void>;
  change(dev: string, a: IfaceAddr, lifetimeS: number): Promise<void>;
  del(dev: string, a: IfaceAddr): Promise<void>;
  /** RFC 5227 probe: does any host answer for this address? */
  probe(dev: string, address: string): Promise<ProbeResult>;
  /** gratuitous ARP, so clients' ARP caches move to us at once */
  announce(dev: string, address: string): Promise<void>;
  /**
   * Never send ICMP destination-unreachable from these addresses (a kernel rule that outlives
   * us): between a crash and the moment its address is gone, this host's kernel would answer a
   * client's retransmission with port-unreachable, and EDK2 aborts its boot on that (seen:
   * PXE-E99). Silence lets the client retransmit to the survivor. Optional.
   */
  quiet?(addresses: readonly string[]): Promise<void>;
}

function run(cmd: string, args: string[], timeoutMs = 5_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : -1;
      resolve({ code, stdout, stderr: stderr || (err?.message ?? '') });
    });
  });
}

// How long a probe waits for an answer: a host on the segment answers ARP in well under a millisecond.
export { PROBE_WAIT_MS };

/**
 * One RFC 5227 probe with arping, answered or not within PROBE_WAIT_MS. arping's own deadline
 * counts whole seconds only, so we end the wait ourselves with SIGINT, on which arping prints
 * how many probes it sent: a wait that ended before the probe left is an error, not "free".
 */
export function arpProbe(dev: string, address: string, waitMs = PROBE_WAIT_MS): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const child = spawn('arping', ['-D', '-c', '1', '-w', '2', '-I', dev, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const stop = setTimeout(() => child.kill('SIGINT'), waitMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), waitMs + 3_000);
    child.on('error', (e) => { clearTimeout(stop); clearTimeout(hard); resolve({ result: 'error', detail: `arping: ${e.message}` }); });
    child.on('close', (code) => {
      clearTimeout(stop);
      clearTimeout(hard);
      const mac = /reply from \S+ \[([0-9A-Fa-f:]{17})\]/.exec(out)?.[1];
      if (mac !== undefined || /Received [1-9]\d* response/.test(out)) resolve(mac === undefined ? { result: 'held' } : { result: 'held', mac: mac.toLowerCase() });
      else if (code === 0 && /Sent [1-9]\d* probe/.test(out) && /Received 0 response/.test(out)) resolve({ result: 'free' });
      else resolve({ result: 'error', detail: `arping ${code === null ? 'stopped before its probe left' : `exit ${code}`}: ${(err || out).trim()}` });
    });
  });
}

/**
 * One neighbour-discovery probe with ndisc6 (Debian package ndisc6): a Neighbor Solicitation for
 * the address, answered or not within PROBE_WAIT_MS. Exit 0 with a MAC: held; exit 2: nobody
 * answered (ndisc6's "no response").
 */
export function ndProbe(dev: string, address: string, waitMs = PROBE_WAIT_MS): Promise<ProbeResult> {
  return run('ndisc6', ['-q', '-1', '-n', '-r', '1', '-w', String(waitMs), address, dev], waitMs + 3_000).then((r) => {
    const mac = /([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})/.exec(r.stdout)?.[1];
    if (r.code === 0) return mac === undefined ? { result: 'held' } : { result: 'held', mac: mac.toLowerCase() };
    if (r.code === 2 && r.stdout.trim() === '') return { result: 'free' };
    return { result: 'error', detail: `ndisc6 exit ${r.code}: ${(r.stderr || r.stdout).trim()}` };
  });
}

/** Unsolicited neighbour advertisements, three as RFC 4861 §7.2.6 allows, half a second apart. */
async function advertise6(dev: string, address: string): Promise<void> {
  const send = loadNative()?.sendNeighbourAdvert;
  if (send === undefined) throw new AddressEdgeError('IPv6 service addresses need the native helper (scripts/build-native.sh) to send neighbour advertisements');
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(500);
    send(dev, address);
  }
}

const isV6 = (a: string): boolean => a.includes(':');

/** `ip addr add|change` arguments: IPv6 without DAD (we probed) and deprecated, so the host never picks it as the source of its own connections. */
function lifetimeArgs(a: IfaceAddr, s: number): string[] {
  return isV6(a.address) ? ['valid_lft', String(s), 'preferred_lft', '0', 'nodad'] : ['valid_lft', String(s), 'preferred_lft', String(s)];
}

export const systemCommands: AddressCommands = {
  async interfaces() {
    const r = await run('ip', ['-j', 'addr', 'show']);
    if (r.code !== 0) throw new AddressEdgeError(`ip -j addr show: ${r.stderr.trim()}`);
    const list = JSON.parse(r.stdout) as { ifname: string; operstate: string; flags: string[]; addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[] }[];
    return list.map((i) => ({
      name: i.ifname,
      // Dummy and some virtual devices report UNKNOWN while working; a cable pull reads DOWN or
      // LOWERLAYERDOWN, and the flags lose LOWER_UP.
      up: i.flags.includes('UP') && i.flags.includes('LOWER_UP') && i.operstate !== 'DOWN' && i.operstate !== 'LOWERLAYERDOWN',
      addrs: (i.addr_info ?? []).filter((a) => a.family === 'inet' || (a.family === 'inet6' && a.scope === 'global'))
        .map((a) => ({ address: a.family === 'inet6' ? canonicalIpv6(a.local) ?? a.local : a.local, prefixlen: a.prefixlen })),
    }));
  },
  async add(dev, a, s) {
    const r = await run('ip', ['addr', 'add', `${a.address}/${a.prefixlen}`, 'dev', dev, ...lifetimeArgs(a, s)]);
    if (r.code !== 0) throw new AddressEdgeError(`ip addr add ${a.address}/${a.prefixlen} dev ${dev}: ${r.stderr.trim()}`);
  },
  async change(dev, a, s) {
    const r = await run('ip', ['addr', 'change', `${a.address}/${a.prefixlen}`, 'dev', dev, ...lifetimeArgs(a, s)]);
    if (r.code !== 0) throw new AddressEdgeError(`ip addr change ${a.address}/${a.prefixlen} dev ${dev}: ${r.stderr.trim()}`);
  },
  async del(dev, a) {
    const r = await run('ip', ['addr', 'del', `${a.address}/${a.prefixlen}`, 'dev', dev]);
    // Gone already (the lease ran out) is what we wanted; iproute2 says so in one of two ways.
    if (r.code !== 0 && !/Cannot assign requested address|Address not found/.test(r.stderr)) throw new AddressEdgeError(`ip addr del ${a.address} dev ${dev}: ${r.stderr.trim()}`);
  },
  async probe(dev, address) {
    return isV6(address) ? ndProbe(dev, address) : arpProbe(dev, address);
  },
  async announce(dev, address) {
    if (isV6(address)) await advertise6(dev, address);
    else await run('arping', ['-U', '-c', '2', '-I', dev, address], 4_000);
  },
  async quiet(addresses) {
    const v4 = addresses.filter((a) => !isV6(a));
    const v6 = addresses.filter(isV6);
    const rules = [
      'add table inet pxepool',
      'flush table inet pxepool',
      'add chain inet pxepool quiet { type filter hook output priority 0; policy accept; }',
      ...(v4.length > 0 ? [`add rule inet pxepool quiet ip saddr { ${v4.join(', ')} } icmp type destination-unreachable drop`] : []),
      ...(v6.length > 0 ? [`add rule inet pxepool quiet ip6 saddr { ${v6.join(', ')} } icmpv6 type destination-unreachable drop`] : []),
    ].join('\n') + '\n';
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const child = execFile('nft', ['-f', '-'], { timeout: 5_000 }, (err, _o, stderr) => resolve({ code: err === null ? 0 : 1, stderr: stderr || (err?.message ?? '') }));
      child.stdin?.end(rules);
    });
    if (r.code !== 0) throw new AddressEdgeError(`nft: ${r.stderr.trim()} (Debian package nftables)`);
  },
};

/** CAP_NET_ADMIN (bit 12) in this process's effective set. */
export function hasNetAdmin(status = (): string => readFileSync('/proc/self/status', 'utf8')): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)/m.exec(status());
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n;
  } catch {
    return false;
  }
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, p) => (n * 256 + Number(p)) >>> 0, 0);
}

export function inSubnet(address: string, net: IfaceAddr): boolean {
  if (isV6(address) !== isV6(net.address)) return false;
  if (isV6(address)) return ipv6InPrefix(address, net.address, net.prefixlen);
  if (net.prefixlen === 0) return true;
  const mask = net.prefixlen >= 32 ? 0xffffffff : (0xffffffff << (32 - net.prefixlen)) >>> 0;
  return ((ipv4ToInt(address) & mask) >>> 0) === ((ipv4ToInt(net.address) & mask) >>> 0);
}

/**
 * Where each service address goes: the interface with a subnet (of an address that is not a
 * service address itself) containing it, with that subnet's prefix length. Throws naming what
 * this host has when an address fits none.
 */
export function placeAddresses(addresses: readonly string[], ifaces: readonly Iface[]): Map<string, { dev: string; prefixlen: number }> {
  const service = new Set(addresses);
  const out = new Map<string, { dev: string; prefixlen: number }>();
  for (const a of addresses) {
    let found: { dev: string; prefixlen: number } | undefined;
    for (const i of ifaces) {
      for (const net of i.addrs) {
        if (service.has(net.address) || net.prefixlen >= (isV6(net.address) ? 128 : 32) || net.address.startsWith('127.') || net.address === '::1') continue;
        if (inSubnet(a, net) && (found === undefined || net.prefixlen > found.prefixlen)) found = { dev: i.name, prefixlen: net.prefixlen };
      }
    }
    if (found === undefined) {
      const have = ifaces.flatMap((i) => i.addrs.filter((n) => !service.has(n.address)).map((n) => `${i.name} ${n.address}/${n.prefixlen}`));
      throw new AddressEdgeError(
        `pool serviceAddress ${a} is outside every subnet of this host's interfaces (${have.join(', ') || 'none'}): ` +
        'give an unused address in the subnet where the clients are (a service address moves only within one segment; for routed peers leave serviceAddress out, see docs/pool.md)',
      );
    }
    out.set(a, found);
  }
  return out;
}

/**
 * Deletes every one of `addresses` found on this host's interfaces (a daemon's leftovers after
 * it died; `pxepool release-addresses`, the unit's ExecStopPost). Touches nothing else.
 */
export async function releaseLeftovers(addresses: readonly string[], cmd: AddressCommands = systemCommands, ifaces?: readonly Iface[]): Promise<{ address: string; dev: string }[]> {
  const wanted = new Set(addresses);
  const out: { address: string; dev: string }[] = [];
  for (const i of ifaces ?? await cmd.interfaces()) {
    for (const a of i.addrs) {
      if (!wanted.has(a.address)) continue;
      await cmd.del(i.name, a);
      out.push({ address: a.address, dev: i.name });
    }
  }
  return out;
}

export type AddressEvent =
  | { type: 'address-added'; address: string; reason: 'home' | 'successor' }
  | { type: 'address-released'; address: string; reason: TakeoverAction['reason'] | 'lease' | 'link-down' | 'gone' | 'shutdown'; to?: string }
  | { type: 'address-leftover'; address: string; dev: string }
  | { type: 'address-foreign'; address: string; mac?: string; forMs: number }
  | { type: 'address-error'; address: string; detail: string };

export interface AddressEdgeOptions {
  self: string;
  peers: readonly { name: string; weight: number }[];
  addresses: readonly ServiceAddress[];
  leaseMs: number;
  heartbeatMs: number;
  deadAfter: number;
  /** transfers we are serving on the address right now (delays a handoff) */
  busy?: (address: string) => boolean;
  onAdd?: (address: string) => void | Promise<void>;
  onRemove?: (address: string) => void | Promise<void>;
  /** what we hold changed (after an add, before and after a release) */
  onChange?: () => void;
  onEvent?: (e: AddressEvent) => void;
  commands?: AddressCommands;
  /** monotonic ms */
  mono: () => number;
  /** refuse to start without CAP_NET_ADMIN (tests with fake commands turn it off) */
  checkCapability?: boolean;
}

export interface TickView {
  live: ReadonlySet<string>;
  /** what every other peer listed in its last heartbeat */
  heldBy: ReadonlyMap<string, readonly string[]>;
  heardAt: ReadonlyMap<string, number>;
}

// A probe's whole cost, spawn included.
const PROBE_MS = PROBE_WAIT_MS + 200;

export class AddressEdge {
  readonly #o: AddressEdgeOptions;
  readonly #cmd: AddressCommands;
  readonly #planner: TakeoverPlanner;
  readonly #where: Map<string, { dev: string; prefixlen: number }>;
  readonly #lifetimeS: number;
  readonly #marginMs: number;
  /** address → our monotonic time of its last add or renewal */
  readonly #held = new Map<string, number>();
  readonly #probing = new Set<string>();
  readonly #foreignSince = new Map<string, number>();
  readonly #foreignReported = new Set<string>();
  #ticking = false;
  #closed = false;
  #wakeAt: number | undefined;
  #view: TickView = { live: new Set(), heldBy: new Map(), heardAt: new Map() };

  private constructor(o: AddressEdgeOptions, cmd: AddressCommands, where: Map<string, { dev: string; prefixlen: number }>) {
    this.#o = o;
    this.#cmd = cmd;
    this.#where = where;
    const lease = leaseTimings(o.leaseMs, o.heartbeatMs);
    this.#lifetimeS = lease.lifetimeS;
    this.#marginMs = lease.marginMs;
    const deadMs = o.heartbeatMs * o.deadAfter;
    this.#planner = new TakeoverPlanner({
      self: o.self, peers: o.peers, addresses: o.addresses,
      stableMs: Math.max(3_000, 2 * deadMs),
      handoffMaxMs: 60_000,
      graceMs: PROBE_MS + 2 * o.heartbeatMs,
      pauseMs: deadMs,
      holdDownMs: PROBE_MS + deadMs + o.heartbeatMs,
      leaseWaitMs: lease.leaseWaitMs,
    });
  }

  /** Checks capability and placement, removes leftovers of an earlier run of ours. */
  static async open(o: AddressEdgeOptions): Promise<AddressEdge> {
    const cmd = o.commands ?? systemCommands;
    if ((o.checkCapability ?? true) && !hasNetAdmin()) {
      throw new AddressEdgeError('pool serviceAddress needs CAP_NET_ADMIN to add and remove addresses: run as root, or give the unit AmbientCapabilities=CAP_NET_ADMIN (the shipped pxepool.service does), or remove serviceAddress from pool.peers');
    }
    if (cmd === systemCommands) {
      const r = await run('arping', ['-V']);
      if (r.code !== 0) throw new AddressEdgeError(`pool serviceAddress needs arping (Debian package iputils-arping): ${r.stderr.trim()}`);
      if (o.addresses.some((a) => isV6(a.address))) {
        const n = await run('ndisc6', ['-V']);
        if (n.code !== 0) throw new AddressEdgeError(`pool serviceAddress6 needs ndisc6 (Debian package ndisc6) to probe an address before taking it: ${n.stderr.trim()}`);
        if (loadNative()?.sendNeighbourAdvert === undefined) throw new AddressEdgeError('pool serviceAddress6 needs the native helper (run scripts/build-native.sh; Debian packages build-essential python3) to send neighbour advertisements');
      }
    }
    const ifaces = await cmd.interfaces();
    const where = placeAddresses(o.addresses.map((a) => a.address), ifaces);
    const edge = new AddressEdge(o, cmd, where);
    // A configured address still on our interface is a leftover of a run of ours that was
    // killed (its lease has not run out yet): we cannot know when it was last renewed.
    for (const l of await releaseLeftovers(o.addresses.map((a) => a.address), cmd, ifaces)) {
      o.onEvent?.({ type: 'address-leftover', address: l.address, dev: l.dev });
    }
    if (cmd.quiet !== undefined) {
      await cmd.quiet(o.addresses.map((a) => a.address)).catch((err: Error) => {
        o.onEvent?.({ type: 'address-error', address: '*', detail: `${err.message}: after a crash this host may answer clients with ICMP port-unreachable for a moment, which makes EDK2 abort its boot` });
      });
    }
    return edge;
  }

  /**
   * Addresses we hold now: added or renewed recently enough by our own clock. A process woken
   * from a stop still has them on record until its next tick drops them, and must not say it
   * holds them meanwhile (its first heartbeat after SIGCONT would make the successor that took
   * over release the address).
   */
  held(): string[] {
    const now = this.#o.mono();
    return [...this.#held].filter(([, at]) => mayRenew(at, now, this.#lifetimeS * 1000, this.#marginMs)).map(([a]) => a);
  }

  /** Every address we added and have not deleted, renewable or not (what a crash leaves behind). */
  added(): string[] {
    return [...this.#held.keys()];
  }

  /** How long after a renewal we may still renew: silence longer than this is a lost lease. */
  renewWindowMs(): number {
    return leaseTimings(this.#o.leaseMs, this.#o.heartbeatMs).renewWindowMs;
  }

  /** When the last plan wants to be made again (monotonic ms), if before the next heartbeat matters. */
  wakeAt(): number | undefined {
    return this.#wakeAt;
  }

  where(address: string): { dev: string; prefixlen: number } | undefined {
    return this.#where.get(address);
  }

  /** One heartbeat's worth of work; overlapping calls return at once. */
  async tick(view: TickView): Promise<void> {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    try {
      await this.#tick(view);
    } finally {
      this.#ticking = false;
    }
  }

  async #tick(view: TickView): Promise<void> {
    this.#view = view;
    const ifaces = await this.#cmd.interfaces().catch((err: Error) => {
      this.#o.onEvent?.({ type: 'address-error', address: '*', detail: err.message });
      return undefined;
    });
    if (ifaces === undefined) return;
    const byName = new Map(ifaces.map((i) => [i.name, i]));
    const now = this.#o.mono();

    for (const [a, renewed] of [...this.#held]) {
      const w = this.#where.get(a)!;
      const dev = byName.get(w.dev);
      if (dev === undefined || !dev.up) await this.#drop(a, 'link-down');
      else if (!dev.addrs.some((x) => x.address === a)) await this.#drop(a, 'gone');
      else if (!mayRenew(renewed, now, this.#lifetimeS * 1000, this.#marginMs)) await this.#drop(a, 'lease');
    }
    // Carrier lost on every device we serve: plan nothing. A long outage then reads as a pause
    // to the planner, which starts over with a grace period.
    const devs = [...new Set([...this.#where.values()].map((w) => w.dev))];
    const anyUp = devs.some((d) => byName.get(d)?.up === true);
    // Carrier lost on a device we serve, even briefly: what we heard meanwhile is incomplete.
    if (devs.some((d) => byName.get(d)?.up !== true)) this.#planner.wasDeaf();
    if (!anyUp) return;

    const plan = this.#planner.plan({
      now, live: view.live, heldBy: view.heldBy, heardAt: view.heardAt, mine: new Set(this.#held.keys()),
      ...(this.#o.busy !== undefined ? { busy: this.#o.busy } : {}),
    });
    this.#wakeAt = plan.wakeAt;
    await Promise.all(plan.keep.map(async (a) => {
      const w = this.#where.get(a)!;
      const at = this.#o.mono();
      // Asked again just before the command: we may have been stopped since the check above,
      // and a renewal after the lease ran out would re-create an address a successor holds.
      if (!mayRenew(this.#held.get(a), at, this.#lifetimeS * 1000, this.#marginMs)) return;
      try {
        await this.#cmd.change(w.dev, { address: a, prefixlen: w.prefixlen }, this.#lifetimeS);
        this.#held.set(a, at);
      } catch (err) {
        this.#o.onEvent?.({ type: 'address-error', address: a, detail: (err as Error).message });
      }
    }));
    for (const act of plan.actions) {
      if (act.type === 'release') await this.#drop(act.address, act.reason, act.to);
      else this.#claim(act.address, act.reason);
    }
  }

  #claim(address: string, reason: 'home' | 'successor'): void {
    if (this.#probing.has(address) || !this.#where.has(address)) return;
    const w = this.#where.get(address)!;
    this.#probing.add(address);
    const started = this.#o.mono();
    void this.#cmd.probe(w.dev, address).then(async (r) => {
      const now = this.#o.mono();
      if (this.#closed) return;
      const view = this.#view;
      const listed = [...view.heldBy].some(([n, h]) => view.live.has(n) && h.includes(address));
      if (r.result === 'error') {
        this.#o.onEvent?.({ type: 'address-error', address, detail: r.detail });
        return;
      }
      if (r.result === 'held') {
        // Held, and no live peer says it holds it: a dead peer's lease not yet run out, or a
        // host outside the pool. Past any lease, it is the latter: say so, once.
        if (listed) { this.#foreignSince.delete(address); return; }
        const since = this.#foreignSince.get(address) ?? started;
        this.#foreignSince.set(address, since);
        const forMs = now - since;
        if (forMs > this.#lifetimeS * 1000 + 3_000 && !this.#foreignReported.has(address)) {
          this.#foreignReported.add(address);
          this.#o.onEvent?.({ type: 'address-foreign', address, ...(r.mac !== undefined ? { mac: r.mac } : {}), forMs: Math.round(forMs) });
        }
        return;
      }
      this.#foreignSince.delete(address);
      // A peer started listing it while we probed (its claim won): leave it.
      if (listed) return;
      // An answer that took far longer than a probe does means we were stopped meanwhile: the
      // pool may have moved on.
      if (now - started > PROBE_MS + 1_000) return;
      try {
        await this.#cmd.add(w.dev, { address, prefixlen: w.prefixlen }, this.#lifetimeS);
      } catch (err) {
        this.#o.onEvent?.({ type: 'address-error', address, detail: (err as Error).message });
        return;
      }
      this.#held.set(address, now);
      this.#o.onEvent?.({ type: 'address-added', address, reason });
      this.#o.onChange?.();
      void this.#cmd.announce(w.dev, address);
      try {
        await this.#o.onAdd?.(address);
      } catch (err) {
        this.#o.onEvent?.({ type: 'address-error', address, detail: `serving on it: ${(err as Error).message}` });
      }
    }).finally(() => this.#probing.delete(address));
  }

  async #drop(address: string, reason: Extract<AddressEvent, { type: 'address-released' }>['reason'], to?: string): Promise<void> {
    const had = this.#held.delete(address);
    const w = this.#where.get(address);
    if (w !== undefined) {
      // Stop serving before the address goes, so nothing is sent from an address we gave up.
      try { await this.#o.onRemove?.(address); } catch { /* the socket may be gone already */ }
      await this.#cmd.del(w.dev, { address, prefixlen: w.prefixlen }).catch((err: Error) => {
        this.#o.onEvent?.({ type: 'address-error', address, detail: err.message });
      });
    }
    if (had) {
      this.#o.onEvent?.({ type: 'address-released', address, reason, ...(to !== undefined ? { to } : {}) });
      // Said only once the kernel no longer has it, so a peer that hears it may probe at once.
      this.#o.onChange?.();
    }
  }

  /** Stops acting without touching the kernel (as a crash would; tests). */
  abandon(): void {
    this.#closed = true;
  }

  /** Releases every held address (shutdown); later ticks do nothing. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of [...this.#held.keys()]) await this.#drop(a, 'shutdown');
  }
}
