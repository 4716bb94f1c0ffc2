// The node status API as a node serves it: the rendered haproxy.cfg and status.lua run by the real
// HAProxy (the image's when a tree is built, else the host's) in a namespace of its own, the real
// `ober status --publish` rewriting the documents, the real VRRP notify script logging events.
// What must hold: a rewritten status is served at once (HAProxy's `return file` would not re-read
// it), the events carry the VRRP transitions, nothing but GET/HEAD is answered, and only the
// monitoring whitelist (plus the node itself) is admitted.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { run } from '../../firstboot/lib/exec.js';
import type { NodeStatus } from '../../firstboot/ops/node-status.js';
import { diffEvents, mergeEvents, normalizeTime, parseVrrpEventLog, type PublishedEvents, type PublishedStatus } from '../../firstboot/ops/status-publish.js';
import { EVENTS_PATH, STATS_PORT, STATUS_PATH } from '../../firstboot/render/haproxy.js';
import { vrrpInstanceName } from '../../firstboot/render/keepalived.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize, type Materialized } from '../helpers/materialize.js';

const NS = `obertest-status-${process.pid}`;
/** In the example's monitoring whitelist (10.20.5.10), and an address outside it. */
const MONITOR = '10.20.5.10';
const STRANGER = '10.20.5.99';
let m: Materialized;
let daemons: DaemonRoot;
let haproxy: ChildProcess | undefined;
let publisher: ChildProcess | undefined;
let cleanup: () => Promise<void> = async () => {};

