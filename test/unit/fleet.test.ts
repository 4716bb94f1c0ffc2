// The fleet view's judgement, on reports built here (the lab test shows it against real nodes):
// each flag is raised by exactly the situation it names, and a healthy fleet raises none.
import path from 'node:path';
import pc from 'picocolors';
import { describe, expect, it } from 'vitest';
import { analyzeFleet } from '../../builder/fleet/analyze.js';
import type { NodeReport } from '../../builder/fleet/collect.js';
import { collectFleet } from '../../builder/fleet/collect.js';
import { startDashboard } from '../../builder/fleet/dashboard.js';
import { formatFleet } from '../../builder/fleet/format.js';
import { httpGet } from '../../firstboot/lib/http.js';
import { run } from '../../firstboot/lib/exec.js';
import type { PublishedStatus } from '../../firstboot/ops/status-publish.js';
import { EXAMPLES, REPO } from '../helpers/fixtures.js';

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

  it('keepalived: an address held without VRRP MASTER (a stray address), and a MASTER without its address', () => {
    const stray = status('n2', ['b'], { vips: status('n2', ['b']).vips.map((v) => (v.name === 'a' ? { ...v, heldHere: true } : v)) });
    const v = analyzeFleet(CLUSTER, [report('n1', status('n1', ['a'])), report('n2', stray)], NOW);
    // Two holders is a split brain already; the stray one is named as the one without MASTER.
    expect(v.flags.map((f) => [f.kind, f.vip, f.nodes])).toEqual([
      ['vip-on-two', 'a', ['n1', 'n2']],
      ['vrrp-mismatch', 'a', ['n2']],
    ]);
    const lost = status('n1', ['a'], { vips: status('n1', ['a']).vips.map((v) => (v.name === 'a' ? { ...v, heldHere: false } : v)) });
    const w = analyzeFleet(CLUSTER, [report('n1', lost), report('n2', status('n2', ['b']))], NOW);
    expect(w.flags.map((f) => [f.kind, f.vip, f.nodes])).toEqual([
      ['vip-on-none', 'a', []],
      ['vrrp-mismatch', 'a', ['n1']],
    ]);
    expect(w.flags[1]?.message).toMatch(/n1 is VRRP MASTER without the address/);
    expect(w.ok).toBe(false);
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

describe('fleet and dashboard flags (refused before any node is asked)', () => {
  const ober = (...args: string[]) => run([process.execPath, path.join(REPO, 'dist', 'ober.mjs'), '--json', ...args], { allowFailure: true });
  it('--watch with --json, a bad interval, a bad --listen: exit 1, one JSON error naming the flag', async () => {
    for (const [args, flag] of [
      [['fleet', 'status', '--cluster', EXAMPLES[1] ?? '', '--watch'], '--watch'],
      [['fleet', 'status', '--cluster', EXAMPLES[1] ?? '', '--interval-ms', 'soon'], '--interval-ms'],
      [['dashboard', '--cluster', EXAMPLES[1] ?? '', '--listen', 'localhost'], '--listen'],
    ] as const) {
      const r = await ober(...args);
      expect(r.exitCode, args.join(' ')).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { kind: 'ConfigError', issues: [{ path: flag }] } });
    }
  });
});

describe('ober dashboard server (loopback)', () => {
  it('serves one self-contained page with a CSP, the latest view at /api/fleet, nothing else', async () => {
    let calls = 0;
    const view = analyzeFleet(CLUSTER, [report('n1', status('n1', ['a', 'b'])), report('n2', status('n2', []))], NOW);
    const d = await startDashboard({ name: 'c', mode: 'keepalived', vips: CLUSTER.vips.map((v) => ({ ...v, backend: 'rgw' })), nodes: [] }, { listen: '127.0.0.1:0', intervalMs: 200, snapshot: async () => (calls++, view) });
    try {
      const page = await httpGet(d.url, 2000);
      expect(page.status).toBe(200);
      expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
      // No external asset: nothing in the page names another origin.
      expect(page.body).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
      for (let i = 0; i < 50 && !d.latest(); i++) await new Promise((r) => setTimeout(r, 20));
      const api = await httpGet(`${d.url}api/fleet`, 2000);
      expect(JSON.parse(api.body)).toMatchObject({ cluster: 'c', nodes: [{ node: 'n1' }, { node: 'n2' }] });
      expect((await httpGet(`${d.url}etc/passwd`, 2000)).status).toBe(404);
      await new Promise((r) => setTimeout(r, 500));
      // One poller, every interval, however many readers.
      expect(calls).toBeGreaterThanOrEqual(2);
    } finally {
      await d.close();
    }
  });
});
