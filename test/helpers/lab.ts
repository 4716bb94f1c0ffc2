// One lab per test file: built from an example cluster in beforeAll, torn down in afterAll (also
// when a test failed), each trial's line printed, and nothing of it left behind (asserted).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTrial, type TrialResult } from '../../builder/lab/drill-report.js';
import { Drill, type DrillStartOptions } from '../../builder/lab/drills.js';
import { SCENARIOS } from '../../builder/lab/scenarios.js';
import { Lab, labLeftovers } from '../../builder/lab/netns.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { EXAMPLES, loadExample } from './fixtures.js';

export interface LabSuite {
  /** Set once beforeAll ran. */
  lab: Lab;
  drill: Drill;
  /** Trials to print at the end. */
  results: TrialResult[];
}

type HaMode = Cluster['mode'];

/** The example cluster of each mode (examples/*-3node.yaml). */
const EXAMPLE_OF: Record<HaMode, string> = { bgp: EXAMPLES[0] ?? '', keepalived: EXAMPLES[1] ?? '' };

/** After teardown: no namespace, veth, process or directory of the lab is left (OBER_LAB_KEEP=1 keeps the directory, its logs, on purpose). */
export async function expectNothingLeft(lab: Lab | undefined): Promise<void> {
  expect(await labLeftovers(lab)).toEqual({ namespaces: [], veths: [], processes: [], dir: Boolean(process.env.OBER_LAB_KEEP) });
}

/** The example file a lab of this mode is built from. */
export const labExample = (mode: HaMode): string => EXAMPLE_OF[mode];

export function useLab(mode: HaMode, opts: DrillStartOptions = {}): LabSuite {
  const suite: Partial<LabSuite> & { results: TrialResult[] } = { results: [] };
  beforeAll(async () => {
    suite.lab = new Lab();
    suite.drill = await Drill.start(suite.lab, await loadExample(EXAMPLE_OF[mode]), opts);
    // Whose daemons this lab runs: the image's, or (no image tree built here) the host's — said, not implied.
    const t = suite.drill.t;
    (t.daemons.kind === 'image' ? console.log : console.warn)(`lab (${mode}): ${t.daemonsDescription}`);
  });
  afterAll(async () => {
    suite.drill?.stop();
    await suite.lab?.teardown();
    for (const r of suite.results) console.log(formatTrial(r));
    await expectNothingLeft(suite.lab);
  });
  return suite as LabSuite;
}

/**
 * Planned stops (`ober stop` inside a node under load, then the way back) on a lab of their own.
 * Kept apart from the fault drills: a node a fault scenario just shook (e.g. an ExaBGP that was
 * SIGSTOPped and resumed) once took seconds longer to withdraw at its stop; that interaction is an
 * open finding the bench reports (runDrill keeps the order), not something this suite should
 * inherit from the order of its scenarios.
 */
export function describePlannedStops(mode: HaMode): void {
  const suite = useLab(mode);
  describe(`planned stops, ${mode} mode`, () => {
    it.each(SCENARIOS.filter((s) => s.mode === mode && s.planned).map((s, i) => [s.id, s, i] as const))('%s', async (_id, s, i) => {
      const r = await suite.drill.trial(s, i);
      suite.results.push(r);
      // No request that started after the move failed, the traffic moved before HAProxy began to
      // stop, and the stop ended (see gracefulStop). How fast is the bench's to say, not a test's.
      expect(r.problems).toEqual([]);
      // Long transfers on a moved path cannot be carried over: their resets are reported.
      if (s.longTransfers) return;
      if (mode === 'bgp') {
        // The stopping node still had requests in flight when the traffic moved, and they were answered.
        expect(r.clientServedAcrossMove).toBeGreaterThan(0);
      } else {
        // keepalived: new connections are held and the ~10 requests always running finish before
        // the VIP moves (after it, their client's packets would reach the new holder): none of
        // them, and none started during the hold, may fail.
        expect(r.clientFailed).toBe(0);
      }
    });
  });
}
