// Limits before work: inputs that used to crash or hang the programs, run through the real CLIs in
// a child process with a short timeout and a small heap, so a regression fails this test instead of
// taking the test runner (or the machine) down with it.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import { parseYaml } from '../../firstboot/model/load.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';
import { nocloudDrive, tempDir, writeTree } from './metadata/fixtures.js';

const ADMIN = path.join(REPO, 'dist', 'ober.mjs');
const NODE = path.join(REPO, 'dist', 'ober-node.mjs');
/** A refusal takes well under a second; 8 s leaves room for a loaded CI machine. */
const BOUND_MS = 8000;

/** Run a CLI with a 256 MiB heap and a hard timeout; report how it ended and how long it took. */
async function cli(argv: string[]) {
  const started = Date.now();
  const r = await execa('node', ['--max-old-space-size=256', ...argv], { reject: false, timeout: BOUND_MS, stdin: 'ignore', encoding: 'utf8' });
  return { exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stdout: String(r.stdout), stderr: String(r.stderr), ms: Date.now() - started };
}

let work: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir: work, cleanup } = await scratchDir('limits'));
  // The BGP example with its certificate and secret files beside it.
  await cp(path.join(REPO, 'examples'), path.join(work, 'examples'), { recursive: true });
});
afterAll(async () => cleanup());

type Doc = Record<string, unknown>;
async function clusterWith(name: string, edit: (d: Doc) => void): Promise<string> {
  const doc = parseYaml(await readFile(EXAMPLES[0] ?? '', 'utf8'), 'x').data as Doc;
  edit(doc);
  const file = path.join(work, 'examples', `${name}.yaml`);
  await writeFile(file, stringify(doc));
  return file;
}

/** A hostlist range whose upper bound is 2^53: above it `i++` no longer changes the number. */
const RANGE_2_53 = '10.20.5.[9007199254740990-9007199254740993]';

describe('ober validate: no crash, no hang', () => {
  it('refuses a hostlist range near 2^53 with the field named, in bounded time', async () => {
    const file = await clusterWith('range-2-53', (d) => ((d.whitelists as Doc).monitoring = RANGE_2_53));
    const r = await cli([ADMIN, 'validate', '--cluster', file]);
    expect(r.timedOut, `validate ran past ${BOUND_MS} ms`).toBe(false);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/whitelists\.monitoring/);
  });

  it('refuses a secret file that is a FIFO instead of blocking on it', async () => {
    const fifo = path.join(work, 'examples', 'secrets', 'fifo');
    await execa('mkfifo', [fifo]);
    const file = await clusterWith('fifo-secret', (d) => ((d.secrets as Doc)['bgp-md5'] = { file: 'secrets/fifo' }));
    const r = await cli([ADMIN, 'validate', '--cluster', file]);
    expect(r.timedOut, `validate blocked on the FIFO for ${BOUND_MS} ms`).toBe(false);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/secrets\.bgp-md5\.file/);
    expect(r.stderr).toMatch(/not a regular file/);
  });
});

describe('ober firstboot: no crash, a status record always', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await loadExample(EXAMPLES[1] ?? '');
  });

  it('refuses node data with a hostlist range near 2^53, installs nothing, records why', async () => {
    const data = nodeData(cluster, 'ober1') as unknown as { cluster: Doc };
    data.cluster.whitelists = { ...(data.cluster.whitelists as Doc), monitoring: RANGE_2_53 };
    const meta = await writeTree(await tempDir(), nocloudDrive({ vendor: vendorDataSnippet(data as never) }));
    const root = path.join(work, 'root-2-53');
    await mkdir(root, { recursive: true });
    const r = await cli([NODE, 'firstboot', '--metadata', meta, '--root', root, '--no-start']);
    expect(r.timedOut, `first boot ran past ${BOUND_MS} ms`).toBe(false);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/FAILED — this node serves nothing/);
    expect(r.stderr).toMatch(/cluster\.whitelists\.monitoring/);
    const s = await cli([NODE, 'status', '--root', root, '--json']);
    const status = JSON.parse(s.stdout) as { firstboot: { ok: boolean; error: { message: string } } };
    expect(status.firstboot.ok).toBe(false);
    expect(status.firstboot.error.message).toMatch(/whitelists\.monitoring/);
  });
});
