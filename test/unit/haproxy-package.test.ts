// The haproxy-awslc package the haproxy stage built (the newest entry of the stage cache), read by
// dpkg-deb itself, and the image tree it went into: its haproxy runs on AWS-LC and the
// distribution's haproxy is gone. Without a built package (no `npm run build-image` on this
// machine) the checks are skipped and say so; with OBER_DAEMONS=image (CI, after the build) a
// missing package is a failure.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { DEFAULT_CACHE_DIR, daemonVersions, resolveDaemons } from '../../builder/image/image-root.js';
import { haproxyPackageFile, readHaproxyBuildInfo } from '../../builder/image/stages/haproxy.js';
import { hashFile } from '../../builder/image/tree.js';

async function newestEntry(stage: string, accept: (dir: string) => Promise<boolean> = async () => true): Promise<string | undefined> {
  const base = path.resolve(DEFAULT_CACHE_DIR, 'stages', stage);
  const found: { dir: string; mtime: number }[] = [];
  for (const n of await readdir(base).catch(() => [] as string[])) {
    const dir = path.join(base, n);
    const st = await stat(path.join(dir, '.inputs.json')).catch(() => undefined);
    if (!n.includes('.tmp-') && st && (await accept(dir))) found.push({ dir, mtime: st.mtimeMs });
  }
  return found.sort((a, b) => b.mtime - a.mtime)[0]?.dir;
}

const entry = await newestEntry('haproxy');
const required = process.env.OBER_DAEMONS === 'image';
if (!entry) console.warn(`haproxy-package: NO haproxy stage entry under ${path.resolve(DEFAULT_CACHE_DIR)} (npm run build-image builds one): checks skipped`);

describe('the haproxy-awslc package', () => {
  it.runIf(required && !entry)('exists when the image was built (OBER_DAEMONS=image)', () => {
    expect(entry, 'no haproxy stage entry: run npm run build-image first').toBeDefined();
  });

  it.skipIf(!entry)('carries name, +awslc version, Provides/Conflicts/Replaces haproxy and Depends from the linked libraries (dpkg-deb -I)', async () => {
    const deb = await haproxyPackageFile(entry!);
    const info = await readHaproxyBuildInfo(entry!);
    expect(await hashFile(deb)).toBe(info.package.sha256);
    const control = (await run(['dpkg-deb', '-f', deb])).stdout;
    const field = (name: string): string => new RegExp(`^${name}: (.*)$`, 'm').exec(control)?.[1] ?? '';
    expect(field('Package')).toBe('haproxy-awslc');
    expect(field('Version')).toBe(info.package.version);
    expect(field('Version')).toMatch(/^\d+\.\d+\.\d+-\d+\+awslc\d+\.\d+\.\d+$/);
    expect(field('Architecture')).toBe('amd64');
    expect(field('Provides')).toBe(`haproxy (= ${info.sources.find((s) => s.name === 'haproxy')!.version})`);
    expect(field('Conflicts')).toBe('haproxy');
    expect(field('Replaces')).toBe('haproxy');
    // dpkg-shlibdeps' reading of the binary: glibc, Lua, PCRE2, zlib, versioned; AWS-LC is
    // static, so no OpenSSL library may appear
    const depends = field('Depends').split(/,\s*/).map((d) => d.split(' ')[0]);
    for (const lib of ['libc6', 'liblua5.4-0', 'libpcre2-8-0', 'zlib1g']) expect(depends, field('Depends')).toContain(lib);
    expect(field('Depends')).not.toMatch(/libssl|libcrypto/);
    expect(field('Depends')).toMatch(/libc6 \(>= [\d.]+\)/);
    // dpkg-deb -I prints the same control file after its own summary
    expect((await run(['dpkg-deb', '-I', deb])).stdout).toContain(` Depends: ${field('Depends')}`);
    const files = (await run(['dpkg-deb', '-c', deb])).stdout;
    expect(files).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/sbin\/haproxy$/m);
    expect(files).toMatch(/ \.\/usr\/lib\/systemd\/system\/haproxy\.service$/m);
    expect(files).toMatch(/ \.\/usr\/share\/doc\/haproxy-awslc\/copyright$/m);
  });

  it.skipIf(!entry)('was built against AWS-LC from the pinned sources (build.json, haproxy -vv of the build)', async () => {
    const info = await readHaproxyBuildInfo(entry!);
    expect(info.haproxy.ssl).toMatch(/^AWS-LC \d+\.\d+\.\d+$/);
    expect(info.sources.map((s) => s.name)).toEqual(['haproxy', 'awslc']);
    for (const s of info.sources) expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
    const vv = await readFile(path.join(entry!, 'haproxy-vv.txt'), 'utf8');
    for (const opt of ['QUIC', 'PROMEX', 'PCRE2_JIT', 'LUA', 'SYSTEMD', 'ZLIB', 'OPENSSL_AWSLC']) expect(vv).toMatch(new RegExp(`Feature list : .*\\+${opt}\\b`));
  });
});

