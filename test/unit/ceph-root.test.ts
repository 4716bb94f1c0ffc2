// builder/lab/ceph-root.ts and the pure parts of builder/lab/ceph.ts: the cached Debian root the
// lab's Ceph can run from (OBER_CEPH), its stage key and mmdebstrap command line, the argv wrapping
// of the Ceph programs, and what the version says about aws-chunked trailers. Nothing here runs
// mmdebstrap or Ceph (the S3 suite does: OBER_CEPH=trixie npm run test:s3).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../builder/image/canonical.js';
import { loadImageDefinition, type DebianDistribution } from '../../builder/image/definition.js';
import { hostDaemons } from '../../builder/image/image-root.js';
import { StageCache, stageKey } from '../../builder/image/stage.js';
import { cephWrap, parseCephVersion, rgwAcceptsChecksumTrailers } from '../../builder/lab/ceph.js';
import { CEPH_ROOT_PACKAGES, CEPH_ROOT_RELEASES, cephRootDaemons, cephRootStage, ensureCephRoot, resolveCephDaemons } from '../../builder/lab/ceph-root.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ober-ceph-root-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function dist(release: string): Promise<DebianDistribution> {
  const d = (await loadImageDefinition(CEPH_ROOT_RELEASES[release] ?? '')).distribution;
  if (d.family !== 'debian') throw new Error('not Debian');
  return d;
}

describe('Ceph versions', () => {
  it('reads ceph --version', () => {
    expect(parseCephVersion('ceph version 16.2.15 (618f440892089921c3e944a991122ddc44e60516) pacific (stable)\n')).toBe('16.2.15');
    expect(parseCephVersion('ceph version 18.2.7 (6b0e988052ec84cf2d4a54ff9bbbc5e720b621ad) reef (stable)')).toBe('18.2.7');
    expect(() => parseCephVersion('bash: ceph: command not found')).toThrow(/not a ceph --version line/);
  });

  it('RGW takes aws-chunked trailers from Reef 18.2.5 and Squid on; Pacific and Quincy answer 411', () => {
    for (const v of ['16.2.15', '17.2.8', '18.2.0', '18.2.4']) expect(rgwAcceptsChecksumTrailers(v), v).toBe(false);
    for (const v of ['18.2.5', '18.2.7', '18.2.7+ds-1+deb13u1', '19.2.3', '20.2.0']) expect(rgwAcceptsChecksumTrailers(v), v).toBe(true);
    expect(() => rgwAcceptsChecksumTrailers('reef')).toThrow(/not a Ceph version/);
  });
});

describe('the Ceph root stage', () => {
  it('is keyed by release, mirrors and packages, not by where the .debs are cached', async () => {
    const trixie = await dist('trixie');
    expect(trixie.release).toBe('trixie');
    const a = cephRootStage(trixie, '/cache/a');
    expect(stageKey(a)).toBe(stageKey(cephRootStage(trixie, '/cache/b')));
    expect(stageKey(a)).not.toBe(stageKey(cephRootStage(await dist('bookworm'), '/cache/a')));
    expect(stageKey(a)).not.toBe(stageKey(cephRootStage({ ...trixie, mirrors: [trixie.mirrors[0] ?? ''] }, '/cache/a')));
    expect(a.name).toBe('ceph');
    expect(a.inputs).toMatchObject({ release: 'trixie', packages: ['ceph-common', 'ceph-mon', 'ceph-osd', 'radosgw'], mirrors: trixie.mirrors });
  });

  it('bootstraps with the image’s mmdebstrap command line: the mirrors of the release’s definition, no Recommends', async () => {
    const trixie = await dist('trixie');
    const [argv = []] = cephRootStage(trixie, '/cache/debs').commands;
    expect(argv.slice(0, 5)).toEqual(['mmdebstrap', '--variant=apt', '--mode=root', '--format=directory', '--verbose']);
    expect(argv).toContain(`--include=${CEPH_ROOT_PACKAGES.join(',')}`);
    expect(argv).toContain('--setup-hook=sync-in /cache/debs /var/cache/apt/archives/');
    expect(argv.join(' ')).not.toMatch(/Install-Recommends/);
    expect(argv.slice(-1 - trixie.mirrors.length)).toEqual(['<out>/root', ...trixie.mirrors]);
    expect(trixie.mirrors.every((m) => m.startsWith('deb http://deb.debian.org/'))).toBe(true);
  });

});

