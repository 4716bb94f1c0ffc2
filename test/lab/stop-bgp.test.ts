// Planned stops, bgp mode, on a lab of their own: `ober stop` inside a node under load, then the
// way back. Kept apart from the fault drills: a node a fault scenario just shook (e.g. an ExaBGP
// that was SIGSTOPped and resumed) once took seconds longer to withdraw at its stop; that
// interaction is an open finding the bench reports (runDrill keeps the order), not something this
// suite should inherit from the order of its scenarios.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Drill, formatTrial, SCENARIOS, type TrialResult } from '../../builder/lab/drills.js';
import { Lab, labLeftovers } from '../../builder/lab/netns.js';
import { EXAMPLES, loadExample } from '../helpers/fixtures.js';

let lab: Lab;
let drill: Drill;
const results: TrialResult[] = [];

beforeAll(async () => {
  lab = new Lab();
  drill = await Drill.start(lab, await loadExample(EXAMPLES[0] ?? ''));
});

afterAll(async () => {
  drill?.stop();
  await lab?.teardown();
  for (const r of results) console.log(formatTrial(r));
  expect(await labLeftovers(lab)).toEqual({ namespaces: [], veths: [], processes: [], dir: false });
});

describe('planned stops, bgp mode', () => {
  it.each(SCENARIOS.filter((s) => s.mode === 'bgp' && s.planned).map((s, i) => [s.id, s, i] as const))('%s', async (_id, s, i) => {
    const r = await drill.trial(s, i);
    results.push(r);
    // No request that started after the move failed, and the stop ended (see gracefulStop).
    expect(r.problems).toEqual([]);
    // The stopping node still had requests in flight when the traffic moved, and they were
    // answered. Long transfers on a moved path cannot be carried over: their resets are reported.
    if (!s.longTransfers) expect(r.clientServedAcrossMove).toBeGreaterThan(0);
    expect(r.detectMs).toBeLessThan(2500);
  });
});
