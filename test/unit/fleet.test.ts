// The fleet view's judgement, on reports built here (the lab test shows it against real nodes):
// each flag is raised by exactly the situation it names, and a healthy fleet raises none.
import pc from 'picocolors';
import { describe, expect, it } from 'vitest';
import { analyzeFleet } from '../../builder/fleet/analyze.js';
import type { NodeReport } from '../../builder/fleet/collect.js';
import { collectFleet } from '../../builder/fleet/collect.js';
import { formatFleet } from '../../builder/fleet/format.js';
import type { PublishedStatus } from '../../firstboot/ops/status-publish.js';

const NOW = new Date('2026-12-02T12:00:10.000Z');
const CLUSTER = { name: 'c', mode: 'keepalived', vips: [{ name: 'a', address: '10.0.0.100' }, { name: 'b', address: '10.0.0.101' }] };

function status(node: string, masterOf: string[], over: Partial<PublishedStatus> = {}): PublishedStatus {
  return {
    healthy: true,
    problems: [],
    warnings: [],
    node,
    cluster: 'c',
    mode: 'keepalived',
    imageVersion: '0.1.0',
    maintenance: false,
    haproxy: { up: true, health: 200 },
    vips: CLUSTER.vips.map((v, i) => ({ name: v.name, address: v.address, backendUp: true, vrid: 50 + i, heldHere: masterOf.includes(v.name), vrrpState: masterOf.includes(v.name) ? 'MASTER' : 'BACKUP' })),
    backends: [{ backend: 'rgw', server: 's1', status: 'UP' }],
    firstboot: { ok: true, at: '2026-12-02T11:00:00Z', result: 'rendered', warnings: [], thisBoot: true },
    publishedAt: '2026-12-02T12:00:09.500Z',
    intervalMs: 1000,
    oberVersion: '0.1.0',
    ...over,
  };
}
const report = (name: string, s?: PublishedStatus, extra: Partial<NodeReport> = {}): NodeReport => ({ name, address: `10.0.0.${name.slice(-1)}`, reachable: !!s, ...(s ? { status: s } : { error: 'ETIMEDOUT' }), ...extra });
const kinds = (r: NodeReport[]) => analyzeFleet(CLUSTER, r, NOW).flags.map((f) => f.kind);

describe('fleet analysis', () => {
  it('a healthy fleet: nothing flagged, every VIP with its one holder', () => {
    const v = analyzeFleet(CLUSTER, [report('n1', status('n1', ['a'])), report('n2', status('n2', ['b']))], NOW);
    expect(v.flags).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.vips.map((x) => [x.name, x.vrid, x.holders])).toEqual([['a', 50, ['n1']], ['b', 51, ['n2']]]);
    expect(v.nodes[0]).toMatchObject({ node: 'n1', vips: ['a'], vrrp: { a: 'MASTER', b: 'BACKUP' }, backendsUp: 1, backendsTotal: 1, ageMs: 500 });
  });

  it('split brain: a VIP on two nodes and two MASTERs of its VRID', () => {
    const v = analyzeFleet(CLUSTER, [report('n1', status('n1', ['a'])), report('n2', status('n2', ['a', 'b']))], NOW);
    expect(v.flags.map((f) => [f.kind, f.vip, f.nodes])).toEqual([
      ['vip-on-two', 'a', ['n1', 'n2']],
      ['two-masters', 'a', ['n1', 'n2']],
    ]);
    expect(v.splitBrain).toBe(true);
    expect(formatFleet(v, pc.createColors(false)).join('\n')).toMatch(/SPLIT BRAIN[\s\S]*VIP a 10\.0\.0\.100 \(VRID 50\): held by n1, n2/);
  });

  it('a VIP nobody holds, version skew, an unreachable node, a stale publisher, an unhealthy node', () => {
    expect(kinds([report('n1', status('n1', ['a'])), report('n2', status('n2', []))])).toEqual(['vip-on-none']);
    expect(kinds([report('n1', status('n1', ['a'])), report('n2', status('n2', ['b'], { imageVersion: '0.2.0' }))])).toEqual(['version-skew']);
    expect(kinds([report('n1', status('n1', ['a', 'b'])), report('n2')])).toEqual(['unreachable']);
    // Stale by the node's own clock (x-ober-now), not ours.
    expect(kinds([report('n1', status('n1', ['a', 'b'])), report('n2', status('n2', []), { nodeNow: Date.parse('2026-12-02T12:00:30Z') })])).toEqual(['stale']);
    expect(kinds([report('n1', status('n1', ['a', 'b'])), report('n2', status('n2', [], { healthy: false, problems: ['HAProxy reports no backend server up'] }))])).toEqual(['unhealthy']);
    // Nobody answers: only the unreachable nodes, no guesses about VIPs.
    expect(kinds([report('n1'), report('n2')])).toEqual(['unreachable', 'unreachable']);
  });

  it('BGP: every node announcing every VIP is ECMP, not a split brain; a VIP nobody announces is flagged', () => {
    const bgp = { ...CLUSTER, mode: 'bgp' };
    const s = (n: string, announced: boolean) => status(n, [], { mode: 'bgp', vips: CLUSTER.vips.map((v) => ({ name: v.name, address: v.address, backendUp: true, heldHere: true, announced })) });
    expect(analyzeFleet(bgp, [report('n1', s('n1', true)), report('n2', s('n2', true))], NOW).flags).toEqual([]);
    expect(analyzeFleet(bgp, [report('n1', s('n1', false)), report('n2', s('n2', false))], NOW).flags.map((f) => f.kind)).toEqual(['vip-on-none', 'vip-on-none']);
  });

  it('collects every node in parallel, each bounded by its timeout', async () => {
    const get = async (url: string, timeoutMs: number) => {
      if (url.includes('10.0.0.2')) {
        await new Promise((r) => setTimeout(r, timeoutMs));
        throw Object.assign(new Error(`timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
      }
      const body = url.endsWith('/status') ? JSON.stringify(status('n1', ['a', 'b'])) : JSON.stringify({ publishedAt: 'x', events: [{ at: 'x', kind: 'firstboot', message: 'first boot rendered' }] });
      return { status: 200, body, headers: { 'x-ober-now': '1796212810000' } };
    };
    const started = Date.now();
    const r = await collectFleet([{ name: 'n1', address: '10.0.0.1' }, { name: 'n2', address: '10.0.0.2' }], { timeoutMs: 300, get });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(r.map((x) => [x.name, x.reachable, x.events?.length, x.nodeNow])).toEqual([['n1', true, 1, 1796212810000], ['n2', false, undefined, undefined]]);
    expect(r[1]?.error).toMatch(/ETIMEDOUT/);
  });
});
