// The lab router's resilient forwarding (BuildOptions.resilientEcmp, which the S3 drill of BGP
// mode uses): when a node's routes go and come back, the client's kept-alive connections to the
// other nodes stay where they are. With plain ECMP (what FRR programs) some of them are rehashed
// to another node and reset at their next request (README: what the router needs). The node that
// goes away resets its own clients' connections (ExaBGP's stop, or the health process's
// withdrawal), so they reconnect elsewhere before they are used again.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnRecorder } from '../../builder/lab/watch.js';
import { SCENARIOS } from '../../builder/lab/scenarios.js';
import { sleep } from '../../builder/lab/netns.js';
import { realClock, waitUntil } from '../../firstboot/ops/wait.js';
import { useLab } from '../helpers/lab.js';

const suite = useLab('bgp', { resilientEcmp: true });

/** Holds N kept-alive connections to a VIP; each stdin line sends one request on every one. */
const CLIENT_JS = `
const http = require('node:http');
const [vip, n] = [process.argv[2], Number(process.argv[3])];
const agents = Array.from({ length: n }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
const one = (agent) => new Promise((resolve) => {
  const req = http.get({ host: vip, path: '/', agent, timeout: 3000 }, (res) => {
    const port = res.socket.localPort;
    res.resume();
    res.on('end', () => resolve({ port, node: res.headers['x-served-by'], ok: true }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ ok: false, err: e.code || e.message }));
});
require('node:readline').createInterface({ input: process.stdin }).on('line', async () => {
  process.stdout.write(JSON.stringify(await Promise.all(agents.map(one))) + '\\n');
});
`;

type Round = { port?: number; node?: string; ok: boolean; err?: string }[];

describe('the lab router with resilient next-hop groups', () => {
  // ExaBGP killed: the session and the routes drop, ober-bgp's ExecStopPost resets the node's
  // connections. HAProxy stalled: the health process withdraws the VIP on the same session, and
  // ober-reset@<vip> resets them.
  it.each(['bgp-exabgp-kill', 'bgp-haproxy-stop'])("%s: a node's withdrawal and return reset only that node's connections", async (scenario) => {
    const { lab, drill } = suite;
    const t = drill.t;
    const ecmp = t.resilientEcmp;
    expect(ecmp, 'the lab was built with resilientEcmp').toBeDefined();
    const vip = t.plan.vips[0]?.address ?? '';
    const via = () => ecmp?.changes.filter((c) => c.vip === vip).at(-1)?.via ?? [];
    await waitFor(() => via().length === t.nodes.length, 'the resilient group to hold every node');
    await ecmp?.settled();
    // The client's traffic to the VIP goes through a resilient group over every node.
    const route = JSON.parse((await lab.exec(t.ns.router, ['ip', '-j', 'route', 'show', 'table', String(ecmp?.table), `${vip}/32`])).stdout) as { nhid: number }[];
    const group = JSON.parse((await lab.exec(t.ns.router, ['ip', '-j', 'nexthop', 'show', 'id', String(route[0]?.nhid)])).stdout) as { type?: string; group?: unknown[] }[];
    expect(group[0]).toMatchObject({ type: 'resilient' });
    expect(group[0]?.group).toHaveLength(t.nodes.length);

    const script = path.join(lab.dir, 'keepalive-client.cjs');
    await writeFile(script, CLIENT_JS);
    const rounds: Round[] = [];
    const client = spawnRecorder<Round>(lab, t.ns.client, `keepalive-client-${scenario}`, [process.execPath, script, vip, '48'], rounds);
    const round = async (): Promise<Round> => {
      const before = rounds.length;
      client.child.stdin?.write('go\n');
      for (let i = 0; i < 100 && rounds.length === before; i++) await sleep(50);
      const r = rounds[before];
      if (!r) throw new Error('the client did not answer');
      return r;
    };
    try {
      const first = await round();
      expect(first.every((c) => c.ok)).toBe(true);
      // The node serving most connections goes away.
      const byNode = Object.entries(first.reduce<Record<string, number>>((a, c) => ({ ...a, [c.node ?? '']: (a[c.node ?? ''] ?? 0) + 1 }), {})).sort((a, b) => b[1] - a[1]);
      const victimBackend = byNode[0]?.[0];
      const victim = t.nodes.find((n) => n.backendAddress === victimBackend);
      if (!victim) throw new Error(`no node with backend address ${victimBackend}`);
      const others = first.filter((c) => c.node !== victimBackend).length;
      expect(others, 'connections on the other nodes').toBeGreaterThan(10);
      const fault = SCENARIOS.find((s) => s.id === scenario);
      if (!fault) throw new Error(`no ${scenario} scenario`);
      await fault.inject(t, victim);
      await waitFor(() => !via().includes(victim.address), 'the router to drop the node');
      await ecmp?.settled();
      // The node resets its clients' connections to the VIP (it keeps none open).
      const open = async () => (await lab.exec(victim.ns, ['ss', '-Htn', 'state', 'established', `( sport = :80 ) and src ${vip}`])).stdout.trim();
      const reset = await waitUntil(async () => (await open()) === '', { timeoutMs: 5000, intervalMs: 50, clock: realClock });
      expect(reset.ok, `connections to ${vip} still open on ${victim.name}: ${await open()}`).toBe(true);

      // Every connection on another node answers on the same connection, from the same node.
      const kept = (r: Round) => first.filter((c, i) => c.node !== victimBackend && (r[i]?.ok !== true || r[i]?.port !== c.port || r[i]?.node !== c.node));
      const afterWithdraw = await round();
      // On failure: what the mirror programmed, and the kernel's groups.
      const state = async () => JSON.stringify({ victim: victim.address, changes: ecmp?.changes.filter((c) => c.vip === vip), nexthops: (await lab.exec(t.ns.router, ['ip', 'nexthop', 'show'])).stdout });
      expect(kept(afterWithdraw), await state()).toEqual([]);
      // The victim's own connections were reset before the client used them again: every one of
      // its requests succeeds, on a new connection to another node. Without the reset they would
      // reach another node on the old connection and fail.
      const victimPorts = first.filter((c) => c.node === victimBackend).map((c) => c.port);
      const victims = afterWithdraw.filter((_, i) => first[i]?.node === victimBackend);
      const moved = (c: Round[number], i: number) => c.ok && c.node !== victimBackend && c.port !== victimPorts[i];
      expect(victims.length, 'connections on the victim').toBeGreaterThan(0);
      expect(victims.filter((c, i) => !moved(c, i)), `${JSON.stringify(victims)} ${await state()}`).toEqual([]);

      // The node comes back: no bucket in use moves to it (the idle timer), so nothing else breaks.
      await fault.repair(t, victim);
      await waitFor(() => via().includes(victim.address), 'the router to take the node back');
      await ecmp?.settled();
      const afterReturn = await round();
      expect(afterReturn.filter((c) => !c.ok)).toEqual([]);
      expect(kept(afterReturn)).toEqual([]);
    } finally {
      client.child.stdin?.end();
      await Promise.race([client.exited, sleep(5000)]);
    }
  });
});

async function waitFor(pred: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const r = await waitUntil(async () => pred(), { timeoutMs, intervalMs: 50, clock: realClock });
  if (!r.ok) throw new Error(`timed out waiting for ${what}`);
}
