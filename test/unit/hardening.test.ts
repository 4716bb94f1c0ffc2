// Sysctl overrides may not undo the image's hardening unless the cluster file says so setting by
// setting (allowWeakening: true); then `ober validate` and `ober status` both say it.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { run } from '../../firstboot/lib/exec.js';
import { DEFAULT_SYSCTL } from '../../firstboot/model/defaults.js';
import { HARDENING, weakens } from '../../firstboot/model/hardening.js';
import { loadClusterText, parseYaml } from '../../firstboot/model/load.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';
import { nocloudDrive, tempDir, writeTree } from './metadata/fixtures.js';

const OVERLAY = path.join(REPO, 'overlays/base/etc/sysctl.d/10-ober-hardening.conf');

type Doc = Record<string, unknown>;
let bgp: Doc;
beforeAll(async () => {
  bgp = parseYaml(await readFile(EXAMPLES[0] ?? '', 'utf8'), 'x').data as Doc;
});
const withSysctl = (sysctl: Doc, node?: Doc) => {
  const d = structuredClone(bgp);
  d.sysctl = sysctl;
  if (node) (d.nodes as Doc[])[1] = { ...(d.nodes as Doc[])[1], overrides: { sysctl: node } };
  return stringify(d);
};

describe('the hardening table matches the image', () => {
  it('covers every setting of the overlay with the value the overlay sets, which weakens nothing', async () => {
    const lines = (await readFile(OVERLAY, 'utf8')).split('\n').filter((l) => /^[a-z]/.test(l));
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      const [key = '', value = ''] = line.split('=').map((x) => x.trim());
      const rule = HARDENING.find((r) => r.key.test(key));
      expect(rule, `${key} (in the overlay) has no hardening rule`).toBeDefined();
      expect(rule?.image, key).toBe(value);
      expect(weakens(key, value), key).toBeUndefined();
    }
  });

  it("the node's own defaults weaken nothing", () => {
    for (const [k, v] of DEFAULT_SYSCTL) expect(weakens(k, v), `${k} = ${v}`).toBeUndefined();
  });
});

