// `ober rollout --to V --repo`: V resolved from a GitHub release (loopback double) to a verified
// image, made into a template on the Proxmox double, and found by the rollout's own template lookup.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { templateFromRelease } from '../../builder/commands/release-upgrade.js';
import { loadForDeploy } from '../../builder/commands/deploy.js';
import { findTemplate } from '../../builder/deploy/deploy.js';
import { githubClient } from '../../builder/release/github.js';
import { publishRelease } from '../../builder/release/publish.js';
import { Output } from '../../firstboot/lib/output.js';
import { EXAMPLES } from '../helpers/fixtures.js';
import { GitHubDouble } from '../github/double.js';
import { fakeImage, setup, type Env } from './helpers.js';

let env: Env;
const gh = new GitHubDouble();
const ID = 'herr-ober-debian-13';

beforeAll(async () => {
  env = await setup();
  gh.addRepo({ owner: 'example', name: 'herr-ober', private: false });
  gh.addToken({ token: 'good', scopes: ['repo'], login: 'ops' });
  await gh.start();
  // a built version in out/: image, manifest, SBOM and the SHA256SUMS the build writes
  const out = path.join(env.dir, 'out');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(out);
  await fakeImage(out, `${ID}_2.0.0.qcow2`);
  await writeFile(path.join(out, `${ID}_2.0.0.manifest.json`), '{}\n');
  await writeFile(path.join(out, `${ID}_2.0.0.cdx.json`), '{}\n');
  const sum = async (n: string) => `${createHash('sha256').update(await readFile(path.join(out, n))).digest('hex')}  ${n}`;
  await writeFile(path.join(out, `${ID}_2.0.0.SHA256SUMS`), [await sum(`${ID}_2.0.0.qcow2`), await sum(`${ID}_2.0.0.cdx.json`), await sum(`${ID}_2.0.0.manifest.json`)].join('\n') + '\n');
  await publishRelease(githubClient({ token: 'good', apiUrl: gh.api }), { owner: 'example', repo: 'herr-ober' }, { id: ID, version: '2.0.0', outDir: out }, { info: () => {}, progress: () => {} });
});
afterAll(async () => {
  await gh.stop();
  await env.close();
});

describe('rollout --to V --repo', () => {
  it('downloads V, verifies it, makes the template with the cluster firmware, and the rollout finds it', async () => {
    const resolved = await loadForDeploy(EXAMPLES[0]!, 'sftp');
    const out = new Output({ quiet: true });
    const flags = { repo: 'example/herr-ober', apiUrl: gh.api, downloadDir: path.join(env.dir, 'releases') };
    const selector = await templateFromRelease(env.client, resolved, '2.0.0', flags, out);
    expect(selector).toBe(`${ID}_2.0.0`);
    const template = await findTemplate(env.client, resolved, selector, '--to');
    expect(template).toMatchObject({ id: ID, version: '2.0.0', tag: `ober_${ID}_2.0.0` });
    // a second resolution keeps the template and does not download again
    const before = env.pve.requests.length;
    gh.log.length = 0;
    expect(await templateFromRelease(env.client, resolved, '2.0.0', flags, out)).toBe(selector);
    expect(gh.log.filter((l) => l.origin === 'downloads' && l.path.includes('.qcow2'))).toEqual([]);
    expect(env.pve.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('refuses a tampered image before Proxmox sees anything', async () => {
    const resolved = await loadForDeploy(EXAMPLES[0]!, 'sftp');
    gh.faults.tamper.set(`${ID}_2.0.0.qcow2`, Buffer.from('not the image'));
    const before = env.pve.requests.length;
    try {
      await expect(templateFromRelease(env.client, resolved, '2.0.0', { repo: 'example/herr-ober', apiUrl: gh.api, downloadDir: path.join(env.dir, 'other') }, new Output({ quiet: true }))).rejects.toThrow(/refused and deleted/);
    } finally {
      gh.faults.tamper.clear();
    }
    expect(env.pve.requests.length).toBe(before);
  });
});