const manifestEntry = await newestEntry('manifest', async (dir) => (await readdir(dir)).some((f) => f.startsWith('herr-ober-debian-13_') && f.endsWith('.manifest.json')));

describe('the manifest and SBOM of the awslc image', () => {
  it.skipIf(!manifestEntry)('name HAProxy and AWS-LC with versions, sources and checksums', async () => {
    const files = await readdir(manifestEntry!);
    const manifest = JSON.parse(await readFile(path.join(manifestEntry!, files.find((f) => f.endsWith('.manifest.json'))!), 'utf8'));
    if (manifest.image.haproxyFlavour !== 'awslc') return;
    expect(manifest.versions.haproxySsl).toMatch(/^AWS-LC \d/);
    expect(manifest.haproxy).toMatchObject({ flavour: 'awslc', package: { name: 'haproxy-awslc' }, ssl: manifest.versions.haproxySsl });
    expect(manifest.haproxy.sources.map((s: { name: string; version: string }) => `${s.name} ${s.version}`)).toEqual(['haproxy 3.0.11', 'awslc 5.1.0']);
    for (const s of manifest.haproxy.sources) expect(s.url).toMatch(/^https?:\/\/.*\/pool\/main\//);
    expect(manifest.packages.map((p: { name: string }) => p.name)).toContain('haproxy-awslc');
    expect(manifest.packages.map((p: { name: string }) => p.name)).not.toContain('haproxy');
    const sbom = JSON.parse(await readFile(path.join(manifestEntry!, files.find((f) => f.endsWith('.cdx.json'))!), 'utf8'));
    const names = sbom.components.map((c: { name: string; version: string }) => `${c.name}@${c.version}`);
    expect(names).toContain('aws-lc@5.1.0');
    expect(names).toContain('haproxy@3.0.11');
    expect(names).toContain(`haproxy-awslc@${manifest.haproxy.package.version}`);
  });
});

// the daemons the other checks use; only meaningful when that tree got the built package
const daemons = await resolveDaemons();
const tree = daemons.tree;
const treeInputs = tree ? (JSON.parse(await readFile(path.join(tree.dir, '.inputs.json'), 'utf8')) as { haproxy?: string | null }) : undefined;
const awslcTree = !!treeInputs?.haproxy && existsSync(path.join(tree!.dir, 'root/usr/sbin/haproxy'));

describe('the image tree with the awslc flavour', () => {
  it.skipIf(!awslcTree)("runs haproxy on AWS-LC, and only haproxy-awslc is installed", async () => {
    const v = await daemonVersions(daemons);
    expect(v.haproxySsl).toMatch(/^AWS-LC \d/);
    const pkgs = (await run(daemons.wrap(['dpkg-query', '-W', '-f', '${Package} ${Version} ${db:Status-Abbrev}\\n', 'haproxy*']))).stdout;
    expect(pkgs).toMatch(/^haproxy-awslc \S+\+awslc\S* ii\s*$/m);
    expect(pkgs).not.toMatch(/^haproxy \S+ ii/m);
  });
});
