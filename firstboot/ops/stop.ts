// The graceful stop of a node: take it out of rotation first, let the network move the traffic,
// let HAProxy's connections finish, and only then stop HAProxy. Plan (pure, --dry-run) and
// execution (probes injected) are separate so the sequence is testable without daemons.
import type { NodeConfig } from '../model/derive.js';
import { frontendId } from '../render/haproxy.js';
import type { FrontendCounters } from './haproxy-cli.js';
import type { ServiceControl } from './services.js';
import { waitUntil, type Clock } from './wait.js';
import { HOLD_SET } from '../render/system.js';

export interface StopSettings {
  mode: NodeConfig['mode'];
  vips: { name: string; address: string }[];
  /** Other nodes of the cluster: none means nobody can take the VIPs over (a one-node cluster). */
  peers: number;
  /** HAProxy frontends of the VIPs (the stats frontend is not client traffic). */
  frontends: string[];
  /** BGP: how long the health processes need to see the flag and withdraw. */
  withdrawWaitMs: number;
  /** No new sessions on the VIP frontends for this long = the router/backup took the traffic. */
  quietMs: number;
  /** Bound on waiting for the traffic to move (BGP) or the VIPs to be handed over (keepalived). */
  moveTimeoutMs: number;
  /** keepalived: bound on waiting, with new connections held, for the running requests to finish before the hand-over. */
  finishTimeoutMs: number;
  /** keepalived: the hold on new connections expires by itself after this long, should the stop die. */
  holdExpirySec: number;
  drainTimeoutMs: number;
}

/** Margin on top of the health feed's own detection time: process scheduling, ExaBGP's queue. */
const WITHDRAW_MARGIN_MS = 1000;
/** A router that moved the traffic sends no new connection for this long (ECMP rehash is immediate). */
const QUIET_MS = 2000;
const MOVE_TIMEOUT_MS = 30_000;
/**
 * A held client retransmits its SYN after 1 s, then 3 s, then 7 s: with the hand-over done by the
 * second, the held clients wait at most 3 s. Transfers longer than this bound may still be cut.
 */
const FINISH_TIMEOUT_MS = 2000;

export function stopSettings(node: NodeConfig, opts: { drainTimeoutSec?: number } = {}): StopSettings {
  const h = node.health;
  return {
    mode: node.mode,
    vips: node.vips.map((v) => ({ name: v.name, address: v.address })),
    peers: node.peers.length,
    frontends: node.vips.map((v) => frontendId(v.name)),
    // The feed goes down after `fall` failed polls of `interval`, the last one bounded by `timeout`.
    withdrawWaitMs: h.intervalMs * h.fall + h.timeoutMs + WITHDRAW_MARGIN_MS,
    quietMs: QUIET_MS,
    moveTimeoutMs: MOVE_TIMEOUT_MS,
    finishTimeoutMs: FINISH_TIMEOUT_MS,
    holdExpirySec: Math.ceil((FINISH_TIMEOUT_MS + MOVE_TIMEOUT_MS) / 1000) + 10,
    drainTimeoutMs: (opts.drainTimeoutSec ?? node.haproxy.drainTimeoutSec) * 1000,
  };
}

export type StopStepName = 'maintenance' | 'close-connections' | 'withdraw' | 'traffic-moved' | 'hold' | 'finish-requests' | 'handover' | 'drain' | 'stop-http';

export interface StopStep {
  name: StopStepName;
  description: string;
}

