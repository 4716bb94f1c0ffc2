// Releases on GitHub through @octokit/rest, against the loopback double of the releases API
// (test/github/double.ts): publish (idempotent, resumable), read, download with resume, and refuse
// what SHA256SUMS does not vouch for.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChecksumMismatchError } from '../../builder/release/artifacts.js';
import { fetchReleaseImage, listReleases } from '../../builder/release/download.js';
import { githubClient, parseRepo } from '../../builder/release/github.js';
import { publishRelease } from '../../builder/release/publish.js';
import { resolveToken } from '../../builder/release/token.js';
import { GitHubDouble } from '../github/double.js';

const ID = 'herr-ober-test';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-release-'));
const gh = new GitHubDouble();
const ref = { owner: 'example', repo: 'herr-ober' };
const quiet = { info: () => {}, progress: () => {} };
const client = (token = 'good') => githubClient({ token, apiUrl: gh.api });

/** What ober build-image leaves in out/ for one version (a small random "qcow2"). */
function buildArtifacts(version: string, qcow2Bytes = 3 * 1024 * 1024): string {
  const out = path.join(tmp, `out-${version}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(out);
  const files: Record<string, Buffer> = {
    [`${ID}_${version}.qcow2`]: randomBytes(qcow2Bytes),
    [`${ID}_${version}.cdx.json`]: Buffer.from('{"bomFormat":"CycloneDX"}\n'),
    [`${ID}_${version}.manifest.json`]: Buffer.from(`{"image":{"id":"${ID}","version":"${version}"}}\n`),
  };
  for (const [n, d] of Object.entries(files)) writeFileSync(path.join(out, n), d);
  const sums = Object.entries(files).map(([n, d]) => `${createHash('sha256').update(d).digest('hex')}  ${n}`).join('\n') + '\n';
  writeFileSync(path.join(out, `${ID}_${version}.SHA256SUMS`), sums);
  return out;
}

beforeAll(async () => {
  gh.addRepo({ owner: 'example', name: 'herr-ober', private: false });
  gh.addRepo({ owner: 'example', name: 'private-ober', private: true });
  gh.addToken({ token: 'good', scopes: ['repo'], login: 'ops' });
  gh.addToken({ token: 'no-scope', scopes: ['read:org'], login: 'ops' });
  await gh.start();
});
afterAll(async () => {
  await gh.stop();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  gh.log.length = 0;
});

describe('the double refuses what the GitHub API refuses', () => {
  const post = (url: string, body: Uint8Array | string, headers: Record<string, string>) => fetch(url, { method: 'POST', body: body as BodyInit, headers: { authorization: 'token good', ...headers } });

  it('unknown paths and methods, a bad token, a release without tag_name, a duplicate tag', async () => {
    expect((await fetch(`${gh.api}/repos/example/herr-ober/releasez`, { headers: { authorization: 'token good' } })).status).toBe(404);
    expect((await fetch(`${gh.api}/repos/example/herr-ober/releases`, { method: 'PUT', headers: { authorization: 'token good' } })).status).toBe(404);
    expect((await fetch(`${gh.api}/repos/example/herr-ober/releases`, { headers: { authorization: 'token nope' } })).status).toBe(401);
    const missing = await post(`${gh.api}/repos/example/herr-ober/releases`, '{"name":"x"}', { 'content-type': 'application/json' });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ errors: [{ resource: 'Release', code: 'missing_field', field: 'tag_name' }] });
    expect((await post(`${gh.api}/repos/example/herr-ober/releases`, '{"tag_name":"v0.0.1"}', {})).status).toBe(201);
    const dup = await post(`${gh.api}/repos/example/herr-ober/releases`, '{"tag_name":"v0.0.1"}', {});
    expect(dup.status).toBe(422);
    expect(await dup.json()).toMatchObject({ errors: [{ resource: 'Release', code: 'already_exists', field: 'tag_name' }] });
  });

  it('uploads only at the expanded upload_url, with name, Content-Type and Content-Length, once per name', async () => {
    const rel = (await (await fetch(`${gh.api}/repos/example/herr-ober/releases/tags/v0.0.1`)).json()) as { upload_url: string; id: number };
    expect(rel.upload_url).toMatch(/\/assets\{\?name,label\}$/);
    const base = rel.upload_url.replace(/\{\?name,label\}$/, '');
    const ok = { 'content-type': 'text/plain' };
    // the template sent literally, the API origin instead of the uploads origin
    expect((await post(rel.upload_url.replace('{', '%7B').replace('}', '%7D') + '&name=a', 'x', ok)).status).toBe(404);
    expect((await post(`${gh.api}/repos/example/herr-ober/releases/${rel.id}/assets?name=a`, 'x', ok)).status).toBe(404);
    expect((await post(`${base}`, 'x', ok)).status).toBe(422);
    // a string body would get text/plain from fetch itself; bytes get no Content-Type
    expect((await post(`${base}?name=a`, new TextEncoder().encode('x'), {})).status).toBe(422);
    const chunked = await fetch(`${base}?name=a`, { method: 'POST', headers: { authorization: 'token good', ...ok }, body: Readable.toWeb(Readable.from([Buffer.from('x')])) as unknown as BodyInit, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(411);
    expect((await post(`${base}?name=a`, 'x', ok)).status).toBe(201);
    const again = await post(`${base}?name=a`, 'x', ok);
    expect(again.status).toBe(422);
    expect(await again.json()).toMatchObject({ errors: [{ resource: 'ReleaseAsset', code: 'already_exists', field: 'name' }] });
  });
});

describe('ober release publish', () => {
  it('creates a draft, uploads the four artifacts with progress, publishes it', async () => {
    const out = buildArtifacts('1.0.0');
    const progress: Record<string, number> = {};
    const r = await publishRelease(client(), ref, { id: ID, version: '1.0.0', outDir: out }, { info: () => {}, progress: (n, sent) => (progress[n] = sent) });
    expect(r).toMatchObject({ tag: 'v1.0.0', created: true, published: true });
    expect(r.assets.map((a) => a.action)).toEqual(['upload', 'upload', 'upload', 'upload']);
    expect(progress[`${ID}_1.0.0.qcow2`]).toBe(3 * 1024 * 1024);
    const uploads = gh.log.filter((l) => l.origin === 'uploads');
    expect(uploads.map((u) => u.status)).toEqual([201, 201, 201, 201]);
    // the upload_url template expanded by @octokit/endpoint (it leaves a trailing & for the unset label, as GitHub sees from it)
    expect(uploads[0]!.path).toMatch(new RegExp(`^/repos/example/herr-ober/releases/${r.releaseId}/assets\\?name=${ID}_1\\.0\\.0\\.qcow2&?$`));
    expect(uploads[0]!.headers['content-length']).toBe(String(3 * 1024 * 1024));
    expect(uploads[0]!.headers['content-type']).toBe('application/octet-stream');
    const rel = gh.releases.get('example/herr-ober')!.find((x) => x.tag_name === 'v1.0.0')!;
    expect(rel.draft).toBe(false);
    expect(rel.assets.map((a) => a.state)).toEqual(['uploaded', 'uploaded', 'uploaded', 'uploaded']);
  });

  it('is idempotent: a second run uploads nothing', async () => {
    const out = buildArtifacts('1.1.0', 1024);
    await publishRelease(client(), ref, { id: ID, version: '1.1.0', outDir: out }, quiet);
    gh.log.length = 0;
    const r = await publishRelease(client(), ref, { id: ID, version: '1.1.0', outDir: out }, quiet);
    expect(r.assets.map((a) => a.action)).toEqual(['skip', 'skip', 'skip', 'skip']);
    expect(r.created).toBe(false);
    expect(gh.log.filter((l) => l.method !== 'GET')).toEqual([]);
  });

  it('resumes after an interrupted upload: the half-uploaded asset is replaced, the draft then published', async () => {
    const out = buildArtifacts('1.2.0');
    gh.faults.cutUpload.set(`${ID}_1.2.0.qcow2`, 1024 * 1024);
    await expect(publishRelease(client(), ref, { id: ID, version: '1.2.0', outDir: out }, quiet)).rejects.toThrow(/uploading herr-ober-test_1\.2\.0\.qcow2 \(run again to resume/);
    const rel = gh.releases.get('example/herr-ober')!.find((x) => x.tag_name === 'v1.2.0')!;
    expect(rel.draft).toBe(true);
    expect(rel.assets.map((a) => [a.name, a.state])).toEqual([[`${ID}_1.2.0.qcow2`, 'starter']]);
    const r = await publishRelease(client(), ref, { id: ID, version: '1.2.0', outDir: out }, quiet);
    expect(r.assets[0]).toMatchObject({ action: 'replace', reason: 'an interrupted upload (state starter)' });
    expect(r).toMatchObject({ created: false, published: true });
    expect(gh.log.filter((l) => l.method === 'DELETE')).toHaveLength(1);
    expect(rel.assets.every((a) => a.state === 'uploaded')).toBe(true);
  });

  it('refuses a local artifact that does not match the build SHA256SUMS, before any request', async () => {
    const out = buildArtifacts('1.3.0', 1024);
    writeFileSync(path.join(out, `${ID}_1.3.0.qcow2`), 'corrupted');
    await expect(publishRelease(client(), ref, { id: ID, version: '1.3.0', outDir: out }, quiet)).rejects.toThrow(ChecksumMismatchError);
    expect(gh.log).toEqual([]);
  });

  it('names the missing scope, a bad token, a missing build', async () => {
    const out = buildArtifacts('1.4.0', 1024);
    await expect(publishRelease(client('no-scope'), ref, { id: ID, version: '1.4.0', outDir: out }, quiet)).rejects.toThrow(/lacks the scope: it has \[read:org\], releases need repo \(public_repo/);
    await expect(publishRelease(client('no-scope'), { owner: 'example', repo: 'private-ober' }, { id: ID, version: '1.4.0', outDir: out }, quiet)).rejects.toThrow(/not found, or not visible to this token/);
    await expect(publishRelease(client('wrong'), ref, { id: ID, version: '1.4.0', outDir: out }, quiet)).rejects.toThrow(/refused the token \(Bad credentials\)/);
    await expect(publishRelease(client(), ref, { id: ID, version: '9.9.9', outDir: out }, quiet)).rejects.toThrow(/herr-ober-test_9\.9\.9\.qcow2 is missing/);
    expect(gh.releases.get('example/herr-ober')!.some((x) => x.tag_name === 'v1.4.0')).toBe(false);
  });
});

describe('reading releases: upgrade --check and rollout --to V --repo', () => {
  it('lists published versions newest first (drafts are not offered)', async () => {
    const out = buildArtifacts('1.10.0', 1024);
    gh.faults.cutUpload.set(`${ID}_1.10.0.qcow2`, 512);
    await publishRelease(client(), ref, { id: ID, version: '1.10.0', outDir: out }, quiet).catch(() => {});
    const versions = (await listReleases(client(), ref)).map((r) => r.version);
    expect(versions.slice(0, 3)).toEqual(['1.2.0', '1.1.0', '1.0.0']);
    expect(versions).not.toContain('1.10.0');
  });

  it('downloads with progress and verifies against SHA256SUMS', async () => {
    const dir = path.join(tmp, 'dl-1');
    let last = 0;
    const img = await fetchReleaseImage(client(undefined as unknown as string), ref, '1.0.0', dir, { info: () => {}, progress: (n, got) => n.endsWith('.qcow2') && (last = got) });
    expect(img).toMatchObject({ id: ID, version: '1.0.0', tag: 'v1.0.0' });
    expect(last).toBe(3 * 1024 * 1024);
    const sums = readFileSync(img.sums, 'utf8');
    expect(sums).toContain(createHash('sha256').update(readFileSync(img.qcow2)).digest('hex'));
    // the storage never sees the API token
    expect(gh.log.filter((l) => l.origin === 'downloads').every((l) => !l.headers.authorization)).toBe(true);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const dir = path.join(tmp, 'dl-2');
    gh.faults.cutDownload.set(`${ID}_1.0.0.qcow2`, 1024 * 1024);
    await expect(fetchReleaseImage(client(), ref, '1.0.0', dir, quiet)).rejects.toThrow(/interrupted after \d+ of 3145728 bytes.*run again to resume/);
    expect(existsSync(path.join(dir, `${ID}_1.0.0.qcow2`))).toBe(false);
    gh.log.length = 0;
    const img = await fetchReleaseImage(client(), ref, `${ID}_1.0.0`, dir, quiet);
    const resumed = gh.log.find((l) => l.origin === 'downloads' && l.path.includes('.qcow2'))!;
    expect(resumed.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(resumed.headers.range!.slice(6, -1))).toBeGreaterThan(0);
    expect(resumed.status).toBe(206);
    const sums = readFileSync(img.sums, 'utf8');
    expect(sums).toContain(createHash('sha256').update(readFileSync(img.qcow2)).digest('hex'));
  });

  it('refuses and deletes an asset whose checksum does not match', async () => {
    const dir = path.join(tmp, 'dl-3');
    gh.faults.tamper.set(`${ID}_1.1.0.qcow2`, randomBytes(1024));
    try {
      await expect(fetchReleaseImage(client(), ref, '1.1.0', dir, quiet)).rejects.toThrow(/downloaded sha256 [0-9a-f]{64}, SHA256SUMS lists [0-9a-f]{64}: refused and deleted/);
    } finally {
      gh.faults.tamper.clear();
    }
    expect(existsSync(path.join(dir, `${ID}_1.1.0.qcow2`))).toBe(false);
    expect(existsSync(path.join(dir, `${ID}_1.1.0.qcow2.part`))).toBe(false);
  });

  it('names the versions there are when the one asked for is not', async () => {
    await expect(fetchReleaseImage(client(), ref, '7.0.0', path.join(tmp, 'dl-4'), quiet)).rejects.toThrow(/has no published release v7\.0\.0[\s\S]*published: 1\.2\.0, 1\.1\.0, 1\.0\.0/);
  });
});

describe('GitHub token', () => {
  it('comes from a file only its owner can read, or GITHUB_TOKEN', async () => {
    const file = path.join(tmp, 'token');
    writeFileSync(file, 'ghp_example\n');
    chmodSync(file, 0o644);
    await expect(resolveToken({ tokenFile: file, required: true })).rejects.toThrow(/readable by others \(mode 0644\)[\s\S]*chmod 600/);
    chmodSync(file, 0o600);
    expect(await resolveToken({ tokenFile: file, required: true })).toBe('ghp_example');
    expect(await resolveToken({ env: { GITHUB_TOKEN: 'ghp_env' }, required: true })).toBe('ghp_env');
    await expect(resolveToken({ env: {}, required: true })).rejects.toThrow(/no GitHub token: set GITHUB_TOKEN or pass --token-file/);
    expect(await resolveToken({ env: {}, required: false })).toBeUndefined();
  });

  it('--repo must be OWNER/NAME', () => {
    expect(parseRepo('example/herr-ober')).toEqual(ref);
    expect(() => parseRepo('example')).toThrow(/is not OWNER\/NAME/);
    expect(() => parseRepo('a/../b')).toThrow(/is not OWNER\/NAME/);
  });
});

describe('signed SHA256SUMS (ssh-keygen -Y, namespace herr-ober-release)', () => {
  const keys = path.join(tmp, 'keys');
  const allowed = (name: string, pub: string): string => {
    const file = path.join(keys, `allowed-${name}`);
    writeFileSync(file, `${name} namespaces="herr-ober-release" ${readFileSync(pub, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
    return file;
  };
  beforeAll(() => {
    mkdirSync(keys, { recursive: true });
    for (const k of ['ops', 'mallory']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', path.join(keys, k)]);
  });

  it('publishes SHA256SUMS.sig, idempotently; readers with --allowed-signers check it', async () => {
    const out = buildArtifacts('2.0.0', 1024);
    const first = await publishRelease(client(), ref, { id: ID, version: '2.0.0', outDir: out, signKey: path.join(keys, 'ops') }, quiet);
    expect(first.assets.map((a) => a.name)).toContain(`${ID}_2.0.0.SHA256SUMS.sig`);
    const again = await publishRelease(client(), ref, { id: ID, version: '2.0.0', outDir: out, signKey: path.join(keys, 'ops') }, quiet);
    expect(again.assets.every((a) => a.action === 'skip')).toBe(true); // Ed25519 signatures are deterministic
    const infos: string[] = [];
    await fetchReleaseImage(client(), ref, '2.0.0', path.join(tmp, 'sig-1'), { info: (m) => infos.push(m), progress: () => {} }, { allowedSigners: allowed('ops', path.join(keys, 'ops.pub')) });
    expect(infos).toContain(`${ID}_2.0.0.SHA256SUMS: signed by ops`);
  });

  it('refuses a list signed by nobody allowed, a tampered list, and an unsigned release', async () => {
    await expect(fetchReleaseImage(client(), ref, '2.0.0', path.join(tmp, 'sig-2'), quiet, { allowedSigners: allowed('mallory', path.join(keys, 'mallory.pub')) })).rejects.toThrow(/not signed by a key in .*allowed-mallory: SHA256SUMS refused/);
    gh.faults.tamper.set(`${ID}_2.0.0.SHA256SUMS`, Buffer.from(`${'0'.repeat(64)}  ${ID}_2.0.0.qcow2\n`));
    try {
      await expect(fetchReleaseImage(client(), ref, '2.0.0', path.join(tmp, 'sig-3'), quiet, { allowedSigners: allowed('ops', path.join(keys, 'ops.pub')) })).rejects.toThrow(/the signature of ops does not match SHA256SUMS/);
    } finally {
      gh.faults.tamper.clear();
    }
    await expect(fetchReleaseImage(client(), ref, '1.0.0', path.join(tmp, 'sig-4'), quiet, { allowedSigners: allowed('ops', path.join(keys, 'ops.pub')) })).rejects.toThrow(/has no herr-ober-test_1\.0\.0\.SHA256SUMS\.sig, and --allowed-signers asks for one/);
  });
});
