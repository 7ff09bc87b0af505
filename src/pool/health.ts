// A peer's own health and how far to trust a peer's last word. Pure: peer.ts feeds in its load
// and the clock.

import type { Health } from './heartbeat.ts';

/** Back to ok only below this share of the ceiling, so a peer at its ceiling does not flap. */
export const STEP_BACK_RESUME = 0.8;

/**
 * Our health from our load: draining when told; busy (stepped back: new clients go to others)
 * above the ceiling, and busy until the load falls below STEP_BACK_RESUME of it.
 */
export function nextHealth(current: Health, load: { active: number; draining?: boolean }, ceiling: number): Health {
  if (load.draining === true) return 'draining';
  if (current === 'busy') return load.active > STEP_BACK_RESUME * ceiling ? 'busy' : 'ok';
  return load.active > ceiling ? 'busy' : 'ok';
}

/**
 * How long a peer's last heartbeat vouches for it when placing a client's files: about one
 * interval. A peer that just died still counts as live until deadAfter intervals have passed,
 * and a client sent there would wait out its TFTP timers (seen in the pool lab).
 */
export function freshWindowMs(heartbeatMs: number): number {
  return Math.round(heartbeatMs * 1.5);
}

export function isFresh(v: { self: boolean; lastSeen?: number | undefined }, now: number, windowMs: number): boolean {
  return v.self || (v.lastSeen !== undefined && now - v.lastSeen <= windowMs);
}