export function planStop(s: StopSettings): StopStep[] {
  const vips = s.vips.map((v) => `${v.name} ${v.address}`).join(', ');
  const steps: StopStep[] = [
    { name: 'maintenance', description: 'create the maintenance flag: the health feeds report this node down' },
    {
      name: 'close-connections',
      description: "HAProxy answers every request with Connection: close from now on: clients' pooled connections to this node end after their next answer, before the move, instead of breaking at their next use after it",
    },
  ];
  if (s.mode === 'bgp') {
    steps.push({ name: 'withdraw', description: `wait ${s.withdrawWaitMs} ms for the health processes to withdraw ${vips}` });
    steps.push({
      name: 'traffic-moved',
      description: `wait until no new connection arrived on ${s.frontends.join(', ')} for ${s.quietMs} ms (at most ${s.moveTimeoutMs / 1000} s)`,
    });
  } else if (s.peers === 0) {
    steps.push({ name: 'handover', description: `no other node can take ${vips}: they go with HAProxy's stop` });
  } else {
    // After a VRRP hand-over the client's packets (a PUT's body, the ACKs a GET's answer needs)
    // reach the new holder, which knows no such connection and resets it: what runs here must
    // end before, and nothing new may start.
    steps.push({
      name: 'hold',
      description: `drop new connections to ${vips} on this node (nftables set ${HOLD_SET}, expires after ${s.holdExpirySec} s): clients retransmit their SYN after 1 s and reach the node that took the VIPs over`,
    });
    steps.push({
      name: 'finish-requests',
      description: `wait until no request runs on the VIPs, every client that connected before the hold has sent its request, and every answer sent from them is acknowledged (at most ${s.finishTimeoutMs / 1000} s)`,
    });
    steps.push({
      name: 'handover',
      description: `lower this node's VRRP priority (track file 1) and wait until it is MASTER of none of ${vips} (at most ${s.moveTimeoutMs / 1000} s), then lift the hold`,
    });
  }
  steps.push({ name: 'drain', description: `wait until HAProxy's connections on the VIPs are finished (at most ${s.drainTimeoutMs / 1000} s)` });
  steps.push({
    name: 'stop-http',
    description: 'soft-stop HAProxy (ober-http): listeners close, running requests finish; the mode units follow it. If the drain bound was reached, hard-stop instead: what is still open is closed',
  });
  return steps;
}

export interface StopProbes {
  setMaintenance(): Promise<void>;
  /** Turn on the VIP frontends' switch that closes every client connection after its answer. */
  closeConnections(): Promise<void>;
  /** keepalived: write 1 to the track file so the first backup takes over (no priority-0 gap). */
  lowerPriority(): Promise<void>;
  /** keepalived: drop new connections to the VIPs on this node, for at most `expirySec`. */
  holdNewConnections(expirySec: number): Promise<void>;
  releaseHold(): Promise<void>;
  /** keepalived: requests running on the VIPs plus VIP connections with data not yet read or acknowledged (count, and what they are); undefined when unknown. */
  inFlight(): Promise<{ count: number; detail: string } | undefined>;
  /** Counters of the VIP frontends; undefined when HAProxy does not answer. */
  frontends(names: readonly string[]): Promise<FrontendCounters[] | undefined>;
  /** keepalived: addresses of the VIPs this node still holds. */
  heldVips(): Promise<string[]>;
  service: ServiceControl;
  clock: Clock;
  progress(step: StopStepName, message: string): void;
}

export interface StopStepResult {
  name: StopStepName;
  ok: boolean;
  elapsedMs: number;
  detail: string;
}

