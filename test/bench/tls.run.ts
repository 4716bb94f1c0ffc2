// npm run bench:tls — HAProxy's TLS cost on three SSL stacks, each HAProxy from its own root file
// system (chroot, builder/image/image-root.ts): the image's AWS-LC build, trixie's package
// (OpenSSL 3.5) and bookworm's (2.6, OpenSSL 3.0). Same configuration (tls-harness.ts), same
// ECDSA P-256 and RSA-2048 certificates, same client (the host's h2load; openssl s_time for
// resumption), HAProxy pinned to one CPU and the clients to the other, several interleaved rounds
// in one run. Measures new full handshakes per second and HAProxy CPU µs per handshake (TLS 1.3 and
// 1.2, no resumption), resumed handshakes (TLS 1.2 session ids), and the throughput of one HTTPS
// body of OBER_BENCH_LARGE_MIB (1 GiB). Writes test/bench/results/tls.json; the README table comes
// from it (scripts/bench-tables.mjs). Not a pass/fail test: it fails only when a measurement could
// not be made. Run it on a quiet host.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { daemonVersions, type DaemonRoot } from '../../builder/image/image-root.js';
import { benchConfig, cpuSeconds, findRoots, FLAVOURS, makeCertificates, parseH2load, parseSTime, PORTS, ROOT_HINTS, stats, type BenchFlavour, type Listener } from './tls-harness.js';

const ROUNDS = Number(process.env.OBER_BENCH_ROUNDS ?? 3);
/** New connections per measurement (h2load: one request each, in batches of BATCH). */
const HANDSHAKES = Number(process.env.OBER_BENCH_HANDSHAKES ?? 4000);
const BATCH = 500;
const RESUME_SECONDS = Number(process.env.OBER_BENCH_SECONDS ?? 5);
const LARGE_MIB = Number(process.env.OBER_BENCH_LARGE_MIB ?? 1024);
const OUT = process.env.OBER_BENCH_OUT ?? 'test/bench/results/tls.json';
const WANT = (process.env.OBER_BENCH_FLAVOURS ?? FLAVOURS.join(',')).split(',') as BenchFlavour[];
const [HAPROXY_CPU, CLIENT_CPU] = ['0', '1'];

let work: string;
let backend: Server;
let roots: Partial<Record<BenchFlavour, DaemonRoot>>;
type Sample = { flavour: BenchFlavour; round: number; test: string; perSecond: number; cpuMicros: number };
const samples: Sample[] = [];