/** curl inside the node's namespace, from a given source address: [HTTP status, body] (status 0: refused). */
async function get(p: string, opts: { from?: string; method?: string } = {}): Promise<[number, string]> {
  const r = await run(
    ['ip', 'netns', 'exec', NS, 'curl', '-s', '-m', '3', ...(opts.from ? ['--interface', opts.from] : []), ...(opts.method ? ['-X', opts.method] : []), '-w', '\n%{http_code}', `http://127.0.0.1:${STATS_PORT}${p}`],
    { allowFailure: true },
  );
  const i = r.stdout.lastIndexOf('\n');
  return [Number(r.stdout.slice(i + 1)) || 0, r.stdout.slice(0, Math.max(i, 0))];
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  daemons = await resolveDaemons();
  const example = await loadExample(EXAMPLES[1] ?? '');
  // Without ober-http.service's LimitNOFILE, HAProxy cannot raise its file limit for the example's maxconn.
  const cluster = { ...example, haproxy: { ...example.haproxy, maxconn: 1000 } };
  const s = await scratchDir('status-api');
  cleanup = s.cleanup;
  m = await materialize(cluster, cluster.nodes[0]?.name ?? '', s.dir);
  await run(['ip', 'netns', 'add', NS]);
  await run(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
  // The VIPs HAProxy binds, and two client addresses: one whitelisted, one not.
  for (const a of [...m.node.vips.map((v) => v.address), MONITOR, STRANGER]) await run(['ip', '-n', NS, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  haproxy = spawn('ip', ['netns', 'exec', NS, ...daemons.wrap(['haproxy', '-db', '-f', m.layout.haproxyCfg], [s.dir])], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  haproxy.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await until('HAProxy on :8404', async () => ((await get('/stats'))[0] === 200 ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message}; HAProxy said: ${stderr}`);
  });
}, 60_000);

afterAll(async () => {
  publisher?.kill('SIGTERM');
  haproxy?.kill('SIGTERM');
  await run(['ip', 'netns', 'del', NS], { allowFailure: true });
  await cleanup();
});

describe('node status API on :8404 (HAProxy + status.lua)', () => {
  it('answers 503 until the publisher has written a status', async () => {
    const [code, body] = await get(STATUS_PATH);
    expect(code).toBe(503);
    expect(body).toMatch(/no status published yet/);
  });

  it('serves the status as `ober status --publish` rewrites it, every second, without a reload', async () => {
    publisher = spawn('ip', ['netns', 'exec', NS, m.layout.oberBin, '--root', m.layout.root, 'status', '--publish', '--interval-ms', '300'], { stdio: 'ignore' });
    const first = await until('a published status', async () => {
      const [code, body] = await get(STATUS_PATH);
      return code === 200 ? (JSON.parse(body) as PublishedStatus) : undefined;
    });
    expect(first).toMatchObject({ node: m.node.node.name, mode: 'keepalived', haproxy: { up: true }, intervalMs: 300 });
    // The VIPs with their VRID: what the fleet view groups VRRP states by.
    expect(first.vips.map((v) => v.vrid)).toEqual(m.node.vips.map((v) => v.vrrp?.vrid));
    // A later request sees a later document: HAProxy re-reads the file per request.
    const later = await until('a newer status', async () => {
      const [, body] = await get(STATUS_PATH);
      const s = JSON.parse(body) as PublishedStatus;
      return s.publishedAt > first.publishedAt ? s : undefined;
    });
    expect(Date.parse(later.publishedAt)).toBeGreaterThan(Date.parse(first.publishedAt));
  });

  it('events carry every VRRP transition the notify script logged', async () => {
    const vip = m.node.vips[0];
    if (!vip) throw new Error('no VIP');
    const notify = (state: string, prio: number) => run(['ip', 'netns', 'exec', NS, m.layout.notifyScript, vip.address, 'owner', 'INSTANCE', vrrpInstanceName(vip.name), state, String(prio)]);
    await notify('BACKUP', 90);
    await notify('MASTER', 100); // the VIP is on lo: a MASTER the address agrees with
    const events = await until('the VRRP events', async () => {
      const [code, body] = await get(EVENTS_PATH);
      if (code !== 200) return undefined;
      const doc = JSON.parse(body) as PublishedEvents;
      const vrrp = doc.events.filter((e) => e.kind === 'vrrp' && e.vip === vip.name);
      return vrrp.length >= 2 ? vrrp : undefined;
    });
    expect(events.map((e) => e.state).slice(-2)).toEqual(['BACKUP', 'MASTER']);
    expect(Date.parse(events.at(-1)?.at ?? '')).toBeGreaterThan(Date.now() - 60_000);
  });

  it('is read-only and admits the monitoring whitelist only', async () => {
    expect((await get(STATUS_PATH, { method: 'POST' }))[0]).toBe(405);
    expect((await get(STATUS_PATH, { from: MONITOR }))[0]).toBe(200);
    expect((await get(EVENTS_PATH, { from: MONITOR }))[0]).toBe(200);
    // Refused at the connection: no HTTP answer at all.
    expect((await get(STATUS_PATH, { from: STRANGER }))[0]).toBe(0);
  });
});

describe('status events (pure)', () => {
  const base: NodeStatus = {
    healthy: true,
    problems: [],
    warnings: [],
    maintenance: false,
    haproxy: { up: true, health: 200 },
    vips: [{ name: 's3-a', address: '10.0.0.1', backendUp: true, heldHere: true, announced: true }],
    bgp: [{ neighbor: '10.0.0.254', established: true }],
    bfd: [{ neighbor: '10.0.0.254', state: 'Up' }],
    backends: [{ backend: 'rgw', server: 'r1', status: 'UP' }],
  };
  it('turns what changed between two samples into events', () => {
    const next: NodeStatus = {
      ...base,
      haproxy: { up: false },
      vips: [{ ...base.vips[0]!, announced: false }],
      bgp: [{ neighbor: '10.0.0.254', established: false }],
      bfd: [{ neighbor: '10.0.0.254', state: 'Down' }],
      backends: [{ backend: 'rgw', server: 'r1', status: 'DOWN 1/2' }],
    };
    const ev = diffEvents(base, next, '2026-01-01T00:00:00.000Z');
    expect(ev.map((e) => [e.kind, e.state])).toEqual([
      ['haproxy', 'down'],
      ['bgp-announce', 'withdrawn'],
      ['bgp-session', 'down'],
      ['bfd', 'Down'],
      ['backend', 'DOWN'],
    ]);
    expect(diffEvents(undefined, next, 'x')).toEqual([]);
    expect(diffEvents(base, { ...base, backends: [{ backend: 'rgw', server: 'r1', status: 'UP 1/3' }] }, 'x')).toEqual([]);
  });
  it('reads the notify log and its nanosecond times; skips a torn line; sorts and bounds', () => {
    expect(normalizeTime('2026-12-02T20:50:00.123456789+0100')).toBe('2026-12-02T19:50:00.123Z');
    const log = [
      '{"at":"2026-12-02T20:50:01.5+0000","instance":"vip_s3_a","state":"MASTER","priority":100,"vip":"10.0.0.1","held":true,"superseded":false}',
      '{"at":"2026-12-02T20:50:00.1+0000","instance":"vip_s3_a","state":"BACKUP","priority":90,"vip":"10.0.0.1","held":false,"superseded":true}',
      '{"at":"2026-12-02T20:5',
    ].join('\n');
    const ev = mergeEvents(parseVrrpEventLog(log, (i) => (i === 'vip_s3_a' ? 's3-a' : undefined)), 1);
    expect(ev).toEqual([{ at: '2026-12-02T20:50:01.500Z', kind: 'vrrp', message: 'VRRP s3-a (10.0.0.1) -> MASTER, priority 100', vip: 's3-a', state: 'MASTER' }]);
  });
});
