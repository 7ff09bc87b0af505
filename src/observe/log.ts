// Structured JSON logs (one object per line) via pino; a `silent` level for tests.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name = 'pxepool'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
