// One timer for all transfers, armed for the earliest deadline. A timer per transfer costs more
// than the sends it guards once hundreds of transfers run (each window re-arms it); a periodic
// clock is cheap to keep but wakes the loop every few ms, and those wakeups cost a lock-step
// transfer more than half its rate (measured: 19 → 50 MiB/s at blksize 1468 on loopback).
// Deadlines mostly move later (every ACK pushes one), so the timer usually fires early, finds
// nothing due and re-arms for the new earliest deadline: about one wakeup per round of RTOs.

export class DeadlineTimer {
  readonly #scan: (now: number) => number;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | null = null;
  #due = Infinity;
  #queued = false;
  #closed = false;

  /** `scan(now)` runs what is due and returns the earliest deadline left (Infinity: none). */
  constructor(scan: (now: number) => number, clock: () => number) {
    this.#scan = scan;
    this.#clock = clock;
  }

  /** Some deadline is now `at`: make sure the timer fires by then. */
  arm(at: number): void {
    if (at < this.#due && !this.#closed) this.#schedule(at, this.#clock());
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(at: number, now: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#due = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(at - now)));
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = null;
    this.#due = Infinity;
    if (this.#queued) return;
    this.#queued = true;
    // Timers run before the poll phase: after a busy loop iteration, ACKs already waiting in the
    // sockets would otherwise be read only after a needless retransmission. setImmediate lets the
    // poll phase deliver them first.
    setImmediate(() => {
      this.#queued = false;
      const now = this.#clock();
      const next = this.#scan(now);
      if (next < this.#due && !this.#closed) this.#schedule(next, now);
    });
  }
}
