// The release commands as an operator runs them (the bundled CLI), against the GitHub double:
// --json documents, --dry-run, progress on stderr, the token never on the command line.
import { createHash } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition } from '../../builder/image/definition.js';
import { run } from '../../firstboot/lib/exec.js';
import { REPO, scratchDir } from '../helpers/fixtures.js';
import { GitHubDouble } from '../github/double.js';

const gh = new GitHubDouble();
let dir = '';
let cleanup: () => Promise<void> = async () => {};
let id = '';

const ober = (env: Record<string, string>, ...args: string[]) =>
  run(['node', path.join(REPO, 'dist', 'ober.mjs'), ...args, '--api-url', gh.api], { allowFailure: true, cwd: REPO, env: { PATH: process.env.PATH ?? '', ...env } });

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('release-cli'));
  gh.addRepo({ owner: 'example', name: 'herr-ober', private: false });
  gh.addToken({ token: 'good', scopes: ['public_repo'], login: 'ops' });
  await gh.start();
  id = (await loadImageDefinition(path.join(REPO, DEFAULT_IMAGE_DEFINITION))).id;
  const out = path.join(dir, 'out');
  await mkdir(out);
  const lines: string[] = [];
  for (const [ext, data] of [['qcow2', Buffer.alloc(2_500_000, 7)], ['cdx.json', Buffer.from('{}\n')], ['manifest.json', Buffer.from('{"m":1}\n')]] as const) {
    await writeFile(path.join(out, `${id}_3.0.0.${ext}`), data);
    lines.push(`${createHash('sha256').update(data).digest('hex')}  ${id}_3.0.0.${ext}`);
  }
  await writeFile(path.join(out, `${id}_3.0.0.SHA256SUMS`), lines.join('\n') + '\n');
});
afterAll(async () => {
  await gh.stop();
  await cleanup();
});

describe('ober release / upgrade --check --repo', () => {
  const publish = ['release', 'publish', '3.0.0', '--repo', 'example/herr-ober'];

  it('publish --dry-run --json plans and changes nothing', async () => {
    const r = await ober({ GITHUB_TOKEN: 'good' }, ...publish, '--out-dir', path.join(dir, 'out'), '--dry-run', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { ok: boolean; created: boolean; assets: { action: string }[] };
    expect(doc).toMatchObject({ ok: true, dryRun: true, created: true, tag: 'v3.0.0' });
    expect(doc.assets.map((a) => a.action)).toEqual(['upload', 'upload', 'upload', 'upload']);
    expect(gh.log.filter((l) => l.method !== 'GET')).toEqual([]);
  });

  it('refuses a token file others can read, and needs a token', async () => {
    const file = path.join(dir, 'token');
    await writeFile(file, 'good\n');
    await chmod(file, 0o640);
    const r = await ober({}, ...publish, '--out-dir', path.join(dir, 'out'), '--token-file', file);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/readable by others \(mode 0640\)[\s\S]*chmod 600/);
    const none = await ober({}, ...publish, '--out-dir', path.join(dir, 'out'));
    expect(none.stderr).toMatch(/no GitHub token: set GITHUB_TOKEN or pass --token-file/);
  });

  it('publishes with upload progress on stderr', async () => {
    const file = path.join(dir, 'token');
    await chmod(file, 0o600);
    const r = await ober({}, ...publish, '--out-dir', path.join(dir, 'out'), '--token-file', file);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`upload ${id}_3\\.0\\.0\\.qcow2 100% \\(2\\.4 of 2\\.4 MiB\\)`));
    expect(r.stderr).toMatch(/example\/herr-ober v3\.0\.0: 4 uploaded, 0 already there; published/);
  });

  it('upgrade --check --repo lists the newer release; --download fetches and verifies it', async () => {
    const args = ['upgrade', '--check', '--repo', 'example/herr-ober', '--current', '2.9.0', '--download', '--download-dir', path.join(dir, 'dl')];
    const shown = await ober({}, ...args);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^3\.0\.0 {2}herr-ober-debian-\d+ — ober rollout --to 3\.0\.0 --repo example\/herr-ober$/m);
    expect(shown.stderr).toMatch(/download .*\.qcow2 100%/);
    const r = await ober({}, ...args, '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { newer: { version: string; images: string[] }[]; downloaded: { qcow2: string } };
    expect(doc.newer).toEqual([{ tag: 'v3.0.0', version: '3.0.0', images: [id], prerelease: false }]);
    expect(doc.downloaded.qcow2).toBe(path.join(dir, 'dl', `${id}_3.0.0.qcow2`));
    const none = await ober({}, 'upgrade', '--check', '--repo', 'example/herr-ober', '--current', '3.0.0');
    expect(none.stdout).toMatch(/no release newer than 3\.0\.0 in example\/herr-ober/);
  });

  it('release download --dry-run finds the release and downloads nothing', async () => {
    gh.log.length = 0;
    const r = await ober({}, 'release', 'download', '3.0.0', '--repo', 'example/herr-ober', '--dir', path.join(dir, 'dl3'), '--dry-run', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, dryRun: true, qcow2: path.join(dir, 'dl3', `${id}_3.0.0.qcow2`) });
    expect(gh.log.filter((l) => l.origin === 'downloads')).toEqual([]);
  });

  it('release download refuses a tampered asset (exit 1) and keeps nothing of it', async () => {
    gh.faults.tamper.set(`${id}_3.0.0.qcow2`, Buffer.alloc(2_500_000, 8));
    try {
      const r = await ober({}, 'release', 'download', '3.0.0', '--repo', 'example/herr-ober', '--dir', path.join(dir, 'dl2'), '--json');
      expect(r.exitCode).toBe(1);
      expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { kind: 'ChecksumMismatchError' } });
    } finally {
      gh.faults.tamper.clear();
    }
  });
});
