// The CLI contract, for every command of both programs: a wrong invocation exits 1 with an error
// that names the flag/field/path (never "internal error", never a stack trace), and with --json
// stdout carries exactly one JSON document, failures included. Run in-process (the same
// buildProgram/runProgram the bundles run) so a corpus of ~40 invocations stays fast.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { adminCommands } from '../../builder/commands/index.js';
import { nodeCommands } from '../../firstboot/commands/index.js';
import { buildProgram, runProgram } from '../../firstboot/lib/program.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { EXAMPLES, scratchDir } from '../helpers/fixtures.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ober(program: 'admin' | 'node', argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
  try {
    const p = buildProgram('test', program === 'admin' ? adminCommands : nodeCommands, { showRoot: program === 'node' });
    const code = await runProgram(p, argv);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
}

let dir = '';
let cleanup: () => Promise<void> = async () => {};
const saved = { ...process.env };
const [BGP = ''] = EXAMPLES;

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('cli-contract'));
  await writeFile(path.join(dir, 'syntax.yaml'), 'version: 1\nname: x\nmode: bgp\nvips:\n  - name: a\n   address: 10.0.0.1\n');
  await mkdir(path.join(dir, 'emptyroot'), { recursive: true });
  // A node.json that is JSON but not a node configuration: read through its schema, refused by field.
  const bad = nodeLayout(path.join(dir, 'badroot')).nodeJson;
  await mkdir(path.dirname(bad), { recursive: true });
  await writeFile(bad, JSON.stringify({ cluster: 's3', mode: 'bgp', node: { name: 'ober1' } }));
  await writeFile(path.join(dir, 'debian-12_1.0.qcow2'), 'not really an image');
  // No Proxmox of the caller's shell may be reached from a test.
  for (const k of ['PROXMOX_URL', 'PROXMOX_TOKEN', 'PROXMOX_USER', 'PROXMOX_PASSWORD', 'OBER_ROOT']) delete process.env[k];
});
afterAll(async () => {
  process.env = saved;
  await cleanup();
});
afterEach(() => vi.restoreAllMocks());

