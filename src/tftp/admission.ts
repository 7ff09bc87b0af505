// Which RRQs get a transfer slot. Pure: the edge (server.ts) describes the transfers it runs and
// carries out the verdict (start, drop, refuse with an ERROR, end the transfers named).
//
// TFTP has no handshake: an RRQ's source address is whatever the sender wrote, so until the
// client acknowledges our first packet nothing proves anyone is there. The rules, and why:
// - A transfer is *unconfirmed* until its client's first ACK. Unconfirmed transfers have a pool
//   of their own (`maxUnconfirmed`); when it is full, the oldest unconfirmed transfer gives its
//   slot to the new request (as a SYN cache does). A flood of forged RRQs then costs each forged
//   request one short-lived slot, cannot take the slots of confirmed transfers, and a real
//   client, which confirms within a round trip, still gets through.
// - A retransmitted RRQ (same client address, port and file) while we answer it is dropped: a
//   second transfer would double the traffic and confuse the client's TID logic.
// - A request from a new port of a client address whose transfer is already retransmitting
//   supersedes that transfer: firmware that gave up starts over from a new port, and the dead
//   transfer would hold a slot and keep sending for all its retries.
// - `maxTransfers` bounds everything; `maxPerClient` bounds one address (NAT, or a liar).

export interface AdmissionLimits {
  maxTransfers: number;
  maxPerClient: number;
  maxUnconfirmed: number;
}

export interface Slot {
  key: string;
  clientAddress: string;
  clientPort: number;
  /** the client has acknowledged something of ours */
  confirmed: boolean;
  /** no progress for at least one retransmission timeout */
  retrying: boolean;
}

export interface AdmissionView {
  /** every running transfer */
  total: number;
  /** running transfers not yet confirmed */
  unconfirmed: number;
  /** the longest-waiting unconfirmed transfer, if any */
  oldestUnconfirmed: Slot | undefined;
  /** the running transfers of the request's client address */
  ofClient: readonly Slot[];
  /** whether a transfer with this key runs */
  has(key: string): boolean;
}

export interface RrqFacts {
  address: string;
  port: number;
  file: string;
}

export type Admission =
  | { verdict: 'admit'; key: string; supersede: Slot[]; evict: Slot | undefined }
  | { verdict: 'duplicate'; supersede: Slot[] }
  | { verdict: 'refuse'; reason: 'busy' | 'client-limit'; message: string; supersede: Slot[] };

export function transferKey(r: RrqFacts): string {
  return `${r.address}|${r.port}|${r.file}`;
}

export function admit(r: RrqFacts, view: AdmissionView, limits: AdmissionLimits): Admission {
  const key = transferKey(r);
  const supersede = view.ofClient.filter((s) => s.clientPort !== r.port && s.retrying);
  if (view.has(key)) return { verdict: 'duplicate', supersede };
  const gone = new Set(supersede.map((s) => s.key));
  let total = view.total - gone.size;
  let unconfirmed = view.unconfirmed - supersede.filter((s) => !s.confirmed).length;
  let evict: Slot | undefined;
  const oldest = view.oldestUnconfirmed;
  if (unconfirmed >= limits.maxUnconfirmed && oldest !== undefined && !gone.has(oldest.key)) {
    evict = oldest;
    total--;
    unconfirmed--;
  }
  if (total >= limits.maxTransfers) {
    return { verdict: 'refuse', reason: 'busy', message: `Server busy: ${total} transfers in progress (limit ${limits.maxTransfers}), retry later`, supersede };
  }
  const mine = view.ofClient.filter((s) => !gone.has(s.key) && s.key !== evict?.key).length;
  if (mine >= limits.maxPerClient) {
    return { verdict: 'refuse', reason: 'client-limit', message: `Too many transfers from ${r.address} (limit ${limits.maxPerClient})`, supersede };
  }
  return { verdict: 'admit', key, supersede, evict };
}
