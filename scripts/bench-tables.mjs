// README figures from the bench results (failover, image boots, TLS, S3, S3 drills): every table
// between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in README.md is produced here from test/bench/results/*.json, never typed
// by hand. `node scripts/bench-tables.mjs` rewrites them; `--check` exits 1 when README.md and the
// JSON disagree (test/unit/bench-tables.test.ts runs the same check in `npm test`).
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** @param {{ median: number, min: number, max: number } | undefined} s */
const range = (s) => (s === undefined || s.median === null || Number.isNaN(s.median) ? '–' : s.min === s.max ? `${s.median}` : `${s.median} (${s.min}–${s.max})`);

/** @param {string} name */
function readResult(repo, name) {
  const file = path.join(repo, 'test/bench/results', name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

/**
 * @param {any} report one `ober drill --json` report of failover.json
 * @param {string} [date] when the reports were made
 */
function failoverTable(report, date) {
  const moved = report.mode === 'bgp' ? 'router drops node' : 'VIP taken over';
  const rows = report.summary.map(
    (/** @type {any} */ s) =>
      `| ${s.title} | ${range(s.detect)} | ${s.targetMs ?? '–'} | ${s.seed} | ${range(s.clientFailed)} | ${range(s.clientFailedAfterMove)} |`,
  );
  const table = [`| ${report.mode === 'bgp' ? 'BGP' : 'Keepalived'} mode | ${moved} | target | seed | client | of which after the move |`, '|---|---|---|---|---|---|', ...rows];
  // Which programs ran the drill (older results did not record it).
  if (report.daemons) table.push('', `${date ? `${date.slice(0, 10)}, ` : ''}${daemonsText(report.daemons)}.`);
  return table.join('\n');
}

/** A daemons description without the local path of the image tree. */
const daemonsText = (/** @type {string} */ d) => d.replace(/ \(\/[^)]*\)/, '');

/** @param {any} tls test/bench/results/tls.json */
export function tlsTable(tls) {
  const order = ['awslc', 'trixie', 'bookworm'].filter((f) => tls.versions[f]);
  const head = order.map((f) => `${f === 'awslc' ? 'AWS-LC build' : f === 'trixie' ? 'trixie' : 'bookworm'}: haproxy ${tls.versions[f].haproxy} on ${tls.versions[f].haproxySsl}`);
  const ratio = (/** @type {number} */ a, /** @type {number} */ b) => (a && b ? `×${(a / b).toFixed(2)}` : '–');
  const others = order.filter((f) => f !== 'awslc');
  const rows = tls.summary.map((/** @type {any} */ t) => {
    const cells = order.map((f) => `${range(t.flavours[f].perSecond)} ${t.unit}, ${range(t.flavours[f].cpuMicros)} ${t.cpuUnit}`);
    const a = t.flavours.awslc;
    const ratios = a ? others.map((f) => `${ratio(a.perSecond.median, t.flavours[f].perSecond.median)} rate, ${ratio(a.cpuMicros.median, t.flavours[f].cpuMicros.median)} CPU`) : [];
    return `| ${t.test} | ${cells.join(' | ')} |${ratios.length ? ` ${ratios.join(' | ')} |` : ''}`;
  });
  const ratioHead = order.includes('awslc') ? others.map((f) => `AWS-LC vs ${f}`) : [];
  const cols = ['HAProxy TLS (HAProxy on one CPU, client on the other; median (min–max) of ' + tls.rounds + ' rounds)', ...head, ...ratioHead];
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...rows].join('\n');
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

/**
 * bench:s3 (test/bench/results/s3.json): direct to RGW, the appliance and a cephadm-style HAProxy.
 * @param {any} b
 */
function s3Table(b) {
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
    ['HAProxy CPU s per GiB PUT', (r) => r.largePut.cpuSec / (r.largePut.bytes / 2 ** 30), 2],
    // The whole host during the fastest single-stream run: what the transfer cost every process
    // and the kernel, and whether any CPU was left (results before 2026-12-04 have neither).
    ['host CPU s per GiB GET, all processes', (r) => r.largeGet.hostCpuSec / (r.largeGet.bytes / 2 ** 30), 2],
    ['host CPU s per GiB PUT, all processes', (r) => r.largePut.hostCpuSec / (r.largePut.bytes / 2 ** 30), 2],
    [`host CPU idle during the ${b.largeMiB} MiB PUT (%)`, (r) => r.largePut.hostIdle * 100, 0],
  ];
  /** Rows of the proxy's own cost: nothing to show for direct, no ratio. Host rows: no ratio. */
  const proxyOnly = (name) => name.startsWith('HAProxy');
  const noRatio = (name) => proxyOnly(name) || name.startsWith('host');
  // Ratio to direct: the median of each round's ratio (a round measures every target back to back,
  // so a slower or busier round weighs on both sides of its ratio alike).
  const pairedRatio = (target, scheme, f) =>
    median(
      b.results
        .filter((r) => r.target === target && r.scheme === scheme)
        .map((r) => {
          const d = b.results.find((x) => x.target === 'direct' && x.round === r.round);
          return d ? f(r) / f(d) : NaN;
        }),
    );
  const repeats = b.largeRepeats > 1 ? `; single-stream large transfers: the best of ${b.largeRepeats} runs per round` : '';
  rows.push(`| median of ${b.rounds} interleaved rounds | ${targets.map((t) => t[2]).join(' | ')} |`);
  rows.push(`|---|${targets.map(() => '---').join('|')}|`);
  for (const [name, f, d] of metrics) {
    const direct = pick('direct', 'http', f);
    const cells = targets.map(([t, s]) => {
      const v = pick(t, s, f);
      if (t === 'direct') return proxyOnly(name) ? '–' : fmt(v, d);
      const ratio = !noRatio(name) && Number.isFinite(direct) && direct > 0 ? ` (${pairedRatio(t, s, f).toFixed(2)})` : '';
      return `${fmt(v, d)}${ratio}`;
    });
    rows.push(`| ${name} | ${cells.join(' | ')} |`);
  }
  rows.push('');
  rows.push(`${b.date.slice(0, 10)}, ${b.cpus} CPUs, Ceph ${b.ceph} (memstore), ${b.haproxy}; in brackets: the median of each round's ratio to direct HTTP${repeats}.`);
  return rows.join('\n');
}