// [program, argv, what the error must name, what it names with --json when that differs]
const HEALTH_JSON = /--json: the health feed's output is ExaBGP's text protocol/;
const WRONG: [program: 'admin' | 'node', argv: () => string[], names: RegExp, jsonNames?: RegExp][] = [
  ['admin', () => ['bogus'], /unknown command 'bogus'/],
  ['admin', () => ['validate', '-c', BGP, '--bogus'], /unknown option '--bogus'/],
  ['admin', () => ['validate'], /--cluster/],
  ['admin', () => ['validate', '-c', path.join(dir, 'nonexistent.yaml')], /nonexistent\.yaml.*cannot (be )?read/s],
  ['admin', () => ['validate', '-c', path.join(dir, 'syntax.yaml')], /line 6, column \d+: YAML syntax/],
  ['admin', () => ['render', '-c', BGP, '--target', 'foo', '--out', dir], /--target: 'foo' is not a known image family/],
  ['admin', () => ['render', '-c', BGP, '--node', 'nosuch', '--out', dir], /--node: no node named 'nosuch'/],
  ['admin', () => ['render', '-c', BGP, '--haproxy-version', 'latest', '--out', dir], /--haproxy-version: 'latest' is not a HAProxy version/],
  ['admin', () => ['render', '-c', BGP, '--manifest', path.join(dir, 'no-such.manifest.json'), '--out', dir], /--manifest: cannot read/],
  ['admin', () => ['render', '-c', BGP, '--manifest', BGP, '--haproxy-version', '3.0', '--out', dir], /--manifest: and --haproxy-version both name/],
  ['node', () => ['firstboot', '--haproxy-version', '9', '--metadata', dir, '--root', dir, '--no-start'], /--haproxy-version: '9' is not a HAProxy version/],
  ['admin', () => ['vendor-data', '-c', BGP, '-n', 'nosuch'], /--node: no node named 'nosuch'/],
  ['admin', () => ['vendor-data', '-c', BGP, '-n', 'ober1', '--format', 'xml'], /--format: 'xml' is not one of nocloud, configdrive2/],
  ['admin', () => ['build-image', '--rebuild', 'foo', '--plan'], /--rebuild: unknown: foo/],
  ['admin', () => ['build-image', path.join(dir, 'nonexistent.yaml'), '--plan'], /nonexistent\.yaml/],
  ['admin', () => ['build-image', '--builder', 'packer', '--plan'], /--builder: 'packer' is not one of native, mkosi/],
  ['admin', () => ['build-image', '--sources', path.join(dir, 'no-such-dir'), '--plan'], /--sources: 1 problem[\s\S]*no-such-dir is not a directory/],
  ['admin', () => ['image', 'export', path.join(dir, 'exp'), '--builder', 'foo'], /--builder: 'foo' is not a builder/],
  ['admin', () => ['image', 'export', path.join(dir, 'exp'), '--builder', 'packer', '--definition', 'image/alma-10.yaml', '--dry-run'], /distribution\.family: the rhel family has no Packer export/],
  ['admin', () => ['image', 'export', path.join(dir, 'exp')], /--builder/],
  ['admin', () => ['drill', '-c', BGP, '--trials', '0'], /--trials: '0' is not a whole number/],
  ['admin', () => ['drill', '-c', BGP, '--only', 'nosuch'], /--only: unknown bgp scenario/],
  ['admin', () => ['drill', '-c', BGP, '--mode', 'keepalived'], /--mode: the cluster .* is in bgp mode/],
  ['admin', () => ['template', 'create', '--image', '/nonexistent.qcow2', '--dry-run'], /--image: 'nonexistent\.qcow2' is not named/],
  ['admin', () => ['template', 'create', '--image', path.join(dir, 'debian-12_2.0.qcow2'), '--dry-run'], /--image: cannot read .*debian-12_2\.0\.qcow2 \(no such file\)/],
  ['admin', () => ['template', 'create', '--image', path.join(dir, 'debian-12_1.0.qcow2'), '--cores', 'x'], /--cores: 'x' is not a whole number/],
  ['admin', () => ['template', 'create', '--image', path.join(dir, 'debian-12_1.0.qcow2'), '--bios', 'uefi'], /--bios: 'uefi'/],
  ['admin', () => ['template', 'create', '--image', path.join(dir, 'debian-12_1.0.qcow2')], /PROXMOX_URL: not set/],
  ['admin', () => ['deploy', '-c', path.join(dir, 'nonexistent.yaml'), '--snippets', 'iso'], /nonexistent\.yaml.*cannot (be )?read/s],
  ['admin', () => ['deploy', '-c', BGP, '--snippets', 'floppy'], /--snippets: 'floppy'/],
  ['admin', () => ['deploy', '-c', BGP, '--snippets', 'iso', '--timeout', 'soon'], /--timeout: 'soon'/],
  ['admin', () => ['deploy', '-c', BGP, '--snippets', 'iso'], /PROXMOX_URL: not set/],
  ['admin', () => ['rollout', '-c', BGP, '--snippets', 'iso'], /--to: give exactly one of --to <version>, --resume, --revert/],
  ['admin', () => ['rollout', '-c', BGP, '--snippets', 'iso', '--resume', '--state', path.join(dir, 'nostate.json')], /--state: no rollout state at/],
  ['admin', () => ['upgrade'], /PROXMOX_URL: not set/],
  ['admin', () => ['upgrade', '--check', '-c', path.join(dir, 'nonexistent.yaml')], /cannot (be )?read/],
  ['node', () => ['firstboot', '--target', 'foo', '--root', path.join(dir, 'emptyroot'), '--no-start'], /--target: 'foo' is not a known image family/],
  ['node', () => ['firstboot', '--metadata', path.join(dir, 'nonexistent'), '--root', path.join(dir, 'emptyroot'), '--no-start'], /nonexistent/],
  ['node', () => ['health', '--root', path.join(dir, 'emptyroot')], /<vip>: is required/, HEALTH_JSON],
  ['node', () => ['health', 's3-a', '--track-file', path.join(dir, 't'), '--root', path.join(dir, 'emptyroot')], /<vip>: give either/, HEALTH_JSON],
  ['node', () => ['health', 's3-a', '--stats-port', '0', '--root', path.join(dir, 'emptyroot')], /--stats-port: '0'/, HEALTH_JSON],
  ['node', () => ['health', 's3-a', '--root', path.join(dir, 'emptyroot')], /node\.json/, HEALTH_JSON],
  ['node', () => ['logs', '-f', '--service', 'http'], /^/, /--follow: cannot be combined with --json/],
  ['admin', () => ['destroy', '-c', BGP], /--yes: destroying a cluster needs --yes/],
  ['admin', () => ['release', 'publish'], /--repo: required/],
  ['admin', () => ['release', 'download', '--repo', 'not-a-repo', '1.0.0'], /--repo: 'not-a-repo' is not OWNER\/NAME/],
  ['admin', () => ['fleet', 'status'], /--cluster/],
  ['admin', () => ['dashboard', '-c', BGP, '--listen', 'nowhere'], /--listen: 'nowhere' is not host:port/],
  ['admin', () => ['config', '--cluster', path.join(dir, 'new.yaml'), '--answers', path.join(dir, 'no-answers.yaml')], /--answers: cannot read/],
  ['admin', () => ['config', '--cluster', path.join(dir, 'new.yaml'), '--answers', path.join(dir, 'syntax.yaml')], /YAML syntax/],
  ['node', () => ['status', '--bogus'], /unknown option '--bogus'/],
  ['node', () => ['doctor', '--bogus'], /unknown option '--bogus'/],
  ['node', () => ['start', '--root', path.join(dir, 'emptyroot')], /haproxy\.cfg.*No such file/s],
  ['node', () => ['vip-release', '--root', path.join(dir, 'emptyroot')], /node\.json/],
  ['node', () => ['sync', '--root', path.join(dir, 'emptyroot')], /node\.json/],
  ['node', () => ['backend-routes', '--dry-run', '--root', path.join(dir, 'emptyroot')], /node\.json/],
  ['node', () => ['vip-release', '--root', path.join(dir, 'badroot')], /node\.json: \d+ problems?[^]*node\.address: /],
  ['node', () => ['stop', '--drain-timeout', 'x', '--root', path.join(dir, 'emptyroot')], /--drain-timeout/],
  ['node', () => ['restart', '--drain-timeout', '-1', '--root', path.join(dir, 'emptyroot')], /--drain-timeout/],
  ['node', () => ['logs', '--service', 'foo'], /--service: 'foo' is not a service/],
  ['node', () => ['logs', '-n', 'x'], /--lines: 'x' is not a number/],
  ['node', () => ['certs', 'reload', '--bogus'], /unknown option '--bogus'/],
  ['node', () => ['certs'], /a subcommand is required/],
];

