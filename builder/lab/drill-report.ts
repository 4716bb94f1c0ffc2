// The drill's results as data and text: one trial, the per-scenario statistics, a log line per
// trial and the recovery table.
import type { Cluster } from '../../firstboot/model/schema.js';
import { SCENARIOS } from './scenarios.js';

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
