// One log line per finished file transfer, TFTP or HTTP, as tftpd-hpa writes with -v: who, what,
// how much, how fast, how it ended. Pure: the servers hand in what they measured.

export interface FinishedTransfer {
  protocol: 'tftp' | 'http';
  /** address:port */
  client: string;
  file: string;
  bytes: number;
  durationMs: number;
  /** 'ok', or why it ended (a TFTP failure reason, 'aborted' for an HTTP client that left) */
  result: string;
  /** HTTP status */
  status?: number;
  detail?: string;
}

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** The structured fields and the one-line message for a finished transfer. */
export function transferLine(t: FinishedTransfer): { fields: Record<string, unknown>; msg: string } {
  const seconds = Math.max(t.durationMs, 0) / 1000;
  const rate = seconds > 0 ? t.bytes / seconds : 0;
  const fields: Record<string, unknown> = {
    event: `${t.protocol}-transfer`, client: t.client, file: t.file, bytes: t.bytes,
    durationMs: Math.round(t.durationMs), bytesPerSec: Math.round(rate), result: t.result,
    ...(t.status !== undefined ? { status: t.status } : {}),
    ...(t.detail !== undefined ? { detail: t.detail } : {}),
  };
  const how = t.status !== undefined ? `${t.status} ${t.result}` : t.result;
  const msg = `${t.protocol} ${t.client} ${t.file}: ${size(t.bytes)} in ${seconds.toFixed(2)} s (${size(Math.round(rate))}/s), ${how}`;
  return { fields, msg };
}