/** Run the plan. A bound that is reached is reported (ok: false) and the stop goes on: an operator's stop must end. */
export async function executeStop(s: StopSettings, p: StopProbes): Promise<StopStepResult[]> {
  const results: StopStepResult[] = [];
  const step = async (name: StopStepName, fn: () => Promise<{ ok: boolean; detail: string }>) => {
    const start = p.clock.now();
    p.progress(name, planStop(s).find((x) => x.name === name)?.description ?? name);
    const r = await fn();
    results.push({ name, ok: r.ok, elapsedMs: p.clock.now() - start, detail: r.detail });
  };
  const sum = (xs: FrontendCounters[], k: 'scur' | 'stot') => xs.reduce((a, x) => a + x[k], 0);

  await step('maintenance', async () => {
    await p.setMaintenance();
    return { ok: true, detail: 'flag set' };
  });
  const reachable = (await p.frontends(s.frontends)) !== undefined;
  await step('close-connections', async () => {
    if (!reachable) return { ok: true, detail: 'HAProxy does not answer: no connection to close' };
    // Not a reason to stop the stop: the connections then break after the move, as without it.
    return p.closeConnections().then(
      () => ({ ok: true, detail: 'every answer closes its connection' }),
      (e: unknown) => ({ ok: false, detail: `could not turn it on: ${e instanceof Error ? e.message : String(e)}` }),
    );
  });

  if (s.mode === 'bgp') {
    await step('withdraw', async () => {
      await p.clock.sleep(s.withdrawWaitMs);
      return { ok: true, detail: `waited ${s.withdrawWaitMs} ms` };
    });
    await step('traffic-moved', async () => {
      if (!reachable) return { ok: true, detail: 'HAProxy does not answer: no traffic to move' };
      let last = -1;
      let lastChange = p.clock.now();
      const r = await waitUntil(
        async () => {
          const now = p.clock.now();
          const c = await p.frontends(s.frontends);
          if (!c) return true;
          const total = sum(c, 'stot');
          if (total !== last) {
            last = total;
            lastChange = now;
          }
          return now - lastChange >= s.quietMs;
        },
        { timeoutMs: s.moveTimeoutMs, intervalMs: 250, clock: p.clock },
      );
      return r.ok ? { ok: true, detail: `no new connection for ${s.quietMs} ms` } : { ok: false, detail: `new connections still arrive after ${s.moveTimeoutMs / 1000} s: is the route withdrawn on the router?` };
    });
  } else if (s.peers === 0) {
    // Waiting for a hand-over nobody can take would only add the move timeout to the stop.
    await step('handover', () => Promise.resolve({ ok: true, detail: 'no other node in the cluster: the VIPs go with HAProxy' }));
  } else {
    let holding = false;
    try {
      await step('hold', () =>
        p.holdNewConnections(s.holdExpirySec).then(
          () => ((holding = true), { ok: true, detail: 'new connections to the VIPs are dropped here' }),
          // Not a reason to stop the stop: requests starting now may then break at the hand-over.
          (e: unknown) => ({ ok: false, detail: `could not hold them: ${e instanceof Error ? e.message : String(e)}` }),
        ),
      );
      await step('finish-requests', async () => {
        if (!reachable) return { ok: true, detail: 'HAProxy does not answer: no request runs' };
        let running: { count: number; detail: string } | undefined;
        const r = await waitUntil(async () => (running = await p.inFlight())?.count === 0, { timeoutMs: s.finishTimeoutMs, intervalMs: 50, clock: p.clock });
        return r.ok ? { ok: true, detail: 'no request running' } : { ok: false, detail: `still running after ${s.finishTimeoutMs / 1000} s (${running?.detail ?? 'HAProxy or ss did not answer'}): may break at the hand-over` };
      });
      await step('handover', async () => {
        await p.lowerPriority();
        let held: string[] = [];
        const r = await waitUntil(async () => (held = await p.heldVips()).length === 0, { timeoutMs: s.moveTimeoutMs, intervalMs: 100, clock: p.clock });
        return r.ok
          ? { ok: true, detail: 'this node holds no VIP' }
          : { ok: false, detail: `still MASTER of ${held.join(', ')} after ${s.moveTimeoutMs / 1000} s (no backup up?); the VIPs go with HAProxy's stop` };
      });
    } finally {
      // The VIPs are gone (or stay, with nobody to take them): new connections are no longer held.
      if (holding) await p.releaseHold().catch(() => undefined);
    }
  }

  await step('drain', async () => {
    if (!reachable) return { ok: true, detail: 'HAProxy does not answer: nothing to drain' };
    let open = 0;
    const r = await waitUntil(
      async () => {
        const c = await p.frontends(s.frontends);
        open = c ? sum(c, 'scur') : 0;
        return open === 0;
      },
      { timeoutMs: s.drainTimeoutMs, intervalMs: 250, clock: p.clock },
    );
    return r.ok ? { ok: true, detail: 'no open connection' } : { ok: false, detail: `${open} connection(s) still open after ${s.drainTimeoutMs / 1000} s; the soft stop lets running requests finish` };
  });

  // Connections still open after the drain bound are ones the network already moved away (their
  // client's packets reach another node, so this HAProxy never learns they ended) or transfers
  // the operator chose to cut with --drain-timeout: a soft stop would wait for them up to
  // hard-stop-after, so they are closed now.
  const leftOpen = results.find((r) => r.name === 'drain')?.ok === false;
  await step('stop-http', async () => {
    // Say so when there was nothing to stop: "stopped" must mean a HAProxy ended.
    if (!(await p.service.isActive('http'))) return { ok: true, detail: `HAProxy was not running (${p.service.kind})` };
    await p.service.stop('http', leftOpen ? 'immediate' : 'graceful');
    return { ok: true, detail: `${leftOpen ? 'hard-stopped after the drain bound, closing what was left' : 'stopped'} (${p.service.kind})` };
  });
  return results;
}
