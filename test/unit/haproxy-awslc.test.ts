// HAProxy flavours (image definition `haproxy.flavour`): the awslc build's place in the plan and
// its cache key, the pinned sources (checksums, --sources DIR, the download cache) and the SBOM
// lines for what was built from them.
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { sha256 } from '../../builder/image/canonical.js';
import { loadImageDefinition, parseImageDefinition, type ImageDefinition } from '../../builder/image/definition.js';
import { cycloneDx } from '../../builder/image/sbom.js';
import { debianPoolPath, fetchSource, resolveSources, type ResolvedSource } from '../../builder/image/sources.js';
import { awslcPackageVersion, parseVv } from '../../builder/image/stages/haproxy.js';
import { scratchDir } from '../helpers/fixtures.js';
import { definitionIssues, planOffline } from '../helpers/image-definition.js';

const doc13 = (): Record<string, unknown> => parse(readFileSync('image/debian-13.yaml', 'utf8')) as Record<string, unknown>;
const plan = planOffline;
const withHaproxy = (haproxy: unknown): ImageDefinition => parseImageDefinition('test.yaml', { ...doc13(), haproxy });
const issuesOf = definitionIssues;

describe('haproxy.flavour', () => {
  it('is awslc in the default definition, with both sources pinned from Debian pools', async () => {
    const def = await loadImageDefinition('image/debian-13.yaml');
    expect(def.haproxy.flavour).toBe('awslc');
    const [haproxy, awslc] = resolveSources(def);
    expect(haproxy).toMatchObject({ name: 'haproxy', version: '3.0.11', url: 'http://deb.debian.org/debian/pool/main/h/haproxy/haproxy_3.0.11.orig.tar.gz' });
    expect(awslc).toMatchObject({ name: 'awslc', version: '5.1.0', url: 'http://deb.debian.org/debian/pool/main/r/rust-aws-lc-sys/rust-aws-lc-sys_0.42.0+dfsg.orig.tar.gz' });
  });

  it('defaults to awslc when the section names no flavour', () => {
    const { sources } = (doc13().haproxy as { sources: unknown });
    expect(withHaproxy({ sources }).haproxy.flavour).toBe('awslc');
  });

  it('awslc adds the haproxy stage between rootfs and customize; distro does not, and the rootfs is the same', async () => {
    const awslc = plan(await loadImageDefinition('image/debian-13.yaml'));
    const distro = plan(withHaproxy({ flavour: 'distro' }));
    expect(awslc.stages.map((s) => s.name)).toEqual(['rootfs', 'haproxy', 'customize', 'assemble', 'convert', 'manifest']);
    expect(distro.stages.map((s) => s.name)).toEqual(['rootfs', 'customize', 'assemble', 'convert', 'manifest']);
    expect(awslc.dirs.rootfs).toBe(distro.dirs.rootfs);
    const customize = (p: typeof awslc) => p.stages.find((s) => s.name === 'customize')!;
    expect(customize(awslc).inputs.haproxy).toMatch(/^[0-9a-f]{64}$/);
    expect(customize(distro).inputs.haproxy).toBeNull();
    expect(customize(awslc).commands.flat()).toContain('--purge');
    expect(customize(distro).commands.flat()).not.toContain('--purge');
    // the Debian 12 alternative stays on bookworm's package: CI's Debian 12 build compiles nothing
    expect((await loadImageDefinition('image/debian-12.yaml')).haproxy.flavour).toBe('distro');
  });

  it('refuses awslc without sources, on the RHEL family, and sources that are not pinned properly', () => {
    expect(issuesOf({ ...doc13(), haproxy: { flavour: 'awslc' } })).toEqual([expect.stringMatching(/^haproxy\.sources: needed for flavour awslc/)]);
    const rocky = parse(readFileSync('image/rocky-10.yaml', 'utf8')) as Record<string, unknown>;
    expect(issuesOf({ ...rocky, haproxy: doc13().haproxy })).toContainEqual(expect.stringMatching(/^haproxy\.flavour: awslc is built and packaged for Debian only/));
    const bad = structuredClone(doc13().haproxy) as { sources: { haproxy: Record<string, unknown>; awslc: Record<string, unknown> } };
    bad.sources.haproxy.sha256 = 'A133E2';
    bad.sources.awslc.url = 'https://example.org/aws-lc.tar.gz'; // beside `debian:`
    bad.sources.awslc.tree = '../aws-lc';
    const issues = issuesOf({ ...doc13(), haproxy: bad });
    expect(issues).toContainEqual(expect.stringMatching(/^haproxy\.sources\.haproxy\.sha256: a sha256 checksum/));
    expect(issues).toContainEqual(expect.stringMatching(/^haproxy\.sources\.awslc: needs exactly one of/));
    expect(issues).toContainEqual(expect.stringMatching(/^haproxy\.sources\.awslc\.tree: a relative directory/));
  });
});

