// `ober release publish`: create or update the GitHub release of a built version and upload its
// artifacts. Idempotent and resumable: the release is made as a draft, an asset already uploaded
// with the same size and digest is skipped, one left half-uploaded (state `starter`) or different
// is deleted and sent again, and the draft is published only when every asset is there.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Octokit } from '@octokit/rest';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { ChecksumMismatchError, expectedSum, parseSums, releaseAssets, releaseTag, sha256File } from './artifacts.js';
import { explain, requirePush, type RepoRef } from './github.js';
import { signSums } from './signature.js';

export interface LocalAsset {
  name: string;
  path: string;
  size: number;
  sha256: string;
  contentType: string;
}

export interface RemoteAsset {
  id: number;
  name: string;
  state: string;
  size: number;
  digest?: string | null;
}

export interface AssetAction {
  name: string;
  action: 'upload' | 'replace' | 'skip';
  reason: string;
  size: number;
  existingId?: number;
}

/** Pure: what to do with each local asset, given what the release already holds. */
export function planAssets(local: readonly LocalAsset[], remote: readonly RemoteAsset[]): AssetAction[] {
  return local.map((a) => {
    const r = remote.find((x) => x.name === a.name);
    if (!r) return { name: a.name, action: 'upload', reason: 'not in the release', size: a.size };
    const replace = (reason: string): AssetAction => ({ name: a.name, action: 'replace', reason, size: a.size, existingId: r.id });
    if (r.state !== 'uploaded') return replace(`an interrupted upload (state ${r.state})`);
    if (r.size !== a.size) return replace(`size ${r.size} in the release, ${a.size} here`);
    if (r.digest && r.digest !== `sha256:${a.sha256}`) return replace(`digest ${r.digest} in the release differs`);
    return { name: a.name, action: 'skip', reason: r.digest ? 'uploaded, same digest' : 'uploaded, same size', size: a.size };
  });
}

/** The built artifacts of one version in out/, each checked against the build's SHA256SUMS. */
export async function localAssets(outDir: string, id: string, version: string): Promise<LocalAsset[]> {
  const specs = releaseAssets(id, version);
  const sumsSpec = specs.find((s) => s.kind === 'sums')!;
  const sumsPath = path.join(outDir, sumsSpec.name);
  const missing = [];
  for (const s of specs) if (!(await stat(path.join(outDir, s.name)).catch(() => undefined))) missing.push(s.name);
  if (missing.length) {
    throw new ConfigError('ober release publish', missing.map((m) => ({ path: 'version', message: `${path.join(outDir, m)} is missing`, hint: `build it first: ober build-image (version ${version})` })));
  }
  const sums = parseSums(await readFile(sumsPath, 'utf8'), sumsPath);
  const assets: LocalAsset[] = [];
  for (const s of specs) {
    const file = path.join(outDir, s.name);
    const sha256 = await sha256File(file);
    if (s.kind !== 'sums' && expectedSum(sums, s.name, sumsPath) !== sha256) {
      throw new ChecksumMismatchError(`${file}: sha256 ${sha256}, but ${sumsPath} lists ${sums.get(s.name)}: refusing to publish it (rebuild with ober build-image)`);
    }
    assets.push({ name: s.name, path: file, size: (await stat(file)).size, sha256, contentType: s.contentType });
  }
  return assets;
}

export interface PublishHooks {
  info(msg: string): void;
  progress(name: string, sent: number, total: number): void;
}

export interface PublishReport {
  repo: string;
  tag: string;
  releaseId?: number;
  created: boolean;
  published: boolean;
  assets: AssetAction[];
}

