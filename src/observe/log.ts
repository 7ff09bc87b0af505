// Structured logs via pino: JSON lines (one object per line) for journald and log shippers, or
// readable lines on a terminal; a `silent` level for tests.
import { pino, type DestinationStream, type Logger } from 'pino';
import { neutralise } from './printable.ts';

export type { Logger };

export type LogFormat = 'auto' | 'json' | 'text';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/** One pino JSON line as a person reads it: time, level, message, then the fields as key=value. */
export function humanLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : '';
  const level = (LEVELS[Number(o.level)] ?? String(o.level)).padEnd(5);
  const fields = Object.entries(o)
    .filter(([k, v]) => !SKIP.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/[\s"=]/.test(v) ? v : JSON.stringify(v)}`);
  // A field can hold anything a client sent: no control characters reach the terminal.
  const line = neutralise(`${time} ${level} ${String(o.msg ?? '')}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}`);
  return `${line}\n`;
}

/** A sink for whole lines: what a batch is written to (stdout's file descriptor, a test's array). */
export interface LineSink {
  write(chunk: string): void;
}

/**
 * Lines written in one turn of the event loop, handed to `sink` as one chunk when the turn ends
 * (or at once past `maxBytes`): under a storm of answers one write(2) carries many lines instead
 * of one each, and the lines keep their order. `schedule` is when the turn ends (setImmediate).
 */
export class LineBatcher implements DestinationStream {
  readonly #sink: LineSink;
  readonly #maxBytes: number;
  readonly #schedule: (f: () => void) => void;
  #parts: string[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(sink: LineSink, o: { maxBytes?: number; schedule?: (f: () => void) => void } = {}) {
    this.#sink = sink;
    this.#maxBytes = o.maxBytes ?? 64 * 1024;
    this.#schedule = o.schedule ?? ((f) => { setImmediate(f).unref(); });
  }

  write(line: string): void {
    this.#parts.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= this.#maxBytes) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      this.#schedule(() => { this.#scheduled = false; this.flush(); });
    }
  }

  /** lines waiting for the end of the turn */
  get pending(): number {
    return this.#parts.length;
  }

  flush(cb?: (err?: Error) => void): void {
    if (this.#parts.length > 0) {
      const chunk = this.#parts.length === 1 ? this.#parts[0]! : this.#parts.join('');
      this.#parts = [];
      this.#bytes = 0;
      this.#sink.write(chunk);
    }
    cb?.();
  }
}

let stdoutBatcher: LineBatcher | undefined;
/** One batcher for stdout, shared by every JSON logger of the process, flushed when it exits. */
function batchedStdout(): LineBatcher {
  if (stdoutBatcher === undefined) {
    // sonic-boom (pino's own destination) retries EAGAIN and short writes on a full pipe.
    const fd1 = pino.destination({ dest: 1, sync: true });
    const b = new LineBatcher({ write: (chunk) => { fd1.write(chunk); } });
    process.on('exit', () => { b.flush(); });
    stdoutBatcher = b;
  }
  return stdoutBatcher;
}

let lastMs = -1;
let lastTime = '';
/** pino's isoTime, made once per millisecond: a storm logs many lines within one */
export function isoTimeCached(now = Date.now()): string {
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** `auto`: readable lines when stdout is a terminal, JSON otherwise. */
export function createLogger(level: string, name = 'pxepool', format: LogFormat = 'auto'): Logger {
  const text = format === 'text' || (format === 'auto' && process.stdout.isTTY === true);
  const options = { name, level, base: { pid: process.pid }, timestamp: () => isoTimeCached() };
  // JSON lines leave in batches, one write per turn of the event loop (LineBatcher).
  if (!text) return pino(options, batchedStdout());
  return pino(options, { write: (s: string) => { process.stdout.write(humanLine(s.trimEnd())); } });
}
