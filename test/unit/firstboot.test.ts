// The first-boot program against Proxmox-shaped cloud-init data: install, re-run, repair, change;
// and a corpus of bad metadata, none of which may install a configuration.
import { lstat, mkdir, readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { firstboot } from '../../firstboot/boot/firstboot.js';
import { readRecord } from '../../firstboot/boot/status-record.js';
import { run } from '../../firstboot/lib/exec.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';
import { buildIso, nocloudDrive, tempDir, writeTree } from './metadata/fixtures.js';

let cluster: Cluster;
let goodDoc: Record<string, unknown>;
beforeAll(async () => {
  cluster = await loadExample(EXAMPLES[1] ?? '');
  goodDoc = JSON.parse(JSON.stringify(nodeData(cluster, 'ober1'))) as Record<string, unknown>;
});

const vendorFor = (doc: unknown) => `#cloud-config\n${stringify({ ober: doc }, { lineWidth: 0 })}`;

async function drive(files: Record<string, string>): Promise<string> {
  return writeTree(await tempDir(), files);
}
const roots: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(roots.map((cleanup) => cleanup()));
});
async function freshRoot(): Promise<string> {
  const { dir, cleanup } = await scratchDir('fb');
  roots.push(cleanup);
  return dir;
}

describe('first boot: good data', () => {
  it('installs a release atomically, then re-runs as unchanged, repairs tampering, switches on change', async () => {
    const root = await freshRoot();
    const layout = nodeLayout(root);
    const meta = await drive(nocloudDrive({ vendor: vendorDataSnippet(nodeData(cluster, 'ober1')) }));

    const first = await firstboot({ layout, metadataPath: meta });
    expect(first.record).toMatchObject({ ok: true, result: 'rendered', node: 'ober1', mode: 'keepalived', source: 'nocloud' });
    const target = await readlink(layout.current);
    expect(target).toBe(`releases/${first.record.release}`);
    expect((await lstat(layout.current)).isSymbolicLink()).toBe(true);
    expect(await readFile(layout.keepalivedConf, 'utf8')).toMatch(/vrrp_instance vip_s3-1/);
    const cert = await stat(path.join(layout.haproxyCertDir, 's3.pem'));
    expect(cert.mode & 0o777).toBe(0o600);
    expect(cert.uid).toBe(process.getuid?.() ?? cert.uid);
    // Drop-ins outside the release tree.
    expect(await readFile(layout.sysctlFile, 'utf8')).toMatch(/net\.ipv4\.ip_nonlocal_bind = 1/);

    const again = await firstboot({ layout, metadataPath: meta });
    expect(again.record).toMatchObject({ ok: true, result: 'unchanged', release: first.record.release });

    await writeFile(layout.haproxyCfg, '# tampered\n');
    const repaired = await firstboot({ layout, metadataPath: meta });
    expect(repaired.record.result).toBe('rendered');
    expect(repaired.record.warnings.join('\n')).toMatch(/repaired 1 file/);
    expect(await readFile(layout.haproxyCfg, 'utf8')).toMatch(/^frontend fe_s3-1$/m);

    const changed = structuredClone(cluster);
    changed.haproxy.maxconn = 5000;
    const meta2 = await drive(nocloudDrive({ vendor: vendorDataSnippet(nodeData(changed, 'ober1')) }));
    const third = await firstboot({ layout, metadataPath: meta2 });
    expect(third.record.release).not.toBe(first.record.release);
    expect(await readFile(layout.haproxyCfg, 'utf8')).toMatch(/maxconn 5000/);
    const releases = await readdir(path.join(layout.stateDir, 'releases'));
    expect(releases).toContain(third.record.release);
    expect(releases.length).toBeLessThanOrEqual(2);
  });

  it('reads a Proxmox NoCloud ISO through the CLI (--metadata ISO --root --no-start) and ober status reports it', async () => {
    const root = await freshRoot();
    const src = await drive(nocloudDrive({ vendor: vendorDataSnippet(nodeData(cluster, 'ober2')) }));
    const iso = await buildIso(src, path.join(await tempDir(), 'seed.iso'), 'cidata');
    const node = path.join(REPO, 'dist', 'ober-node.mjs');
    const r = await run(['node', node, 'firstboot', '--metadata', iso, '--root', root, '--no-start', '--json'], { allowFailure: true });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, node: 'ober2', result: 'rendered' });
    const s = await run(['node', node, 'status', '--root', root, '--json'], { allowFailure: true });
    const status = JSON.parse(s.stdout) as { healthy: boolean; node: string; firstboot: { ok: boolean }; vips: unknown[] };
    expect(status).toMatchObject({ node: 'ober2', firstboot: { ok: true } });
    expect(status.vips).toHaveLength(3);
    // Nothing runs in this test: the node is rightly not healthy, and status says so with exit 1.
    expect(status.healthy).toBe(false);
    expect(s.exitCode).toBe(1);
  });
});

