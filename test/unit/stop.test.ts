// The graceful stop sequence: plan per mode, and execution against fake probes on a fake clock;
// then the direct service control soft-stopping a real HAProxy with a download in flight.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { addAclPattern, frontendCounters, haproxySocket, type FrontendCounters } from '../../firstboot/ops/haproxy-cli.js';
import { closingAclPath, CLOSING_PATTERN } from '../../firstboot/render/haproxy.js';
import { directControl, type ServiceControl } from '../../firstboot/ops/services.js';
import { executeStop, planStop, stopSettings, type StopProbes } from '../../firstboot/ops/stop.js';
import type { Clock } from '../../firstboot/ops/wait.js';
import { tlsDownload } from '../helpers/clients.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { freePorts, renderedHaproxyConfig, slowBackend, startHaproxy, TEST_FRONTEND } from '../helpers/haproxy.js';

const nodeOf = async (i: 0 | 1): Promise<NodeConfig> => deriveNode(await loadExample(EXAMPLES[i] ?? ''), 'ober1');

function fakeClock(): Clock & { t: number } {
  const c = { t: 0, now: () => c.t, sleep: async (ms: number) => void (c.t += ms) };
  return c;
}

function fakeService(log: string[], active = true): ServiceControl {
  return {
    kind: 'direct',
    start: async (s) => void log.push(`start ${s}`),
    stop: async (s, how = 'graceful') => void log.push(how === 'graceful' ? `stop ${s}` : `stop ${s} ${how}`),
    reload: async (s) => void log.push(`reload ${s}`),
    isActive: async () => active,
  };
}

/** Frontend counters as a function of the fake time. */
function probes(clock: Clock & { t: number }, log: string[], counters: (t: number) => FrontendCounters[] | undefined, held: (t: number) => string[] = () => [], inFlight: (t: number) => number | undefined = () => 0): StopProbes {
  return {
    setMaintenance: async () => void log.push('maintenance'),
    closeConnections: async () => void log.push('close connections'),
    lowerPriority: async () => void log.push(`track 1 at ${clock.t}`),
    holdNewConnections: async (expirySec) => void log.push(`hold ${expirySec}s`),
    releaseHold: async () => void log.push(`release at ${clock.t}`),
    inFlight: async () => {
      const n = inFlight(clock.t);
      return n === undefined ? undefined : { count: n, detail: `${n} running` };
    },
    frontends: async () => counters(clock.t),
    heldVips: async () => held(clock.t),
    service: fakeService(log),
    clock,
    progress: () => {},
  };
}

describe('stop plan', () => {
  it('BGP: withdraw wait from the health settings, then traffic, drain, stop', async () => {
    const s = stopSettings(await nodeOf(0));
    // interval 100 ms × fall 2 + timeout 200 ms + 1 s margin
    expect(s.withdrawWaitMs).toBe(1400);
    expect(s.drainTimeoutMs).toBe(300_000);
    expect(s.frontends).toEqual(['fe_s3-a', 'fe_s3-b']);
    expect(planStop(s).map((x) => x.name)).toEqual(['maintenance', 'close-connections', 'withdraw', 'traffic-moved', 'drain', 'stop-http']);
  });

  it('keepalived: hold new connections, let running requests finish, hand over by priority, then drain and stop; --drain-timeout overrides the cluster', async () => {
    const s = stopSettings(await nodeOf(1), { drainTimeoutSec: 5 });
    expect(s.drainTimeoutMs).toBe(5000);
    expect(planStop(s).map((x) => x.name)).toEqual(['maintenance', 'close-connections', 'hold', 'finish-requests', 'handover', 'drain', 'stop-http']);
    // The hold outlives the longest stop before the hand-over, should the stop die.
    expect(s.holdExpirySec * 1000).toBeGreaterThan(s.finishTimeoutMs + s.moveTimeoutMs);
  });
});