describe('weakening overrides are refused with the key and the fix', () => {
  const WEAK: [string, string | number][] = [
    ['kernel.kptr_restrict', 0],
    ['kernel.kptr_restrict', 1],
    ['kernel.dmesg_restrict', 0],
    ['kernel.unprivileged_bpf_disabled', 0],
    ['kernel.unprivileged_bpf_disabled', 2],
    ['net.core.bpf_jit_harden', 1],
    ['kernel.yama.ptrace_scope', 0],
    ['kernel.yama.ptrace_scope', 1],
    ['kernel.kexec_load_disabled', 0],
    ['kernel.panic', 0],
    ['kernel.panic_on_oops', 0],
    ['net.ipv4.conf.all.accept_redirects', 1],
    ['net.ipv4.conf.default.accept_redirects', 1],
    ['net.ipv4.conf.eth0.accept_redirects', 1],
    ['net.ipv6.conf.all.accept_redirects', 1],
    ['net.ipv4.conf.all.send_redirects', 1],
    ['net.ipv4.conf.eth0.send_redirects', 1],
    ['net.ipv4.conf.all.accept_source_route', 1],
    ['net.ipv4.tcp_syncookies', 0],
    ['net.ipv4.conf.all.rp_filter', 0],
    ['fs.protected_symlinks', 0],
    ['fs.protected_regular', 0],
    ['fs.suid_dumpable', 2],
    ['kernel.kptr_restrict', 'two'],
    ['kernel.panic', '0 '],
  ];
  it.each(WEAK)('%s = %s', (key, value) => {
    for (const [where, text] of [
      ['sysctl', withSysctl({ [key]: value })],
      ['nodes[1].overrides.sysctl', withSysctl({}, { [key]: value })],
    ] as const) {
      let e: unknown;
      try {
        loadClusterText(text, 'cluster.yaml');
      } catch (x) {
        e = x;
      }
      expect(e, `${where}.${key} = ${value} accepted`).toBeInstanceOf(ConfigError);
      const issue = (e as ConfigError).issues.find((i) => i.path.startsWith(`${where}.${key}`));
      expect(issue?.message, (e as Error).message).toMatch(/weakens the image's hardening \(it sets \S+: .{10,}\)/);
      expect(issue?.hint).toMatch(/allowWeakening: true/);
    }
  });

  it('accepts values as strong as the image or stronger', () => {
    for (const [k, v] of [['kernel.yama.ptrace_scope', 3], ['kernel.panic', -1], ['kernel.panic', 30], ['net.ipv4.conf.all.rp_filter', 1], ['net.ipv4.tcp_syncookies', 2]] as const) {
      expect(() => loadClusterText(withSysctl({ [k]: v }), 'c'), `${k} = ${v}`).not.toThrow();
    }
  });

  it('refuses allowWeakening that is not true, and warns when allowWeakening is not needed', () => {
    expect(() => loadClusterText(withSysctl({ 'kernel.kptr_restrict': { value: 0, allowWeakening: false } }), 'c')).toThrow(/sysctl\.kernel\.kptr_restrict.*must be a value, or \{ value/);
    const { warnings } = loadClusterText(withSysctl({ 'net.core.somaxconn': { value: 1024, allowWeakening: true } }), 'c');
    expect(warnings.map((w) => `${w.path}: ${w.message}`).join('\n')).toMatch(/net\.core\.somaxconn\.allowWeakening.*weakens nothing/);
  });
});

describe('allowWeakening: accepted, and said by validate and status', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir: work, cleanup } = await scratchDir('weaken'));
  });
  afterAll(async () => cleanup());

  it('ober validate warns, and the rendered sysctl file carries the value', async () => {
    const text = (await readFile(EXAMPLES[0] ?? '', 'utf8')).replace(/^logging:/m, 'sysctl:\n  kernel.yama.ptrace_scope: { value: 1, allowWeakening: true }\n\nlogging:');
    const dir = path.join(work, 'cluster');
    await mkdir(dir, { recursive: true });
    await run(['cp', '-r', path.join(REPO, 'examples/certs'), path.join(REPO, 'examples/secrets'), dir]);
    await writeFile(path.join(dir, 'c.yaml'), text);
    const r = await run(['node', path.join(REPO, 'dist/ober.mjs'), 'validate', '--cluster', path.join(dir, 'c.yaml')], { allowFailure: true });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/sysctl\.kernel\.yama\.ptrace_scope.*ptrace_scope = 1 weakens the image's hardening.*allowed by allowWeakening/);
  });

  it('first boot installs it, records the warning, and ober status shows it', async () => {
    const cluster = await loadExample(EXAMPLES[1] ?? '');
    cluster.sysctl = { 'kernel.dmesg_restrict': { value: '0', allowWeakening: true } };
    const meta = await writeTree(await tempDir(), nocloudDrive({ vendor: vendorDataSnippet(nodeData(cluster, 'ober1')) }));
    const root = path.join(work, 'root');
    const node = path.join(REPO, 'dist/ober-node.mjs');
    const fb = await run(['node', node, 'firstboot', '--metadata', meta, '--root', root, '--no-start', '--json'], { allowFailure: true });
    expect(fb.exitCode, fb.stderr).toBe(0);
    expect((JSON.parse(fb.stdout) as { warnings: string[] }).warnings.join('\n')).toMatch(/kernel\.dmesg_restrict = 0 weakens/);
    const s = await run(['node', node, 'status', '--root', root, '--json'], { allowFailure: true });
    expect((JSON.parse(s.stdout) as { warnings: string[] }).warnings.join('\n')).toMatch(/kernel\.dmesg_restrict = 0 weakens the image's hardening/);
    const human = await run(['node', node, 'status', '--root', root], { allowFailure: true });
    expect(human.stdout).toMatch(/warning: kernel\.dmesg_restrict = 0 weakens/);
  });
});