describe('a wrong invocation of any command: exit 1, the error names what is wrong, no stack trace', () => {
  it.each(WRONG.map(([p, argv, names, jsonNames]) => [`${p}: ober ${argv().map((a) => path.relative(dir, a).startsWith('..') ? a : path.basename(a)).join(' ')}`, p, argv, names, jsonNames ?? names] as const))(
    '%s',
    async (_title, program, argv, names, jsonNames) => {
      const json = await ober(program, [...argv(), '--json']);
      expect(json.code, json.stderr).toBe(1);
      const doc = JSON.parse(json.stdout) as { ok: boolean; error: { kind: string; message: string } };
      expect(doc.ok).toBe(false);
      expect(doc.error.kind).not.toBe('InternalError');
      expect(`${doc.error.message} ${JSON.stringify(doc.error)}`).toMatch(jsonNames);
      // The error is also on stderr: a person running a --json command in a terminal sees it.
      expect(json.stderr).toMatch(/^error: /m);
      if (names.source === '^') return; // wrong only with --json

      const plain = await ober(program, argv());
      expect(plain.code, plain.stderr).toBe(1);
      expect(plain.stderr).toMatch(/^error: /m);
      expect(plain.stderr).not.toMatch(/internal error|^\s+at /m);
      expect(plain.stderr).toMatch(names);
      expect(plain.stdout).toBe('');
    },
  );
});

