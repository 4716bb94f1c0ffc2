// Renders the README's S3 tables from test/bench/results/s3.json (bench:s3) and s3-drill.json
// (test:s3) and writes them between the <!-- s3:bench --> / <!-- s3:drill --> markers.
// `node scripts/s3-tables.mjs --check` exits 1 when the README differs (test/unit/readme-s3.test.ts).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (f) => (existsSync(path.join(repo, f)) ? JSON.parse(readFileSync(path.join(repo, f), 'utf8')) : undefined);
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

export function benchTable(b) {
  if (!b) return '_no bench:s3 results yet_';
  const rows = [];
  const pick = (target, scheme, f) => median(b.results.filter((r) => r.target === target && r.scheme === scheme).map(f));
  const targets = [['direct', 'http', 'direct to RGW (HTTP)'], ['ours', 'http', 'appliance, HTTP'], ['cephadm', 'http', 'cephadm-style, HTTP'], ['ours', 'https', 'appliance, HTTPS'], ['cephadm', 'https', 'cephadm-style, HTTPS']];
  const metrics = [
    ['4 KiB GET (req/s)', (r) => r.smallGet.rps, 0],
    ['4 KiB PUT (req/s)', (r) => r.smallPut.rps, 0],
    [`${b.largeMiB} MiB GET, curl (MiB/s)`, (r) => r.largeGet.MiBps, 0],
    [`${b.largeMiB} MiB PUT, curl (MiB/s)`, (r) => r.largePut.MiBps, 0],
    [`${b.largeMiB} MiB multipart PUT, awscli (MiB/s)`, (r) => r.multipartPut.MiBps, 0],
    ['HAProxy CPU s per 1000 GETs', (r) => (r.smallGet.cpuSec / r.smallGet.requests) * 1000, 3],
    ['HAProxy CPU s per GiB GET', (r) => r.largeGet.cpuSec / (r.largeGet.bytes / 2 ** 30), 2],
  ];
  rows.push(`| median of ${b.rounds} interleaved rounds | ${targets.map((t) => t[2]).join(' | ')} |`);
  rows.push(`|---|${targets.map(() => '---').join('|')}|`);
  for (const [name, f, d] of metrics) {
    const direct = pick('direct', 'http', f);
    const cells = targets.map(([t, s]) => {
      const v = pick(t, s, f);
      if (t === 'direct') return name.startsWith('HAProxy') ? '–' : fmt(v, d);
      const ratio = !name.startsWith('HAProxy') && Number.isFinite(direct) && direct > 0 ? ` (${(v / direct).toFixed(2)})` : '';
      return `${fmt(v, d)}${ratio}`;
    });
    rows.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  rows.push('');
  rows.push(`${b.date.slice(0, 10)}, ${b.cpus} CPUs, Ceph ${b.ceph} (memstore), ${b.haproxy}; ratios against direct HTTP.`);
  return rows.join('\n');
}

export function drillTable(d) {
  if (!d) return '_no test:s3 results yet_';
  const rows = ['| mode | faults run | operations (retries / none) | failed with retries | failed without retries (all in flight at a fault) | objects verified | lost | corrupt |', '|---|---|---|---|---|---|---|---|'];
  for (const mode of ['bgp', 'keepalived']) {
    const r = d[mode];
    if (!r) continue;
    const outside = r.withoutRetries.failedDuring?.['outside any fault'] ?? 0;
    rows.push(`| ${mode} | ${r.trials.length} + RGW kill | ${r.withRetries.operations} / ${r.withoutRetries.operations} | ${r.withRetries.failed} | ${r.withoutRetries.failed} (${outside} outside) | ${r.verify.objects} | ${r.verify.lost} | ${r.verify.corrupt} |`);
  }
  return rows.join('\n');
}

export function renderReadme(text) {
  const put = (t, marker, body) => {
    const re = new RegExp(`(<!-- ${marker}:begin -->\\n)[\\s\\S]*?(<!-- ${marker}:end -->)`);
    if (!re.test(t)) throw new Error(`README has no ${marker} markers`);
    return t.replace(re, (_m, a, b) => `${a}${body}\n${b}`);
  };
  return put(put(text, 's3-bench', benchTable(readJson('test/bench/results/s3.json'))), 's3-drill', drillTable(readJson('test/bench/results/s3-drill.json')));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = path.join(repo, 'README.md');
  const before = readFileSync(file, 'utf8');
  const after = renderReadme(before);
  if (process.argv.includes('--check')) {
    if (before !== after) {
      process.stderr.write('README.md S3 tables differ from test/bench/results: run node scripts/s3-tables.mjs\n');
      process.exit(1);
    }
  } else writeFileSync(file, after);
}