describe('the haproxy stage cache key', () => {
  it('stays when overlays, the node program or rendered files change (no recompile)', async () => {
    const def = await loadImageDefinition('image/debian-13.yaml');
    const a = plan(def);
    const b = plan(def, { overlaysDigest: 'o2', nodeProgram: { path: 'x', sha256: 'n2' }, imageFiles: [{ path: '/etc/x', mode: 0o644, content: 'x' }] });
    expect(b.dirs.haproxy).toBe(a.dirs.haproxy);
    expect(b.dirs.customize).not.toBe(a.dirs.customize);
  });

  it.each([
    ['the HAProxy checksum', (h: Pinned) => void (h.sources.haproxy.sha256 = 'f'.repeat(64))],
    ['the AWS-LC checksum', (h: Pinned) => void (h.sources.awslc.sha256 = '0'.repeat(64))],
    ['the HAProxy version', (h: Pinned) => void (h.sources.haproxy.version = '3.0.12')],
  ])('changes with %s, and everything after it with it', (_what, change) => {
    const pinned = structuredClone(doc13().haproxy) as Pinned;
    const a = plan(withHaproxy(pinned));
    change(pinned);
    const b = plan(withHaproxy(pinned));
    expect(b.dirs.rootfs).toBe(a.dirs.rootfs);
    for (const s of ['haproxy', 'customize', 'assemble', 'convert', 'manifest']) expect(b.dirs[s], s).not.toBe(a.dirs[s]);
  });

  it('does not change when only where a source is fetched from changes (the checksum says what it is)', () => {
    const pinned = structuredClone(doc13().haproxy) as Pinned;
    const a = plan(withHaproxy(pinned));
    delete pinned.sources.haproxy.debian;
    pinned.sources.haproxy.url = 'https://www.haproxy.org/download/3.0/src/haproxy-3.0.11.tar.gz';
    expect(plan(withHaproxy(pinned)).dirs.haproxy).toBe(a.dirs.haproxy);
  });
});

type Pinned = { flavour?: string; sources: Record<'haproxy' | 'awslc', { version: string; sha256: string; url?: string; debian?: unknown; tree: string }> };

