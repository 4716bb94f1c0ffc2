// builder/image/image-root.ts: which daemons the checks and the lab use, and the chroot that runs
// the image's programs without writing the cached tree. The tree here is a tiny one made from the
// host's dash, cat and libc, so the mechanism is tested on any machine (as root).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findImageTree, imageDaemons, resolveDaemons } from '../../builder/image/image-root.js';
import { run } from '../../firstboot/lib/exec.js';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'ober-image-root-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A customize stage entry: .inputs.json naming the image, root/ and var/ trees. */
function entry(cache: string, key: string, id: string, mtime: number): string {
  const dir = path.join(cache, 'stages/customize', key);
  for (const d of ['root/usr/bin', 'root/etc', 'root/proc', 'root/sys', 'root/dev', 'root/run', 'root/tmp', 'root/var', 'var/lib'])
    mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(path.join(dir, '.inputs.json'), JSON.stringify({ image: { id, version: '0.1.0' } }));
  utimesSync(path.join(dir, '.inputs.json'), mtime, mtime);
  return dir;
}

describe('resolveDaemons', () => {
  const empty = path.join(scratch, 'empty-cache');

  it('falls back to the host and says why when no image tree was built', async () => {
    const d = await resolveDaemons({ cacheDir: empty, env: {}, uid: 0 });
    expect(d.kind).toBe('host');
    expect(d.note).toMatch(/no image tree under .*empty-cache/);
    expect(d.wrap(['haproxy', '-v'])).toEqual(['haproxy', '-v']);
  });

  it('OBER_DAEMONS=image refuses to fall back; OBER_DAEMONS=host ignores a tree; other values are refused', async () => {
    await expect(resolveDaemons({ cacheDir: empty, env: { OBER_DAEMONS: 'image' }, uid: 0 })).rejects.toThrow(/no image tree .*npm run build-image/);
    const cache = path.join(scratch, 'cache-host');
    entry(cache, 'a', 'herr-ober-debian-13', 1000);
    expect((await resolveDaemons({ cacheDir: cache, env: { OBER_DAEMONS: 'host' }, uid: 0 })).kind).toBe('host');
    await expect(resolveDaemons({ cacheDir: cache, env: { OBER_DAEMONS: 'yes' }, uid: 0 })).rejects.toThrow(/OBER_DAEMONS=yes: use host, image or auto/);
  });

  it('takes the default image’s newest tree, then any image’s; not as a non-root user', async () => {
    const cache = path.join(scratch, 'cache-pick');
    entry(cache, 'old13', 'herr-ober-debian-13', 1000);
    const new13 = entry(cache, 'new13', 'herr-ober-debian-13', 2000);
    entry(cache, 'new12', 'herr-ober-debian-12', 3000);
    mkdirSync(path.join(cache, 'stages/customize/x.tmp-1/root/usr'), { recursive: true }); // an interrupted run
    const d = await resolveDaemons({ cacheDir: cache, env: {}, uid: 0 });
    expect(d).toMatchObject({ kind: 'image', tree: { dir: new13, id: 'herr-ober-debian-13' } });
    expect(d.label).toContain('herr-ober-debian-13 0.1.0');
    expect((await findImageTree({ cacheDir: cache, imageId: 'herr-ober-debian-12' }))?.dir).toBe(path.join(cache, 'stages/customize/new12'));
    expect(await findImageTree({ cacheDir: cache, imageId: 'herr-ober-rocky-10' })).toBeUndefined();
    expect(await resolveDaemons({ cacheDir: cache, env: {}, uid: 1000 })).toMatchObject({ kind: 'host', note: expect.stringMatching(/chroot needs root/) });
  });
});

describe.runIf(process.getuid?.() === 0)('imageDaemons().wrap (root)', () => {
  const cache = path.join(scratch, 'cache-run');
  const dir = entry(cache, 'k', 'herr-ober-test', 1000);
  // dash, cat and the libc they need, from the host: the smallest tree a program can run in
  for (const f of ['/usr/bin/dash', '/usr/bin/cat', '/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/libc.so.6']) {
    const to = path.join(dir, 'root', f.replace(/^\/lib64\//, '/usr/lib64/').replace(/^\/lib\//, '/usr/lib/'));
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(realpathSync(f), to);
  }
  copyFileSync(path.join(dir, 'root/usr/bin/dash'), path.join(dir, 'root/usr/bin/sh'));
  // usr-merged like the image
  for (const l of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${l}`, path.join(dir, 'root', l));
  writeFileSync(path.join(dir, 'root/etc/marker'), 'from the image tree\n');
  writeFileSync(path.join(dir, 'var/lib/state'), 'var tree\n');
  const host = path.join(scratch, 'host-dir');
  mkdirSync(host);
  writeFileSync(path.join(host, 'config'), 'host config\n');
  const d = imageDaemons({ dir, id: 'herr-ober-test', version: '0.1.0' });

  it('runs the tree’s program, sees the bound host directory at its path, writes neither the tree nor var', async () => {
    const script = `cat /etc/marker /var/lib/state ${host}/config; echo changed > /etc/marker; echo new > /var/lib/state; echo written > ${host}/out; cat /etc/marker`;
    const r = await run(d.wrap(['/usr/bin/sh', '-c', script], [host]));
    expect(r.stdout).toBe('from the image tree\nvar tree\nhost config\nchanged');
    expect(readFileSync(path.join(dir, 'root/etc/marker'), 'utf8')).toBe('from the image tree\n');
    expect(readFileSync(path.join(dir, 'var/lib/state'), 'utf8')).toBe('var tree\n');
    expect(readFileSync(path.join(host, 'out'), 'utf8')).toBe('written\n');
  });

  it('keeps the PID of the process it starts (the lab signals daemons by that PID)', async () => {
    const child = spawn(d.wrap(['/usr/bin/sh', '-c', 'echo $$'])[0]!, d.wrap(['/usr/bin/sh', '-c', 'echo $$']).slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    await new Promise((r) => child.on('exit', r));
    expect(Number(out.trim())).toBe(child.pid);
  });

  it('fails when the program is not in the tree (no silent use of the host’s)', async () => {
    const r = await run(d.wrap(['haproxy', '-v']), { allowFailure: true });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/haproxy.*No such file/);
  });
});
