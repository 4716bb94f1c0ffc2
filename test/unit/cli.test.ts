// The CLI as an operator uses it: the bundled program, real files, exit codes and output.
import { readFile, rm, writeFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { EXAMPLES, REPO, scratchDir } from '../helpers/fixtures.js';

const ober = (...args: string[]) => run(['node', path.join(REPO, 'dist', 'ober.mjs'), ...args], { allowFailure: true, cwd: REPO });
let dir = '';
let cleanup: () => Promise<void> = async () => {};

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('cli'));
});
afterAll(() => cleanup());

describe('ober validate', () => {
  it.each(EXAMPLES)('accepts %s (exit 0)', async (file) => {
    const r = await ober('validate', '--cluster', file);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/valid/);
  });

  it('refuses a broken file with exit 1, naming the field, its line and the fix', async () => {
    const text = (await readFile(EXAMPLES[0] ?? '', 'utf8')).replace('localAs: 65100', 'localAs: 23456').replace('address: 10.20.0.12/24', 'address: 10.20.0.12');
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, text);
    const r = await ober('validate', '--cluster', file);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/bgp\.localAs \(line \d+\): AS 23456 is AS_TRANS/);
    expect(r.stderr).toMatch(/nodes\[1\]\.address \(line \d+\): .*prefix length/);
  });

  it('--json reports issues as data', async () => {
    const file = path.join(dir, 'unknown-field.yaml');
    await writeFile(file, (await readFile(EXAMPLES[1] ?? '', 'utf8')).replace('mode: keepalived', 'mode: keepalived\nmodee: x'));
    const r = await ober('validate', '--cluster', file, '--json');
    expect(r.exitCode).toBe(1);
    const doc = JSON.parse(r.stdout) as { ok: boolean; error: { issues: { path: string; message: string }[] } };
    expect(doc.ok).toBe(false);
    expect(doc.error.issues[0]?.path).toMatch(/^modee/);
  });

  it('a missing secret file is an error naming the secret', async () => {
    const file = path.join(dir, 'nosecret.yaml');
    await writeFile(file, (await readFile(EXAMPLES[0] ?? '', 'utf8')).replace('file: secrets/bgp-md5', 'file: /nonexistent/pw'));
    const r = await ober('validate', '--cluster', file);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/secrets\.bgp-md5\.file: \/nonexistent\/pw cannot be read: ENOENT/);
  });
});

describe('ober render', () => {
  // The HAProxy version to render for: the image's manifest, --haproxy-version, or the default
  // (Debian 13's 3.0). An ACME certificate is the version-dependent feature; its refusal names it.
  it('renders for the HAProxy version of an image manifest or --haproxy-version', async () => {
    const yaml = (await readFile(EXAMPLES[0] ?? '', 'utf8')).replace('    file: certs/s3.example.com.pem   # relative to this file; PEM chain + private key', '    acme: { email: ops@example.com, domains: [s3.example.com] }');
    const cluster = path.join(path.dirname(EXAMPLES[0] ?? ''), `.acme-${process.pid}.yaml`);
    const manifest = path.join(dir, 'image.manifest.json');
    await writeFile(cluster, yaml);
    await writeFile(manifest, JSON.stringify({ versions: { haproxy: '2.6.12-1+deb12u4', keepalived: '2.2.7' } }));
    try {
      const fromManifest = await ober('render', '--cluster', cluster, '--node', 'ober1', '--out', path.join(dir, 'acme'), '--manifest', manifest);
      expect(fromManifest.exitCode).toBe(1);
      expect(fromManifest.stderr).toMatch(/certificates\[0\]\.acme.*this image has HAProxy 2\.6/);
      const given = await ober('render', '--cluster', cluster, '--node', 'ober1', '--out', path.join(dir, 'acme'), '--haproxy-version', '3.0');
      expect(given.stderr).toMatch(/this image has HAProxy 3\.0/);
      const byDefault = await ober('render', '--cluster', cluster, '--node', 'ober1', '--out', path.join(dir, 'acme'));
      expect(byDefault.stderr).toMatch(/this image has HAProxy 3\.0/);
      const newer = await ober('render', '--cluster', cluster, '--node', 'ober1', '--out', path.join(dir, 'acme'), '--haproxy-version', '3.2');
      expect(newer.stderr).toMatch(/HAProxy 3\.2 has an ACME client, which the renderer does not drive yet/);
    } finally {
      await rm(cluster, { force: true });
    }
  });

  it('writes the files of one node as they lie on the node, secrets 0600', async () => {
    const out = path.join(dir, 'render-one');
    const r = await ober('render', '--cluster', EXAMPLES[0] ?? '', '--node', 'ober2', '--out', out);
    expect(r.exitCode, r.stderr).toBe(0);
    const cfg = await readFile(path.join(out, 'var/lib/ober/current/haproxy/haproxy.cfg'), 'utf8');
    expect(cfg).toMatch(/bind 10\.20\.255\.10:443 ssl crt \/var\/lib\/ober\/current\/haproxy\/certs\//);
    expect((await stat(path.join(out, 'var/lib/ober/current/haproxy/certs/s3.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(out, 'var/lib/ober/current/exabgp/exabgp.conf'))).mode & 0o777).toBe(0o600);
    const exa = await readFile(path.join(out, 'var/lib/ober/current/exabgp/exabgp.conf'), 'utf8');
    expect(exa).toMatch(/local-address 10\.20\.0\.12;/);
    expect(exa).toMatch(/md5-password Example-Only-Md5-Key;/);
  });

  it('renders every node of a cluster under <out>/<node>, and lists files with --json', async () => {
    const out = path.join(dir, 'render-all');
    const r = await ober('render', '--cluster', EXAMPLES[1] ?? '', '--out', out, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { nodes: { node: string; files: { path: string }[] }[] };
    expect(doc.nodes.map((n) => n.node)).toEqual(['ober1', 'ober2', 'ober3']);
    const ka = await Promise.all(['ober1', 'ober2', 'ober3'].map((n) => readFile(path.join(out, n, 'var/lib/ober/current/keepalived/keepalived.conf'), 'utf8')));
    // Each VIP has exactly one owner (priority 100) across the three nodes.
    for (const vrid of [50, 51, 52]) {
      const prios = ka.map((t) => {
        const block = t.split('vrrp_instance ').find((b) => b.includes(`virtual_router_id ${vrid}\n`)) ?? '';
        return Number(/priority (\d+)/.exec(block)?.[1]);
      });
      expect(prios.sort()).toEqual([100, 89, 90].sort());
    }
  });

  it('refuses an unknown node with exit 1 and the known names', async () => {
    const r = await ober('render', '--cluster', EXAMPLES[0] ?? '', '--node', 'nope', '--out', path.join(dir, 'x'));
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/no node named 'nope'.*ober1, ober2, ober3/s);
  });

  it('--version prints the version', async () => {
    const r = await ober('--version');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