describe('stop execution (fake probes)', () => {
  it('BGP: waits for new sessions to stop and open ones to finish before stopping HAProxy', async () => {
    const s = stopSettings(await nodeOf(0));
    const clock = fakeClock();
    const log: string[] = [];
    // New sessions keep arriving until t = 5 s; the last one closes at t = 12 s.
    const counters = (t: number) => [
      { name: 'fe_s3-a', stot: Math.floor(Math.min(t, 5000) / 100), scur: t < 12_000 ? 3 : 0 },
      { name: 'fe_s3-b', stot: 7, scur: 0 },
    ];
    const r = await executeStop(s, probes(clock, log, counters));
    expect(log).toEqual(['maintenance', 'close connections', 'stop http']);
    expect(r.map((x) => [x.name, x.ok])).toEqual([
      ['maintenance', true],
      ['close-connections', true],
      ['withdraw', true],
      ['traffic-moved', true],
      ['drain', true],
      ['stop-http', true],
    ]);
    const moved = r.find((x) => x.name === 'traffic-moved');
    // Quiet from t = 5 s on; detected QUIET (2 s) later, to within one poll.
    expect(clock.t).toBeGreaterThanOrEqual(12_000);
    expect(moved?.elapsedMs).toBeGreaterThanOrEqual(5000 + 2000 - 1400 - 250);
  });

  it('keepalived: lowers the priority, waits until no VIP is held; at the drain bound it hard-stops what is left', async () => {
    const s = stopSettings(await nodeOf(1), { drainTimeoutSec: 3 });
    const clock = fakeClock();
    const log: string[] = [];
    const r = await executeStop(
      s,
      probes(clock, log, () => [{ name: 'fe_s3-a', stot: 1, scur: 1 }], (t) => (t < 700 ? ['10.20.0.100'] : [])),
    );
    expect(log).toEqual(['maintenance', 'close connections', `hold ${s.holdExpirySec}s`, 'track 1 at 0', 'release at 700', 'stop http immediate']);
    expect(r.find((x) => x.name === 'handover')).toMatchObject({ ok: true });
    expect(r.find((x) => x.name === 'handover')?.elapsedMs).toBeGreaterThanOrEqual(700);
    expect(r.find((x) => x.name === 'drain')).toMatchObject({ ok: false });
    expect(r.find((x) => x.name === 'drain')?.detail).toMatch(/1 connection\(s\) still open after 3 s/);
  });

  it('keepalived: hands over only once the running requests and unacknowledged answers are done, then lifts the hold', async () => {
    const s = stopSettings(await nodeOf(1), { drainTimeoutSec: 3 });
    const clock = fakeClock();
    const log: string[] = [];
    // Two requests run until t = 1.2 s, one answer is acknowledged at t = 1.5 s (within the 2 s bound).
    const running = (t: number) => (t < 1200 ? 3 : t < 1500 ? 1 : 0);
    const r = await executeStop(s, probes(clock, log, () => [{ name: 'fe_s3-a', stot: 1, scur: 0 }], (t) => (t < 1900 ? ['10.20.0.100'] : []), running));
    expect(r.find((x) => x.name === 'finish-requests')).toMatchObject({ ok: true });
    const track = Number(/^track 1 at (\d+)$/.exec(log.find((l) => l.startsWith('track 1')) ?? '')?.[1]);
    expect(track).toBeGreaterThanOrEqual(1500);
    expect(track).toBeLessThan(1500 + 100);
    expect(log.at(-2)).toMatch(/^release at (19|20)\d\d$/);
  });

  it('keepalived: requests that do not finish in time are reported, and the hand-over goes on; a hold that failed is not lifted', async () => {
    const s = stopSettings(await nodeOf(1), { drainTimeoutSec: 1 });
    const clock = fakeClock();
    const log: string[] = [];
    const p = probes(clock, log, () => [{ name: 'fe_s3-a', stot: 1, scur: 0 }], () => [], () => 2);
    const r = await executeStop(s, { ...p, holdNewConnections: () => Promise.reject(new Error('No such file or directory; did you mean set')) });
    expect(r.find((x) => x.name === 'hold')).toMatchObject({ ok: false, detail: expect.stringMatching(/could not hold them: No such file/) });
    expect(r.find((x) => x.name === 'finish-requests')).toMatchObject({ ok: false, detail: expect.stringMatching(/still running after 2 s \(2 running\)/) });
    expect(log).toEqual(['maintenance', 'close connections', `track 1 at ${s.finishTimeoutMs}`, 'stop http']);
  });

  it('keepalived without a backup: reports the VIP still held and stops anyway', async () => {
    const s = stopSettings(await nodeOf(1));
    const clock = fakeClock();
    const log: string[] = [];
    const r = await executeStop(s, probes(clock, log, () => undefined, () => ['10.20.0.100']));
    expect(r.find((x) => x.name === 'handover')).toMatchObject({ ok: false });
    expect(r.find((x) => x.name === 'drain')?.detail).toMatch(/does not answer/);
    expect(log.at(-1)).toBe('stop http');
  });

  it('keepalived in a one-node cluster: no hand-over to wait for, the VIPs go with HAProxy', async () => {
    const s = { ...stopSettings(await nodeOf(1)), peers: 0 };
    expect(planStop(s).find((x) => x.name === 'handover')?.description).toMatch(/no other node can take/);
    const clock = fakeClock();
    const log: string[] = [];
    const r = await executeStop(s, probes(clock, log, () => undefined, () => ['10.20.0.100']));
    expect(r.find((x) => x.name === 'handover')).toMatchObject({ ok: true, elapsedMs: 0 });
    expect(log).toEqual(['maintenance', 'stop http']); // priority untouched: nobody to lower it for
  });

  it('a refused close-connections switch is reported and the stop goes on', async () => {
    const s = stopSettings(await nodeOf(0));
    const clock = fakeClock();
    const log: string[] = [];
    const counters = () => [{ name: 'fe_s3-a', stot: 1, scur: 0 }];
    const r = await executeStop(s, { ...probes(clock, log, counters), closeConnections: () => Promise.reject(new Error('Unknown ACL identifier')) });
    expect(r.find((x) => x.name === 'close-connections')).toMatchObject({ ok: false, detail: expect.stringMatching(/Unknown ACL identifier/) });
    expect(log).toEqual(['maintenance', 'stop http']);
  });

  it('says that HAProxy was not running instead of reporting it stopped', async () => {
    const s = stopSettings(await nodeOf(0));
    const clock = fakeClock();
    const log: string[] = [];
    const r = await executeStop(s, { ...probes(clock, log, () => undefined), service: fakeService(log, false) });
    expect(r.find((x) => x.name === 'stop-http')?.detail).toMatch(/was not running/);
    expect(log).not.toContain('stop http');
  });
});

