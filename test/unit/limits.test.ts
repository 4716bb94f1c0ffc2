// Limits before work: inputs that used to crash or hang the programs, run through the real CLIs in
// a child process with a short timeout and a small heap, so a regression fails this test instead of
// taking the test runner (or the machine) down with it.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createServer } from 'node:net';
import { symlink } from 'node:fs/promises';
import { BoundedReadError, readBounded, readBoundedText } from '../../firstboot/lib/read-bounded.js';
import { yamlShapeProblem } from '../../firstboot/lib/yaml-limits.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { loadClusterText } from '../../firstboot/model/load.js';
import { readMetadata } from '../../firstboot/metadata/read-metadata.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import { parseYaml } from '../../firstboot/model/load.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';
import { nocloudDrive, tempDir, writeTree } from './metadata/fixtures.js';

const ADMIN = path.join(REPO, 'dist', 'ober.mjs');
const NODE = path.join(REPO, 'dist', 'ober-node.mjs');
/** A refusal takes a second or two (most of it starting node); 20 s leaves room for a loaded CI machine, and the old defect ran forever. */
const BOUND_MS = 20_000;

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

describe('a first boot killed before it could record why still leaves a record (ExecStopPost)', () => {
  const record = async (root: string, env: Record<string, string>) => {
    const r = await execa('node', [NODE, 'firstboot', '--record-unfinished', '--root', root], { reject: false, env, stdin: 'ignore' });
    const s = await execa('node', [NODE, 'status', '--root', root, '--json'], { reject: false, stdin: 'ignore' });
    return { r, status: JSON.parse(String(s.stdout)) as { firstboot?: { ok: boolean; result: string; error?: { message: string } } } };
  };

  it('killed (oom, signal, timeout): a failed record and the console line', async () => {
    const root = path.join(work, 'killed');
    await mkdir(root, { recursive: true });
    const { r, status } = await record(root, { SERVICE_RESULT: 'oom-kill', EXIT_CODE: 'killed', EXIT_STATUS: 'KILL' });
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).toMatch(/FAILED — this node serves nothing:\n.*ended without a result: oom-kill \(killed KILL\)/);
    expect(status.firstboot).toMatchObject({ ok: false, result: 'failed' });
    expect(status.firstboot?.error?.message).toMatch(/journalctl -b -u ober-firstboot/);
  });

  it('a run that ended well, or recorded its own failure, is left alone', async () => {
    const root = path.join(work, 'ok');
    await mkdir(root, { recursive: true });
    const { r, status } = await record(root, { SERVICE_RESULT: 'success' });
    expect(String(r.stderr)).toBe('');
    expect(status.firstboot).toBeUndefined();
    // A refused run recorded its reason: the post step keeps it.
    const meta = await writeTree(await tempDir(), nocloudDrive({ vendor: '#cloud-config\nober: {version: 2}\n' }));
    await execa('node', [NODE, 'firstboot', '--metadata', meta, '--root', root, '--no-start'], { reject: false, stdin: 'ignore' });
    const again = await record(root, { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: '1' });
    expect(String(again.r.stderr)).toBe('');
    expect(again.status.firstboot?.error?.message).toMatch(/version/);
  });
});

describe('operator-named files: only regular files, bounded in size', () => {
  const refused = async (file: string, maxBytes: number, reason: RegExp) => {
    const started = Date.now();
    const e = await readBoundedText(file, { maxBytes }).then(() => undefined, (x: unknown) => x);
    expect(e, `${file} was read`).toBeInstanceOf(BoundedReadError);
    expect((e as BoundedReadError).reason).toMatch(reason);
    expect(Date.now() - started).toBeLessThan(2000);
  };

  it('refuses a FIFO, a symlink to a FIFO, a device, a directory and a socket without blocking', async () => {
    const fifo = path.join(work, 'a-fifo');
    await execa('mkfifo', [fifo]);
    await symlink(fifo, path.join(work, 'link-to-fifo'));
    await refused(fifo, 4096, /not a regular file: it is a FIFO/);
    await refused(path.join(work, 'link-to-fifo'), 4096, /not a regular file: it is a FIFO/);
    await refused('/dev/zero', 4096, /not a regular file: it is a character device/);
    await refused(work, 4096, /not a regular file: it is a directory/);
    const sock = path.join(work, 'a-socket');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await refused(sock, 4096, /not a regular file: it is a socket/);
    } finally {
      server.close();
    }
  });

  it('refuses a file over the limit, with NUL bytes or not UTF-8; reads one at the limit', async () => {
    const big = path.join(work, 'big');
    await writeFile(big, 'x'.repeat(4097));
    await refused(big, 4096, /is 4097 bytes, over the 4096-byte limit/);
    await writeFile(big, 'x'.repeat(4096));
    expect((await readBounded(big, { maxBytes: 4096 })).length).toBe(4096);
    await writeFile(big, 'pass\u0000word');
    await refused(big, 4096, /NUL bytes/);
    await writeFile(big, Buffer.from([0x70, 0xff, 0xfe]));
    await refused(big, 4096, /not UTF-8/);
    await refused(path.join(work, 'missing'), 4096, /cannot be read: ENOENT/);
  });

  it('ober validate names the field for a certificate that is a FIFO and a secret that is /dev/zero', async () => {
    const fifo = path.join(work, 'examples', 'certs', 'fifo.pem');
    await execa('mkfifo', [fifo]);
    const file = await clusterWith('fifo-cert', (d) => {
      (d.certificates as Doc[])[0] = { name: 's3', file: 'certs/fifo.pem' };
      (d.secrets as Doc)['bgp-md5'] = { file: '/dev/zero' };
    });
    const r = await cli([ADMIN, 'validate', '--cluster', file]);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/certificates\[0\]\.file.*FIFO/);
    expect(r.stderr).toMatch(/secrets\.bgp-md5\.file.*character device/);
  });
});

describe('YAML shape bounded before parsing', () => {
  const deep = (n: number) => `version: 1\nname: ${'['.repeat(n)}${']'.repeat(n)}\n`;
  it.each([
    ['flow nesting 65 deep', deep(65), /nests \[ and \{ more than 64 levels/],
    ['flow nesting 1,000,000 deep (2 MB)', deep(1_000_000), /nests \[ and \{ more than 64 levels/],
    ['block nesting by indentation', `a:\n${Array.from({ length: 200 }, (_, i) => `${' '.repeat(2 * i + 2)}k${i}:`).join('\n')} x\n`, /indented more than 256 columns/],
    ['compact sequences on one line', `a: 1\n${'- '.repeat(40)}x\n`, /opens 40 nested sequences/],
  ])('refuses %s with the line, in milliseconds', (_n, text, message) => {
    const started = performance.now();
    expect(yamlShapeProblem(text)).toMatch(message);
    expect(() => loadClusterText(text, 'cluster.yaml')).toThrow(ConfigError);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('accepts the examples and a document nested 60 deep', async () => {
    for (const f of EXAMPLES) expect(yamlShapeProblem(await readFile(f, 'utf8'))).toBeUndefined();
    expect(yamlShapeProblem(deep(60))).toBeUndefined();
  });

  it('refuses deep nesting in vendor-data as a problem of that file', async () => {
    const meta = await writeTree(await tempDir(), nocloudDrive({ vendor: `#cloud-config\nober: ${'{a: '.repeat(5000)}1${'}'.repeat(5000)}\n` }));
    const e = await readMetadata({ path: meta }).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(/vendor-data: 1 problem\n.*is not usable YAML: line 2 nests/);
  });
});