/**
 * bench:s3-policy (test/bench/results/s3-policy.json): 4 KiB requests per backend connection policy
 * and RGW frontend.
 * @param {any} b
 */
function s3PolicyTable(b) {
  if (!b) return '_no bench:s3-policy results yet_';
  const rgws = [...new Set(b.results.map((r) => r.rgw))];
  const targets = [...new Set(b.results.map((r) => r.target))];
  const pick = (rgw, target, f) => median(b.results.filter((r) => r.rgw === rgw && r.target === target).map(f));
  const p50 = (rgw, target, op) => {
    const ms = b.results.filter((r) => r.rgw === rgw && r.target === target).map((r) => r[op].p50Ms);
    return fmt(median(ms), 1);
  };
  const cols = rgws.flatMap((g) => [`GET req/s (p50 ms), RGW ${g}`, `PUT req/s (p50 ms), RGW ${g}`, `HAProxy CPU s / 1000 GETs, RGW ${g}`]);
  const rows = [`| median of ${b.rounds} interleaved rounds, ${b.connections} connections | ${cols.join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const t of targets) {
    const cells = rgws.flatMap((g) => [
      `${fmt(pick(g, t, (r) => r.get.rps))} (${p50(g, t, 'get')})`,
      `${fmt(pick(g, t, (r) => r.put.rps))} (${p50(g, t, 'put')})`,
      t === 'direct' ? '–' : fmt(pick(g, t, (r) => r.get.cpuPer1000), 3),
    ]);
    rows.push(`| ${t === 'direct' ? 'direct to RGW' : t} | ${cells.join(' | ')} |`);
  }
  rows.push('', `${b.date.slice(0, 10)}, ${b.cpus} CPUs, Ceph ${b.ceph} (memstore), ${b.haproxy}.`);
  return rows.join('\n');
}

/**
 * bench:s3-https-get (test/bench/results/s3-https-get.json): HAProxy CPU per GiB of an HTTPS GET,
 * per config and HTTP version, from a backend at full speed and one paced like RGW.
 * @param {any} b
 */
function s3HttpsGetTable(b) {
  if (!b) return '_no bench:s3-https-get results yet_';
  const rows = [`| median of ${b.reps} interleaved runs, 1 GiB HTTPS GET, curl | backend at full speed: MiB/s | HAProxy CPU s per GiB | backend paced at ${b.pacedMiBps} MiB/s: HAProxy CPU s per GiB |`, '|---|---|---|---|'];
  const keys = [...new Set(b.results.map((r) => `${r.target}|${r.http}`))];
  for (const key of keys) {
    const [target, http] = key.split('|');
    const of = (producer, f) => median(b.results.filter((r) => r.target === target && r.http === http && r.producer === producer).map(f));
    const name = `${target === 'ours' ? 'appliance' : 'cephadm-style'}, HTTP/${http}`;
    rows.push(`| ${name} | ${fmt(of('full speed', (r) => r.MiBps))} | ${fmt(of('full speed', (r) => r.cpuSecPerGiB), 2)} | ${fmt(of('paced', (r) => r.cpuSecPerGiB), 2)} |`);
  }
  rows.push('', `${b.date.slice(0, 10)}, ${b.cpus} CPUs, ${b.haproxy}; the appliance binds with alpn ${b.oursAlpn}.`);
  return rows.join('\n');
}

/**
 * test:s3's integrity drills (test/bench/results/s3-drill.json).
 * @param {any} d
 */
function s3DrillTable(d) {
  if (!d) return '_no test:s3 results yet_';
  const rows = ['| mode | faults run | operations (retries / none) | failed with retries | failed without retries (all in flight at a fault) | objects verified | lost | corrupt |', '|---|---|---|---|---|---|---|---|'];
  for (const mode of ['bgp', 'keepalived']) {
    const r = d[mode];
    if (!r) continue;
    const outside = r.withoutRetries.failedDuring?.['outside any fault'] ?? 0;
    // What failed with retries, by operation and phase (a GET's body is beyond the SDK's retries).
    const kinds = Object.entries(
      (r.withRetries.failures ?? []).reduce((a, f) => {
        const k = `${f.op === 'get' ? 'GET' : f.op === 'put' ? 'PUT' : 'multipart'}${f.phase === 'body' ? ' body' : ''} ${f.err}`;
        return { ...a, [k]: (a[k] ?? 0) + 1 };
      }, {}),
    ).map(([k, n]) => `${k} ×${n}`);
    const reread = r.withRetries.getsRetriedAfterBodyCut ?? 0;
    const withRetries = `${r.withRetries.failed}${kinds.length ? ` (${kinds.join(', ')})` : ''}${reread ? `; ${reread} GET${reread > 1 ? 's' : ''} sent again after a body cut` : ''}`;
    const router = r.router?.includes('resilient') ? ' (router: resilient ECMP)' : '';
    rows.push(`| ${mode}${router} | ${r.trials.length} + RGW kill | ${r.withRetries.operations} / ${r.withoutRetries.operations} | ${withRetries} | ${r.withoutRetries.failed} (${outside} outside) | ${r.verify.objects} | ${r.verify.lost} | ${r.verify.corrupt} |`);
  }
  return rows.join('\n');
}

/** The booted node's hardening audits (test/image/boot.test.ts). */
function hardeningTable(h) {
  const rows = [];
  if (h.lynis) rows.push(`| Lynis ${h.lynis.version} hardening index | ${h.lynis.hardeningIndex} (${h.lynis.testsPerformed} tests, ${h.lynis.warnings.length} warnings, ${h.lynis.suggestions.length} suggestions) | ${h.lynis.measuredAt.slice(0, 10)} |`);
  if (h.sshAudit) {
    const n = (level) => h.sshAudit.findings.filter((f) => f.level === level).map((f) => f.algorithm);
    rows.push(`| ssh-audit ${h.sshAudit.version}: fail / warn | ${n('fail').length ? n('fail').join(', ') : 'none'} / ${n('warn').length ? n('warn').join(', ') : 'none'} | ${h.sshAudit.measuredAt.slice(0, 10)} |`);
  }
  if (h.systemdSecurity) {
    const e = Object.entries(h.systemdSecurity.exposure).map(([u, x]) => `${u} ${x}`).join(', ');
    rows.push(`| systemd-analyze security, exposure (0 safe – 10 unsafe) | ${e} | ${h.systemdSecurity.measuredAt.slice(0, 10)} |`);
  }
  if (h.pid1) {
    const b = h.pid1.commandMs;
    rows.push(`| calls to PID 1 (TCG), ms: user \`list-units --all\` / user \`status --all\` (many short calls) / root \`list-unit-files\` (one long call; refused to users) | ${b.userListUnitsAll} / ${b.userStatusAll} / ${b.rootListUnitFiles} (runtime watchdog ${h.pid1.runtimeWatchdogSeconds} s) | ${h.pid1.measuredAt.slice(0, 10)} |`);
  }
  return ['| audit of the booted node | result | measured |', '|---|---|---|', ...rows].join('\n');
}

