// Fuzzing the two parsers that take hostile input: the cluster file (`ober validate`) and a node's
// metadata (`ober firstboot`). The harness (test/fuzz/harness.ts) runs in a worker thread with a
// small heap; this side stops it when one case takes longer than CASE_BOUND_MS or the heap runs
// out, and fails with the input it was working on. The run length and case count are printed.
// OBER_FUZZ_MS sets the time per target (default 6 s), OBER_FUZZ_SEED replays a run.
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { readRecord } from '../../firstboot/boot/status-record.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { parseYaml, validateNodeData } from '../../firstboot/model/load.js';
import { namesToResolve } from '../../firstboot/model/inputs.js';
import { nodeData } from '../../firstboot/model/node-data.js';
import type { HarnessData, HarnessMessage } from '../fuzz/harness.js';
import { nodeDataInput } from '../fuzz/arbitraries.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';

const BUDGET_MS = Number(process.env.OBER_FUZZ_MS ?? 6000);
const SEED = Number(process.env.OBER_FUZZ_SEED ?? Date.now() % 2 ** 31);
/** No single case may take longer: a refusal takes milliseconds, the slowest case seen under a load of ~15 took 1.3 s; this is the "never hangs" bound. */
const CASE_BOUND_MS = 5000;
const HEAP_MB = 256;
const STARTUP_MS = 30_000;
/** CLI runs cost a process start each (1-5 s on a busy machine): a few, as a check of the real entry point. */
const CLI_CASES = 3;

let harness: string;
let base: Omit<HarnessData, 'target' | 'budgetMs' | 'seed'>;

beforeAll(async () => {
  const dir = path.join(REPO, '.cache', 'fuzz');
  await mkdir(dir, { recursive: true });
  harness = path.join(dir, 'harness.mjs');
  // Templates are `?raw` imports: inline them as strings, as scripts/bundle.mjs does.
  await build({
    entryPoints: [path.join(REPO, 'test/fuzz/harness.ts')],
    outfile: harness,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [
      {
        name: 'raw',
        setup(b) {
          b.onResolve({ filter: /\?raw$/ }, (a) => ({ path: path.resolve(a.resolveDir, a.path.replace(/\?raw$/, '')), namespace: 'raw' }));
          b.onLoad({ filter: /.*/, namespace: 'raw' }, async (a) => ({ contents: await readFile(a.path, 'utf8'), loader: 'text' }));
        },
      },
    ],
  });
  const texts = await Promise.all(EXAMPLES.map((f) => readFile(f, 'utf8')));
  const resolved = await loadExample(EXAMPLES[1] ?? '');
  base = {
    texts,
    clusters: texts.map((t) => parseYaml(t, 'x').data as Record<string, unknown>),
    nodeData: JSON.parse(JSON.stringify(nodeData(resolved, 'ober1'))) as Record<string, unknown>,
  };
}, 60_000);

interface Outcome {
  cases: number;
  ms: number;
  accepted: number;
  refused: number;
  slowestMs: number;
}

/** Run one target in a worker; reject with the input at fault on a failure, a hang or a crash. */
function fuzz(target: HarnessData['target']): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const w = new Worker(harness, { workerData: { ...base, target, budgetMs: BUDGET_MS, seed: SEED } satisfies HarnessData, resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } });
    // Loading the bundle is not a case: allow it STARTUP_MS before the first case reports.
    let last: { n: number; input: string; at: number } = { n: 0, input: '(none yet: the worker did not start)', at: Date.now() + STARTUP_MS };
    const fail = (why: string) => {
      clearInterval(watch);
      void w.terminate();
      reject(new Error(`${target} fuzz (seed ${SEED}, replay with OBER_FUZZ_SEED=${SEED}): ${why}\ncase ${last.n} input:\n${last.input}`));
    };
    const watch = setInterval(() => {
      if (Date.now() - last.at > CASE_BOUND_MS) fail(`case ${last.n} ran longer than ${CASE_BOUND_MS} ms (a hang)`);
    }, 100);
    w.on('message', (m: HarnessMessage) => {
      if (m.kind === 'case') last = { n: m.n, input: m.input, at: Date.now() };
      else if (m.kind === 'failed') fail(m.message);
      else {
        clearInterval(watch);
        void w.terminate();
        resolve(m);
      }
    });
    w.on('error', (e: Error) => fail(`the worker crashed: ${e.message}`));
    w.on('exit', (code) => {
      if (code !== 0 && code !== 1) fail(`the worker exited with ${code}`);
    });
  });
}

