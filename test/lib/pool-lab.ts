// The pool's namespace topology, shared by test/integration/pool-lab.test.ts and bench/pool.ts:
// one segment with Kea (site DHCP, no PXE options), N pxepool peers each in its own namespace
// with a `pool:` section, and a client namespace holding one address per simulated client so
// per-client-IP TFTP limits behave as with real machines. Runs `pxepool storm` in segment mode
// inside the client namespace. Everything lives in Lab namespaces and goes with lab.destroy().
// `peers: 0` builds the segment without pxepool; startDnsmasq() then adds dnsmasq as the
// reference ProxyDHCP + TFTP server on the same segment (bench/storm.ts compares the two).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Host, type Proc, runOk } from './netns.ts';
import { startDnsmasqProxy, startKea } from './services.ts';
import { MAIN, startServe, type ServeProc } from './serve-proc.ts';
import { rankPeers } from '../../src/pool/ranking.ts';
import type { StormResult } from '../../src/storm/run.ts';

export const SECRET = 'pool-lab-shared-secret-0123456789';
export const MiB = 1 << 20;
const NET = '10.77.0.0/16';
/** dnsmasq's address when startDnsmasq() adds it (peers are 10.77.1.11 …) */
export const DNSMASQ_ADDRESS = '10.77.1.21';
/** client i gets CLIENT_BASE + i + 1: 10.77.100.1 … (up to 10.77.199.x) */
export const CLIENT_BASE = '10.77.100.0';

export interface Peer {
  name: string;
  address: string;
  host: Host;
  cfgFile: string;
  serve: ServeProc | undefined;
  /** every log line of every instance, in order (a restarted peer appends) */
  logs: Record<string, unknown>[];
}

export interface DnsmasqServer {
  name: 'dnsmasq';
  address: string;
  host: Host;
  proc: Proc;
}

export interface PoolLab {
  lab: Lab;
  client: Host;
  peers: Peer[];
  root: string;
  ownerOf(mac: string): string;
  orderOf(mac: string): string[];
  peerByAddress(addr: string): Peer | undefined;
  startPeer(p: Peer): Promise<void>;
  status(p: Peer): Promise<PeerStatusView>;
  metrics(p: Peer): Promise<string>;
  /** `progress`: let the storm print its progress lines on stderr (seen through `onStderr`) */
  storm(args: string[], o: { timeLimitS: number; onStart?: () => void; progress?: boolean; onStderr?: (chunk: string) => void }): Promise<{ code: number | null; result: StormResult; stderr: string }>;
  /** waits until every running peer lists `n` live peers */
  waitLive(n: number, timeoutMs: number): Promise<number>;
  /**
   * dnsmasq as ProxyDHCP (`--dhcp-range=<net>,proxy`) + TFTP from the same root, in its own
   * namespace on the segment (as test/integration/storm-lab.test.ts runs it): BIOS clients get a
   * one-item PXE menu (pxelinux.0, asked on 4011), UEFI clients bootx64.efi in the offer.
   * `tftpMax`: dnsmasq's --tftp-max (its default is 50 concurrent transfers).
   */
  startDnsmasq(o?: { tftpMax?: number; extra?: string[] }): Promise<DnsmasqServer>;
  /** sends one forged heartbeat (wrong secret) from the client namespace to a peer */
  forgeHeartbeat(to: Peer, asPeer: string): Promise<void>;
  /** how often something outside this lab lowered the kernel's neighbour limits and the lab raised them again */
  neighbourLowered(): number;
  destroy(): Promise<void>;
}

export interface PeerStatusView {
  pool: { live: string[]; peers: { name: string; steppedBack: boolean; health: string; tftp: number }[]; ownership: { discovers: number; owned: number; expectedShare: number }; takeovers: { total: number; byReason: Record<string, number> }; heartbeats: { rejected: Record<string, number> } };
  tftp: { transfersOk: number; activeTransfers: number };
}

/** peer i's service address when the lab runs with service addresses: 10.77.2.11 … */
export const serviceAddressOf = (i: number): string => `10.77.2.${11 + i}`;

