// A deterministic model of a pool holding service addresses, for the takeover property tests.
// It models what the planner cannot see and what makes the problem hard: each host's kernel
// keeps an address until its lease runs out (and drops it up to a second after that, never before), a killed
// process leaves its addresses behind, a stopped process wakes with a stale view and a probe
// result that is old, `ip addr change` on an expired address re-creates it, an ARP probe only
// sees who holds the address when it starts and the add lands a probe's time later.
//
// The edge logic modelled here is the one src/pool/address-edge.ts implements: mine = the
// kernel has it and mayRenew; kernel has it but may not renew → delete; a probe that took far
// longer than it should (we were stopped) is thrown away; link down → release everything.

import { mayRenew, type ServiceAddress, TakeoverPlanner } from '../../src/pool/takeover.ts';
import { rng } from '../../src/storm/run.ts';

export interface SimParams {
  peers: string[];
  hbMs: number;
  deadAfter: number;
  leaseMs: number;
  marginMs: number;
  probeMs: number;
  stableMs: number;
  handoffMaxMs: number;
  graceMs: number;
  /** max one-way heartbeat delay */
  delayMs: number;
  /** probability a heartbeat datagram is lost */
  loss: number;
  /** planner overrides, to show that each safeguard matters */
  leaseWaitMs?: number;
  holdDownMs?: number;
}

export type SimEvent =
  | { at: number; peer: number; kind: 'kill' }
  | { at: number; peer: number; kind: 'restart' }
  | { at: number; peer: number; kind: 'stop'; forMs: number }
  | { at: number; peer: number; kind: 'link-down'; forMs: number };

interface Proc {
  planner: TakeoverPlanner;
  lastRenew: Map<string, number>;
  lastHeard: Map<string, number>;
  heldBy: Map<string, string[]>;
  probing: Map<string, number>;
  inbox: { at: number; from: string; held: string[] }[];
  nextTick: number;
}

interface Host {
  name: string;
  /** address → time the kernel deletes it */
  kernel: Map<string, number>;
  proc: Proc | undefined;
  stoppedUntil: number;
  linkUpAt: number;
}

export interface SimResult {
  /** first instant two kernels held one address, if any */
  doubleHeld?: { at: number; address: string; hosts: string[] };
  /** at the end: address → hosts whose kernel holds it */
  holders: Map<string, string[]>;
  /** addresses that had no holder, total ms (availability) */
  unheldMs: Map<string, number>;
  claims: number;
  recreated: number;
  /** longest stretch during which some address had two holders, ms */
  maxDoubleMs: number;
}

