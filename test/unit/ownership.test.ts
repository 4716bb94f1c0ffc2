// Keepalived VIP ownership: rendezvous hashing with bounded load (firstboot/model/ownership.ts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assignVips, FIRST_BACKUP_PRIORITY, OWNER_PRIORITY, priorityOf, score } from '../../firstboot/model/ownership.js';

const names = (prefix: string, min: number, max: number) =>
  fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), { minLength: min, maxLength: max }).map((xs) => xs.map((x) => `${prefix}${x}`));
const cluster = fc.record({ nodes: names('n', 1, 16), vips: names('v', 1, 48) });

const owners = (m: ReturnType<typeof assignVips>) => Object.fromEntries([...m].map(([v, r]) => [v, r.ranking[0]]));

describe('VIP ownership', () => {
  it('is deterministic and independent of the order of the node and VIP lists', () => {
    fc.assert(
      fc.property(cluster, fc.context(), ({ nodes, vips }, ctx) => {
        const a = assignVips(vips, nodes);
        const shuffledNodes = [...nodes].reverse();
        const shuffledVips = [...vips].sort().reverse();
        const b = assignVips(shuffledVips, shuffledNodes);
        ctx.log(JSON.stringify(owners(a)));
        expect([...b.entries()].sort()).toEqual([...a.entries()].sort());
      }),
      { numRuns: 300 },
    );
  });

  it('is balanced: every node owns ⌊V/N⌋ or ⌈V/N⌉ VIPs', () => {
    fc.assert(
      fc.property(cluster, ({ nodes, vips }) => {
        const m = assignVips(vips, nodes);
        const count = new Map(nodes.map((n) => [n, 0]));
        for (const r of m.values()) count.set(r.ranking[0] ?? '', (count.get(r.ranking[0] ?? '') ?? 0) + 1);
        const lo = Math.floor(vips.length / nodes.length);
        const hi = Math.ceil(vips.length / nodes.length);
        for (const [n, c] of count) expect(c, `node ${n}`).toBeGreaterThanOrEqual(lo);
        for (const [n, c] of count) expect(c, `node ${n}`).toBeLessThanOrEqual(hi);
        expect(count.size).toBe(nodes.length);
      }),
      { numRuns: 300 },
    );
  });

  it('ranks every node exactly once per VIP, with distinct priorities: owner 100, backups 90 and down', () => {
    fc.assert(
      fc.property(cluster, ({ nodes, vips }) => {
        for (const r of assignVips(vips, nodes).values()) {
          expect([...r.ranking].sort()).toEqual([...nodes].sort());
          const prios = r.ranking.map((_, i) => priorityOf(i));
          expect(prios[0]).toBe(OWNER_PRIORITY);
          if (prios.length > 1) expect(prios[1]).toBe(FIRST_BACKUP_PRIORITY);
          expect(new Set(prios).size).toBe(prios.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("spreads a failed node's VIPs over the survivors", () => {
    // Over many clusters, the first backups of one node's VIPs are mostly different nodes.
    let spread = 0;
    let samples = 0;
    fc.assert(
      fc.property(fc.integer({ min: 4, max: 12 }), fc.integer({ min: 0, max: 1000 }), (n, salt) => {
        const nodes = Array.from({ length: n }, (_, i) => `n${salt}-${i}`);
        const vips = Array.from({ length: 3 * n }, (_, i) => `v${salt}-${i}`);
        const m = assignVips(vips, nodes);
        const mine = [...m.values()].filter((r) => r.ranking[0] === nodes[0]);
        const takers = new Set(mine.map((r) => r.ranking[1]));
        samples++;
        if (takers.size > 1) spread++;
      }),
      { numRuns: 200 },
    );
    console.log(`failed node's VIPs went to more than one survivor in ${spread}/${samples} clusters`);
    expect(spread / samples).toBeGreaterThan(0.8);
  });

  it('moves few VIPs when a node joins or leaves (far fewer than a reshuffle)', () => {
    // Bound, justified: exact balance forces some moves beyond the unavoidable minimum (when
    // ⌊V/N⌋ changes, a node over its new quota gives up a VIP to its next preference), so the
    // moved fraction sits above the minimum; measured ≈ 0.21-0.25 over random clusters, against
    // ≈ 0.86 for modulo placement (hash mod N), which moves a VIP whenever its index changes.
    // Asserting < 0.35 keeps it at well under half of a reshuffle with margin for sampling noise.
    let movedJoin = 0;
    let movedLeave = 0;
    let reshuffle = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 1e6 }), (n, ratio, salt) => {
        const nodes = Array.from({ length: n }, (_, i) => `n${salt}-${i}`);
        const vips = Array.from({ length: n * ratio }, (_, i) => `v${salt}-${i}`);
        const before = owners(assignVips(vips, nodes));
        const joined = owners(assignVips(vips, [...nodes, `new-${salt}`]));
        const left = owners(assignVips(vips, nodes.slice(1)));
        movedJoin += vips.filter((v) => before[v] !== joined[v]).length / vips.length;
        movedLeave += vips.filter((v) => before[v] !== left[v]).length / vips.length;
        // Modulo placement for comparison: VIP → hash(VIP) mod N, then mod N+1.
        const h = (v: string) => score(v, '');
        reshuffle += vips.filter((v) => h(v) % BigInt(n) !== h(v) % BigInt(n + 1)).length / vips.length;
        runs++;
      }),
      { numRuns: 300, seed: 42 },
    );
    const j = movedJoin / runs;
    const l = movedLeave / runs;
    const r = reshuffle / runs;
    console.log(`moved fraction: join ${j.toFixed(3)}, leave ${l.toFixed(3)}; modulo reshuffle ${r.toFixed(3)} (${runs} clusters)`);
    expect(j).toBeLessThan(0.35);
    expect(l).toBeLessThan(0.35);
    expect(j).toBeLessThan(r / 2);
  });
});
