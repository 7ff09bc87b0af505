// Per-client state the pool shares (issue 18), as data, and the rules over it. Pure: the store
// edges (sqlite.ts, postgres.ts) persist it, the cache (view.ts) holds the last known copy, and
// policy reads an assignment's state through a lookup the serve app hands in.

export type AssignmentMode = 'once' | 'persistent';

export interface Assignment {
  profile: string;
  mode: AssignmentMode;
  /** epoch ms; past it the assignment no longer decides (the rules do) */
  expiresAt?: number;
  /** epoch ms; set when a `once` was consumed: from then on no peer answers the client */
  consumedAt?: number;
  consumedBy?: string;
  /**
   * Bumped by every put. A consume names the generation it consumes, so a consume that waited
   * through a store outage cannot use up an assignment the admin re-armed meanwhile.
   */
  generation: number;
  assignedAt: number;
  /**
   * The client's SMBIOS UUID (option 97): the assignment also decides for a client sending it
   * from another MAC (a second NIC, a USB adapter). One assignment, so a once is used up once.
   */
  uuid?: string;
}

/** What the pool saw of a client: the last peer's report wins, fields it did not see are kept. */
export interface Seen {
  firstSeen: number;
  lastSeen: number;
  arch?: number;
  firmware?: string;
  vendorClass?: string;
  /** option 12, as the client sent it */
  hostname?: string;
  uuid?: string;
  relay?: string;
  decision?: string;
  reason?: string;
  file?: string;
  peer?: string;
  outcome?: string;
}

export interface ClientRecord {
  mac: string;
  assignment?: Assignment;
  seen?: Seen;
}

export type AssignmentState = 'active' | 'consumed' | 'expired';

/** What policy is told about a client's assignment. */
export interface AssignmentView {
  profile: string;
  mode: AssignmentMode;
  /** set when the assignment was found by the client's UUID: the MAC it is stored under */
  viaUuidOf?: string;
  state: AssignmentState;
  expiresAt?: number;
  consumedAt?: number;
}

export function assignmentState(a: Assignment, now: number): AssignmentState {
  if (a.consumedAt !== undefined) return 'consumed';
  if (a.expiresAt !== undefined && a.expiresAt <= now) return 'expired';
  return 'active';
}

export function viewOf(a: Assignment, now: number): AssignmentView {
  const v: AssignmentView = { profile: a.profile, mode: a.mode, state: assignmentState(a, now) };
  if (a.expiresAt !== undefined) v.expiresAt = a.expiresAt;
  if (a.consumedAt !== undefined) v.consumedAt = a.consumedAt;
  return v;
}

export type ConsumeResult = 'consumed' | 'already' | 'persistent' | 'expired' | 'stale' | 'none';

/**
 * The consume rule every store implements as one conditional UPDATE: only an active `once` of
 * the named generation is consumed; anything else leaves the record as it was.
 */
export function consume(a: Assignment | undefined, generation: number | undefined, now: number, by: string): { result: ConsumeResult; next: Assignment | undefined } {
  if (a === undefined) return { result: 'none', next: a };
  if (a.mode !== 'once') return { result: 'persistent', next: a };
  if (generation !== undefined && a.generation !== generation) return { result: 'stale', next: a };
  const s = assignmentState(a, now);
  if (s === 'consumed') return { result: 'already', next: a };
  if (s === 'expired') return { result: 'expired', next: a };
  return { result: 'consumed', next: { ...a, consumedAt: now, consumedBy: by } };
}

/** A new assignment replacing `prev`: a fresh generation, not consumed. */
export function arm(prev: Assignment | undefined, input: { profile: string; mode: AssignmentMode; expiresAt?: number; uuid?: string }, now: number): Assignment {
  const a: Assignment = { profile: input.profile, mode: input.mode, generation: (prev?.generation ?? 0) + 1, assignedAt: now };
  if (input.expiresAt !== undefined) a.expiresAt = input.expiresAt;
  if (input.uuid !== undefined) a.uuid = input.uuid;
  return a;
}

/** `seen` updated with a newer report; fields the report lacks keep their old values. */
export function mergeSeen(prev: Seen | undefined, report: Omit<Seen, 'firstSeen' | 'lastSeen'>, at: number): Seen {
  const out: Seen = { ...(prev ?? {}), firstSeen: prev?.firstSeen ?? at, lastSeen: Math.max(prev?.lastSeen ?? at, at) };
  for (const [k, v] of Object.entries(report)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

/**
 * The file whose delivery completes a `once` boot: the last initrd (or the kernel) of a
 * kernel profile — an installer is running once it has them — else the boot file itself.
 */
export function completionFiles(profile: { kernel?: string | undefined; initrd?: readonly string[] | undefined; bios?: string | undefined; efiIa32?: string | undefined; efiX64?: string | undefined; efiArm64?: string | undefined }): string[] {
  if (profile.initrd !== undefined && profile.initrd.length > 0) return [profile.initrd[profile.initrd.length - 1]!];
  if (profile.kernel !== undefined) return [profile.kernel];
  return [profile.bios, profile.efiIa32, profile.efiX64, profile.efiArm64].filter((f): f is string => f !== undefined);
}

/** Does a delivered path (as TFTP or HTTP saw it, maybe under /<profile>/) name one of `files`? */
export function completes(path: string, files: readonly string[], profileName: string): boolean {
  const p = path.split('?')[0]!.replace(/^\/+/, '');
  return files.some((f) => {
    const bare = f.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').replace(/^\/+/, '');
    return bare !== '' && (p === bare || p === `${profileName}/${bare}` || p.endsWith(`/${bare}`));
  });
}
