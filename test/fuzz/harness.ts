// The fuzz harness, run inside a worker thread by test/unit/fuzz.test.ts (bundled by esbuild), so
// that a hang or a crash of the code under test ends the worker, not the test runner: the parent
// terminates a worker that stops reporting and names the input it was working on.
//
// Two targets:
//   cluster-file  YAML text → loadClusterText → deriveNode → renderNode (as `ober validate`)
//   metadata      a NoCloud drive → firstboot({ metadataPath, root }) without starting anything
// Each case must end in a result or a ConfigError (never another exception), within the case bound;
// a refused first boot must leave nothing installed and a failed status record.
import fc from 'fast-check';
import { lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { stringify } from 'yaml';
import { firstboot } from '../../firstboot/boot/firstboot.js';
import { readRecord } from '../../firstboot/boot/status-record.js';
import { OberError } from '../../firstboot/lib/errors.js';
import { deriveNode } from '../../firstboot/model/derive.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { loadClusterText } from '../../firstboot/model/load.js';
import { renderNode } from '../../firstboot/render/index.js';
import { clusterInput, nodeDataInput, type FuzzInput } from './arbitraries.js';

export interface HarnessData {
  target: 'cluster-file' | 'metadata';
  budgetMs: number;
  seed: number;
  /** The examples as parsed documents, and the node data of the keepalived example. */
  clusters: Record<string, unknown>[];
  nodeData: Record<string, unknown>;
  /** A cluster file's own base documents, as text (for text-level mutations). */
  texts: string[];
}

export type HarnessMessage =
  | { kind: 'case'; n: number; input: string }
  | { kind: 'done'; cases: number; ms: number; accepted: number; refused: number; slowestMs: number }
  | { kind: 'failed'; message: string };

const data = workerData as HarnessData;
const post = (m: HarnessMessage) => parentPort?.postMessage(m);
const show = (x: unknown) => (typeof x === 'string' ? x : JSON.stringify(x)).slice(0, 4000);

/** Refusals must be the tool's own errors, with a field and a message for every issue. */
function checkRefusal(e: unknown, what: string): void {
  if (!(e instanceof OberError)) throw new Error(`${what}: not a clear error but ${(e as Error)?.name}: ${(e as Error)?.message}`);
  const issues = (e as { issues?: { path: string; message: string }[] }).issues;
  for (const i of issues ?? []) {
    if (typeof i.path !== 'string' || typeof i.message !== 'string' || i.message.length < 3) throw new Error(`${what}: an issue without a message: ${JSON.stringify(i)}`);
  }
}

let n = 0;
let accepted = 0;
let refused = 0;
let slowestMs = 0;
const started = Date.now();

function clusterCase(text: string): void {
  let cluster;
  try {
    cluster = loadClusterText(text, 'cluster.yaml').value;
  } catch (e) {
    refused++;
    checkRefusal(e, 'loadClusterText');
    return;
  }
  // As `ober render` sees it: secrets resolved, certificates from files left out (they are read separately).
  const resolved = { ...cluster, secrets: Object.fromEntries(Object.keys(cluster.secrets).map((k) => [k, { value: 'resolved' }])), certificates: [] };
  try {
    for (const node of resolved.nodes) renderNode(deriveNode(resolved, node.name, { names: {} }));
    accepted++;
  } catch (e) {
    // Only unresolvable names may fail here (no DNS in the fuzzer): validation passed everything else.
    checkRefusal(e, 'derive/render after validation passed');
    if (!/could not be resolved/.test((e as Error).message)) throw new Error(`validation passed, derive/render refused: ${(e as Error).message}`, { cause: e });
    refused++;
  }
}

async function metadataCase(vendor: string): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ober-fuzz-'));
  try {
    const meta = path.join(dir, 'drive');
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(meta);
    await writeFile(path.join(meta, 'meta-data'), 'instance-id: fuzz\nlocal-hostname: ober1\n');
    await writeFile(path.join(meta, 'user-data'), '#cloud-config\nhostname: ober1\n');
    await writeFile(path.join(meta, 'vendor-data'), vendor);
    const layout = nodeLayout(path.join(dir, 'root'));
    try {
      // No DNS from the fuzzer: every name is unresolvable (derive then refuses with the field).
      await firstboot({ layout, metadataPath: meta, lookup: async () => [] });
      accepted++;
    } catch (e) {
      refused++;
      checkRefusal(e, 'firstboot');
      const installed = await lstat(layout.current).then(() => true, () => false);
      if (installed) throw new Error('a refused first boot installed a release', { cause: e });
      if (await stat(layout.sysctlFile).then(() => true, () => false)) throw new Error('a refused first boot installed its sysctl drop-in', { cause: e });
      const rec = await readRecord(layout);
      if (!rec || rec.ok || rec.result !== 'failed') throw new Error(`a refused first boot left no failed status record: ${JSON.stringify(rec)}`, { cause: e });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function timed<T>(input: string, run: () => T): T {
  post({ kind: 'case', n: ++n, input });
  const t = Date.now();
  const r = run();
  if (r instanceof Promise) {
    return r.finally(() => {
      slowestMs = Math.max(slowestMs, Date.now() - t);
    }) as T;
  }
  slowestMs = Math.max(slowestMs, Date.now() - t);
  return r;
}

async function main(): Promise<void> {
  const params = { seed: data.seed, numRuns: 1_000_000, interruptAfterTimeLimit: data.budgetMs, endOnFailure: true } as const;
  if (data.target === 'cluster-file') {
    const arb = clusterInput(data.clusters, data.texts);
    fc.assert(
      fc.property(arb, (input: FuzzInput) => {
        const text = typeof input === 'string' ? input : stringify(input);
        timed(show(text), () => clusterCase(text));
      }),
      params,
    );
  } else {
    const arb = nodeDataInput(data.nodeData);
    await fc.assert(
      fc.asyncProperty(arb, async (input: FuzzInput) => {
        const vendor = typeof input === 'string' ? input : `#cloud-config\n${stringify({ ober: input }, { lineWidth: 0 })}`;
        await timed(show(vendor), () => metadataCase(vendor));
      }),
      params,
    );
  }
  post({ kind: 'done', cases: n, ms: Date.now() - started, accepted, refused, slowestMs });
}

main().catch((e: unknown) => post({ kind: 'failed', message: (e as Error).message }));
