// Failure drills on the lab: inject a fault into one node, measure what the router (BGP) or the
// other nodes (keepalived) do and what the client sees, repair, measure the way back.
//
// Timing: fault time = Date.now() right before the kill / `ip link` / `nft`; router time = the
// FIB change event (`ip monitor route` in the router namespace); VRRP time = the address-add event
// on the new holder; client = the prober's requests (a new connection every 20 ms per VIP). One
// clock for all. Without systemd the lab has no BindsTo= chain (HAProxy dies → ExaBGP stops), so
// a HAProxy crash is detected by the health processes here, not by a closed BGP session; and
// ExecStopPost=ober vip-release is emulated: the lab runs it when it sees keepalived exit.
//
// The graceful stop is not a fault but a planned move: `ober stop` runs in the node under a load of
// slow requests, and every request that starts after the router / VRRP moved the traffic must
// succeed. Requests in flight on a moved path at that moment are reset by the network (an ECMP or
// VIP change cannot carry a TCP connection over); they are counted and reported, not hidden.
import { readFile, rm } from 'node:fs/promises';
import { sleep, signal, type Lab } from './netns.js';
import { buildLab, keepalivedPids, startExabgp, startHaproxy, startKeepalived, type BuildOptions, type LabNode, type LabTopology } from './topology.js';
import { AddressWatch, Prober, RouteWatch, type ProbeOptions } from './watch.js';
import type { Cluster } from '../../firstboot/model/schema.js';

export interface Scenario {
  id: string;
  mode: Cluster['mode'];
  title: string;
  /** The seed's figure for this failure, as text. */
  seed: string;
  /** The target for detection (router FIB drop / VIP takeover), ms. */
  targetMs?: number;
  /** A planned move (ober stop): a request that starts after the move and fails is a problem. */
  planned?: boolean;
  /** Long transfers: those in flight on a moved path cannot survive the move (their client's packets reach another node). */
  longTransfers?: boolean;
  /** The client's load for this scenario, on top of PROBE. */
  probe?: Partial<ProbeOptions>;
  /** Returns what went wrong in the injection itself (e.g. a failed `ober stop` step). */
  inject(t: LabTopology, n: LabNode): Promise<void | InjectOutcome>;
  repair(t: LabTopology, n: LabNode): Promise<void>;
}

export interface InjectOutcome {
  problems: string[];
  /**
   * A planned stop: when HAProxy began to stop (lab clock). The traffic must have moved before it
   * (withdraw or hand-over, then drain, then stop), however slowly a loaded host ran the steps.
   */
  httpStopAt?: number;
}

const FAULT_TABLE = 'oberlab_fault';

const linkDown = async (t: LabTopology, n: LabNode) => {
  await t.lab.exec(n.ns, ['ip', 'link', 'set', n.lanIf, 'down']);
};
const linkUp = async (t: LabTopology, n: LabNode) => {
  await t.lab.exec(n.ns, ['ip', 'link', 'set', n.lanIf, 'up']);
  // IPv4 flushed the routes via the downed link (lab note 7); networkd would re-add it on a node.
  await t.lab.exec(n.ns, ['ip', 'route', 'replace', 'default', 'via', t.plan.router]);
};
const sig = (which: 'haproxy' | 'exabgp', s: NodeJS.Signals) => async (_t: LabTopology, n: LabNode) => {
  const p = n.procs[which];
  if (!p?.alive()) throw new Error(`${n.name}: ${which} is not running`);
  signal(p.pid, s);
};
const killKeepalived = (s: NodeJS.Signals) => async (_t: LabTopology, n: LabNode) => {
  const pids = await keepalivedPids(n);
  // SIGKILL: the whole service dies at once (OOM killer, watchdog); SIGTERM: the parent, as systemd stops it.
  for (const pid of s === 'SIGKILL' ? pids.reverse() : pids.slice(0, 1)) signal(pid, s);
  // As systemd: the stop is over once ExecStopPost ran (a SIGKILLed keepalived leaves its VIPs to it).
  await n.keepalivedStopped;
};

/**
 * `ober stop`'s drain bound in the lab: the slow requests (200 ms) and downloads (1.5 s) finish well
 * within it; what is left after it are connections the network moved away (their client's packets
 * now reach another node), which the stop then closes.
 */
const STOP_DRAIN_SEC = 5;

/**
 * The operator's `ober stop` inside the node (no systemd: HAProxy is soft-stopped through its pid
 * file). Reaching the drain bound is not a problem by itself: a connection whose last packets the
 * network sent to another node (the client's FIN after its answer, or a long download's ACKs)
 * never ends on the stopping node, and the stop closes it at the bound. What counts is what the
 * client saw, and that the stop ended.
 */
