// Failure drills on the lab: inject a fault into one node, measure what the router (BGP) or the
// other nodes (keepalived) do and what the client sees, repair, measure the way back.
//
// Timing: fault time = Date.now() right before the kill / `ip link` / `nft`; router time = the
// FIB change event (`ip monitor route` in the router namespace); VRRP time = the address-add event
// on the new holder; client = the prober's requests (a new connection every 20 ms per VIP). One
// clock for all. Without systemd the lab has no BindsTo= chain (HAProxy dies → ExaBGP stops), so
// a HAProxy crash is detected by the health processes here, not by a closed BGP session; and
// the units' ExecStopPost lines are emulated: the lab runs `ober vip-release` when it sees
// keepalived exit and ober-bgp's `ss -K` (reset the S3 connections) when it sees ExaBGP exit.
//
// The graceful stop is not a fault but a planned move: `ober stop` runs in the node under a load of
// slow requests, and every request that starts after the router / VRRP moved the traffic must
// succeed. Requests in flight on a moved path at that moment are reset by the network (an ECMP or
// VIP change cannot carry a TCP connection over); they are counted and reported, not hidden.
import { readFile } from 'node:fs/promises';
import { sleep, type Lab } from './netns.js';
import { buildLab, type BuildOptions, type LabNode, type LabTopology } from './topology.js';
import { AddressWatch, Prober, RouteWatch, type ProbeOptions } from './watch.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { formatTrial, summarize, type DrillReport, type TrialResult } from './drill-report.js';

export interface DrillOptions extends BuildOptions {
  trials?: number;
  /** Scenario ids to run (default: every scenario of the cluster's mode). */
  only?: readonly string[];
  /** Progress of each scenario by its id (the lab's own build reports through `log`). */
  progress?: (scenario: string, message: string) => void;
}

const PROBE = { intervalMs: 20, timeoutMs: 1000, durationMs: 120_000, port: 80 };
/** Time between the router/VRRP reaction and the repair: lets in-flight client requests finish. */
const SETTLE_MS = 1200;