describe('direct service control on a real HAProxy', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  /** A real HAProxy (master-worker, pid file) with a TLS frontend in front of a 3 s download. */
  async function haproxyWithSlowDownload(as: 'owner' | 'backup' = 'owner') {
    const s = await scratchDir('stop-direct');
    cleanups.push(s.cleanup);
    const layout = nodeLayout(s.dir);
    const backend = await slowBackend();
    cleanups.push(backend.close);
    const [httpPort, httpsPort] = (await freePorts(2)) as [number, number];
    await mkdir(layout.haproxyCertDir, { recursive: true });
    const key = path.join(s.dir, 'k.pem');
    const crt = path.join(s.dir, 'c.pem');
    await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=s3.test', '-days', '2', '-keyout', key, '-out', crt]);
    await writeFile(path.join(layout.haproxyCertDir, 's3.pem'), (await readFile(crt, 'utf8')) + (await readFile(key, 'utf8')));
    const h = await startHaproxy(layout, await renderedHaproxyConfig(layout, { httpPort, httpsPort, backendPort: backend.port, as }));
    cleanups.push(h.stop);
    return { h, layout, httpsPort };
  }

  it('show stat counts the open session; the soft stop lets the download finish, then the master exits', async () => {
    const { h, layout, httpsPort } = await haproxyWithSlowDownload();
    const control = directControl(layout);
    expect(await control.isActive('http')).toBe(true);
    const dl = tlsDownload(httpsPort, 's3.test', '/slow');
    await dl.started;
    const cli = haproxySocket(layout.haproxySocket);
    expect(await frontendCounters(cli, [TEST_FRONTEND])).toMatchObject([{ name: TEST_FRONTEND, scur: 1 }]);
    const exited = new Promise((r) => h.proc.once('exit', (code) => r(code)));
    await control.stop('http');
    expect(await dl.done).toBe(30 * 1024);
    expect(await exited).toBe(0);
    expect(await control.isActive('http')).toBe(false);
    await expect(control.stop('bgp')).rejects.toThrow(/only be controlled through systemd/);
  });

  /** Two requests on one connection: curl reuses it when the first answer keeps it alive. */
  async function twice(httpsPort: number) {
    const r = await run(['curl', '-sv', '-k', '--resolve', `s3.test:${httpsPort}:127.0.0.1`, `https://s3.test:${httpsPort}/a`, `https://s3.test:${httpsPort}/b`], { allowFailure: true });
    return { reused: /Re-using existing connection/.test(r.stderr), closeHeader: /^< connection: close/im.test(r.stderr), bodies: r.stdout };
  }

  it("ober stop's close-connections switch: answers close their client connection from then on, not before", async () => {
    const { layout, httpsPort } = await haproxyWithSlowDownload();
    expect(await twice(httpsPort)).toEqual({ reused: true, closeHeader: false, bodies: 'okok' });
    await addAclPattern(haproxySocket(layout.haproxySocket), closingAclPath(layout), CLOSING_PATTERN);
    expect(await twice(httpsPort)).toEqual({ reused: false, closeHeader: true, bodies: 'okok' });
  });

  it("a VIP held while covering for its owner keeps no client connection alive (the owner's preempt would break it)", async () => {
    const { httpsPort } = await haproxyWithSlowDownload('backup');
    expect(await twice(httpsPort)).toEqual({ reused: false, closeHeader: true, bodies: 'okok' });
  });

  it('the immediate stop (after the drain bound) closes the running download and the master exits at once', async () => {
    const { h, layout, httpsPort } = await haproxyWithSlowDownload();
    const control = directControl(layout);
    const dl = tlsDownload(httpsPort, 's3.test', '/slow');
    await dl.started;
    const exited = new Promise((r) => h.proc.once('exit', (code) => r(code)));
    const t0 = Date.now();
    await control.stop('http', 'immediate');
    await exited;
    // The download takes 3 s; the hard stop does not wait for it.
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(await dl.done).toBeLessThan(30 * 1024);
    expect(await control.isActive('http')).toBe(false);
  });
});
