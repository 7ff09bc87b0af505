// Starting, measuring and stopping the servers under test. Each runs as a child process bound to
// 127.0.0.1; CPU comes from /proc/<pid>/stat (the process and its reaped children, since
// tftpd-hpa forks a child per transfer) and memory from VmHWM plus sampled RSS of the process tree.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import dgram from 'node:dgram';
import path from 'node:path';

export type ServerKind = 'pxepool' | 'tftpd-hpa' | 'atftpd' | 'dnsmasq';

export type RunningServer = {
  kind: ServerKind;
  port: number;
  pid: number;
  /** CPU seconds used so far (user + system, reaped children included) */
  cpuSeconds(): number;
  /** highest resident set seen: VmHWM of the main process or sampled sum over its tree, MB */
  peakRssMb(): number;
  stop(): Promise<void>;
};

const CLK_TCK = 100; // Linux USER_HZ on every architecture we run on

/** [own user+system, reaped children user+system] in seconds */
function statCpu(pid: number): [number, number] {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    const [ut, st, cut, cst] = [f[11], f[12], f[13], f[14]].map(Number);
    return [(ut! + st!) / CLK_TCK, (cut! + cst!) / CLK_TCK];
  } catch {
    return [NaN, NaN];
  }
}

function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const c = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1').trim();
      if (c) for (const x of c.split(/\s+/)) out.push(Number(x));
    }
  } catch {
    // gone
  }
  return out;
}

/** Proportional set size: pages shared with a forking parent are split, not counted per child. */
function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'));
    return m ? Number(m[1]) : statusKb(pid, 'VmRSS');
  } catch {
    return 0;
  }
}

function treeRssKb(pid: number, depth = 0): number {
  let kb = pssKb(pid);
  if (depth < 3) for (const c of children(pid)) kb += treeRssKb(c, depth + 1);
  return kb;
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Waits until the server answers a request for a missing file (any reply means it is up). */
async function waitReady(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  const rrq = Buffer.from('\0\x01no-such-file\0octet\0', 'latin1');
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    const s = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 200);
      s.on('message', () => {
        clearTimeout(t);
        resolve(true);
      });
      s.on('error', () => resolve(false));
      s.bind(0, '127.0.0.1', () => s.send(rrq, port, '127.0.0.1'));
    });
    s.close();
    if (ok) return true;
  }
  return false;
}

function launch(kind: ServerKind, root: string, port: number, atftpd: string | null): ChildProcess {
  switch (kind) {
    case 'pxepool':
      return spawn(process.execPath, [path.join(import.meta.dirname, 'pxepool-server.ts'), root, String(port)], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    case 'tftpd-hpa':
      // -L: foreground; -s: chroot into the root, as deployed; default timeouts and limits.
      return spawn('in.tftpd', ['-L', '-s', root, '-a', `127.0.0.1:${port}`], { stdio: 'ignore' });
    case 'atftpd':
      return spawn(
        atftpd!,
        ['--daemon', '--no-fork', '--logfile', '/dev/null', '--port', String(port), '--bind-address', '127.0.0.1', '--user', 'root', '--group', 'root', root],
        { stdio: 'ignore' },
      );
    case 'dnsmasq':
      // dnsmasq's TFTP listens on port 69 only; DNS is off (port 0).
      return spawn(
        'dnsmasq',
        ['--no-daemon', '--port=0', '--enable-tftp', `--tftp-root=${root}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--conf-file=/dev/null', '--user=root', '--log-facility=/dev/null', '--quiet-tftp'],
        { stdio: 'ignore' },
      );
  }
}

/**
 * Debian's atftpd conflicts with tftpd-hpa as a package, so it is unpacked, not installed:
 * `apt-get download atftpd` and `dpkg -x` into a cache directory, once.
 */
export function findAtftpd(): string | null {
  const cache = path.join(os.tmpdir(), 'pxepool-atftpd');
  const unpacked = path.join(cache, 'x', 'usr', 'sbin', 'atftpd');
  for (const p of ['/usr/sbin/atftpd', unpacked]) if (existsSync(p)) return p;
  try {
    mkdirSync(cache, { recursive: true });
    execFileSync('apt-get', ['download', 'atftpd'], { cwd: cache, stdio: 'ignore', timeout: 60_000 });
    const deb = readdirSync(cache).find((f) => f.startsWith('atftpd_') && f.endsWith('.deb'));
    if (!deb) return null;
    execFileSync('dpkg', ['-x', deb, 'x'], { cwd: cache, stdio: 'ignore', timeout: 60_000 });
  } catch {
    return null;
  }
  return existsSync(unpacked) ? unpacked : null;
}

export async function startServer(kind: ServerKind, root: string, atftpd: string | null): Promise<RunningServer> {
  const port = kind === 'dnsmasq' ? 69 : await freeUdpPort();
  const child = launch(kind, root, port, atftpd);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  child.on('error', () => {
    exited = true;
  });
  const pid = child.pid ?? -1;
  let peakTreeKb = 0;
  // Children that exit unreaped (SIG_IGN) never show in the parent's cutime: sample them live.
  const childCpu = new Map<number, number>();
  const sampler = setInterval(() => {
    if (exited) return;
    peakTreeKb = Math.max(peakTreeKb, treeRssKb(pid));
    for (const c of children(pid)) {
      const [own] = statCpu(c);
      if (Number.isFinite(own)) childCpu.set(c, Math.max(childCpu.get(c) ?? 0, own));
    }
  }, 100);
  sampler.unref();
  const stop = async (): Promise<void> => {
    clearInterval(sampler);
    if (exited) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  };
  const up = pid > 0 && (await waitReady(port, 5000)) && !exited;
  if (!up) {
    await stop();
    throw new Error(`${kind} did not start on 127.0.0.1:${port}`);
  }
  return {
    kind,
    port,
    pid,
    cpuSeconds: () => {
      const [own, reaped] = statCpu(pid);
      let sampled = 0;
      for (const v of childCpu.values()) sampled += v;
      return own + Math.max(reaped, sampled);
    },
    peakRssMb: () => Math.max(statusKb(pid, 'VmHWM'), peakTreeKb, treeRssKb(pid)) / 1024,
    stop,
  };
}
