// npm run bench:s3-policy — which backend connection policy for small S3 requests, and what the
// RGW side changes: 4 KiB GETs and PUTs (wrk, 16 connections) directly to RGW and through one
// node's rendered haproxy.cfg with each policy HAProxy offers for server connections
// (`option http-server-close`, the default; `http-reuse never | safe | always`), against RGWs as
// Ceph runs them by default and against RGWs whose beast frontend has `tcp_nodelay=1`. Interleaved
// rounds in one run, one Ceph cluster with both kinds of RGW. Writes
// test/bench/results/s3-policy.json (the README table is generated from it). Not a pass/fail test:
// it fails only when a measurement could not be made.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import type { CephCluster } from '../../builder/lab/ceph.js';
import { Lab, signal } from '../../builder/lab/netns.js';
import { resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { EXAMPLES, loadExample, REPO } from '../helpers/fixtures.js';
import { cpuSeconds, oursConfig, RGW_ADDRESS, RGW_NODELAY_ADDRESS, RGW_PORTS, RGW_QUICKACK_ADDRESS, quickackRoute, runWrk, startBenchBackends, startProxy, VIP_OURS, writeWrkPutScript } from './s3-harness.js';

const ROUNDS = Number(process.env.OBER_BENCH_ROUNDS ?? 2);
const SECONDS = Number(process.env.OBER_BENCH_SECONDS ?? 8);

/**
 * The RGW flavours: beast as Ceph configures it, beast with Nagle off, and beast as Ceph
 * configures it reached through a route with `quickack 1` on the proxy's (and the direct
 * client's) side: the answer's first segment is ACKed at once, so Nagle holds nothing back.
 */
const RGWS = [
  { name: 'default', address: RGW_ADDRESS, frontendOptions: '', quickack: false },
  { name: 'tcp_nodelay=1', address: RGW_NODELAY_ADDRESS, frontendOptions: 'tcp_nodelay=1', quickack: false },
  { name: 'default, route quickack', address: RGW_QUICKACK_ADDRESS, frontendOptions: '', quickack: true },
] as const;
/** OBER_BENCH_RGWS=name,name: measure only these flavours. */
const CHOSEN_RGWS = RGWS.filter((r) => !process.env.OBER_BENCH_RGWS || process.env.OBER_BENCH_RGWS.split(',').includes(r.name));
/** Backend connection policies: the rendered one for reuseConnections false / true, and the two other http-reuse modes. */
const POLICIES = [
  { name: 'http-server-close', reuse: false },
  { name: 'http-reuse never', reuse: true, line: 'http-reuse never' },
  { name: 'http-reuse safe', reuse: true },
  { name: 'http-reuse always', reuse: true, line: 'http-reuse always' },
] as const;

let lab: Lab;
let ns: string;
let ceph: CephCluster;
let daemons: DaemonRoot;
let loadBefore: number[];
let putScript: string;
const results: Record<string, unknown>[] = [];

const sh = (argv: string[], timeoutMs = 600_000) => lab.exec(ns, argv, { timeoutMs });

beforeAll(async () => {
  daemons = await resolveDaemons();
  loadBefore = os.loadavg();
  lab = new Lab();
  ns = await lab.addNs('policy');
  ceph = await startBenchBackends(lab, ns, { rgw: CHOSEN_RGWS.flatMap((r) => RGW_PORTS.map((port) => ({ address: r.address, port, frontendOptions: r.frontendOptions }))), memstoreGiB: 1 });
  for (const r of CHOSEN_RGWS.filter((x) => x.quickack)) await quickackRoute(lab, ns, r.address);
  const direct = `http://${CHOSEN_RGWS[0]?.address ?? RGW_ADDRESS}:${RGW_PORTS[0]}`;
  const aws = ['env', `AWS_ACCESS_KEY_ID=${ceph.credentials.accessKeyId}`, `AWS_SECRET_ACCESS_KEY=${ceph.credentials.secretAccessKey}`, `AWS_DEFAULT_REGION=${ceph.credentials.region}`, 'AWS_EC2_METADATA_DISABLED=true', 'AWS_CONFIG_FILE=/dev/null', '/usr/bin/aws', '--endpoint-url', direct];
  // Anonymous access (wrk does not sign): a public bucket and object, shared by every RGW.
  await sh([...aws, 's3api', 'create-bucket', '--bucket', 'bench', '--acl', 'public-read-write']);
  await sh(['dd', 'if=/dev/urandom', `of=${lab.dir}/obj4k`, 'bs=4096', 'count=1', 'status=none']);
  await sh([...aws, 's3api', 'put-object', '--bucket', 'bench', '--key', 'obj4k', '--body', `${lab.dir}/obj4k`, '--acl', 'public-read']);
  putScript = await writeWrkPutScript(lab.dir, 4096);
}, 900_000);

afterAll(async () => {
  await lab?.teardown();
});

/** 4 KiB GET and PUT rates against `base`; with a proxy pid, its CPU seconds per 1000 requests. */
async function measure(rec: Record<string, unknown>, base: string, pid?: number): Promise<void> {
  for (const [op, args] of [
    ['get', [`${base}/bench/obj4k`]],
    ['put', ['-s', putScript, `${base}/bench/put4k`]],
  ] as const) {
    const cpu0 = pid ? await cpuSeconds(pid) : 0;
    const w = await runWrk(sh, [...args], SECONDS);
    const cpu = pid ? (await cpuSeconds(pid)) - cpu0 : undefined;
    rec[op] = { ...w, ...(cpu !== undefined && w.requests ? { cpuPer1000: Number(((cpu / w.requests) * 1000).toFixed(4)) } : {}) };
  }
  results.push(rec);
  process.stderr.write(`[bench:s3-policy] ${JSON.stringify(rec)}\n`);
}

/** The rendered config for `rgw` with the backend policy `policy`. */
async function policyConfig(rgw: (typeof RGWS)[number], policy: (typeof POLICIES)[number]): Promise<string> {
  const dir = path.join(lab.dir, `${rgw.address}-${policy.reuse ? 'reuse' : 'close'}`);
  const { cfg } = await oursConfig(await loadExample(EXAMPLES[1] ?? ''), dir, { rgwAddress: rgw.address, reuseConnections: policy.reuse });
  if (!('line' in policy)) return cfg;
  const text = await readFile(cfg, 'utf8');
  if (!text.includes('    http-reuse safe\n')) throw new Error(`${cfg}: no "http-reuse safe" line to replace`);
  const out = cfg.replace(/\.cfg$/, `-${policy.line.replace(/ /g, '-')}.cfg`);
  await writeFile(out, text.replaceAll('    http-reuse safe\n', `    ${policy.line}\n`));
  return out;
}

it('measures small requests per backend connection policy and RGW frontend', async () => {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const rgw of CHOSEN_RGWS) {
      await measure({ round, rgw: rgw.name, target: 'direct' }, `http://${rgw.address}:${RGW_PORTS[0]}`);
      for (const policy of POLICIES) {
        const cfg = await policyConfig(rgw, policy);
        const p = await startProxy(lab, ns, 'policy', VIP_OURS, cfg, daemons, [lab.dir]);
        try {
          await measure({ round, rgw: rgw.name, target: policy.name }, `http://${VIP_OURS}`, p.proc.pid);
        } finally {
          signal(p.proc.pid, 'SIGTERM');
          await p.proc.exited;
        }
      }
    }
  }
  const haproxy = (await lab.exec(ns, daemons.wrap(['haproxy', '-v']))).stdout.split('\n')[0];
  const load = { before: loadBefore.map((x) => Number(x.toFixed(2))), after: os.loadavg().map((x) => Number(x.toFixed(2))) };
  const out = path.join(REPO, 'test/bench/results/s3-policy.json');
  await writeFile(out, JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, load, ceph: ceph.version, haproxy, haproxyFrom: daemons.kind, rounds: ROUNDS, seconds: SECONDS, connections: 16, results }, null, 2) + '\n');
});
