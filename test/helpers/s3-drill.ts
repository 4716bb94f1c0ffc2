// S3 integrity under failure: while two S3 workloads (AWS SDK v3, one with its standard retries,
// one with none) upload and read back objects through every VIP, the lab runs each fault of the
// mode, kills and restarts an RGW, and stops and starts every node in turn. Then every
// acknowledged object is read back and compared by sha256.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CephRgwBackend } from '../../builder/lab/ceph-backend.js';
import { formatTrial, type TrialResult } from '../../builder/lab/drill-report.js';
import { Drill } from '../../builder/lab/drills.js';
import { SCENARIOS } from '../../builder/lab/scenarios.js';
import { Lab, sleep, type LabProcess } from '../../builder/lab/netns.js';
import { expectNothingLeft } from './lab.js';
import { spawnRecorder } from '../../builder/lab/watch.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { mergeBench } from './bench-results.js';
import { EXAMPLES, loadExample, REPO } from './fixtures.js';
import { clientScript, relaxedTimers } from './s3.js';

export interface OpRecord {
  w: number;
  op: 'put' | 'multipart' | 'get';
  key: string;
  vip: string;
  s: number;
  e: number;
  ok: boolean;
  err?: string;
  /** 'body': the response body broke after the SDK had returned the response (no retry covers it). */
  phase?: string;
  /** Attempts the SDK made, as its error metadata says. */
  attempts?: number;
  /** GETs (client with retries): how often the body broke and the GET was sent again. */
  bodyRetries?: number;
  sha?: string;
}

/** A span during which requests may fail: in flight at a fault, a move, a repair or an RGW crash. */
interface Window {
  what: string;
  from: number;
  to: number;
}

const BUCKET = 'drill';

class Workload {
  readonly records: OpRecord[] = [];
  private proc?: LabProcess;
  constructor(
    private readonly lab: Lab,
    private readonly ns: string,
    private readonly cfg: Record<string, unknown>,
    readonly name: string,
  ) {}

  start(): void {
    this.proc = spawnRecorder(this.lab, this.ns, `s3-${this.name}`, [process.execPath, clientScript('s3-workload.mjs'), JSON.stringify(this.cfg)], this.records);
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    this.proc.child.stdin?.end();
    await Promise.race([this.proc.exited, sleep(60_000)]);
  }

  failed(): OpRecord[] {
    return this.records.filter((r) => !r.ok);
  }
}

const EXAMPLE_OF: Record<Cluster['mode'], string> = { bgp: EXAMPLES[0] ?? '', keepalived: EXAMPLES[1] ?? '' };

