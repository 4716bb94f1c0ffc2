import { describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { loadImageDefinition } from '../../builder/image/definition.js';
import type { BuildInputs } from '../../builder/image/inputs.js';
import { checkSources, sourceProbes } from '../../builder/image/preflight.js';
import { StageCache } from '../../builder/image/stage.js';
import { buildTools } from '../../builder/image/tools.js';
import { planOffline } from '../helpers/image-definition.js';

async function plan(name: string, over: Partial<BuildInputs> = {}) {
  const def = await loadImageDefinition(`image/${name}.yaml`);
  return planOffline(def, over);
}

const keyOf = (p: Awaited<ReturnType<typeof plan>>, stage: string) => p.dirs[stage];

describe('build plan', () => {
  it('runs the five stages in order', async () => {
    expect((await plan('debian-12')).stages.map((s) => s.name)).toEqual(['rootfs', 'customize', 'assemble', 'convert', 'manifest']);
  });

  it('keeps the rootfs cache when only overlays, node program or rendered files change', async () => {
    const a = await plan('debian-12');
    const b = await plan('debian-12', { overlaysDigest: 'o2', nodeProgram: { path: 'x', sha256: 'n2' }, imageFiles: [{ path: '/etc/x', mode: 0o644, content: 'x' }] });
    expect(keyOf(b, 'rootfs')).toBe(keyOf(a, 'rootfs'));
    for (const s of ['customize', 'assemble', 'convert', 'manifest']) expect(keyOf(b, s)).not.toBe(keyOf(a, s));
  });

  it('rebuilds the rootfs when SOURCE_DATE_EPOCH changes', async () => {
    expect(keyOf(await plan('debian-12', { sourceDateEpoch: 1 }), 'rootfs')).not.toBe(keyOf(await plan('debian-12'), 'rootfs'));
  });

  it('bootstraps Debian with mmdebstrap from the definition mirrors only', async () => {
    const argv = (await plan('debian-12')).stages[0]!.commands[0]!;
    expect(argv[0]).toBe('mmdebstrap');
    expect(argv).toContain('deb http://deb.debian.org/debian-security bookworm-security main');
    expect(argv.find((a) => a.startsWith('--include='))).toContain('linux-image-amd64');
  });

  it.each([
    ['rocky-10', 'https://dl.rockylinux.org/pub/rocky/10/BaseOS/x86_64/os/', '/boot/efi/EFI/rocky/shimx64.efi'],
    ['alma-10', 'https://repo.almalinux.org/almalinux/10/BaseOS/x86_64/os/', '/boot/efi/EFI/almalinux/shimx64.efi'],
  ])('plans %s with dnf --installroot and only its own repositories', async (name, baseos, shim) => {
    const p = await plan(name);
    const argv = p.stages[0]!.commands[0]!;
    expect(argv.slice(0, 3)).toEqual(['dnf', '-y', '--installroot=<out>/tree']);
    expect(argv).toContain('--releasever=10');
    expect(argv).toContain('--setopt=reposdir=/dev/null');
    expect(argv).toContain(`--repofrompath=baseos,${baseos}`);
    expect(argv.slice(argv.indexOf('install') + 1)).toEqual(p.def.packages);
    expect(p.def.boot.efi.shim).toBe(shim);
    expect(buildTools(p.def)[0]).toMatchObject({ tool: 'dnf', debianPackage: 'dnf' });
    expect(sourceProbes(p.def)[0]!.url).toBe(`${baseos}repodata/repomd.xml`);
  });
});

describe('preflight', () => {
  it('fails early, naming every unreachable repository by its path', async () => {
    // a port that was just free on loopback: connection refused, no traffic leaves the machine
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const def = await loadImageDefinition('image/rocky-10.yaml');
    const repositories = def.distribution.family === 'rhel' ? def.distribution.repositories : [];
    const local = { ...def, distribution: { ...def.distribution, repositories: repositories.map((r) => ({ ...r, baseurl: `http://127.0.0.1:${port}/${r.id}/` })) } } as typeof def;
    const err = await checkSources(local, 'image/rocky-10.yaml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues.map((i) => i.path)).toEqual(['distribution.repositories[0].baseurl', 'distribution.repositories[1].baseurl', 'distribution.repositories[2].baseurl']);
    expect(issues[0]!.message).toMatch(/not reachable from this machine \(ECONNREFUSED\)/);
  });
});

describe('stage cache', () => {
  it('runs on a miss with the reason, hits afterwards, and reruns when an input changes', async () => {
    const cache = new StageCache(await mkdtemp(path.join(os.tmpdir(), 'ober-cache-')));
    const log: string[] = [];
    let runs = 0;
    const stage = (v: number) => ({ name: 's', inputs: { v, same: 1 }, commands: [], run: async () => void runs++ });
    const first = await cache.run(stage(1), { info: (m) => log.push(m) });
    const second = await cache.run(stage(1), { info: (m) => log.push(m) });
    await cache.run(stage(2), { info: (m) => log.push(m) });
    expect([first.cached, second.cached, runs]).toEqual([false, true, 2]);
    expect(log.filter((l) => /cache (hit|miss)/.test(l))).toEqual([
      'cache miss (no cached entry), running',
      expect.stringMatching(/^cache hit /),
      'cache miss (changed: v), running',
    ]);
  });

  it('leaves no entry behind when a stage fails', async () => {
    const cache = new StageCache(await mkdtemp(path.join(os.tmpdir(), 'ober-cache-')));
    const failing = { name: 'f', inputs: { a: 1 }, commands: [], run: async () => { throw new Error('boom'); } };
    await expect(cache.run(failing, { info: () => {} })).rejects.toThrow('boom');
    expect(await cache.has(failing)).toBe(false);
  });
});