function peerConfig(root: string, name: string, peers: { name: string; address: string }[], tftpMaxTransfers: number, service = false): string {
  return `
root: ${root}
server:
  name: ${name}
tftp:
  maxTransfers: ${tftpMaxTransfers}
profiles:
  lab:
    bios: pxelinux.0
    efiX64: bootx64.efi
default: lab
pool:
  name: ${name}
  secret: "${SECRET}"
  bind: ${peers.find((p) => p.name === name)!.address}
  peers:
${peers.map((p, i) => `    - { name: ${p.name}, address: ${p.address}${service ? `, serviceAddress: ${serviceAddressOf(i)}` : ''} }`).join('\n')}
`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- the kernel's ARP table limits, shared by every lab on the machine -------------------------
//
// The kernel's ARP table is one table for every namespace, and its limits can be set only from
// the initial one (inside a namespace the sysctl does not exist): with the defaults
// (gc_thresh3 = 1024 entries in all) a lab of a thousand clients, whose peers each keep an entry
// per client, overflows it. An overflowing table drops more than unicast: every IPv4 send needs a
// neighbour entry, the limited broadcast 255.255.255.255 included, so once the forced GC can free
// nothing (every entry younger than 5 s during a storm) the storm's broadcast DISCOVERs fail with
// ENOBUFS in the client namespace (UdpSndbufErrors, IpOutDiscards) and no server, Kea included,
// ever sees them; /proc/net/stat/arp_cache counts each failure in table_fulls.
//
// Because the limits are machine-wide, two labs must not each save and put back what they saw:
// a lab that started while another had already raised them "restores" the raised values, and
// the first one to finish puts the defaults back under the other's feet (the ramped pool bench
// lost 250 of 1,000 clients that way while a test run used a pool lab beside it). So every lab
// registers in one state file (its holder key names its pid, so a dead holder is pruned), the
// limits only go up while anyone holds them, and the original values come back when the last
// holder leaves. A keeper also re-raises them if anything else lowers them while the lab lives.

const NEIGH_SYS = ['gc_thresh1', 'gc_thresh2', 'gc_thresh3'].map((k) => `/proc/sys/net/ipv4/neigh/default/${k}`);
const NEIGH_STATE_DIR = join(tmpdir(), 'pxepool-lab-neigh');
const NEIGH_STATE = join(NEIGH_STATE_DIR, 'state.json');
const NEIGH_LOCK = join(NEIGH_STATE_DIR, 'lock');
let neighHolderCounter = 0;

interface NeighState { original: number[]; holders: Record<string, number[]> }

const readNeigh = (): number[] => NEIGH_SYS.map((f) => Number(readFileSync(f, 'utf8').trim()));
function writeNeigh(v: number[]): void {
  // raise thresh3 first and lower it last, so thresh1 <= thresh2 <= thresh3 holds at every step
  const order = v[2]! >= readNeigh()[2]! ? [2, 1, 0] : [0, 1, 2];
  for (const i of order) writeFileSync(NEIGH_SYS[i]!, String(v[i]));
}
const pidOf = (holder: string): number => Number(holder.split('-')[0]);
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}
const sleepSync = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

