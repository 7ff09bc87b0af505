// Network-namespace test lab.
//
// A lab is a "switch" namespace holding one Linux bridge per segment, plus any number of host
// namespaces, each joined to a segment by a veth pair. QEMU clients attach through taps created
// in the switch namespace (run QEMU with `lab.spawn(lab.switchNs, 'qemu-system-x86_64', ...)`).
// Every namespace is named `pxp-<pid>-<name>` so leftovers of dead runs can be recognised and
// removed; `destroy()` kills every spawned process and deletes every namespace (and so every
// link inside). A process-exit hook does the same synchronously if a test forgets.
//
// Requires root (ip netns). Traffic stays inside the lab's namespaces.

import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NS_PREFIX = 'pxp-';

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command to completion (bounded), optionally inside a namespace. Never throws on exit code. */
export function run(cmd: string, args: readonly string[], opts: { ns?: string; timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  const [file, argv] = opts.ns === undefined ? [cmd, [...args]] : ['ip', ['netns', 'exec', opts.ns, cmd, ...args]];
  return new Promise((resolve) => {
    const child = execFile(file, argv, { timeout: opts.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Like run() but rejects unless the exit code is 0. */
export async function runOk(cmd: string, args: readonly string[], opts: { ns?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${opts.ns === undefined ? '' : `[${opts.ns}] `}${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r.stdout;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 })
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[0] ?? '')
      .filter((n) => n !== '');
  } catch {
    return [];
  }
}

function deleteNamespaceSync(ns: string): void {
  // Kill whatever still runs inside, then delete the namespace (which removes its links).
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter((p) => p !== '');
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* namespace gone */
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { timeout: 5000, stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

/** Delete `pxp-<pid>-*` namespaces whose creating process is dead. Returns the names removed. */
export function cleanupStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = /^pxp-(\d+)-/.exec(ns);
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    deleteNamespaceSync(ns);
    removed.push(ns);
  }
  return removed;
}

/** A process started in a namespace, with its output captured line by line. */
export class Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  exitCode: number | null = null;
  exitSignal: string | null = null;
  exited = false;
  readonly #waiters = new Set<() => void>();
  readonly #exitPromise: Promise<void>;

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    const feed = (stream: NodeJS.ReadableStream | null) => {
      if (stream === null) return;
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.#push(buf.slice(0, i).replace(/\r$/, ''));
          buf = buf.slice(i + 1);
        }
      });
      stream.on('end', () => {
        if (buf !== '') this.#push(buf);
        buf = '';
      });
    };
    feed(child.stdout);
    feed(child.stderr);
    this.#exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        this.#notify();
        resolve();
      });
      child.on('error', (err) => {
        this.#push(`spawn error: ${err.message}`);
        this.exited = true;
        this.#notify();
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  #push(line: string): void {
    this.lines.push(line);
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolve with the first output line (already seen or future) matching `re`; reject after timeoutMs or on exit. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): boolean => {
        for (; seen < this.lines.length; seen++) {
          const m = re.exec(this.lines[seen] ?? '');
          if (m !== null) {
            done();
            resolve(m);
            return true;
          }
        }
        if (this.exited) {
          done();
          reject(new Error(`${this.name} exited (code ${this.exitCode}, signal ${this.exitSignal}) before printing ${re}; last output:\n${this.tail()}`));
          return true;
        }
        return false;
      };
      const waiter = () => {
        check();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms; last output:\n${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
      };
      this.#waiters.add(waiter);
      check();
    });
  }

  /** Wait for exit at most timeoutMs; resolves true if it exited. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    if (this.exited) return true;
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const r = await Promise.race([this.#exitPromise.then(() => true as const), t]);
    clearTimeout(timer);
    return r;
  }

  tail(n = 20): string {
    return this.lines.slice(-n).join('\n');
  }

  /** SIGTERM the process group, SIGKILL after graceMs. */
  async stop(graceMs = 2000): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    this.signal('SIGTERM');
    if (!(await this.waitExit(graceMs))) {
      this.signal('SIGKILL');
      await this.waitExit(2000);
    }
  }

  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.exited) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    }
  }
}

export interface Segment {
  readonly name: string;
  /** Bridge device name inside the switch namespace. */
  readonly bridge: string;
}

export interface Iface {
  /** Interface name inside the host namespace. */
  readonly name: string;
  readonly segment: string;
  /** CIDR, e.g. 10.77.1.10/24 (undefined: no address). */
  readonly cidr: string | undefined;
  /** Address without prefix length. */
  readonly address: string | undefined;
  readonly mac: string;
}