/** Polls `pending` (what is not ready yet) until it is empty; the timeout names what was left. */
async function untilNoneLeft(pending: () => Promise<string[]>, timeoutMs: number, intervalMs: number, what: (left: string) => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = await pending();
    if (left.length === 0) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what(left.join(', '))}`);
    await sleep(intervalMs);
  }
}

/** A running lab with its watchers: build once, run many trials. */
export interface DrillStartOptions extends BuildOptions {
  /** The client prober's settings for every scenario (e.g. the path a real S3 backend answers 200 on). */
  probe?: Partial<ProbeOptions>;
  /** How long the lab may take to settle after it was built (default 60 s). */
  steadyTimeoutMs?: number;
}

export class Drill {
  private routes?: RouteWatch;
  private addresses?: AddressWatch;
  private probe: Partial<ProbeOptions> = {};

  private constructor(readonly t: LabTopology) {}

  static async start(lab: Lab, cluster: Cluster, opts: DrillStartOptions = {}): Promise<Drill> {
    const t = await buildLab(lab, cluster, opts);
    const d = new Drill(t);
    d.probe = opts.probe ?? {};
    const vips = t.plan.vips.map((v) => v.address);
    if (t.cluster.mode === 'bgp') {
      // The table that forwards the client's traffic: a window must span the forwarding change,
      // which the resilient forwarding makes a few ms after zebra's own.
      d.routes = new RouteWatch(lab, t.ns.router, vips, t.resilientEcmp?.table ?? 'main');
      await d.routes.start();
    } else {
      d.addresses = new AddressWatch(lab, t.nodes, vips);
      await d.addresses.start();
    }
    await d.waitSteady(opts.steadyTimeoutMs ?? 60_000);
    return d;
  }

  scenarios(): Scenario[] {
    return SCENARIOS.filter((s) => s.mode === this.t.cluster.mode);
  }

  /** BGP: every VIP routed to every node, and BFD up with every node that uses it. Keepalived: every VIP on its owner only. */
  async waitSteady(timeoutMs = 30_000): Promise<void> {
    if (this.routes) {
      const all = this.t.nodes.map((n) => n.address).sort().join();
      await this.routes.waitAll((via) => via.join() === all, timeoutMs, 'every node announcing every VIP');
      // A link cut right after a BGP session came up would otherwise be found by the hold timer.
      const bfdNodes = this.t.nodes.filter((n) => n.config.bgp?.bfd.enabled).map((n) => n.address);
      await untilNoneLeft(async () => {
        const up = new Set((await this.t.vtysh('show bfd peers brief')).split('\n').flatMap((l) => /\s(\d+\.\d+\.\d+\.\d+)\s+up\b/.exec(l)?.slice(1) ?? []));
        return bfdNodes.filter((a) => !up.has(a));
      }, timeoutMs, 200, (down) => `BFD with ${down}`);
    } else if (this.addresses) {
      const a = this.addresses;
      await a.waitFor(() => this.t.nodes.every((n) => this.ownedBy(n).every((v) => a.holdersOf(v).join() === n.name)), timeoutMs, 'every VIP on its owner');
      // And every node healthy in keepalived's eyes (track file 0): a backup whose health feed has
      // not yet said so stands at the lowered priority, and a fault then would be met by the wrong
      // backup first (a takeover, then a preemption: churn the trial would count as the fault's).
      const healthy = async (n: LabNode) => (await readFile(n.layout.trackFile, 'utf8').catch(() => '')).trim() === '0';
      await untilNoneLeft(async () => {
        const states = await Promise.all(this.t.nodes.map(healthy));
        return this.t.nodes.filter((_, i) => !states[i]).map((n) => n.name);
      }, timeoutMs, 100, (names) => `the health feed of ${names} to say healthy`);
    }
  }

  private ownedBy(n: LabNode): string[] {
    return n.config.vips.filter((v) => v.vrrp?.owner === n.name).map((v) => v.address);
  }

  /** Victims for trial i: BGP any node; keepalived a node that owns a VIP. */
  victim(i: number): LabNode {
    const candidates = this.addresses ? this.t.nodes.filter((n) => this.ownedBy(n).length > 0) : this.t.nodes;
    const v = candidates[i % candidates.length];
    if (!v) throw new Error('no node to drill');
    return v;
  }

  /**
   * One trial of a scenario on victim i. If the lab itself broke (its backend or router ended),
   * the trial's error or problems say so: otherwise every node "fails" with no cause in sight.
   */
  async trial(s: Scenario, i: number): Promise<TrialResult> {
    let r: TrialResult;
    try {
      r = await this.runTrial(s, i);
    } catch (e) {
      const down = this.t.lab.essentialsDown();
      if (down.length && e instanceof Error) e.message += `\n${down.join('\n')}`;
      throw e;
    }
    r.problems.push(...this.t.lab.essentialsDown());
    return r;
  }

  private async runTrial(s: Scenario, i: number): Promise<TrialResult> {
    const t = this.t;
    const victim = this.victim(i);
    await this.waitSteady();
    const affected = this.addresses ? this.ownedBy(victim) : t.plan.vips.map((v) => v.address);
    const prober = new Prober(t.lab, t.ns.client, affected, { ...PROBE, ...s.probe, ...this.probe });
    prober.start();
    await sleep(300);
    const problems: string[] = [];
    const tFault = Date.now();
    const injected = await s.inject(t, victim);
    problems.push(...(injected?.problems ?? []));
    let tDetect: number;
    if (this.routes) {
      tDetect = await this.routes.waitAll((via) => via.length > 0 && !via.includes(victim.address), 15_000, `${victim.name} leaving the router's FIB`);
    } else {
      const a = this.addresses as AddressWatch;
      tDetect = await a.waitFor(() => affected.every((v) => a.holdersOf(v).some((h) => h !== victim.name)), 15_000, `${victim.name}'s VIPs taken over`);
    }
    if (injected?.httpStopAt !== undefined && tDetect > injected.httpStopAt) {
      problems.push(`the traffic moved at +${tDetect - tFault} ms, after HAProxy began to stop at +${injected.httpStopAt - tFault} ms`);
    }
    await sleep(SETTLE_MS);
    if (s.id === 'bgp-exabgp-kill') {
      // The health processes must follow ExaBGP (stdin EOF), not linger as orphans.
      const orphans = await this.healthProcesses(victim);
      if (orphans.length) problems.push(`${orphans.length} 'ober health' process(es) outlived ExaBGP on ${victim.name}`);
    }
    if (this.addresses) {
      await this.addresses.resync();
      for (const v of affected) {
        const h = this.addresses.holdersOf(v);
        if (h.length !== 1) problems.push(`after the fault ${v} is held by ${h.length ? h.join(' and ') : 'nobody'}`);
      }
    }
    const tRepair = Date.now();
    await s.repair(t, victim);
    let tBack: number;
    if (this.routes) {
      tBack = await this.routes.waitAll((via) => via.includes(victim.address), 30_000, `${victim.name} back in the router's FIB`);
    } else {
      const a = this.addresses as AddressWatch;
      tBack = await a.waitFor(() => affected.every((v) => a.holdersOf(v).join() === victim.name), 30_000, `${victim.name}'s VIPs back (preempt)`);
    }
    await sleep(500);
    await prober.stop();
    const recs = prober.records;
    const before = recs.filter((r) => r.s >= tFault - PROBE.intervalMs && r.s < tRepair);
    const failed = before.filter((r) => !r.ok);
    const after = recs.filter((r) => r.s >= tRepair);
    // Failed while the moved state stood: started after the move, ended before the repair (a
    // long download cut by the repair's own ECMP rehash belongs to the repair).
    const failedAfterMove = failed.filter((r) => r.s > tDetect && r.e < tRepair);
    if (s.planned && failedAfterMove.length) problems.push(`${failedAfterMove.length} request(s) started after the move and failed (${[...new Set(failedAfterMove.map((r) => r.err))].join(', ')})`);
    const tail = recs.filter((r) => r.s >= tBack + 100);
    if (tail.length === 0 || tail.some((r) => !r.ok)) problems.push(`traffic not flowing after the way back (${tail.filter((r) => !r.ok).length}/${tail.length} failed)`);
    if (this.addresses) {
      await this.addresses.resync();
      for (const v of t.plan.vips.map((x) => x.address)) {
        const h = this.addresses.holdersOf(v);
        if (h.length !== 1) problems.push(`after the repair ${v} is held by ${h.length ? h.join(' and ') : 'nobody'}`);
      }
    }
    return {
      scenario: s.id,
      trial: i,
      victim: victim.name,
      detectMs: tDetect - tFault,
      restoreMs: tBack - tRepair,
      clientFailed: failed.length,
      clientTotal: before.length,
      clientLastFailureMs: failed.length ? Math.max(...failed.map((r) => r.s)) - tFault : 0,
      clientFailedAfterMove: failedAfterMove.length,
      clientServedAcrossMove: recs.filter((r) => r.ok && r.by === victim.backendAddress && r.s < tDetect && r.e > tDetect).length,
      clientFailedOnOtherNodes: recs.filter((r) => !r.ok && r.s >= tFault - PROBE.intervalMs && r.by && r.by !== victim.backendAddress).length,
      clientFailedAfterRepair: after.filter((r) => !r.ok).length,
      clientErrors: recs
        .filter((r) => !r.ok && r.s >= tFault)
        .reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.err ?? '?']: (acc[r.err ?? '?'] ?? 0) + 1 }), {}),
      problems,
      at: { fault: tFault, detect: tDetect, repair: tRepair, back: tBack },
    };
  }

  /** `ober health` processes running in a node's namespace. */
  async healthProcesses(n: LabNode): Promise<number[]> {
    const out: number[] = [];
    const pids = (await this.t.lab.pidsInNamespaces()).filter(Boolean);
    for (const pid of pids) {
      try {
        const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
        if (cmd.includes('health') && cmd.some((c) => c.startsWith(n.layout.root))) out.push(pid);
      } catch {
        /* gone */
      }
    }
    return out;
  }

  stop(): void {
    this.routes?.stop();
    this.addresses?.stop();
    this.t.resilientEcmp?.stop();
  }
}