/**
 * Every generated table by name.
 * @param {string} [repo]
 * @returns {Record<string, string>}
 */
export function benchTables(repo = REPO) {
  /** @type {Record<string, string>} */
  const tables = {};
  const failover = readResult(repo, 'failover.json');
  for (const r of failover?.reports ?? []) tables[`failover-${r.mode}`] = failoverTable(r, failover.date);

  const bgp = readResult(repo, 'image-bgp.json');
  if (bgp) {
    const rows = Object.entries(bgp.drills).map(([id, d]) => `| ${id} | ${d.detectMs} | ${(d.backMs / 1000).toFixed(1)} | ${d.note} |`);
    tables['image-bgp'] = [
      `| fault in the booted image (${bgp.accel.toUpperCase()}, BFD ${bgp.bfd.intervalMs} ms × ${bgp.bfd.multiplier}) | route gone, ms | back, s | what happens |`,
      '|---|---|---|---|',
      ...rows,
    ].join('\n');
  }

  const tls = readResult(repo, 'tls.json');
  // placeholder until the lead's quiet-host run writes tls.json
  tables.tls = tls ? tlsTable(tls) : '_Not measured yet: `npm run bench:tls` on a quiet host writes `test/bench/results/tls.json` and this table._';

  const image = readResult(repo, 'image.json');
  if (image) {
    const boots = [image.boot, image.bootUefi].filter(Boolean);
    const rows = boots.map((b) => `| ${b.firmware}${b.machine ? ` (${b.machine})` : ''} | ${b.accel.toUpperCase()} | ${b.bootToHealthySeconds.toFixed(1)} | ${b.bootToSshSeconds.toFixed(1)} | ${b.at.slice(0, 10)} |`);
    tables['image-boot'] = ['| boot of ' + image.image + ` (${(image.qcow2Bytes / 2 ** 20).toFixed(0)} MiB qcow2) | accel | to /health, s | to SSH, s | measured |`, '|---|---|---|---|---|', ...rows].join('\n');
  }
  const hardening = readResult(repo, 'hardening.json');
  tables.hardening = hardening ? hardeningTable(hardening) : '_Not measured yet: `npm run test:image` (test/image/boot.test.ts) writes `test/bench/results/hardening.json` and this table._';
  const fleet = readResult(repo, 'fleet.json');
  tables.fleet = fleet?.keepalived
    ? [
        '| `ober fleet status` on the keepalived lab (test/lab/fleet.test.ts), seconds from the fault to the view that shows it | s |',
        '|---|---|',
        `| VRRP dropped between two nodes: split brain flagged | ${(fleet.keepalived.splitBrainFlaggedMs / 1000).toFixed(1)} |`,
        ...(fleet.keepalived.splitBrainClearedMs !== undefined ? [`| VRRP flowing again: split brain cleared | ${(fleet.keepalived.splitBrainClearedMs / 1000).toFixed(1)} |`] : []),
        `| a node taken off the network: flagged unreachable | ${(fleet.keepalived.unreachableFlaggedMs / 1000).toFixed(1)} |`,
        '',
        `${fleet.keepalived.at.slice(0, 10)}, ${daemonsText(fleet.keepalived.daemons)}.`,
      ].join('\n')
    : '_Not measured yet: `npm run test:lab` (test/lab/fleet.test.ts) writes `test/bench/results/fleet.json` and this table._';
  tables.s3 = s3Table(readResult(repo, 's3.json'));
  tables['s3-drill'] = s3DrillTable(readResult(repo, 's3-drill.json'));
  tables['s3-policy'] = s3PolicyTable(readResult(repo, 's3-policy.json'));
  tables['s3-https-get'] = s3HttpsGetTable(readResult(repo, 's3-https-get.json'));
  return tables;
}

