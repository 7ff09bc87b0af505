// Client-sent text (hostnames, vendor classes, file names) reaches terminals and log readers:
// control characters in it could move a cursor, clear a screen or forge a line. Pure.

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
const CONTROL_OR_NEWLINE = /[\u0000-\u001f\u007f-\u009f]/g;

/** `s` with every control character but tab and newline as `?`. */
export function neutralise(s: string): string {
  return s.replace(CONTROL, '?');
}

/** One line of text: newlines too become `?`. */
export function oneLine(s: string): string {
  return s.replace(CONTROL_OR_NEWLINE, '?');
}