describe('whose Ceph (OBER_CEPH)', () => {
  it('the host’s by default and for OBER_CEPH=host; other values and non-root are refused', async () => {
    for (const env of [{}, { OBER_CEPH: '' }, { OBER_CEPH: 'host' }]) {
      const d = await resolveCephDaemons({ env, uid: 1000 });
      expect(d.kind).toBe('host');
      expect(d.wrap(['ceph', '--version'])).toEqual(['ceph', '--version']);
    }
    await expect(resolveCephDaemons({ env: { OBER_CEPH: 'reef' }, uid: 0 })).rejects.toThrow(/OBER_CEPH=reef: use host, trixie or bookworm/);
    await expect(resolveCephDaemons({ env: { OBER_CEPH: 'trixie' }, uid: 1000 })).rejects.toThrow(/needs root/);
  });

  it.runIf(process.getuid?.() === 0)('OBER_CEPH=trixie reuses the cached root: no bootstrap, chroot into root/ with var/', async () => {
    const cacheDir = path.join(scratch, 'cache');
    const entry = await cachedTrixieRoot(cacheDir);
    expect(path.relative(cacheDir, entry)).toMatch(/^ceph\/[0-9a-f]{16}$/);
    const lines: string[] = [];
    const d = await resolveCephDaemons({ env: { OBER_CEPH: 'trixie' }, cacheDir, uid: 0, log: { info: (m) => lines.push(m) } });
    expect(lines).toEqual([expect.stringMatching(/^cache hit /)]);
    expect(d).toMatchObject({ kind: 'image', label: expect.stringContaining('Debian trixie root, ceph 18.2.7+ds-1+deb13u1') });
    const argv = cephWrap(d, '/run/ober-lab/x/ceph')(['ceph-mon', '-c', '/run/ober-lab/x/ceph/ceph.conf', '-i', 'a', '-f']);
    expect(argv.slice(0, 5)).toEqual(['unshare', '--mount', '--propagation', 'private', 'sh']);
    const rest = argv.slice(argv.indexOf(path.join(entry, 'root')));
    expect(rest).toEqual([path.join(entry, 'root'), path.join(entry, 'var'), '/run/ober-image-root', '/run/ober-lab/x/ceph', '--', 'ceph-mon', '-c', '/run/ober-lab/x/ceph/ceph.conf', '-i', 'a', '-f']);
  });

  it('shows its progress as build-image shows stages: a timestamped line per phase on stderr when not a terminal', async () => {
    const cacheDir = path.join(scratch, 'cache-progress');
    await cachedTrixieRoot(cacheDir);
    let text = '';
    const stream = new PassThrough();
    stream.on('data', (d: Buffer) => (text += d.toString()));
    const root = await ensureCephRoot({ release: 'trixie', cacheDir, progress: { stream: stream as unknown as NodeJS.WriteStream, renderer: 'lines' } });
    expect(root).toMatchObject({ cached: true, version: '18.2.7+ds-1+deb13u1' });
    expect(text).toMatch(/^\d\d:\d\d:\d\d ceph root trixie: cache hit [0-9a-f]{16}\n\d\d:\d\d:\d\d ceph root trixie: done \(\d+\.\d s\)\n$/);
  });

  it('the host’s programs are run as they are', () => {
    expect(cephWrap(hostDaemons('test'), '/run/ober-lab/x/ceph')(['radosgw-admin', 'user', 'create'])).toEqual(['radosgw-admin', 'user', 'create']);
    expect(cephRootDaemons({ dir: '/c/ceph/k', release: 'trixie', version: '18.2.7' }).label).toBe('Debian trixie root, ceph 18.2.7 (/c/ceph/k)');
  });
});

/** A cached trixie Ceph root as the stage leaves it (an empty tree: nothing here runs it). */
async function cachedTrixieRoot(cacheDir: string): Promise<string> {
  const stage = cephRootStage(await dist('trixie'), path.join(cacheDir, 'ceph/packages/debian-trixie'));
  const entry = new StageCache(cacheDir).dir('ceph', stageKey(stage));
  mkdirSync(path.join(entry, 'root'), { recursive: true });
  mkdirSync(path.join(entry, 'var'), { recursive: true });
  writeFileSync(path.join(entry, '.inputs.json'), canonicalJson(stage.inputs, 2));
  writeFileSync(path.join(entry, 'ceph.json'), canonicalJson({ release: 'trixie', version: '18.2.7+ds-1+deb13u1', packages: [] }));
  return entry;
}
