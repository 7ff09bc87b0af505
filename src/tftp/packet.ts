// TFTP wire codec (RFC 1350, options per RFC 2347). Pure: bytes in, values out, never throws.

export const OP = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

export const ERR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_NEGOTIATION: 8,
} as const;

export type TransferMode = 'octet' | 'netascii' | 'mail';

/** Options in request order; names lower-cased (RFC 2347: case-insensitive). */
export type OptionList = ReadonlyArray<readonly [name: string, value: string]>;

export type RequestPacket = {
  op: 'RRQ' | 'WRQ';
  filename: string;
  mode: TransferMode;
  options: OptionList;
};
export type DataPacket = { op: 'DATA'; block: number; data: Uint8Array };
export type AckPacket = { op: 'ACK'; block: number };
export type ErrorPacket = { op: 'ERROR'; code: number; message: string };
export type OackPacket = { op: 'OACK'; options: OptionList };
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type ParseResult = { ok: true; value: TftpPacket } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');
const encoder = new TextEncoder();

// Filenames are bytes on the wire; prefer UTF-8 but never lose a request over a stray byte.
function decodeString(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}

/** Splits the NUL-terminated strings starting at `from`. An unterminated tail is returned separately. */
function splitStrings(buf: Uint8Array, from: number): { strings: string[]; tail: boolean } {
  const strings: string[] = [];
  let start = from;
  for (let i = from; i < buf.length; i++) {
    if (buf[i] === 0) {
      strings.push(decodeString(buf.subarray(start, i)));
      start = i + 1;
    }
  }
  return { strings, tail: start < buf.length };
}

function parseRequest(buf: Uint8Array, op: 'RRQ' | 'WRQ'): ParseResult {
  const { strings } = splitStrings(buf, 2);
  if (strings.length < 2) return { ok: false, reason: `${op} lacks a NUL-terminated filename and mode` };
  const filename = strings[0]!;
  if (filename.length === 0) return { ok: false, reason: `${op} has an empty filename` };
  const modeText = strings[1]!.toLowerCase();
  if (modeText !== 'octet' && modeText !== 'netascii' && modeText !== 'mail') {
    return { ok: false, reason: `${op} has unknown mode "${strings[1]}"` };
  }
  const options: Array<readonly [string, string]> = [];
  // Some firmware pads requests with extra NULs; empty names and a dangling name are tolerated.
  for (let i = 2; i + 1 < strings.length; i += 2) {
    const name = strings[i]!.toLowerCase();
    if (name.length === 0) break;
    options.push([name, strings[i + 1]!]);
  }
  return { ok: true, value: { op, filename, mode: modeText, options } };
}

export function parsePacket(buf: Uint8Array): ParseResult {
  if (buf.length < 2) return { ok: false, reason: 'packet shorter than an opcode' };
  const op = (buf[0]! << 8) | buf[1]!;
  switch (op) {
    case OP.RRQ:
      return parseRequest(buf, 'RRQ');
    case OP.WRQ:
      return parseRequest(buf, 'WRQ');
    case OP.DATA:
      if (buf.length < 4) return { ok: false, reason: 'DATA shorter than its header' };
      return { ok: true, value: { op: 'DATA', block: (buf[2]! << 8) | buf[3]!, data: buf.subarray(4) } };
    case OP.ACK:
      if (buf.length < 4) return { ok: false, reason: 'ACK shorter than 4 bytes' };
      return { ok: true, value: { op: 'ACK', block: (buf[2]! << 8) | buf[3]! } };
    case OP.ERROR: {
      if (buf.length < 4) return { ok: false, reason: 'ERROR shorter than its header' };
      const code = (buf[2]! << 8) | buf[3]!;
      // A missing terminator is common in the wild; take the message up to the end.
      let end = buf.indexOf(0, 4);
      if (end < 0) end = buf.length;
      return { ok: true, value: { op: 'ERROR', code, message: decodeString(buf.subarray(4, end)) } };
    }
    case OP.OACK: {
      const { strings } = splitStrings(buf, 2);
      const options: Array<readonly [string, string]> = [];
      for (let i = 0; i + 1 < strings.length; i += 2) options.push([strings[i]!.toLowerCase(), strings[i + 1]!]);
      return { ok: true, value: { op: 'OACK', options } };
    }
    default:
      return { ok: false, reason: `unknown opcode ${op}` };
  }
}

function encodeStrings(op: number, strings: readonly string[]): Uint8Array {
  const parts = strings.map((s) => encoder.encode(s));
  let len = 2;
  for (const p of parts) len += p.length + 1;
  const out = new Uint8Array(len);
  out[0] = op >> 8;
  out[1] = op & 0xff;
  let at = 2;
  for (const p of parts) {
    out.set(p, at);
    at += p.length + 1; // the NUL is already there: Uint8Array starts zeroed
  }
  return out;
}

export function encodeRequest(
  op: 'RRQ' | 'WRQ',
  filename: string,
  mode: TransferMode,
  options: OptionList = [],
): Uint8Array {
  const strings = [filename, mode];
  for (const [n, v] of options) strings.push(n, v);
  return encodeStrings(op === 'RRQ' ? OP.RRQ : OP.WRQ, strings);
}

/** The 4-byte DATA header alone, so the edge can send header and payload as two iovecs. */
export function encodeDataHeader(block: number): Uint8Array {
  const out = new Uint8Array(4);
  out[1] = OP.DATA;
  out[2] = (block >> 8) & 0xff;
  out[3] = block & 0xff;
  return out;
}

export function encodeData(block: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  out.set(encodeDataHeader(block), 0);
  out.set(data, 4);
  return out;
}

export function encodeAck(block: number): Uint8Array {
  const out = new Uint8Array(4);
  out[1] = OP.ACK;
  out[2] = (block >> 8) & 0xff;
  out[3] = block & 0xff;
  return out;
}

export function encodeError(code: number, message: string): Uint8Array {
  const msg = encoder.encode(message);
  const out = new Uint8Array(5 + msg.length);
  out[1] = OP.ERROR;
  out[2] = (code >> 8) & 0xff;
  out[3] = code & 0xff;
  out.set(msg, 4);
  return out;
}

export function encodeOack(options: OptionList): Uint8Array {
  const strings: string[] = [];
  for (const [n, v] of options) strings.push(n, v);
  return encodeStrings(OP.OACK, strings);
}
