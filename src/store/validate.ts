// What the clients API accepts, checked with zod (the config's library). Pure: the HTTP edge
// (http/clients-api.ts) reads the body, this says whether it is an assignment and why not.

import { z } from 'zod';
import { normaliseMac } from '../app/explain-client.ts';
import { parseUuid } from '../config/values.ts';
import type { AssignmentMode } from './model.ts';

/** A request body larger than this is refused unread past the limit. */
export const MAX_BODY_BYTES = 4096;

const PROFILE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const assignmentBody = z.strictObject({
  profile: z.string().min(1).max(128).regex(PROFILE, 'letters, digits, ".", "_" or "-"'),
  mode: z.enum(['once', 'persistent']).optional().default('persistent'),
  /** ISO 8601 time, or null for none */
  expires: z.union([z.iso.datetime({ offset: true }), z.null()]).optional(),
  /** the client's SMBIOS UUID: the assignment also decides for it from another MAC */
  uuid: z.string().max(40).refine((s) => parseUuid(s).ok, 'not a UUID (8-4-4-4-12 hex digits)').optional(),
});

export interface AssignmentInput { profile: string; mode: AssignmentMode; expiresAt?: number; uuid?: string }

export type Checked<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

export function checkMac(s: string): Checked<string> {
  const mac = normaliseMac(s);
  return mac === undefined ? { ok: false, status: 400, error: `"${s.slice(0, 40)}" is not a MAC address (write aa:bb:cc:dd:ee:ff)` } : { ok: true, value: mac };
}

/** A PUT body (already size-capped) → an assignment for one of `profiles`, or why not. */
export function checkAssignment(text: string, profiles: readonly string[], now: number): Checked<AssignmentInput> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { ok: false, status: 400, error: 'body is not JSON (send {"profile": "NAME", "mode": "once"|"persistent", "expires": "2026-12-31T00:00:00Z"})' };
  }
  const r = assignmentBody.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    return { ok: false, status: 400, error: `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}` };
  }
  if (!profiles.includes(r.data.profile)) {
    return { ok: false, status: 400, error: `no profile "${r.data.profile}" (profiles: ${profiles.join(', ') || 'none'})` };
  }
  const out: AssignmentInput = { profile: r.data.profile, mode: r.data.mode };
  if (r.data.uuid !== undefined) {
    const u = parseUuid(r.data.uuid);
    if (u.ok) out.uuid = u.value;
  }
  if (r.data.expires != null) {
    const t = Date.parse(r.data.expires);
    if (t <= now) return { ok: false, status: 400, error: `expires: ${r.data.expires} is in the past` };
    out.expiresAt = t;
  }
  return { ok: true, value: out };
}

/** `--expires` as people write it: an ISO time, or a duration from now like 30m, 12h, 7d. */
export function parseExpires(s: string, now: number): number | undefined {
  const d = /^(\d{1,6})([smhd])$/.exec(s);
  if (d !== null) return now + Number(d[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[d[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : undefined;
}