const MARKER = /<!-- bench:([a-z0-9-]+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g;

/**
 * README text with each marked table replaced by the generated one, and the problems found
 * (a marker naming no table).
 * @param {string} readme
 * @param {Record<string, string>} tables
 */
export function fillReadme(readme, tables) {
  /** @type {string[]} */
  const problems = [];
  const text = readme.replace(MARKER, (whole, name) => {
    const table = tables[name];
    if (table === undefined) {
      problems.push(`README.md: <!-- bench:${name} --> names no table (known: ${Object.keys(tables).join(', ')})`);
      return whole;
    }
    return `<!-- bench:${name} -->\n${table}\n<!-- /bench:${name} -->`;
  });
  return { text, problems };
}

/**
 * Rewrites README.md's bench tables from the results (what every writer of test/bench/results calls
 * after writing, so a test run never leaves the README disagreeing with the JSON). Returns whether
 * the file changed and the problems found.
 */
export function writeReadmeTables(repo = REPO) {
  const file = path.join(repo, 'README.md');
  const readme = readFileSync(file, 'utf8');
  const { text, problems } = fillReadme(readme, benchTables(repo));
  if (text !== readme) writeFileSync(file, text);
  return { changed: text !== readme, problems };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const { text, problems } = fillReadme(readme, benchTables());
    for (const p of problems) process.stderr.write(`${p}\n`);
    if (text !== readme) process.stderr.write('README.md: the bench tables differ from test/bench/results/*.json; run node scripts/bench-tables.mjs\n');
    process.exitCode = text !== readme || problems.length ? 1 : 0;
  } else {
    const { changed, problems } = writeReadmeTables();
    for (const p of problems) process.stderr.write(`${p}\n`);
    if (changed) process.stderr.write('README.md: bench tables rewritten\n');
  }
}
