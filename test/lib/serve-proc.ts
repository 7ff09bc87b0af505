// Runs `pxepool serve` as a real child process for integration tests, on loopback ports or
// inside a network namespace, and reads its JSON log lines.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ServeProc {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  stderr: () => string;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startServe(args: string[], opts: { ns?: string; readyTimeoutMs?: number } = {}): Promise<ServeProc> {
  const cmd = opts.ns !== undefined ? 'ip' : process.execPath;
  const full = opts.ns !== undefined ? ['netns', 'exec', opts.ns, process.execPath, MAIN, 'serve', ...args] : [MAIN, 'serve', ...args];
  const proc = spawn(cmd, full, { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let err = '';
  let buf = '';
  const waiters = new Set<() => void>();
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not JSON: ignore */ }
    }
    for (const w of waiters) w();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; for (const w of waiters) w(); });
  const exited = once(proc, 'exit');

  const waitForLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = logs.find(pred);
        if (hit) { cleanup(); resolve(hit); return true; }
        if (proc.exitCode !== null) { cleanup(); reject(new Error(`pxepool exited (${proc.exitCode}): ${err}`)); return true; }
        return false;
      };
      const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for log line; stderr: ${err}`)); }, timeoutMs);
      const w = (): void => { check(); };
      const cleanup = (): void => { clearTimeout(timer); waiters.delete(w); };
      waiters.add(w);
      check();
    });

  await waitForLog((l) => l.event === 'start', opts.readyTimeoutMs ?? 10_000);
  return {
    proc, logs, stderr: () => err, waitForLog,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 4000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