export interface Host {
  readonly name: string;
  /** Namespace name. */
  readonly ns: string;
  readonly ifaces: Iface[];
  /** The first interface (most hosts have one). */
  readonly iface: Iface;
}

/**
 * IPv6 on one of a host's interfaces (namespaces start with it off): on, and `cidr` added
 * without DAD, so it is usable at once. `ifname` defaults to the host's first interface.
 */
export async function addAddress6(host: Host, cidr: string, ifname = host.iface.name): Promise<void> {
  await runOk('sysctl', ['-q', '-w', `net.ipv6.conf.${ifname}.disable_ipv6=0`], { ns: host.ns });
  await runOk('ip', ['-6', 'addr', 'add', cidr, 'dev', ifname, 'nodad'], { ns: host.ns });
}

export interface HostOptions {
  /** Segment to join (default "lan"). */
  segment?: string;
  /** CIDR address, e.g. 10.77.1.2/24. Omit for a host that gets its address by DHCP. */
  address?: string;
  mac?: string;
  /** Default route via this address. */
  gateway?: string;
  /** Interface name in the host namespace (default eth0). */
  ifname?: string;
}

export interface RouterLeg {
  segment: string;
  address: string;
  mac?: string;
}

export interface CaptureOptions {
  /** tcpdump filter expression, e.g. "udp". */
  filter?: string;
  /** Wait for tcpdump to be listening at most this long (default 5000 ms). */
  timeoutMs?: number;
}

let labCounter = 0;
const liveLabs = new Set<Lab>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.destroySync();
      process.kill(process.pid, sig);
    });
  }
}