// ------------------------------------------------------------------------------------------------
// Bad metadata: each case yields a drive (files) to boot from.

type Doc = Record<string, unknown>;
function set(doc: Doc, p: string, value: unknown): Doc {
  const keys = [...p.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? '')));
  let cur: Record<string | number, unknown> = doc;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string | number, unknown>;
  const last = keys[keys.length - 1] ?? '';
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  return doc;
}

let otherKeyPem = '';
beforeAll(async () => {
  const dir = await tempDir();
  await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '1', '-nodes', '-subj', '/CN=other', '-keyout', `${dir}/k.pem`, '-out', `${dir}/c.pem`]);
  otherKeyPem = await readFile(`${dir}/k.pem`, 'utf8');
});

const certOnly = (pem: string) => pem.replace(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n?/, '');
const mutated = (p: string, v: unknown) => () => vendorFor(set(structuredClone(goodDoc), p, v));

interface BadCase {
  name: string;
  /** Vendor-data text, or a whole drive. */
  vendor?: () => string;
  drive?: () => Record<string, string>;
  iso?: (drive: Record<string, string>) => Promise<{ iso: string; cut?: number }>;
  reason: RegExp;
}

const HOSTILE = ['a\nb', 'a b', 'a;b', 'a}b', 'a"b', '$(reboot)', 'x'.repeat(80)];

