// Keepalived mode drills on the lab (one trial each): a failed node's VIPs move to a healthy
// node, no VIP is ever left on two nodes, traffic flows again, preempt brings the VIPs home, and
// nothing of the lab is left behind.
import { describe, expect, it } from 'vitest';
import { SCENARIOS } from '../../builder/lab/scenarios.js';
import type { LabNode } from '../../builder/lab/topology.js';
import type { NodeStatus } from '../../firstboot/commands/status.js';
import { useLab } from '../helpers/lab.js';

const suite = useLab('keepalived');

/** The operator's `ober status --json`, inside the node. */
const nodeStatus = (n: LabNode) => suite.lab.exec(n.ns, [n.layout.oberBin, '--json', 'status'], { allowFailure: true });

describe('keepalived mode nodes after first boot', () => {
  it('ober status --json in every node: first boot from the seed ISO, HAProxy and backends up, MASTER of exactly the VIPs it owns', async () => {
    for (const n of suite.drill.t.nodes) {
      const r = await nodeStatus(n);
      expect(r.exitCode, `${n.name}: ${r.stdout}`).toBe(0);
      const s = JSON.parse(r.stdout) as NodeStatus;
      expect(s).toMatchObject({ healthy: true, node: n.name, mode: 'keepalived', maintenance: false, haproxy: { up: true, health: 200 }, firstboot: { ok: true, source: 'nocloud' } });
      expect(s.firstboot?.location).toMatch(/seed\.iso$/);
      const owned = new Set(n.config.vips.filter((v) => v.vrrp?.owner === n.name).map((v) => v.address));
      expect(s.vips.map((v) => [v.address, v.heldHere, v.vrrpState])).toEqual(n.config.vips.map((v) => [v.address, owned.has(v.address), owned.has(v.address) ? 'MASTER' : 'BACKUP']));
      expect(s.backends.length).toBeGreaterThan(0);
      expect(s.backends.every((b) => b.status === 'UP')).toBe(true);
    }
  });
});

describe('keepalived mode drills', () => {
  it.each(SCENARIOS.filter((s) => s.mode === 'keepalived' && !s.planned).map((s, i) => [s.id, s, i] as const))('%s', async (_id, s, i) => {
    const r = await suite.drill.trial(s, i);
    suite.results.push(r);
    // The traffic moved (the trial waits for it) and came back, with every VIP held by one node
    // (keepalived) and nothing left behind: r.problems. How fast is bench:failover's table.
    expect(r.problems).toEqual([]);
  });
});