/** A network lab: one switch namespace with bridges, host namespaces on veths, taps for QEMU. */
export class Lab {
  /** Unique prefix of every namespace of this lab: `pxp-<pid>-<n>`. */
  readonly prefix: string;
  readonly switchNs: string;
  readonly tmpDir: string;
  readonly segments = new Map<string, Segment>();
  readonly hosts = new Map<string, Host>();
  readonly procs: Proc[] = [];
  readonly #namespaces: string[] = [];
  #ifCounter = 0;
  #destroyed = false;

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.switchNs = `${prefix}-sw`;
    this.tmpDir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  }

  /** Create a lab with a switch namespace and a "lan" segment. Removes stale labs of dead processes first. */
  static async create(opts: { segments?: string[] } = {}): Promise<Lab> {
    cleanupStaleNamespaces();
    installExitHook();
    const lab = new Lab(`${NS_PREFIX}${process.pid}-${labCounter++}`);
    liveLabs.add(lab);
    try {
      await lab.#addNs(lab.switchNs);
      for (const s of opts.segments ?? ['lan']) await lab.addSegment(s);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  async #addNs(ns: string): Promise<void> {
    await runOk('ip', ['netns', 'add', ns]);
    this.#namespaces.push(ns);
    await runOk('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }

  #nextIf(kind: string): string {
    // Interface names are at most 15 characters.
    return `${kind}${this.#ifCounter++}`;
  }

  /** Generate a locally administered MAC unique within this lab. */
  mac(n?: number): string {
    const k = n ?? this.#ifCounter + 0x100;
    const b = [0x02, 0x77, (process.pid >> 8) & 0xff, process.pid & 0xff, (k >> 8) & 0xff, k & 0xff];
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  }

  /** Add a segment: a bridge in the switch namespace. */
  async addSegment(name: string): Promise<Segment> {
    const existing = this.segments.get(name);
    if (existing !== undefined) return existing;
    const bridge = `br${this.segments.size}`;
    await runOk('ip', ['-n', this.switchNs, 'link', 'add', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
    // No multicast snooping: DHCP/RA multicast must reach every port at once.
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', bridge, 'type', 'bridge', 'mcast_snooping', '0']);
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', bridge, 'up']);
    const seg = { name, bridge };
    this.segments.set(name, seg);
    return seg;
  }

  #segment(name: string): Segment {
    const s = this.segments.get(name);
    if (s === undefined) throw new Error(`no segment ${name}`);
    return s;
  }

  async #addLeg(ns: string, ifname: string, segment: string, cidr: string | undefined, mac: string): Promise<Iface> {
    const seg = this.#segment(segment);
    const swSide = this.#nextIf('v');
    await runOk('ip', ['-n', this.switchNs, 'link', 'add', swSide, 'type', 'veth', 'peer', 'name', ifname, 'netns', ns]);
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', swSide, 'master', seg.bridge]);
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', swSide, 'up']);
    await runOk('ip', ['-n', ns, 'link', 'set', ifname, 'address', mac]);
    if (cidr !== undefined) {
      await runOk('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifname]);
    }
    await runOk('ip', ['-n', ns, 'link', 'set', ifname, 'up']);
    return { name: ifname, segment, cidr, address: cidr?.split('/')[0], mac };
  }

  /** Add a host namespace with one interface on a segment. */
  async addHost(name: string, opts: HostOptions = {}): Promise<Host> {
    if (this.hosts.has(name)) throw new Error(`host ${name} exists`);
    const ns = `${this.prefix}-${name}`;
    await this.#addNs(ns);
    const iface = await this.#addLeg(ns, opts.ifname ?? 'eth0', opts.segment ?? 'lan', opts.address, opts.mac ?? this.mac());
    if (opts.gateway !== undefined) await runOk('ip', ['-n', ns, 'route', 'add', 'default', 'via', opts.gateway]);
    const host: Host = { name, ns, ifaces: [iface], iface };
    this.hosts.set(name, host);
    return host;
  }

  /** Add a router namespace with one interface per leg (eth0, eth1, …) and IPv4 forwarding on. */
  async addRouter(name: string, legs: readonly RouterLeg[]): Promise<Host> {
    if (legs.length === 0) throw new Error('router needs legs');
    const ns = `${this.prefix}-${name}`;
    await this.#addNs(ns);
    const ifaces: Iface[] = [];
    for (const [i, leg] of legs.entries()) {
      ifaces.push(await this.#addLeg(ns, `eth${i}`, leg.segment, leg.address, leg.mac ?? this.mac()));
    }
    await runOk('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { ns });
    const host: Host = { name, ns, ifaces, iface: ifaces[0] as Iface };
    this.hosts.set(name, host);
    return host;
  }

  /** Create a tap device in the switch namespace attached to a segment; returns its name (for `-netdev tap,ifname=…,script=no,downscript=no`). */
  async addTap(segment = 'lan'): Promise<string> {
    const seg = this.#segment(segment);
    const tap = this.#nextIf('tap');
    await runOk('ip', ['-n', this.switchNs, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', tap, 'master', seg.bridge]);
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', tap, 'up']);
    return tap;
  }

  /** Start a long-running process inside a namespace (own process group, output captured). */
  spawn(ns: string, cmd: string, args: readonly string[], opts: { name?: string; env?: Record<string, string>; cwd?: string } = {}): Proc {
    if (this.#destroyed) throw new Error('lab destroyed');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd,
    });
    const p = new Proc(opts.name ?? `${ns.slice(this.prefix.length + 1)}:${cmd}`, child);
    this.procs.push(p);
    return p;
  }

  /** Run a command to completion inside a namespace. */
  exec(ns: string, cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<ExecResult> {
    return run(cmd, args, { ns, timeoutMs });
  }

  /** Start tcpdump writing a pcap; resolves once it is listening. Stop it with `proc.stop()` to flush. */
  async capture(ns: string, iface: string, pcapFile: string, opts: CaptureOptions = {}): Promise<Proc> {
    const args = ['-i', iface, '-n', '-U', '--immediate-mode', '-s', '0', '-Z', 'root', '-w', pcapFile];
    if (opts.filter !== undefined) args.push(...opts.filter.split(/\s+/));
    const p = this.spawn(ns, 'tcpdump', args, { name: `tcpdump:${iface}` });
    await p.waitForLine(/listening on/, opts.timeoutMs ?? 5000);
    return p;
  }

  /**
   * Capture everything crossing a segment (tcpdump on its bridge in the switch namespace).
   * A bridge only passes up frames destined to itself or flooded, so this turns the segment
   * into a hub (ageing_time 0: every frame is flooded to every port), as a mirror port would.
   */
  async captureSegment(segment: string, pcapFile: string, opts: CaptureOptions = {}): Promise<Proc> {
    const br = this.#segment(segment).bridge;
    await runOk('ip', ['-n', this.switchNs, 'link', 'set', br, 'type', 'bridge', 'ageing_time', '0']);
    return this.capture(this.switchNs, br, pcapFile, opts);
  }

  /** Kill every process and delete every namespace. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    await Promise.all(this.procs.map((p) => p.stop(1500)));
    this.destroySync();
  }

  /** Synchronous teardown (used from the process exit hook). */
  destroySync(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    liveLabs.delete(this);
    for (const p of this.procs) p.signal('SIGKILL');
    for (const ns of [...this.#namespaces].reverse()) deleteNamespaceSync(ns);
    rmSync(this.tmpDir, { recursive: true, force: true });
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Namespace names this lab created (for assertions). */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }
}

/** Wait until `fn` returns true (polling), at most timeoutMs. */
export async function waitFor(fn: () => boolean | Promise<boolean>, timeoutMs: number, what = 'condition', intervalMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