export async function publishRelease(gh: Octokit, ref: RepoRef, opts: { id: string; version: string; outDir: string; dryRun?: boolean; signKey?: string }, hooks: PublishHooks): Promise<PublishReport> {
  const local = await localAssets(opts.outDir, opts.id, opts.version);
  if (opts.signKey) {
    // SHA256SUMS.sig: readers with --allowed-signers check it before trusting any checksum
    const sums = local.find((a) => a.name.endsWith('.SHA256SUMS'))!;
    const sig = await signSums(sums.path, opts.signKey);
    local.push({ name: path.basename(sig), path: sig, size: (await stat(sig)).size, sha256: await sha256File(sig), contentType: 'text/plain' });
  }
  const tag = releaseTag(opts.version);
  const report: PublishReport = { repo: `${ref.owner}/${ref.repo}`, tag, created: false, published: false, assets: [] };
  const repo = await gh.rest.repos.get(ref).catch((e: unknown) => { throw explain(e, `reading ${report.repo}`, ref); });
  requirePush(repo.data.permissions, repo.headers, ref);
  const releases = await gh.paginate(gh.rest.repos.listReleases, { ...ref, per_page: 100 }).catch((e: unknown) => { throw explain(e, 'listing releases', ref); });
  let release = releases.find((r) => r.tag_name === tag);
  report.assets = planAssets(local, release?.assets ?? []);
  if (opts.dryRun) return { ...report, releaseId: release?.id, created: !release, published: !release || release.draft };
  if (!release) {
    hooks.info(`creating draft release ${tag} in ${report.repo}`);
    release = (await gh.rest.repos.createRelease({ ...ref, tag_name: tag, name: `Herr Ober ${opts.version}`, draft: true, body: releaseBody(opts.id, opts.version) })
      .catch((e: unknown) => { throw explain(e, `creating release ${tag}`, ref); })).data;
    report.created = true;
  }
  report.releaseId = release.id;
  for (const action of report.assets) {
    const asset = local.find((a) => a.name === action.name)!;
    if (action.action === 'skip') {
      hooks.info(`${action.name}: ${action.reason}, skipped`);
      continue;
    }
    if (action.action === 'replace') {
      hooks.info(`${action.name}: ${action.reason}: deleting it and uploading again`);
      await gh.rest.repos.deleteReleaseAsset({ ...ref, asset_id: action.existingId! }).catch((e: unknown) => { throw explain(e, `deleting ${action.name}`, ref); });
    }
    await uploadAsset(gh, release.upload_url, asset, (sent) => hooks.progress(asset.name, sent, asset.size)).catch((e: unknown) => {
      throw explain(e, `uploading ${asset.name} (run again to resume: finished assets are kept)`, ref);
    });
  }
  if (release.draft) {
    await gh.rest.repos.updateRelease({ ...ref, release_id: release.id, draft: false }).catch((e: unknown) => { throw explain(e, `publishing ${tag}`, ref); });
    report.published = true;
  }
  return report;
}

/**
 * POST to the release's `upload_url`, an RFC 6570 template (`.../assets{?name,label}`) that
 * @octokit/endpoint expands. The body is streamed with its exact Content-Length (GitHub requires it).
 */
async function uploadAsset(gh: Octokit, uploadUrl: string, a: LocalAsset, progress: (sent: number) => void): Promise<void> {
  let sent = 0;
  async function* body(): AsyncGenerator<Buffer> {
    for await (const chunk of createReadStream(a.path, { highWaterMark: 1 << 20 })) {
      sent += (chunk as Buffer).length;
      progress(sent);
      yield chunk as Buffer;
    }
  }
  const res = await gh.request({ method: 'POST', url: uploadUrl, name: a.name, data: body(), headers: { 'content-type': a.contentType, 'content-length': a.size } });
  const digest = (res.data as { digest?: string | null }).digest;
  if (digest && digest !== `sha256:${a.sha256}`) throw new ChecksumMismatchError(`${a.name}: GitHub stored ${digest}, this file is sha256:${a.sha256}: run again to replace it`);
}

function releaseBody(id: string, version: string): string {
  return [
    `Herr Ober appliance ${version}.`,
    '',
    `- \`${id}_${version}.qcow2\`: the image (\`ober template create --image\`)`,
    `- \`${id}_${version}.manifest.json\`, \`${id}_${version}.cdx.json\`: manifest and CycloneDX SBOM`,
    `- \`${id}_${version}.SHA256SUMS\`: checked by \`ober rollout --to ${version} --repo\` and \`ober upgrade --check --repo\` before use`,
  ].join('\n');
}