const report = (target: string, o: Outcome) =>
  // Printed for CI: how long the fuzzer ran and how many cases it tried.
  console.log(`fuzz ${target}: ${o.cases} cases in ${(o.ms / 1000).toFixed(1)} s (${o.refused} refused, ${o.accepted} accepted; slowest case ${o.slowestMs} ms; seed ${SEED})`);

describe('fuzz: hostile documents end in a result or a clear error, fast', () => {
  it('cluster files (ober validate: parse, rules, derive, render)', async () => {
    const o = await fuzz('cluster-file');
    report('cluster-file', o);
    expect(o.cases).toBeGreaterThan(10); // ~40 per second on an idle machine, fewer under load
    expect(o.refused).toBeGreaterThan(0);
    expect(o.slowestMs).toBeLessThan(CASE_BOUND_MS);
  }, BUDGET_MS + 60_000);

  it('node metadata (first boot: nothing installed on refusal, a failed status record)', async () => {
    const o = await fuzz('metadata');
    report('metadata', o);
    expect(o.cases).toBeGreaterThan(3);
    expect(o.refused).toBeGreaterThan(0);
    expect(o.slowestMs).toBeLessThan(CASE_BOUND_MS);
  }, BUDGET_MS + 60_000);

  it('node metadata through the real CLI: ober firstboot --metadata DIR --root DIR --no-start', async () => {
    const { dir, cleanup } = await scratchDir('fuzz-cli');
    const node = path.join(REPO, 'dist', 'ober-node.mjs');
    const started = Date.now();
    let n = 0;
    try {
      for (const input of fc.sample(nodeDataInput(base.nodeData), { seed: SEED, numRuns: 40 })) {
        const vendor = typeof input === 'string' ? input : `#cloud-config\n${stringify({ ober: input }, { lineWidth: 0 })}`;
        // The CLI resolves whitelist names with the system resolver: run only inputs that need no DNS.
        if (typeof input !== 'string') {
          try {
            if (namesToResolve(validateNodeData(input, 'x').value.cluster).length) continue;
          } catch {
            /* refused before any lookup */
          }
        }
        if (++n > CLI_CASES) break;
        const meta = path.join(dir, `m${n}`);
        const root = path.join(dir, `r${n}`);
        await mkdir(meta, { recursive: true });
        await writeFile(path.join(meta, 'meta-data'), 'instance-id: fuzz\n');
        await writeFile(path.join(meta, 'user-data'), '#cloud-config\n');
        await writeFile(path.join(meta, 'vendor-data'), vendor);
        const r = await execa('node', ['--max-old-space-size=256', node, 'firstboot', '--metadata', meta, '--root', root, '--no-start'], { reject: false, timeout: 20_000, stdin: 'ignore' });
        expect(r.timedOut, `hung on:\n${vendor.slice(0, 2000)}`).toBe(false);
        expect([0, 1], `exit ${r.exitCode} on:\n${vendor.slice(0, 2000)}\n${String(r.stderr)}`).toContain(r.exitCode);
        if (r.exitCode === 1) {
          expect(String(r.stderr)).toMatch(/ober firstboot: FAILED — this node serves nothing/);
          const layout = nodeLayout(root);
          expect((await readRecord(layout))?.result).toBe('failed');
          await expect(readFile(layout.sysctlFile)).rejects.toThrow();
        }
      }
    } finally {
      await cleanup();
    }
    console.log(`fuzz metadata via the CLI: ${Math.min(n, CLI_CASES)} cases in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED})`);
  }, 180_000);
});
