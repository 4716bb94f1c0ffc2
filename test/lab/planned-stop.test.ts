// Planned stops on a fresh lab per mode: `ober stop` inside a node under load, then the way back.
// Kept apart from the fault drills: a node a fault scenario just shook (e.g. an ExaBGP that was
// SIGSTOPped and resumed) once took seconds longer to withdraw at its stop; that interaction is
// an open finding the bench reports (runDrill keeps the order), not something this suite should
// inherit by the order of its scenarios.
import { afterAll, describe, expect, it } from 'vitest';
import { Drill, formatTrial, SCENARIOS, type TrialResult } from '../../builder/lab/drills.js';
import { Lab, labLeftovers } from '../../builder/lab/netns.js';
import { EXAMPLES, loadExample } from '../helpers/fixtures.js';

const results: TrialResult[] = [];
afterAll(() => {
  for (const r of results) console.log(formatTrial(r));
});

describe.each([
  ['bgp', EXAMPLES[0] ?? ''],
  ['keepalived', EXAMPLES[1] ?? ''],
] as const)('planned stops, %s mode', (mode, example) => {
  let lab: Lab;
  let drill: Drill;

  it.each(SCENARIOS.filter((s) => s.mode === mode && s.planned).map((s, i) => [s.id, s, i] as const))('%s', async (_id, s, i) => {
    if (!drill) {
      lab = new Lab();
      drill = await Drill.start(lab, await loadExample(example));
    }
    const r = await drill.trial(s, i);
    results.push(r);
    // No request that started after the move failed, and the stop ended (see gracefulStop).
    expect(r.problems).toEqual([]);
    // The stopping node still had requests in flight when the traffic moved, and they were
    // answered. Long transfers on a moved path cannot be carried over: their resets are reported.
    if (!s.longTransfers) expect(r.clientServedAcrossMove).toBeGreaterThan(0);
    expect(r.detectMs).toBeLessThan(2500);
  });

  it('leaves nothing behind', async () => {
    drill?.stop();
    await lab?.teardown();
    expect(await labLeftovers(lab)).toEqual({ namespaces: [], veths: [], processes: [], dir: false });
  });
});
