// Structured logs via pino: JSON lines (one object per line) for journald and log shippers, or
// readable lines on a terminal; a `silent` level for tests.
import { pino, type Logger } from 'pino';
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

/** `auto`: readable lines when stdout is a terminal, JSON otherwise. */
export function createLogger(level: string, name = 'pxepool', format: LogFormat = 'auto'): Logger {
  const text = format === 'text' || (format === 'auto' && process.stdout.isTTY === true);
  const options = { name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!text) return pino(options);
  return pino(options, { write: (s: string) => { process.stdout.write(humanLine(s.trimEnd())); } });
}
