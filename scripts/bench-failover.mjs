// npm run bench:failover: `ober drill` on the example clusters (both modes, 3 trials per
// scenario, a different node each), written to test/bench/results/failover.{json,md}.
// Needs root and the lab's packages (haproxy, exabgp, bird2, frr, keepalived, nftables).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const trials = process.env.OBER_BENCH_TRIALS ?? '3';
const clusters = ['examples/bgp-3node.yaml', 'examples/keepalived-3node.yaml'];
const reports = clusters.map((c) => {
  process.stderr.write(`ober drill --cluster ${c} --trials ${trials}\n`);
  const out = execFileSync(process.execPath, [path.join(repo, 'dist/ober.mjs'), 'drill', '--cluster', c, '--trials', trials, '--json'], {
    cwd: repo,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  return { file: c, ...JSON.parse(out) };
});
const dir = path.join(repo, 'test/bench/results');
mkdirSync(dir, { recursive: true });
const meta = { date: new Date().toISOString(), node: process.version, cpus: (await import('node:os')).cpus().length };
writeFileSync(path.join(dir, 'failover.json'), JSON.stringify({ ...meta, reports }, null, 2) + '\n');
const md = [
  '# Failover drills (`npm run bench:failover`)',
  '',
  `${meta.date}, ${meta.cpus} CPUs, Node ${meta.node}. Lab: network namespaces on one machine (builder/lab), real daemons`,
  'with the rendered files; no systemd (no BindsTo= chain; ExecStopPost=ober vip-release emulated).',
  '',
  ...reports.flatMap((r) => [`## ${r.file}`, '', r.table, '']),
].join('\n');
writeFileSync(path.join(dir, 'failover.md'), md);
process.stdout.write(md);
if (!reports.every((r) => r.ok)) process.exitCode = 1;