/** Runs `fn` holding the machine-wide lock (a file created with O_EXCL; a dead owner's lock is taken over). Bounded. */
function withNeighLock<T>(fn: () => T): T {
  mkdirSync(NEIGH_STATE_DIR, { recursive: true });
  for (let i = 0; ; i++) {
    try {
      writeFileSync(NEIGH_LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try { owner = Number(readFileSync(NEIGH_LOCK, 'utf8')); } catch { /* just released */ }
      if (i >= 500 || (Number.isInteger(owner) && owner > 0 && !alive(owner))) rmSync(NEIGH_LOCK, { force: true });
      else sleepSync(10);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(NEIGH_LOCK, { force: true });
  }
}

function loadNeighState(): NeighState | undefined {
  if (!existsSync(NEIGH_STATE)) return undefined;
  try {
    const st = JSON.parse(readFileSync(NEIGH_STATE, 'utf8')) as NeighState;
    for (const h of Object.keys(st.holders)) if (!alive(pidOf(h))) delete st.holders[h];
    return st;
  } catch {
    return undefined;
  }
}

/** The kernel's count of neighbour-table overflows (all CPUs; the table is machine-wide). */
export function neighbourTableFulls(): number {
  const lines = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n');
  const col = lines[0]!.trim().split(/\s+/).indexOf('table_fulls');
  return lines.slice(1).reduce((s, l) => s + parseInt(l.trim().split(/\s+/)[col] ?? '0', 16), 0);
}

export interface NeighHold {
  /** how often something else lowered the limits below this lab's need while it lived */
  lowered(): number;
  release(): void;
}

/** Raise the (global) ARP table limits to fit `clients` seen by ~5 hosts, shared with every other lab (see above). */
export function holdNeighbourLimits(clients: number): NeighHold {
  const want = [4096, 8192, 16384].map((x) => Math.max(x, clients * 8));
  const me = `${process.pid}-${neighHolderCounter++}`;
  withNeighLock(() => {
    const cur = readNeigh();
    // no live holder left: the values now may be a dead holder's raise, so keep the recorded originals
    const st = loadNeighState() ?? { original: cur, holders: {} };
    st.holders[me] = want;
    writeFileSync(NEIGH_STATE, JSON.stringify(st));
    const target = cur.map((v, i) => Math.max(v, want[i]!));
    if (target.some((v, i) => v !== cur[i])) writeNeigh(target);
  });
  let lowered = 0;
  let released = false;
  const keeper = setInterval(() => {
    const cur = readNeigh();
    if (cur.every((v, i) => v >= want[i]!)) return;
    lowered++;
    console.error(`pool-lab: something lowered the kernel's neighbour limits to ${cur.join('/')} while this lab runs; raising them again to ${want.join('/')}`);
    writeNeigh(cur.map((v, i) => Math.max(v, want[i]!)));
  }, 250);
  keeper.unref();
  // a lab ended by a signal (netns.ts's hook tears it down and re-raises it) releases too
  const onSignal = (sig: NodeJS.Signals): void => {
    release();
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const release = (): void => {
    if (released) return;
    released = true;
    clearInterval(keeper);
    process.off('exit', release);
    for (const sig of SIGNALS) process.off(sig, onSignal);
    try {
      withNeighLock(() => {
        const st = loadNeighState();
        if (st === undefined) return;
        delete st.holders[me];
        if (Object.keys(st.holders).length > 0) {
          writeFileSync(NEIGH_STATE, JSON.stringify(st)); // the others still need them: leave them raised
          return;
        }
        writeNeigh(st.original);
        rmSync(NEIGH_STATE, { force: true });
      });
    } catch { /* best effort: the next lab prunes this holder and restores */ }
  };
  process.on('exit', release);
  for (const sig of SIGNALS) process.once(sig, onSignal);
  return { lowered: () => lowered, release };
}

export async function createPoolLab(o: { peers?: number; clients: number; tftpMaxTransfers?: number; serviceAddresses?: boolean }): Promise<PoolLab> {
  const nPeers = o.peers ?? 3;
  let neigh: NeighHold | undefined;
  const lab = await Lab.create();
  try {
    const dhcp = await lab.addHost('dhcp', { address: '10.77.1.1/16' });
    const defs = Array.from({ length: nPeers }, (_, i) => ({ name: `pxe-${String.fromCharCode(97 + i)}`, address: `10.77.1.${11 + i}` }));
    const peerHosts: Host[] = [];
    for (const d of defs) peerHosts.push(await lab.addHost(d.name, { address: `${d.address}/16` }));
    // the default route lets the storm's 255.255.255.255 broadcast leave
    const client = await lab.addHost('client', { address: '10.77.1.50/16', gateway: '10.77.1.254' });
    // One address per simulated client, added in one `ip -batch` run (1,000 single `ip` calls take seconds).
    const base = 100 << 8;
    const batch = Array.from({ length: o.clients }, (_, i) => {
      const v = base + i + 1;
      return `addr add 10.77.${v >> 8}.${v & 255}/16 dev eth0`;
    }).join('\n') + '\n';
    const batchFile = join(lab.tmpDir, 'client-addrs.batch');
    writeFileSync(batchFile, batch);
    await runOk('ip', ['-n', client.ns, '-batch', batchFile], { timeoutMs: 60_000 });
    // The kernel's ARP table limits (machine-wide, see holdNeighbourLimits): raised for the
    // lab's lifetime, shared with any other lab, put back by the last one to leave. No interface
    // or address of the host is touched.
    neigh = holdNeighbourLimits(o.clients);
    await startKea(lab, dhcp, { subnet: NET, rangeStart: '10.77.200.1', rangeEnd: '10.77.239.254', router: '10.77.1.254' });

    const root = join(lab.tmpDir, 'boot');
    mkdirSync(root);
    const nbp = Buffer.alloc(MiB);
    for (let i = 0; i < nbp.length; i++) nbp[i] = (i * 131 + 7) & 255;
    writeFileSync(join(root, 'pxelinux.0'), nbp);
    writeFileSync(join(root, 'bootx64.efi'), nbp);

    const peers: Peer[] = defs.map((d, i) => {
      const cfgFile = join(lab.tmpDir, `${d.name}.yaml`);
      writeFileSync(cfgFile, peerConfig(root, d.name, defs, o.tftpMaxTransfers ?? 1000, o.serviceAddresses === true));
      return { name: d.name, address: d.address, host: peerHosts[i]!, cfgFile, serve: undefined, logs: [] };
    });
    const rankInput = defs.map((d) => ({ name: d.name, weight: 1 }));
    const running = (): Peer[] => peers.filter((p) => p.serve !== undefined && p.serve.proc.exitCode === null && p.serve.proc.signalCode === null);

    const curl = async (p: Peer, path: string): Promise<string> => runOk('curl', ['-sf', '--max-time', '3', `http://${p.address}:8080${path}`], { ns: p.host.ns, timeoutMs: 5000 });

    const pl: PoolLab = {
      lab, client, peers, root,
      ownerOf: (mac) => rankPeers(mac.toLowerCase(), rankInput)[0]!,
      orderOf: (mac) => rankPeers(mac.toLowerCase(), rankInput),
      peerByAddress: (a) => peers.find((p) => p.address === a),
      async startPeer(p) {
        const s = await startServe(['--config', p.cfgFile], { ns: p.host.ns, readyTimeoutMs: 15_000 });
        // share one array across restarts: the ServeProc's own array is per instance
        const own = s.logs;
        const pushOrig = own.push.bind(own);
        own.push = (...items: Record<string, unknown>[]): number => {
          p.logs.push(...items);
          return pushOrig(...items);
        };
        p.logs.push(...own);
        p.serve = s;
      },
      async status(p) {
        return JSON.parse(await curl(p, '/status')) as PeerStatusView;
      },
      metrics: (p) => curl(p, '/metrics'),
      async waitLive(n, timeoutMs) {
        const t0 = Date.now();
        for (let i = 0; i < Math.ceil(timeoutMs / 100) + 1; i++) {
          const rs = running();
          const views = await Promise.all(rs.map((p) => pl.status(p).catch(() => undefined)));
          if (rs.length > 0 && views.every((v) => v !== undefined && v.pool.live.length === n)) return Date.now() - t0;
          if (Date.now() - t0 > timeoutMs) break;
          await sleep(100);
        }
        throw new Error(`not every running peer saw ${n} live within ${timeoutMs} ms`);
      },
      storm(args, so) {
        // Its own process in the client namespace (a process cannot enter one itself), bounded twice:
        // storm's --time-limit, and a kill a little later in case the process itself hangs.
        const full = ['netns', 'exec', client.ns, process.execPath, MAIN, 'storm', '--interface', 'eth0', '--client-net', CLIENT_BASE,
          '--time-limit', String(so.timeLimitS), ...(so.progress === true ? [] : ['--no-progress']), '--json', '--per-client', ...args];
        return new Promise((resolve, reject) => {
          const child = spawn('ip', full, { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
          child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; so.onStderr?.(d); });
          const killer = setTimeout(() => child.kill('SIGKILL'), (so.timeLimitS + 20) * 1000);
          child.on('spawn', () => so.onStart?.());
          child.on('exit', (code) => {
            clearTimeout(killer);
            try {
              resolve({ code, result: JSON.parse(out) as StormResult, stderr: err });
            } catch {
              reject(new Error(`storm printed no JSON (exit ${code}):\n${out.slice(0, 2000)}\n${err.slice(0, 4000)}`));
            }
          });
        });
      },
      async startDnsmasq(so = {}) {
        const host = await lab.addHost('dnsmasq', { address: `${DNSMASQ_ADDRESS}/16` });
        await runOk('sysctl', ['-q', '-w', 'net.ipv4.neigh.default.gc_thresh1=4096', 'net.ipv4.neigh.default.gc_thresh2=8192', 'net.ipv4.neigh.default.gc_thresh3=16384'], { ns: host.ns }).catch(() => undefined);
        const proc = await startDnsmasqProxy(lab, host, {
          subnetAddress: NET.split('/')[0]!,
          tftpRoot: root,
          extra: [
            '--pxe-service=x86PC,"pxelinux",pxelinux', '--pxe-service=X86-64_EFI,"efi",bootx64.efi', '--pxe-prompt="boot",0',
            ...(so.tftpMax !== undefined ? [`--tftp-max=${so.tftpMax}`] : []),
            ...(so.extra ?? []),
          ],
        });
        return { name: 'dnsmasq', address: DNSMASQ_ADDRESS, host, proc };
      },
      async forgeHeartbeat(to, asPeer) {
        const { encodeHeartbeat } = await import('../../src/pool/heartbeat.ts');
        const bytes = encodeHeartbeat({
          peer: asPeer, instance: 'f'.repeat(32), epoch: Date.now(), echo: '0'.repeat(32), seq: 1, ts: Date.now(), health: 'leaving',
          tftp: 0, http: 0, weight: 1, configHash: '0'.repeat(32), held: [],
        }, 'not-the-pool-secret-at-all-0000');
        // Sent from inside the segment (the client namespace), as an attacker on the LAN would.
        const code = `const d=await import('node:dgram');const s=d.createSocket('udp4');s.send(Buffer.from('${Buffer.from(bytes).toString('hex')}','hex'),4012,'${to.address}',()=>s.close());`;
        await runOk(process.execPath, ['--input-type=module', '-e', code], { ns: client.ns, timeoutMs: 10_000 });
      },
      async destroy() {
        await Promise.all(peers.map(async (p) => {
          if (p.serve !== undefined) {
            p.serve.proc.kill('SIGCONT');
            await p.serve.stop();
          }
        }));
        await lab.destroy();
        neigh?.release();
      },
      neighbourLowered: () => neigh?.lowered() ?? 0,
    };
    return pl;
  } catch (e) {
    await lab.destroy();
    neigh?.release();
    throw e;
  }
}

/** Extra time per client between two runs of the same seeded storm (same MAC and family per index). */
export function pctl(values: number[], q: number): number | null {
  const v = [...values].sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]!;
}

/** The offers each peer sent on port 67, per client MAC, from its JSON log (answers that were held back are not logged as answers). */
export function offersByMac(peers: Peer[], fromIndex: Map<string, number> = new Map()): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of peers) {
    for (const l of p.logs.slice(fromIndex.get(p.name) ?? 0)) {
      if (l.event !== 'answer' || l.port !== 67 || typeof l.mac !== 'string') continue;
      const a = out.get(l.mac) ?? [];
      a.push(p.name);
      out.set(l.mac, a);
    }
  }
  return out;
}