export function simulate(p: SimParams, events: readonly SimEvent[], endMs: number, seed: number, trace?: (line: string) => void): SimResult {
  const rand = rng(seed);
  const addresses: ServiceAddress[] = p.peers.map((name, i) => ({ address: `10.9.0.${100 + i}`, home: name }));
  const peerList = p.peers.map((name) => ({ name, weight: 1 }));
  const hosts: Host[] = p.peers.map((name) => ({ name, kernel: new Map(), proc: undefined, stoppedUntil: -1, linkUpAt: -1 }));
  const deadMs = p.hbMs * p.deadAfter;
  const newProc = (name: string, now: number): Proc => ({
    planner: new TakeoverPlanner({
      self: name, peers: peerList, addresses, stableMs: p.stableMs, handoffMaxMs: p.handoffMaxMs, graceMs: p.graceMs, pauseMs: deadMs, holdDownMs: p.holdDownMs ?? p.probeMs + deadMs + p.hbMs, leaseWaitMs: p.leaseWaitMs ?? p.leaseMs + 1000 + p.hbMs,
    }),
    lastRenew: new Map(), lastHeard: new Map(), heldBy: new Map(), probing: new Map(), inbox: [],
    nextTick: now + Math.floor(rand() * p.hbMs),
  });
  for (const h of hosts) h.proc = newProc(h.name, 0);
  const res: SimResult = { holders: new Map(), unheldMs: new Map(addresses.map((a) => [a.address, 0])), claims: 0, recreated: 0, maxDoubleMs: 0 };
  const doubleSince = new Map<string, number>();
  const pending = [...events].sort((a, b) => a.at - b.at);
  const probeResults = new Map<string, boolean>();
  const STEP = 10;
  const linkUp = (h: Host, now: number): boolean => now >= h.linkUpAt;
  const kernelHas = (h: Host, a: string, now: number): boolean => (h.kernel.get(a) ?? -1) > now;
  // The kernel deletes at the lease's end, in whole seconds, so up to a second early.
  // The kernel deletes an expired address up to a second late (one timer for all addresses,
  // re-armed at least a second apart), never early.
  const leaseEnd = (now: number): number => now + p.leaseMs + Math.floor(rand() * 1000);

  for (let now = 0; now <= endMs; now += STEP) {
    while (pending.length > 0 && pending[0]!.at <= now) {
      const e = pending.shift()!;
      const h = hosts[e.peer]!;
      if (e.kind === 'kill') h.proc = undefined;
      else if (e.kind === 'restart') { if (h.proc === undefined) h.proc = newProc(h.name, now); }
      else if (e.kind === 'stop') h.stoppedUntil = Math.max(h.stoppedUntil, now + e.forMs);
      else h.linkUpAt = Math.max(h.linkUpAt, now + e.forMs);
    }
    for (const h of hosts) for (const [a, end] of h.kernel) if (end <= now) h.kernel.delete(a);

    for (const h of hosts) {
      const pr = h.proc;
      if (pr === undefined || now < h.stoppedUntil) continue;
      // Datagrams queued while we were stopped are read now, as a socket would deliver them.
      pr.inbox.sort((x, y) => x.at - y.at);
      while (pr.inbox.length > 0 && pr.inbox[0]!.at <= now) {
        const m = pr.inbox.shift()!;
        pr.lastHeard.set(m.from, now);
        pr.heldBy.set(m.from, m.held);
      }
      // Probes finishing: the add lands now, unless the probe took too long (we were stopped).
      for (const [a, started] of [...pr.probing]) {
        if (now - started < p.probeMs) continue;
        pr.probing.delete(a);
        const r = probeResults.get(`${h.name}|${a}|${started}`);
        if (r !== true || now - started > p.probeMs + 500 || !linkUp(h, now)) continue;
        h.kernel.set(a, leaseEnd(now));
        pr.lastRenew.set(a, now);
        res.claims++;
        trace?.(`${now} ${h.name} added ${a}`);
      }
      if (now < pr.nextTick) continue;
      pr.nextTick = now + p.hbMs;
      if (!linkUp(h, now)) {
        // Carrier lost: serve nothing, hold nothing, plan nothing (a long outage then reads as a
        // pause to the planner: it starts over with a grace period).
        for (const a of [...h.kernel.keys()]) h.kernel.delete(a);
        pr.lastRenew.clear();
        pr.planner.wasDeaf();
        continue;
      }
      const mine = new Set<string>();
      // The edge goes by its own record of what it added and renewed, not by asking the kernel
      // every beat; a renewal of an address the kernel dropped re-creates it (measured).
      for (const [a, at] of [...pr.lastRenew]) {
        if (mayRenew(at, now, p.leaseMs, p.marginMs)) mine.add(a);
        else { h.kernel.delete(a); pr.lastRenew.delete(a); }
      }
      const live = new Set<string>([h.name]);
      for (const [n, t] of pr.lastHeard) if (now - t <= deadMs) live.add(n);
      const heldBy = new Map<string, string[]>();
      for (const [n, list] of pr.heldBy) heldBy.set(n, list);
      const plan = pr.planner.plan({ now, live, heldBy, mine, heardAt: pr.lastHeard });
      for (const a of plan.keep) {
        // A renewal re-creates an address the kernel already dropped: count it if it happens.
        if (!kernelHas(h, a, now)) res.recreated++;
        h.kernel.set(a, leaseEnd(now));
        pr.lastRenew.set(a, now);
      }
      for (const act of plan.actions) {
        trace?.(`${now} ${h.name} ${act.type} ${act.address} ${act.reason} live=${[...live].join(',')} heldBy=${JSON.stringify([...heldBy])}`);
        if (act.type === 'release') { h.kernel.delete(act.address); pr.lastRenew.delete(act.address); mine.delete(act.address); }
        else if (!pr.probing.has(act.address)) {
          const free = hosts.every((o) => !kernelHas(o, act.address, now) || !linkUp(o, now));
          probeResults.set(`${h.name}|${act.address}|${now}`, free);
          pr.probing.set(act.address, now);
        }
      }
      // The edge plans again when a wait ends (wakeAt), not only at the next heartbeat.
      if (plan.wakeAt !== undefined && plan.wakeAt < pr.nextTick) pr.nextTick = Math.max(now + STEP, Math.ceil(plan.wakeAt / STEP) * STEP);
      const held = plan.keep;
      for (const o of hosts) {
        if (o === h || !linkUp(o, now) || rand() < p.loss) continue;
        o.proc?.inbox.push({ at: now + Math.floor(rand() * p.delayMs), from: h.name, held });
      }
    }

    for (const a of addresses) {
      const holding = hosts.filter((h) => kernelHas(h, a.address, now)).map((h) => h.name);
      if (holding.length > 1 && res.doubleHeld === undefined) res.doubleHeld = { at: now, address: a.address, hosts: holding };
      if (holding.length > 1) {
        const since = doubleSince.get(a.address) ?? now;
        doubleSince.set(a.address, since);
        res.maxDoubleMs = Math.max(res.maxDoubleMs, now - since + STEP);
      } else {
        doubleSince.delete(a.address);
      }
      if (holding.filter((n) => linkUp(hosts.find((h) => h.name === n)!, now)).length === 0) {
        res.unheldMs.set(a.address, res.unheldMs.get(a.address)! + STEP);
      }
    }
  }
  for (const a of addresses) res.holders.set(a.address, hosts.filter((h) => kernelHas(h, a.address, endMs)).map((h) => h.name));
  return res;
}
