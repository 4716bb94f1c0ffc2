// npm run bench:s3-https-get — HAProxy's CPU per GiB of a single-stream HTTPS GET: one node's
// rendered haproxy.cfg against the cephadm-style config, each over HTTP/1.1 (what S3 clients
// speak) and the cephadm-style one also over HTTP/2, which its bind offers (no `alpn`: HAProxy
// offers h2 and http/1.1) and curl takes by default. bench:s3 measured the cephadm-style proxy
// over h2 until this bench showed the difference. The backend is an in-memory HTTP server in place
// of RGW (one namespace, no Ceph: steadier figures), sending 1 GiB either at full speed or paced
// like RGW on this machine (~150 MiB/s in 64 KiB writes), since a slow producer makes HAProxy
// encrypt smaller pieces. Interleaved repetitions; writes test/bench/results/s3-https-get.json.
// Not a pass/fail test: it fails only when a measurement could not be made.
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { Lab, signal } from '../../builder/lab/netns.js';
import { resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { EXAMPLES, loadExample, REPO } from '../helpers/fixtures.js';
import { cephadmConfig, cpuSeconds, oursConfig, RGW_ADDRESS, RGW_PORTS, startProxy, VIP_CEPHADM, VIP_OURS } from './s3-harness.js';

const REPS = Number(process.env.OBER_BENCH_ROUNDS ?? 7);
const GIB = 2 ** 30;
/** MiB/s of the paced backend: RGW's single-stream GET rate in bench:s3 on this kind of host. */
const PACED_MIBPS = 150;

/** `/big` answers 1 GiB; `/big?rate=N` at N MiB/s in 64 KiB writes every 10 ms; anything else `ok`. */
const BACKEND_JS = String.raw`
const http = require('node:http');
const chunk = Buffer.alloc(1 << 20, 120);
const piece = chunk.subarray(0, 65536);
http.createServer((q, r) => {
  if (!q.url.startsWith('/big')) return r.end('ok');
  r.writeHead(200, { 'content-length': 1 << 30 });
  const rate = Number(/rate=(\d+)/.exec(q.url)?.[1] || 0);
  if (rate) {
    let sent = 0;
    const t = setInterval(() => {
      for (let i = 0; i < (rate * 16) / 100 && sent < 16384; i++, sent++) r.write(piece);
      if (sent >= 16384) { clearInterval(t); r.end(); }
    }, 10);
    r.on('close', () => clearInterval(t));
    return;
  }
  let n = 0;
  const more = () => { while (n < 1024) { n++; if (!r.write(chunk)) return r.once('drain', more); } r.end(); };
  more();
}).listen(Number(process.argv[1]), process.argv[2]);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

let lab: Lab;
let ns: string;
let daemons: DaemonRoot;

beforeAll(async () => {
  daemons = await resolveDaemons();
  lab = new Lab();
  ns = await lab.addNs('https-get');
  for (const a of [RGW_ADDRESS, VIP_OURS, VIP_CEPHADM]) await lab.exec(ns, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  for (const p of RGW_PORTS) lab.spawn(ns, `backend-${p}`, [process.execPath, '-e', BACKEND_JS, String(p), RGW_ADDRESS], { stdin: 'pipe', essential: true });
}, 120_000);

afterAll(async () => {
  await lab?.teardown();
});

it('measures HAProxy CPU per GiB of an HTTPS GET: ours and cephadm-style, HTTP/1.1 and HTTP/2', async () => {
  const ours = await oursConfig(await loadExample(EXAMPLES[1] ?? ''), path.join(lab.dir, 'node'));
  const cephadm = path.join(lab.dir, 'cephadm.cfg');
  await writeFile(cephadm, cephadmConfig(ours.pem, 8405));
  const targets = [
    { name: 'ours', vip: VIP_OURS, cfg: ours.cfg, http: '1.1' },
    { name: 'cephadm', vip: VIP_CEPHADM, cfg: cephadm, http: '1.1' },
    { name: 'cephadm', vip: VIP_CEPHADM, cfg: cephadm, http: '2' },
  ] as const;
  const results: Record<string, unknown>[] = [];
  for (let rep = 1; rep <= REPS; rep++) {
    for (const producer of ['full speed', 'paced'] as const) {
      for (const t of targets) {
        const p = await startProxy(lab, ns, t.name, t.vip, t.cfg, daemons, [lab.dir]);
        try {
          const url = `https://${t.vip}/big${producer === 'paced' ? `?rate=${PACED_MIBPS}` : ''}`;
          const c0 = await cpuSeconds(p.proc.pid);
          const r = await lab.exec(ns, ['curl', '-sfk', t.http === '2' ? '--http2' : '--http1.1', '-o', '/dev/null', '-w', '%{http_version} %{speed_download} %{size_download}', url], { timeoutMs: 120_000 });
          const cpuSec = (await cpuSeconds(p.proc.pid)) - c0;
          const [version, speed, size] = r.stdout.split(' ');
          if (Number(size) !== GIB) throw new Error(`${t.name} over HTTP/${t.http}: ${size} bytes, not 1 GiB`);
          // What was spoken, not what was asked for: the figure is only as good as this.
          if (version !== t.http) throw new Error(`${t.name}: asked for HTTP/${t.http}, curl spoke HTTP/${version}`);
          const rec = { target: t.name, http: version, producer, rep, MiBps: Number((Number(speed) / 2 ** 20).toFixed(1)), cpuSecPerGiB: Number(cpuSec.toFixed(2)) };
          results.push(rec);
          process.stderr.write(`[bench] ${JSON.stringify(rec)}\n`);
        } finally {
          signal(p.proc.pid, 'SIGTERM');
          await p.proc.exited;
        }
      }
    }
  }
  const haproxy = (await lab.exec(ns, daemons.wrap(['haproxy', '-v']))).stdout.split('\n')[0];
  const oursAlpn = /alpn (\S+)/.exec(await readFile(ours.cfg, 'utf8'))?.[1] ?? 'HAProxy default';
  await writeFile(
    path.join(REPO, 'test/bench/results/s3-https-get.json'),
    JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, haproxy, haproxyFrom: daemons.kind, reps: REPS, pacedMiBps: PACED_MIBPS, oursAlpn, results }, null, 2) + '\n',
  );
}, 3_600_000);