export function describeS3Drill(mode: Cluster['mode']): void {
  let lab: Lab;
  let drill: Drill;
  const backend = new CephRgwBackend({ memstoreGiB: 6 });
  const trials: TrialResult[] = [];
  const windows: Window[] = [];
  let withRetries: Workload;
  let withoutRetries: Workload;

  beforeAll(async () => {
    lab = new Lab();
    // RGW answers an anonymous GET / with 200: the drill's own prober uses it.
    // BGP: the router forwards through resilient next-hop groups, as the README asks of one: with
    // plain ECMP a node's withdrawal or return also moves, and so resets, connections between
    // the other nodes, which no appliance can prevent. OBER_LAB_RESILIENT=0 drills plain ECMP.
    drill = await Drill.start(lab, relaxedTimers(await loadExample(EXAMPLE_OF[mode])), {
      backend, probe: { path: '/' }, steadyTimeoutMs: Number(process.env.OBER_STEADY_MS ?? 180_000), resilientEcmp: mode === 'bgp' && process.env.OBER_LAB_RESILIENT !== '0',
    });
    const vips = drill.t.plan.vips.map((v) => v.address);
    const base = { vips, ...backend.cluster.credentials, bucket: BUCKET, durationMs: 20 * 60_000, workers: 2, multipartEvery: 12, pauseMs: 50 };
    const setup = await lab.exec(drill.t.ns.client, [process.execPath, clientScript('s3-workload.mjs'), JSON.stringify({ ...base, mode: 'setup', retries: true })], { timeoutMs: 60_000, allowFailure: true });
    if (setup.exitCode !== 0) throw new Error(`bucket setup failed: ${setup.stderr}`);
    withRetries = new Workload(lab, drill.t.ns.client, { ...base, retries: true, prefix: 'retries' }, 'retries');
    withoutRetries = new Workload(lab, drill.t.ns.client, { ...base, retries: false, prefix: 'no-retries' }, 'no-retries');
    withRetries.start();
    withoutRetries.start();
    await sleep(3000);
  });

  afterAll(async () => {
    await withRetries?.stop();
    await withoutRetries?.stop();
    drill?.stop();
    await lab?.teardown();
    for (const r of trials) console.log(formatTrial(r));
    await expectNothingLeft(lab);
  });

  it(`${mode} mode: every fault, an RGW crash and a rolling ober stop/start under S3 load lose nothing`, async () => {
    const addTrial = (r: TrialResult) => {
      trials.push(r);
      console.log(formatTrial(r));
      if (r.at) windows.push({ what: `${r.scenario} on ${r.victim}`, from: r.at.fault, to: r.at.detect }, { what: `${r.scenario} repair on ${r.victim}`, from: r.at.repair, to: r.at.back });
    };
    for (const s of drill.scenarios().filter((x) => !x.planned)) addTrial(await drill.trial(s, trials.length));
    // An RGW dies (SIGKILL) and comes back.
    const killed = Date.now();
    await backend.cluster.killRgw(0);
    windows.push({ what: 'RGW 0 killed', from: killed, to: Date.now() });
    await sleep(4000);
    const restarted = Date.now();
    await backend.cluster.restartRgw(0);
    windows.push({ what: 'RGW 0 restarted', from: restarted, to: Date.now() });
    await sleep(3000);
    // Rolling maintenance: ober stop / start on every node in turn.
    const stop = SCENARIOS.find((s) => s.mode === mode && s.planned && !s.longTransfers);
    if (!stop) throw new Error('no planned-stop scenario');
    for (let i = 0; i < drill.t.nodes.length; i++) addTrial(await drill.trial(stop, i));
    await sleep(2000);
    await withRetries.stop();
    await withoutRetries.stop();

    // Every acknowledged object, read back through a VIP.
    const acked = [...withRetries.records, ...withoutRetries.records].filter((r) => r.ok && r.op !== 'get' && r.sha).map((r) => ({ key: r.key, sha: r.sha }));
    const vips = drill.t.plan.vips.map((v) => v.address);
    const objectsFile = path.join(lab.dir, 'acked.json');
    await writeFile(objectsFile, JSON.stringify(acked));
    const v = await lab.exec(drill.t.ns.client, [process.execPath, clientScript('s3-workload.mjs'), JSON.stringify({ mode: 'verify', vips, ...backend.cluster.credentials, bucket: BUCKET, retries: true, objectsFile })], { timeoutMs: 600_000 });
    const verify = JSON.parse(v.stdout.trim().split('\n').pop() ?? '{}') as { verified: number; intact: number; lost: string[]; corrupt: string[] };

    const inFlight = (r: OpRecord) => windows.find((w) => r.s <= w.to + 100 && r.e >= w.from - 100);
    const unexplained = withoutRetries.failed().filter((r) => !inFlight(r));
    const summary = (w: Workload) => ({
      operations: w.records.length,
      puts: w.records.filter((r) => r.op === 'put' && r.ok).length,
      multipartUploads: w.records.filter((r) => r.op === 'multipart' && r.ok).length,
      gets: w.records.filter((r) => r.op === 'get' && r.ok).length,
      failed: w.failed().length,
      // GETs whose body broke and that a second GET completed (the transfer layer's retry)
      getsRetriedAfterBodyCut: w.records.filter((r) => r.ok && r.bodyRetries).length,
      bodyCutsDuring: w.records.filter((r) => r.bodyRetries).reduce<Record<string, number>>((a, r) => {
        const k = inFlight(r)?.what ?? 'outside any fault';
        return { ...a, [k]: (a[k] ?? 0) + (r.bodyRetries ?? 0) };
      }, {}),
      errors: w.failed().reduce<Record<string, number>>((a, r) => ({ ...a, [r.err ?? '?']: (a[r.err ?? '?'] ?? 0) + 1 }), {}),
      failedDuring: w.failed().reduce<Record<string, number>>((a, r) => {
        const k = inFlight(r)?.what ?? 'outside any fault';
        return { ...a, [k]: (a[k] ?? 0) + 1 };
      }, {}),
      // each failure: which operation, through which VIP, how long it ran, what it met
      failures: w.failed().map((r) => ({ op: r.op, vip: r.vip, err: r.err, ...(r.phase ? { phase: r.phase } : {}), ...(r.attempts ? { attempts: r.attempts } : {}), ms: r.e - r.s, during: inFlight(r)?.what ?? 'outside any fault' })),
    });
    const report = {
      date: new Date().toISOString(),
      ceph: backend.cluster.version,
      daemons: drill.t.daemonsDescription,
      ...(mode === 'bgp' ? { router: drill.t.resilientEcmp ? 'FRR 8.4, forwarding through kernel resilient next-hop groups' : 'FRR 8.4, plain ECMP' } : {}),
      trials: trials.map((t) => ({ scenario: t.scenario, victim: t.victim, detectMs: t.detectMs, restoreMs: t.restoreMs, problems: t.problems })),
      withRetries: summary(withRetries),
      withoutRetries: summary(withoutRetries),
      verify: { objects: verify.verified, intact: verify.intact, lost: verify.lost.length, corrupt: verify.corrupt.length },
    };
    console.log(JSON.stringify(report, null, 1));
    await mergeBench(path.join(REPO, 'test/bench/results/s3-drill.json'), { [mode]: report });

    // Nothing acknowledged was lost or changed, and every read during the drill matched.
    expect(verify.verified).toBeGreaterThan(50);
    expect({ lost: verify.lost, corrupt: verify.corrupt }).toEqual({ lost: [], corrupt: [] });
    expect([...withRetries.records, ...withoutRetries.records].filter((r) => r.err === 'corrupt')).toEqual([]);
    // Without retries (a new connection per request), only requests in flight at a fault, a move,
    // a repair or the RGW crash failed.
    expect(unexplained).toEqual([]);
    // With the SDK's standard retries (3 attempts, pooled keep-alive connections; a GET whose
    // body breaks is sent again, as S3 transfer layers do) nothing is refused, times out or gets
    // an HTTP error: while no HAProxy listens on a VIP the node still
    // holds, the firewall drops the SYN and the client's retransmission finds HAProxy back or the
    // VIP moved. What is left is a request whose every attempt met a pooled connection that a path
    // change had broken (a VIP move, or the router's ECMP rehash when a node goes or comes back:
    // the node that now gets the flow answers it with a reset); how many, and when, is reported.
    expect(withRetries.failed().filter((r) => r.err !== 'ECONNRESET')).toEqual([]);
    // The workloads kept running through the drill.
    expect(withRetries.records.filter((r) => r.ok).length).toBeGreaterThan(100);
    expect(withoutRetries.records.filter((r) => r.ok).length).toBeGreaterThan(50);
  });
}
