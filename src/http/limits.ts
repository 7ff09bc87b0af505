// Connections per client address. Pure bookkeeping: the HTTP edge asks before it keeps a new
// connection and tells when one closes. A boot client holds one connection (iPXE) or a few
// (UEFI HTTP boot); thousands from one address are someone holding every slot (issue 13).

export class ConnectionLimiter {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  constructor(maxPerAddress: number) {
    this.#max = maxPerAddress;
  }

  /** Whether a new connection from `address` may stay; if so it is counted until release(). */
  admit(address: string): boolean {
    const n = this.#open.get(address) ?? 0;
    if (n >= this.#max) return false;
    this.#open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = this.#open.get(address) ?? 0;
    if (n <= 1) this.#open.delete(address);
    else this.#open.set(address, n - 1);
  }

  /** addresses with a connection open (bounded by the server's maxConnections) */
  get addresses(): number {
    return this.#open.size;
  }
}