const gracefulStop = async (t: LabTopology, n: LabNode): Promise<InjectOutcome> => {
  const t0 = Date.now();
  const r = await t.lab.exec(n.ns, [n.layout.oberBin, '--json', 'stop', '--no-systemd', '--drain-timeout', String(STOP_DRAIN_SEC)], { allowFailure: true, timeoutMs: 120_000 });
  const problems: string[] = [];
  if (r.exitCode !== 0) problems.push(`ober stop exited ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  const tEnd = Date.now();
  let httpStopAt: number | undefined;
  try {
    const { steps } = JSON.parse(r.stdout) as { steps: { name: string; ok: boolean; detail: string; elapsedMs: number }[] };
    for (const st of steps.filter((x) => !x.ok && x.name !== 'drain')) problems.push(`ober stop step ${st.name}: ${st.detail}`);
    // stop-http is the last step: it began its elapsed time before the command returned (at the latest).
    const stopHttp = steps.find((x) => x.name === 'stop-http');
    if (stopHttp) httpStopAt = tEnd - stopHttp.elapsedMs;
    else problems.push('ober stop ran no stop-http step');
  } catch {
    problems.push(`ober stop printed no JSON result: ${r.stdout.slice(0, 200)}`);
  }
  // ober stop waited for the process to end; its exit event may still be on its way to this process.
  if (n.procs.haproxy) await Promise.race([n.procs.haproxy.exited, sleep(2000)]);
  if (n.procs.haproxy?.alive()) problems.push('HAProxy still runs after ober stop');
  // The stop must end: moving the traffic takes a few seconds, then the drain bound, then the hard stop.
  if (Date.now() - t0 > (STOP_DRAIN_SEC + 15) * 1000) problems.push(`ober stop took ${Date.now() - t0} ms with a ${STOP_DRAIN_SEC} s drain bound`);
  return httpStopAt === undefined ? { problems } : { problems, httpStopAt };
};

/** What `ober start` does on a node: drop the maintenance flag, start ober-http (here: the lab's HAProxy). */
const startAgain = async (t: LabTopology, n: LabNode) => {
  await rm(n.layout.maintenanceFlag, { force: true });
  startHaproxy(t, n);
};

/** Slow requests, so that some are in flight while `ober stop` moves the traffic and drains. */
const STOP_LOAD: Partial<ProbeOptions> = { path: '/probe?delay=200', timeoutMs: 5000 };
/** 1.5 s downloads (~2.4 MB each), a new one every 200 ms per VIP: long transfers across the move. */
const DOWNLOAD_LOAD: Partial<ProbeOptions> = { path: '/probe?stream=1500', intervalMs: 200, timeoutMs: 10_000 };

export const SCENARIOS: Scenario[] = [
  {
    id: 'bgp-haproxy-kill',
    mode: 'bgp',
    title: 'HAProxy SIGKILL',
    seed: 'instant (<10 ms, BindsTo)',
    inject: sig('haproxy', 'SIGKILL'),
    repair: async (t, n) => void startHaproxy(t, n),
  },
  { id: 'bgp-haproxy-stop', mode: 'bgp', title: 'HAProxy SIGSTOP (stall)', seed: '~1-2 s', targetMs: 600, inject: sig('haproxy', 'SIGSTOP'), repair: sig('haproxy', 'SIGCONT') },
  {
    id: 'bgp-exabgp-kill',
    mode: 'bgp',
    title: 'ExaBGP SIGKILL',
    seed: 'instant',
    inject: sig('exabgp', 'SIGKILL'),
    repair: async (t, n) => void (await startExabgp(t, n)),
  },
  { id: 'bgp-exabgp-stop', mode: 'bgp', title: 'ExaBGP SIGSTOP (hung)', seed: 'hold time', targetMs: 3000, inject: sig('exabgp', 'SIGSTOP'), repair: sig('exabgp', 'SIGCONT') },
  { id: 'bgp-link-down', mode: 'bgp', title: 'link down (BFD)', seed: '~150 ms via BFD', targetMs: 250, inject: linkDown, repair: linkUp },
  {
    id: 'bgp-blackhole',
    mode: 'bgp',
    title: 'silent packet drop (nftables)',
    seed: '~150 ms via BFD',
    targetMs: 250,
    inject: async (t, n) => {
      const rules = `table inet ${FAULT_TABLE} {\n chain i { type filter hook input priority -300; policy accept; iifname "${n.lanIf}" drop; }\n chain o { type filter hook output priority -300; policy accept; oifname "${n.lanIf}" drop; }\n}\n`;
      await t.lab.exec(n.ns, ['nft', '-f', '-'], { input: rules });
    },
    repair: async (t, n) => void (await t.lab.exec(n.ns, ['nft', 'delete', 'table', 'inet', FAULT_TABLE])),
  },
  { id: 'ka-keepalived-kill', mode: 'keepalived', title: 'keepalived SIGKILL', seed: '~3 s', targetMs: 800, inject: killKeepalived('SIGKILL'), repair: async (t, n) => void startKeepalived(t, n) },
  { id: 'ka-keepalived-term', mode: 'keepalived', title: 'keepalived SIGTERM', seed: '~3 s', targetMs: 800, inject: killKeepalived('SIGTERM'), repair: async (t, n) => void startKeepalived(t, n) },
  { id: 'ka-haproxy-kill', mode: 'keepalived', title: 'HAProxy SIGKILL', seed: '~3 s', targetMs: 1000, inject: sig('haproxy', 'SIGKILL'), repair: async (t, n) => void startHaproxy(t, n) },
  { id: 'ka-haproxy-stop', mode: 'keepalived', title: 'HAProxy SIGSTOP (stall)', seed: '4-6 s', targetMs: 1000, inject: sig('haproxy', 'SIGSTOP'), repair: sig('haproxy', 'SIGCONT') },
  { id: 'ka-link-down', mode: 'keepalived', title: 'link cut', seed: '~3 s', targetMs: 800, inject: linkDown, repair: linkUp },
  { id: 'bgp-graceful-stop', mode: 'bgp', title: 'ober stop under load', seed: 'no failed request', planned: true, probe: STOP_LOAD, inject: gracefulStop, repair: startAgain },
  // Plain ECMP (hash-threshold) remaps flows of the surviving nodes too when a next hop goes or
  // comes: their long transfers break. The count is the router's doing, reported per trial.
  { id: 'bgp-graceful-stop-downloads', mode: 'bgp', title: 'ober stop, long downloads (ECMP rehash)', seed: '-', planned: true, longTransfers: true, probe: DOWNLOAD_LOAD, inject: gracefulStop, repair: startAgain },
  { id: 'ka-graceful-stop', mode: 'keepalived', title: 'ober stop under load', seed: 'no failed request', planned: true, probe: STOP_LOAD, inject: gracefulStop, repair: startAgain },
  { id: 'ka-graceful-stop-downloads', mode: 'keepalived', title: 'ober stop, long downloads', seed: '-', planned: true, longTransfers: true, probe: DOWNLOAD_LOAD, inject: gracefulStop, repair: startAgain },
];

export interface TrialResult {
  scenario: string;
  trial: number;
  victim: string;
  /** Fault → router FIB without the node (BGP) / VIP added on the new holder (keepalived). */
  detectMs: number;
  /** Repair → node back in the FIB / VIP back on its owner (preempt). */
  restoreMs: number;
  /** Client requests to the affected VIPs that failed between fault and repair. */
  clientFailed: number;
  clientTotal: number;
  /** Start of the last failed request, relative to the fault (0 when none failed). */
  clientLastFailureMs: number;
  /**
   * Failed requests that started after the move (router FIB change / VIP takeover) and ended
   * before the repair. The others were in flight on the failed or moved path; for a planned stop
   * they are the resets the network causes, and this must be 0.
   */
  clientFailedAfterMove: number;
  /** Requests in flight at the move (started before, ended after) that the victim answered. */
  clientServedAcrossMove: number;
  /** Failed requests (fault to the end of the trial) that another node was serving: flows the router moved away from a healthy node. */
  clientFailedOnOtherNodes: number;
  /** Failed requests after the repair (fail-back). */
  clientFailedAfterRepair: number;
  /** Why the client's requests failed (error → count), fault to the end of the trial. */
  clientErrors: Record<string, number>;
  /** Invariant violations found after the trial (duplicate VIPs, no traffic, orphans). */
  problems: string[];
  /** When it happened (ms since the epoch, the lab's clock): fault, move, repair, back. */
  at?: { fault: number; detect: number; repair: number; back: number };
}

/** One line per trial, for logs. */
export function formatTrial(r: TrialResult): string {
  const errors = Object.entries(r.clientErrors).map(([e, n]) => `${e}×${n}`).join(' ');
  return (
    `${r.scenario} on ${r.victim}: detect ${r.detectMs} ms, back ${r.restoreMs} ms, client failed ${r.clientFailed}/${r.clientTotal}` +
    ` (${r.clientFailedAfterMove} started after the move${r.clientFailed ? `, last at +${r.clientLastFailureMs} ms` : ''}${errors ? `; ${errors}` : ''})` +
    `, served across the move ${r.clientServedAcrossMove}, failed on other nodes ${r.clientFailedOnOtherNodes}, failed after repair ${r.clientFailedAfterRepair}` +
    (r.problems.length ? `; problems: ${r.problems.join('; ')}` : '')
  );
}

export interface DrillOptions extends BuildOptions {
  trials?: number;
  /** Scenario ids to run (default: every scenario of the cluster's mode). */
  only?: readonly string[];
  /** Progress of each scenario by its id (the lab's own build reports through `log`). */
  progress?: (scenario: string, message: string) => void;
}

export interface DrillReport {
  cluster: string;
  mode: Cluster['mode'];
  trials: number;
  /** Whose daemons ran (the image's or the host's), with their versions. */
  daemons: string;
  results: TrialResult[];
  summary: ScenarioSummary[];
}

export interface Stat {
  median: number;
  min: number;
  max: number;
}

export interface ScenarioSummary {
  scenario: string;
  title: string;
  seed: string;
  targetMs?: number;
  detect: Stat;
  restore: Stat;
  clientFailed: Stat;
  clientFailedAfterMove: Stat;
  problems: string[];
}

export function stat(xs: readonly number[]): Stat {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
  return { median: Math.round(median), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN };
}

const PROBE = { intervalMs: 20, timeoutMs: 1000, durationMs: 120_000, port: 80 };
/** Time between the router/VRRP reaction and the repair: lets in-flight client requests finish. */
const SETTLE_MS = 1200;

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
      d.routes = new RouteWatch(lab, t.ns.router, vips);
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
      const end = Date.now() + timeoutMs;
      for (;;) {
        const up = new Set((await this.t.vtysh('show bfd peers brief')).split('\n').flatMap((l) => /\s(\d+\.\d+\.\d+\.\d+)\s+up\b/.exec(l)?.slice(1) ?? []));
        const down = bfdNodes.filter((a) => !up.has(a));
        if (down.length === 0) break;
        if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for BFD with ${down.join(', ')}`);
        await sleep(200);
      }
    } else if (this.addresses) {
      const a = this.addresses;
      await a.waitFor(() => this.t.nodes.every((n) => this.ownedBy(n).every((v) => a.holdersOf(v).join() === n.name)), timeoutMs, 'every VIP on its owner');
      // And every node healthy in keepalived's eyes (track file 0): a backup whose health feed has
      // not yet said so stands at the lowered priority, and a fault then would be met by the wrong
      // backup first (a takeover, then a preemption: churn the trial would count as the fault's).
      const end = Date.now() + timeoutMs;
      for (;;) {
        const unhealthy = [];
        for (const n of this.t.nodes) if ((await readFile(n.layout.trackFile, 'utf8').catch(() => '')).trim() !== '0') unhealthy.push(n.name);
        if (unhealthy.length === 0) break;
        if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for the health feed of ${unhealthy.join(', ')} to say healthy`);
        await sleep(100);
      }
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

  async trial(s: Scenario, i: number): Promise<TrialResult> {
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
  }
}

export function summarize(results: readonly TrialResult[]): ScenarioSummary[] {
  return SCENARIOS.filter((s) => results.some((r) => r.scenario === s.id)).map((s) => {
    const rs = results.filter((r) => r.scenario === s.id);
    return {
      scenario: s.id,
      title: s.title,
      seed: s.seed,
      ...(s.targetMs !== undefined ? { targetMs: s.targetMs } : {}),
      detect: stat(rs.map((r) => r.detectMs)),
      restore: stat(rs.map((r) => r.restoreMs)),
      clientFailed: stat(rs.map((r) => r.clientFailed)),
      clientFailedAfterMove: stat(rs.map((r) => r.clientFailedAfterMove)),
      problems: rs.flatMap((r) => r.problems.map((p) => `trial ${r.trial} (${r.victim}): ${p}`)),
    };
  });
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

/** The recovery table, markdown. */
export function formatTable(report: DrillReport): string {
  const f = (s: Stat) => (Number.isNaN(s.median) ? '-' : `${s.median} (${s.min}-${s.max})`);
  const rows = report.summary.map(
    (s) => `| ${s.title} | ${f(s.detect)} | ${s.targetMs ?? '-'} | ${s.seed} | ${f(s.restore)} | ${f(s.clientFailed)} | ${f(s.clientFailedAfterMove)} | ${s.problems.length ? s.problems.join('; ') : 'ok'} |`,
  );
  return [
    `${report.mode === 'bgp' ? 'BGP' : 'Keepalived'} mode, cluster ${report.cluster}, ${report.trials} trial(s) per scenario; ms, median (min-max)`,
    '',
    `Daemons: ${report.daemons}`,
    '',
    `| scenario | ${report.mode === 'bgp' ? 'router FIB drops node' : 'VIP taken over'} | target | seed | repair → back | client requests failed | of which started after the move | checks |`,
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