export function logMarks(peers: Peer[]): Map<string, number> {
  return new Map(peers.map((p) => [p.name, p.logs.length]));
}

/** Resolves once `p` has logged a port-67 answer after its log mark (the storm's first DISCOVERs arrived); bounded. */
export async function waitFirstDiscover(p: Peer, marks: Map<string, number>, timeoutMs = 10_000): Promise<boolean> {
  const from = marks.get(p.name) ?? 0;
  for (let i = 0; i < Math.ceil(timeoutMs / 20); i++) {
    if (p.logs.slice(from).some((l) => l.port === 67)) return true;
    await sleep(20);
  }
  return false;
}

/**
 * From the survivors' own logs (all namespaces share one clock), after a peer was killed at
 * `killAt`: when a survivor first marked it down, first logged a takeover for one of its
 * clients, and first answered one of them on port 67 (epoch ms; Infinity if never).
 */
export function failoverTimes(survivors: Peer[], marks: Map<string, number>, victim: string, killAt: number, owned: Set<string>): { down: number; takeover: number; firstOffer: number } {
  let down = Infinity, takeover = Infinity, firstOffer = Infinity;
  for (const p of survivors) {
    for (const l of p.logs.slice(marks.get(p.name))) {
      const t = Date.parse(String(l.time));
      if (t < killAt) continue;
      if (l.event === 'pool-down' && l.peer === victim) down = Math.min(down, t);
      if (l.event === 'pool-takeover' && owned.has(String(l.mac))) takeover = Math.min(takeover, t);
      if (l.event === 'answer' && l.port === 67 && owned.has(String(l.mac))) firstOffer = Math.min(firstOffer, t);
    }
  }
  return { down, takeover, firstOffer };
}
