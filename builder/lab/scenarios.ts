// The drill's scenarios: what each fault does to a node (inject) and how it is undone (repair),
// with the seed's figure and the detection target; the runner (drills.ts) measures them.
import { rm } from 'node:fs/promises';
import { signal, sleep } from './netns.js';
import { keepalivedPids, startExabgp, startHaproxy, startKeepalived, type LabNode, type LabTopology } from './topology.js';
import type { ProbeOptions } from './watch.js';
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
    // Bounds reached by long transfers (finish-requests before the hand-over, the drain) are not
    // failures by themselves: what the client saw is (the trial's counts).
    for (const st of steps.filter((x) => !x.ok && x.name !== 'drain' && x.name !== 'finish-requests')) problems.push(`ober stop step ${st.name}: ${st.detail}`);
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
