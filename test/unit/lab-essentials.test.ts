// The lab names its own breakage: when a process every test depends on (the backend, the router)
// ends, a drill's error says which one, how it ended and what it printed last, instead of every
// node seeming to fail with no cause in sight.
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { Lab, signal } from '../../builder/lab/netns.js';

let lab: Lab;
let ns: string;

beforeAll(async () => {
  lab = new Lab();
  ns = await lab.addNs('ess');
});
afterAll(async () => {
  await lab?.teardown();
});

it('reports an essential process that ended, with its exit status and last output; not one that was never essential, not one still running', async () => {
  const crashed = lab.spawn(ns, 'backend', ['sh', '-c', 'echo listening; echo "TypeError: boom" >&2; exit 3'], { essential: true });
  const killed = lab.spawn(ns, 'rtr-zebra', ['sleep', '60'], { essential: true });
  const running = lab.spawn(ns, 'rtr-bgpd', ['sleep', '60'], { essential: true });
  const helper = lab.spawn(ns, 'helper', ['sh', '-c', 'exit 1']);
  expect(lab.essentialsDown()).toEqual([]);
  signal(killed.pid, 'SIGKILL');
  await Promise.all([crashed.exited, killed.exited, helper.exited]);
  // The log is written through a stream: its last line may land just after the exit.
  await vi.waitFor(() => expect(lab.essentialsDown()[0]).toMatch(new RegExp(`^lab process backend \\(${crashed.pid}\\) ended \\(3\\); its log ends: .*TypeError: boom`)));
  const down = lab.essentialsDown();
  expect(down).toHaveLength(2);
  expect(down[1]).toMatch(new RegExp(`^lab process rtr-zebra \\(${killed.pid}\\) ended \\(SIGKILL\\)`));
  expect(down.join()).not.toMatch(/helper|rtr-bgpd/);
  expect(running.alive()).toBe(true);
});