describe('--json gives one JSON document on stdout for commands that succeed too', () => {
  it.each([
    ['validate', () => ['validate', '-c', BGP]],
    ['render', () => ['render', '-c', BGP, '--node', 'ober1']],
    ['vendor-data', () => ['vendor-data', '-c', BGP, '-n', 'ober1']],
    ['vendor-data --format configdrive2', () => ['vendor-data', '-c', BGP, '-n', 'ober1', '--format', 'configdrive2']],
    ['deploy --dry-run', () => ['deploy', '-c', BGP, '--dry-run', '--snippets', 'iso']],
    ['rollout --dry-run', () => ['rollout', '-c', BGP, '--to', '0.2.0', '--dry-run', '--snippets', 'iso']],
  ] as const)('%s', async (_t, argv) => {
    const r = await ober('admin', [...argv(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { ok: boolean }).ok).toBe(true);
  });

  it('the rollout dry run shows placeholders where Proxmox would answer, not empty values', async () => {
    const r = await ober('admin', ['rollout', '-c', BGP, '--to', '0.2.0', '--dry-run', '--snippets', 'iso', '--json']);
    const doc = JSON.parse(r.stdout) as { nodes: { node: string; calls: { path: string; params: Record<string, string> }[] }[] };
    const calls = doc.nodes[0]?.calls ?? [];
    expect(calls.find((c) => c.path.endsWith('/status/stop'))?.path).toMatch(/<old VM of ober1>/);
    expect(calls.find((c) => c.path.endsWith('/clone'))?.path).toMatch(/<template 0\.2\.0>/);
    const tags = calls.map((c) => c.params.tags).find((t) => t?.includes('ober-node_')) ?? '';
    expect(tags).toMatch(/;<template tag>$/);
  });

  it('progress and warnings stay on stderr with --json; stdout is only the document', async () => {
    const r = await ober('admin', ['render', '-c', BGP, '--node', 'ober1', '--out', path.join(dir, 'render'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/✓ ober1: \d+ files →/);
    expect((JSON.parse(r.stdout) as { nodes: unknown[] }).nodes).toHaveLength(1);
  });

  it('vendor-data --json carries the snippet as text, not YAML on stdout', async () => {
    const r = await ober('admin', ['vendor-data', '-c', BGP, '-n', 'ober1', '--json']);
    const doc = JSON.parse(r.stdout) as { snippet: string; format: string };
    expect(doc.format).toBe('nocloud');
    expect(doc.snippet).toMatch(/^#cloud-config\nober:|^#cloud-config\n# .*\nober:/);
  });
});

describe('help', () => {
  it('the admin tool does not offer --root (a node flag); the node program does', async () => {
    const admin = await ober('admin', ['--help']);
    const node = await ober('node', ['--help']);
    expect(admin.code).toBe(0);
    expect(admin.stdout).toMatch(/--json/);
    expect(admin.stdout).not.toMatch(/--root/);
    expect(node.stdout).toMatch(/--root <dir>/);
  });

  it('upgrade runs its check without a flag (--check is not required)', async () => {
    const r = await ober('admin', ['upgrade', '--help']);
    expect(r.stdout).not.toMatch(/required/);
    expect((await ober('admin', ['upgrade'])).stderr).not.toMatch(/required option/);
  });
});