beforeAll(async () => {
  if (availableParallelism() < 2) throw new Error('bench:tls pins HAProxy and the client to different CPUs: it needs two');
  work = await mkdtemp(path.join(os.tmpdir(), 'ober-bench-tls-'));
  await makeCertificates(work);
  roots = await findRoots(work);
  const missing = WANT.filter((f) => !roots[f]);
  if (missing.length) throw new Error(`bench:tls: no root file system for ${missing.map((f) => `${f} (${ROOT_HINTS[f]})`).join(', ')}; or choose with OBER_BENCH_FLAVOURS`);
  // the bulk body's origin: zeros in 1 MiB writes, as fast as the socket takes them
  const chunk = Buffer.alloc(1 << 20);
  backend = createServer((req, res) => {
    const mib = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('mib') ?? LARGE_MIB);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': mib * chunk.length });
    let left = mib;
    const pump = (): void => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  await writeFile(path.join(work, 'haproxy.cfg'), benchConfig({ dir: work, backendPort: (backend.address() as AddressInfo).port }));
}, 300_000);

afterAll(async () => {
  backend?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function withHaproxy<T>(root: DaemonRoot, body: (pid: number) => Promise<T>): Promise<T> {
  const cfg = path.join(work, 'haproxy.cfg');
  const check = await run(root.wrap(['haproxy', '-c', '-f', cfg], [work]), { allowFailure: true });
  if (check.exitCode !== 0) throw new Error(`${root.label}: haproxy -c refused the bench configuration:\n${check.stdout}${check.stderr}`);
  // taskset outside: unshare, sh and chroot exec in place, so HAProxy keeps the PID and the CPU
  const proc: ResultPromise = execa('taskset', ['-c', HAPROXY_CPU, ...root.wrap(['haproxy', '-db', '-f', cfg], [work])], { reject: false, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
  try {
    await waitListening(() => (proc.exitCode !== null ? `HAProxy (${root.label}) exited ${proc.exitCode}: ${stderr}` : undefined));
    return await body(proc.pid!);
  } finally {
    proc.kill('SIGTERM');
    await proc;
  }
}

async function waitListening(exited: () => string | undefined): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const gone = exited();
    if (gone) throw new Error(gone);
    const c = await run(['curl', '-sk', '-o', '/dev/null', `https://127.0.0.1:${PORTS['ecdsa-tls13']}/hs`], { allowFailure: true });
    if (c.exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('HAProxy did not start listening within 20 s');
}

/** New full handshakes: h2load, one HTTP/1.1 request per connection, no session reuse. */
async function fullHandshakes(pid: number, listener: Listener): Promise<{ perSecond: number; cpuMicros: number }> {
  let done = 0;
  let seconds = 0;
  const cpu0 = await cpuSeconds(pid);
  while (done < HANDSHAKES) {
    const n = Math.min(BATCH, HANDSHAKES - done);
    const r = await run(['taskset', '-c', CLIENT_CPU, 'h2load', '--h1', '-n', String(n), '-c', String(n), '-m', '1', `https://127.0.0.1:${PORTS[listener]}/hs`], { allowFailure: true });
    const s = parseH2load(r.stdout);
    if (s.failed || s.succeeded !== n) throw new Error(`h2load on ${listener}: ${s.succeeded} of ${n} succeeded\n${r.stdout.slice(-400)}`);
    done += n;
    seconds += s.seconds;
  }
  const cpu = (await cpuSeconds(pid)) - cpu0;
  return { perSecond: done / seconds, cpuMicros: (cpu / done) * 1e6 };
}

/** Resumed handshakes: openssl s_time -reuse against the TLS 1.2 listener (session ids; tickets are off). */
async function resumedHandshakes(pid: number): Promise<{ perSecond: number; cpuMicros: number }> {
  const cpu0 = await cpuSeconds(pid);
  const r = await run(['taskset', '-c', CLIENT_CPU, 'openssl', 's_time', '-connect', `127.0.0.1:${PORTS['ecdsa-tls12']}`, '-reuse', '-time', String(RESUME_SECONDS)], { allowFailure: true });
  const s = parseSTime(r.stdout);
  const cpu = (await cpuSeconds(pid)) - cpu0;
  return { perSecond: s.connections / s.seconds, cpuMicros: (cpu / s.connections) * 1e6 };
}

/** One HTTPS body of LARGE_MIB through HAProxy (TLS 1.3, ECDSA): MB/s and HAProxy CPU µs per MiB. */
async function bulk(pid: number): Promise<{ perSecond: number; cpuMicros: number }> {
  const cpu0 = await cpuSeconds(pid);
  const r = await run(['taskset', '-c', CLIENT_CPU, 'curl', '-sk', '--http1.1', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', `https://127.0.0.1:${PORTS['ecdsa-tls13']}/body?mib=${LARGE_MIB}`]);
  const [bytes, secs] = r.stdout.trim().split(' ').map(Number) as [number, number];
  if (bytes !== LARGE_MIB * 2 ** 20) throw new Error(`bulk: ${bytes} bytes instead of ${LARGE_MIB} MiB`);
  const cpu = (await cpuSeconds(pid)) - cpu0;
  return { perSecond: bytes / 1e6 / secs, cpuMicros: (cpu / LARGE_MIB) * 1e6 };
}

const TESTS: { name: string; unit: string; measure: (pid: number) => Promise<{ perSecond: number; cpuMicros: number }> }[] = [
  ...(Object.keys(PORTS) as Listener[]).map((l) => ({ name: `full ${l}`, unit: 'handshakes/s', measure: (pid: number) => fullHandshakes(pid, l) })),
  { name: 'resumed ecdsa-tls12', unit: 'handshakes/s', measure: resumedHandshakes },
  { name: `bulk ${LARGE_MIB} MiB`, unit: 'MB/s', measure: bulk },
];

it('measures every flavour, interleaved round by round', async () => {
  const versions: Record<string, unknown> = {};
  for (const f of WANT) versions[f] = { ...(await daemonVersions(roots[f]!)), root: roots[f]!.label };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const f of WANT) {
      await withHaproxy(roots[f]!, async (pid) => {
        for (const t of TESTS) {
          const m = await t.measure(pid);
          samples.push({ flavour: f, round, test: t.name, ...m });
          process.stderr.write(`bench:tls round ${round}/${ROUNDS} ${f} ${t.name}: ${m.perSecond.toFixed(1)} ${t.unit}, ${m.cpuMicros.toFixed(0)} µs HAProxy CPU\n`);
        }
      });
    }
  }
  const summary = TESTS.map((t) => ({
    test: t.name,
    unit: t.unit,
    cpuUnit: t.name.startsWith('bulk') ? 'µs/MiB' : 'µs/handshake',
    flavours: Object.fromEntries(WANT.map((f) => {
      const mine = samples.filter((s) => s.flavour === f && s.test === t.name);
      return [f, { perSecond: stats(mine.map((s) => s.perSecond)), cpuMicros: stats(mine.map((s) => s.cpuMicros)) }];
    })),
  }));
  await mkdir(path.dirname(OUT), { recursive: true });
  const result = {
    at: new Date().toISOString(),
    host: { cpus: availableParallelism(), loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
    rounds: ROUNDS,
    handshakesPerMeasurement: HANDSHAKES,
    resumeSeconds: RESUME_SECONDS,
    bulkMiB: LARGE_MIB,
    pinning: { haproxy: HAPROXY_CPU, client: CLIENT_CPU },
    versions,
    summary,
    samples,
  };
  await writeFile(OUT, JSON.stringify(result, null, 2) + '\n');
  process.stderr.write(`bench:tls: wrote ${OUT}\n`);
}, 3_600_000);