/** Build the lab for a cluster, run every scenario `trials` times, tear everything down. */
export async function runDrill(lab: Lab, cluster: Cluster, opts: DrillOptions = {}): Promise<DrillReport> {
  const log = opts.progress ?? (() => {});
  const trials = opts.trials ?? 1;
  const results: TrialResult[] = [];
  const drill = await Drill.start(lab, cluster, opts);
  try {
    for (const s of drill.scenarios().filter((x) => !opts.only || opts.only.includes(x.id))) {
      for (let i = 0; i < trials; i++) {
        log(s.id, `trial ${i + 1}/${trials} on ${drill.victim(i).name}`);
        let r: TrialResult;
        try {
          r = await drill.trial(s, i);
        } catch (e) {
          // One failed trial is a finding, not the end of the drill: record it and go on if the
          // lab recovers (every node back to normal); otherwise the drill ends here.
          r = { scenario: s.id, trial: i, victim: drill.victim(i).name, detectMs: NaN, restoreMs: NaN, clientFailed: NaN, clientTotal: 0, clientLastFailureMs: NaN, clientFailedAfterMove: NaN, clientServedAcrossMove: NaN, clientFailedOnOtherNodes: NaN, clientFailedAfterRepair: NaN, clientErrors: {}, problems: [(e as Error).message] };
          results.push(r);
          log(s.id, `trial ${i + 1} failed: ${(e as Error).message}`);
          await drill.waitSteady(30_000);
          continue;
        }
        log(s.id, formatTrial(r));
        results.push(r);
      }
    }
  } finally {
    drill.stop();
  }
  return { cluster: cluster.name, mode: cluster.mode, trials, daemons: drill.t.daemonsDescription, results, summary: summarize(results) };
}
