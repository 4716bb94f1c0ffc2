// `ober build-image --builder mkosi`: runs mkosi only when it is 25 or newer, and names the version
// needed otherwise. mkosi is replaced by a stub script that prints a version and records its argv.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { REPO, scratchDir } from '../helpers/fixtures.js';

let dir = '';
let cleanup: () => Promise<void> = async () => {};
beforeAll(async () => ({ dir, cleanup } = await scratchDir('build-mkosi')));
afterAll(() => cleanup());

async function stub(version: string): Promise<string> {
  const file = path.join(dir, `mkosi-${version}`);
  await writeFile(file, `#!/bin/sh\nif [ "$1" = --version ]; then echo "mkosi ${version}"; exit 0; fi\necho "$@" > ${dir}/argv-${version}\n`);
  await chmod(file, 0o755);
  return file;
}

const ober = (env: Record<string, string>, ...args: string[]) =>
  run(['node', path.join(REPO, 'dist', 'ober.mjs'), 'build-image', '--builder', 'mkosi', '--cache-dir', path.join(dir, 'cache'), '--out-dir', path.join(dir, 'out'), ...args], {
    allowFailure: true, cwd: REPO, env: { ...process.env, ...env },
  });

describe('ober build-image --builder mkosi', () => {
  it('refuses Debian 12 mkosi 14 and names the version needed', async () => {
    const r = await ober({ OBER_MKOSI: await stub('14') });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/needs mkosi 25 or newer; found mkosi 14/);
    expect(r.stderr).toMatch(/Debian 13 ships 25\.3/);
  });

  it('runs a recent mkosi on the exported project', async () => {
    const r = await ober({ OBER_MKOSI: await stub('25.3') }, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { ok: boolean; project: string; command: string[] };
    expect(doc.project).toBe(path.join(dir, 'cache', 'mkosi'));
    expect((await readFile(path.join(dir, 'argv-25.3'), 'utf8')).trim()).toBe(`--directory ${doc.project} --output-directory ${path.join(dir, 'out')} build`);
    expect(await readFile(path.join(doc.project, 'mkosi.conf'), 'utf8')).toMatch(/^ImageId=/m);
  });

  it('--dry-run names the command and runs nothing', async () => {
    const r = await ober({ OBER_MKOSI: path.join(dir, 'no-such-mkosi') }, '--dry-run');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/would export the mkosi project .* and run\n {2}\$ .*no-such-mkosi --directory/);
  });
});
