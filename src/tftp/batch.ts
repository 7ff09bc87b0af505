// Windows on the wire: the DATA datagrams of one step leave in one GSO / sendmmsg call when the
// native helper is there (the transfer socket decides how), and the window the machine will send
// on the ACK of everything in flight is handed to the native socket beforehand, which sends it the
// moment that ACK arrives (native/tftp_socket.c) — before JavaScript has even seen the ACK.

import type { TransferSocket } from './transfer-socket.ts';
import { type BlockSource, nextOnFullAck, type TransferState } from './transfer.ts';

/** DATA datagrams per batched send (and per armed window). */
export const BATCH = 64;

/** One step's DATA, collected; flushed when full, before any other send, and at the end. */
export class DataBatch {
  // Off the V8 heap: the helper reads it without a copy per call.
  readonly blocks = new Uint16Array(new ArrayBuffer(2 * BATCH));
  readonly payloads: Uint8Array[] = [];
  #n = 0;

  /** Adds one DATA; true when the batch is full and must be flushed now. */
  add(block: number, payload: Uint8Array): boolean {
    this.blocks[this.#n] = block;
    this.payloads[this.#n] = payload;
    return ++this.#n === BATCH;
  }

  get size(): number {
    return this.#n;
  }

  /** Sends what is batched and empties the batch; the datagrams that left through the helper. */
  flush(sock: TransferSocket | null): number {
    const n = this.#n;
    this.#n = 0;
    // The plain dgram path reports 0: nothing left in a batch there.
    const sent = n > 0 && sock !== null ? sock.sendData(this.blocks, this.payloads, n) : 0;
    this.payloads.length = 0;
    return sent;
  }
}

/** What arming needs of a running transfer. */
export interface Armable {
  state: TransferState | null;
  source: BlockSource | null;
  sock: TransferSocket | null;
  /** the blocks of the window armed last, to skip when the machine sends them again */
  armBlocks: readonly number[];
  armPayloads: readonly Uint8Array[];
  armed: boolean;
}

/** Hands the socket the window the machine sends on the next full ACK (or disarms it). */
export function armNextWindow(t: Armable): void {
  const next = t.state && t.source ? nextOnFullAck(t.state, t.source, BATCH) : null;
  if (next === null) {
    if (t.armed) t.sock!.arm(0, [], [], 0);
    t.armed = false;
    return;
  }
  t.armBlocks = next.blocks;
  t.armPayloads = next.payloads;
  t.armed = true;
  t.sock!.arm(next.ack, next.blocks, next.payloads, next.blocks.length);
}