describe('pinned sources', () => {
  const body = Buffer.from('pretend this is haproxy_9.9.9.orig.tar.gz\n'.repeat(1000));
  const good = sha256(body);
  let server: Server;
  let base: string;
  let hits = 0;
  let work: { dir: string; cleanup: () => Promise<void> };
  const logs: string[] = [];
  const log = { info: (m: string) => void logs.push(m) };
  const src = (over: Partial<ResolvedSource> = {}): ResolvedSource => ({
    name: 'haproxy', version: '9.9.9', sha256: good, file: 'haproxy_9.9.9.orig.tar.gz', url: `${base}/pool/main/h/haproxy/haproxy_9.9.9.orig.tar.gz`,
    poolPath: 'pool/main/h/haproxy/haproxy_9.9.9.orig.tar.gz', tree: 'haproxy-9.9.9', ...over,
  });
  const errorOf = async (p: Promise<unknown>): Promise<ConfigError> => {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  };

  beforeAll(async () => {
    work = await scratchDir('sources');
    // loopback only: a mirror that serves one file (through a redirect, as CDNs do) and counts requests
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/redirect') return void res.writeHead(302, { location: '/pool/main/h/haproxy/haproxy_9.9.9.orig.tar.gz' }).end();
      if (req.url !== '/pool/main/h/haproxy/haproxy_9.9.9.orig.tar.gz') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await work.cleanup();
  });

  it('names Debian pool paths as the archive does', () => {
    expect(debianPoolPath('haproxy', 'x.tar.gz')).toBe('pool/main/h/haproxy/x.tar.gz');
    expect(debianPoolPath('libpcre2', 'x.tar.gz')).toBe('pool/main/libp/libpcre2/x.tar.gz');
  });

  it('downloads once (following a redirect), then serves the file from the cache by its checksum', async () => {
    const store = { cacheDir: path.join(work.dir, 'cache1') };
    hits = 0;
    const file = await fetchSource(src({ url: `${base}/redirect` }), store, log);
    expect(file).toBe(path.join(store.cacheDir, good, 'haproxy_9.9.9.orig.tar.gz'));
    expect(sha256(readFileSync(file))).toBe(good);
    expect(hits).toBe(2);
    await fetchSource(src(), store, log);
    expect(hits).toBe(2);
    expect(logs.at(-1)).toMatch(/cached/);
  });

  it('stops on a checksum that differs from the pin, naming both, and caches nothing', async () => {
    const store = { cacheDir: path.join(work.dir, 'cache2') };
    const wrong = 'e'.repeat(64);
    const e = await errorOf(fetchSource(src({ sha256: wrong }), store, log));
    expect(e.issues[0]!.path).toBe('haproxy.sources.haproxy.sha256');
    expect(e.message).toContain(good);
    expect(e.message).toContain(wrong);
    expect(await readdir(path.join(store.cacheDir, wrong))).toEqual([]);
  });

  it('says which file was not found on the mirror', async () => {
    const e = await errorOf(fetchSource(src({ url: `${base}/pool/main/h/haproxy/nothere.tar.gz` }), { cacheDir: path.join(work.dir, 'cache3') }, log));
    expect(e.message).toMatch(/nothere\.tar\.gz: HTTP 404/);
  });

  it('--sources DIR: takes the file by name or in pool layout, verifies it, and never downloads', async () => {
    const offline = path.join(work.dir, 'offline');
    const pool = path.join(work.dir, 'mirror');
    await mkdir(offline, { recursive: true });
    await mkdir(path.join(pool, 'pool/main/h/haproxy'), { recursive: true });
    await writeFile(path.join(offline, 'haproxy_9.9.9.orig.tar.gz'), body);
    await writeFile(path.join(pool, 'pool/main/h/haproxy/haproxy_9.9.9.orig.tar.gz'), body);
    hits = 0;
    for (const dir of [offline, pool]) {
      const file = await fetchSource(src(), { cacheDir: path.join(work.dir, `cache-${path.basename(dir)}`), offlineDir: dir }, log);
      expect(sha256(readFileSync(file))).toBe(good);
    }
    expect(hits).toBe(0);
    // a wrong file in the directory is refused like a wrong download
    await writeFile(path.join(offline, 'haproxy_9.9.9.orig.tar.gz'), 'tampered');
    const e = await errorOf(fetchSource(src(), { cacheDir: path.join(work.dir, 'cache-tampered'), offlineDir: offline }, log));
    expect(e.message).toContain(sha256('tampered'));
    // missing: the error names the file, where it was looked for, and where it comes from
    const missing = await errorOf(fetchSource(src({ file: 'other.tar.gz', poolPath: 'pool/main/o/other/other.tar.gz' }), { cacheDir: path.join(work.dir, 'cache-missing'), offlineDir: offline }, log));
    expect(missing.source).toBe(`--sources ${offline}`);
    expect(missing.message).toContain('other.tar.gz is not in the offline sources directory');
    expect(missing.message).toContain(path.join(offline, 'pool/main/o/other/other.tar.gz'));
    expect(hits).toBe(0);
  });
});

describe('package version and SBOM', () => {
  it('versions the package <haproxy>-<revision>+awslc<aws-lc>', () => {
    expect(awslcPackageVersion('3.0.11', '5.1.0')).toMatch(/^3\.0\.11-\d+\+awslc5\.1\.0$/);
  });

  it('reads the SSL library from haproxy -vv', () => {
    const vv = 'HAProxy version 3.0.11 2025/06/27 - https://haproxy.org/\nBuilt with OpenSSL version : OpenSSL 1.1.1 (compatible; AWS-LC 5.1.0)\nRunning on OpenSSL version : AWS-LC 5.1.0\n';
    expect(parseVv(vv)).toEqual({ version: '3.0.11', ssl: 'AWS-LC 5.1.0' });
  });

  it('lists HAProxy and AWS-LC with version, download URL and sha256 beside the packages', () => {
    const url = 'http://deb.debian.org/debian/pool/main/h/haproxy/haproxy_3.0.11.orig.tar.gz';
    const bom = cycloneDx({ id: 'i', version: '1.0.0', distro: 'debian-13', vendor: 'debian' }, [{ name: 'haproxy-awslc', version: '3.0.11-1+awslc5.1.0', architecture: 'amd64' }], 0, [
      { name: 'haproxy', version: '3.0.11', url, sha256: 'a'.repeat(64), file: 'haproxy_3.0.11.orig.tar.gz', partOf: 'haproxy-awslc' },
    ]) as { components: { name: string; version: string; purl: string; hashes?: unknown; externalReferences?: { url: string }[] }[] };
    expect(bom.components.map((c) => c.name)).toEqual(['haproxy-awslc', 'haproxy']);
    const h = bom.components[1]!;
    expect(h.purl).toBe(`pkg:generic/haproxy@3.0.11?download_url=${encodeURIComponent(url)}&checksum=sha256:${'a'.repeat(64)}`);
    expect(h.hashes).toEqual([{ alg: 'SHA-256', content: 'a'.repeat(64) }]);
    expect(h.externalReferences![0]!.url).toBe(url);
  });
});