const BAD: BadCase[] = [
  // The container
  { name: 'vendor-data is broken YAML', vendor: () => '#cloud-config\nober: [unclosed\n', reason: /vendor-data/ },
  { name: 'vendor-data is a list', vendor: () => '#cloud-config\n- a\n- b\n', reason: /vendor-data/ },
  { name: 'ober is a string', vendor: () => '#cloud-config\nober: hello\n', reason: /ober|must be/ },
  { name: 'ober is null', vendor: () => '#cloud-config\nober:\n', reason: /ober|required|mapping/ },
  { name: 'no ober data at all', vendor: () => '', reason: /no ober data/ },
  { name: 'vendor-data without #cloud-config header', vendor: () => stringify({ ober: goodDoc }), reason: /no ober data|cloud-config/ },
  { name: 'binary garbage in vendor-data', vendor: () => '\u0000\u0001\u0002garbage\u00ff', reason: /vendor-data/ },
  { name: 'duplicate key in vendor-data', vendor: () => '#cloud-config\nober:\n  version: 1\n  version: 1\n', reason: /vendor-data|unique|duplicate/i },
  { name: 'missing meta-data', drive: () => { const d = nocloudDrive({ vendor: vendorFor(goodDoc) }); delete (d as Record<string, string>)['meta-data']; return d; }, reason: /meta-data/ },
  { name: 'meta-data without instance-id', drive: () => nocloudDrive({ vendor: vendorFor(goodDoc), meta: 'local-hostname: x\n' }), reason: /instance-id/ },
  { name: 'meta-data broken YAML', drive: () => nocloudDrive({ vendor: vendorFor(goodDoc), meta: 'instance-id: [x\n' }), reason: /meta-data/ },
  {
    name: 'truncated ISO (half)',
    drive: () => nocloudDrive({ vendor: vendorFor(goodDoc) }),
    iso: async (d) => ({ iso: await buildIso(await writeTree(await tempDir(), d), path.join(await tempDir(), 'seed.iso'), 'cidata'), cut: 0.5 }),
    reason: /seed\.iso|ISO|truncated|outside/i,
  },
  {
    name: 'truncated ISO (first 40 KiB)',
    drive: () => nocloudDrive({ vendor: vendorFor(goodDoc) }),
    iso: async (d) => ({ iso: await buildIso(await writeTree(await tempDir(), d), path.join(await tempDir(), 'seed.iso'), 'cidata'), cut: 40 * 1024 }),
    reason: /seed\.iso|ISO|truncated|outside|volume/i,
  },
  // The envelope
  { name: 'version 2', vendor: mutated('version', 2), reason: /version/ },
  { name: 'node missing', vendor: mutated('node', undefined), reason: /node/ },
  { name: 'node not in the cluster', vendor: mutated('node', 'ober9'), reason: /not in cluster\.nodes/ },
  { name: 'cluster missing', vendor: mutated('cluster', undefined), reason: /required/ },
  { name: 'unknown envelope field', vendor: mutated('extra', 1), reason: /unknown field|extra/ },
  // The cluster
  { name: 'unknown mode', vendor: mutated('cluster.mode', 'ospf'), reason: /cluster\.mode/ },
  { name: 'mode bgp without bgp section', vendor: mutated('cluster.mode', 'bgp'), reason: /cluster\.bgp/ },
  { name: 'vips not a list', vendor: mutated('cluster.vips', 'x'), reason: /cluster\.vips/ },
  { name: 'VIP address number', vendor: mutated('cluster.vips[0].address', 12), reason: /cluster\.vips\[0\]\.address/ },
  { name: 'VIP address 300.1.1.1', vendor: mutated('cluster.vips[0].address', '300.1.1.1'), reason: /cluster\.vips\[0\]\.address/ },
  { name: 'duplicate VIP', vendor: mutated('cluster.vips[1].address', '10.20.0.101'), reason: /cluster\.vips\[1\]\.address/ },
  { name: 'duplicate VRID', vendor: () => vendorFor(set(set(structuredClone(goodDoc), 'cluster.vips[0].vrid', 9), 'cluster.vips[1].vrid', 9)), reason: /vrid/ },
  { name: 'node address without prefix', vendor: mutated('cluster.nodes[0].address', '10.20.0.11'), reason: /cluster\.nodes\[0\]\.address/ },
  { name: 'server port 0', vendor: mutated('cluster.backends[0].servers', '10.30.0.21:0'), reason: /servers/ },
  { name: 'hostlist syntax', vendor: mutated('cluster.backends[0].servers', '10.30.0.[1-'), reason: /servers/ },
  { name: 'whitelist host bits', vendor: mutated('cluster.whitelists.frontendHttp', '10.0.0.1/8'), reason: /frontendHttp/ },
  { name: 'advert 15 ms', vendor: mutated('cluster.keepalived.advertIntervalMs', 15), reason: /advertIntervalMs/ },
  { name: 'unknown field in cluster', vendor: mutated('cluster.keepalived.prio', 1), reason: /prio/ },
  ...HOSTILE.map((h) => ({ name: `hostile VIP name ${JSON.stringify(h).slice(0, 16)}`, vendor: mutated('cluster.vips[0].name', h), reason: /cluster\.vips\[0\]\.name/ })),
  ...HOSTILE.map((h) => ({ name: `hostile interface ${JSON.stringify(h).slice(0, 16)}`, vendor: mutated('cluster.keepalived.interface', h), reason: /interface/ })),
  ...[...HOSTILE.slice(0, -1), 'x'.repeat(300)].map((h) => ({ name: `hostile health path ${JSON.stringify(h).slice(0, 16)}`, vendor: mutated('cluster.backends[0].healthCheck.path', `/${h}`), reason: /healthCheck\.path/ })),
  // Secrets and certificates
  { name: 'certificate given as a file path', vendor: mutated('cluster.certificates[0]', { name: 's3', file: '/etc/ssl/x.pem' }), reason: /certificates\[0\]\.file/ },
  { name: 'certificate without private key', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', certOnly(String((goodDoc.cluster as Cluster).certificates[0]?.pem)))), reason: /exactly one private key/ },
  { name: 'certificate with a key that does not match', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', certOnly(String((goodDoc.cluster as Cluster).certificates[0]?.pem)) + otherKeyPem)), reason: /does not belong/ },
  { name: 'certificate garbage', vendor: mutated('cluster.certificates[0].pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), reason: /cannot be parsed/ },
  { name: 'certificate empty', vendor: mutated('cluster.certificates[0].pem', ''), reason: /no certificate/ },
  { name: 'secret by file reference', vendor: mutated('cluster.secrets', { pw: { file: '/root/pw' } }), reason: /secrets\.pw/ },
  // Issue 17: limits, addresses that make no sense on a network, loose PEM
  { name: 'hostlist range near 2^53 in a whitelist', vendor: mutated('cluster.whitelists.monitoring', '10.20.5.[9007199254740990-9007199254740993]'), reason: /cluster\.whitelists\.monitoring: .*bound above/ },
  { name: 'hostlist range near 2^53 in the servers', vendor: mutated('cluster.backends[0].servers', 'rgw[1-9007199254740993]:7480'), reason: /cluster\.backends\[0\]\.servers/ },
  { name: 'hostlist product over the cap', vendor: mutated('cluster.whitelists.admin', '10.[0-255].[0-255].0/24'), reason: /cluster\.whitelists\.admin: .*more than 4096/ },
  { name: 'vendor-data nested 100 deep', vendor: () => `#cloud-config\nober: ${'['.repeat(100)}${']'.repeat(100)}\n`, reason: /vendor-data.*nests \[ and \{ more than 64/s },
  ...['0.0.0.0', '255.255.255.255', '224.0.0.18', '127.0.0.1', '10.20.0.255', '10.20.0.1', '10.30.0.21'].map((v) => ({ name: `VIP ${v}`, vendor: mutated('cluster.vips[0].address', v), reason: /cluster\.vips\[0\]\.address/ })),
  { name: 'node address 0.0.0.0/0', vendor: mutated('cluster.nodes[1].address', '0.0.0.0/0'), reason: /cluster\.nodes\[1\]\.address/ },
  { name: 'node address is the network address', vendor: mutated('cluster.nodes[1].address', '10.20.0.0/24'), reason: /cluster\.nodes\[1\]\.address: .*network address/ },
  { name: 'backend in inet_aton form', vendor: mutated('cluster.backends[0].servers', '0x0a.0x1e.0.0x15:7480'), reason: /reads it as 10\.30\.0\.21/ },
  { name: 'backend 0x7f.0.0.1', vendor: mutated('cluster.backends[0].servers', '0x7f.0.0.1:7480'), reason: /reads it as 127\.0\.0\.1/ },
  { name: 'certificate with a bogus second certificate', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', `${pemOf(goodDoc)}-----BEGIN CERTIFICATE-----\nMIIBb2d1cyBjZXJ0\n-----END CERTIFICATE-----\n`)), reason: /certificate at line \d+ cannot be parsed/ },
  { name: 'certificate with garbage text', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', `${pemOf(goodDoc)}garbage\n`)), reason: /text after the last PEM block/ },
  { name: 'certificate with an extra encrypted key', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', `${pemOf(goodDoc)}-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBb2d1cyBrZXk=\n-----END ENCRYPTED PRIVATE KEY-----\n`)), reason: /encrypted/ },
  { name: 'certificate with a NUL byte', vendor: () => vendorFor(set(structuredClone(goodDoc), 'cluster.certificates[0].pem', `${pemOf(goodDoc)}\u0000`)), reason: /NUL byte/ },
];

function pemOf(doc: Record<string, unknown>): string {
  return String((doc.cluster as Cluster).certificates[0]?.pem);
}

describe('first boot: bad metadata installs nothing and says why', () => {
  it('has at least 50 cases', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(50);
  });

  it.each(BAD.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const root = await freshRoot();
    const layout = nodeLayout(root);
    let metadataPath: string;
    const files = c.drive ? c.drive() : nocloudDrive({ vendor: c.vendor?.() ?? '' });
    if (c.iso) {
      const { iso, cut } = await c.iso(files);
      const buf = await readFile(iso);
      await writeFile(iso, buf.subarray(0, cut !== undefined && cut < 1 ? Math.floor(buf.length * cut) : cut));
      metadataPath = iso;
    } else metadataPath = await drive(files);

    const err = await firstboot({ layout, metadataPath }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'first boot accepted the data').toBeInstanceOf(Error);
    const text = err instanceof ConfigError ? `${err.message}` : String((err as Error).message);
    expect(text).toMatch(c.reason);
    // Nothing installed: no current release, no drop-ins.
    await expect(lstat(layout.current)).rejects.toThrow();
    await expect(stat(layout.sysctlFile)).rejects.toThrow();
    // The reason is in the status record ober status reads.
    const rec = await readRecord(layout);
    expect(rec).toMatchObject({ ok: false, result: 'failed' });
    expect(rec?.error?.message).toMatch(c.reason);
  });

  it('via the CLI: exit 1, the reason on the console, and ober status --json carries it', async () => {
    const root = await freshRoot();
    const meta = await drive(nocloudDrive({ vendor: mutated('cluster.vips[0].address', '300.1.1.1')() }));
    await mkdir(root, { recursive: true });
    const node = path.join(REPO, 'dist', 'ober-node.mjs');
    const r = await run(['node', node, 'firstboot', '--metadata', meta, '--root', root, '--no-start'], { allowFailure: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/FAILED — this node serves nothing/);
    expect(r.stderr).toMatch(/cluster\.vips\[0\]\.address/);
    const s = await run(['node', node, 'status', '--root', root, '--json'], { allowFailure: true });
    expect(s.exitCode).toBe(1);
    const status = JSON.parse(s.stdout) as { healthy: boolean; problems: string[]; firstboot: { error: { message: string } } };
    expect(status.healthy).toBe(false);
    expect(status.problems.join('\n')).toMatch(/first boot failed/);
    expect(status.firstboot.error.message).toMatch(/cluster\.vips\[0\]\.address/);
  });
});
