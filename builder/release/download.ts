// Reading releases for `ober upgrade --check --repo` and `ober rollout --to V --repo`: find the
// release of a version, download its assets with progress, resume an interrupted download with an
// HTTP Range request, and refuse any file whose SHA-256 is not the one the release's SHA256SUMS
// lists (or GitHub's own digest of the asset contradicts). Nothing unverified reaches its final name.
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Octokit } from '@octokit/rest';
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import { compareVersions } from '../deploy/identity.js';
import { ChecksumMismatchError, expectedSum, parseSums, releaseAssets, releaseTag, sha256File, versionOfTag } from './artifacts.js';
import { explain, isRequestError, type RepoRef } from './github.js';
import { verifySums } from './signature.js';

export interface ReleaseInfo {
  tag: string;
  version: string;
  /** Image ids with a qcow2 in the release. */
  images: string[];
  prerelease: boolean;
}

interface ApiAsset {
  id: number;
  name: string;
  size: number;
  state: string;
  digest?: string | null;
}

const imagesOf = (version: string, assets: readonly { name: string }[]): string[] =>
  assets.map((a) => a.name).filter((n) => n.endsWith(`_${version}.qcow2`)).map((n) => n.slice(0, -`_${version}.qcow2`.length)).sort();

/** Published releases (drafts are not), newest version first. */
export async function listReleases(gh: Octokit, ref: RepoRef): Promise<ReleaseInfo[]> {
  const all = await gh.paginate(gh.rest.repos.listReleases, { ...ref, per_page: 100 }).catch((e: unknown) => { throw explain(e, 'listing releases', ref); });
  return all
    .filter((r) => !r.draft && /^v\d/.test(r.tag_name))
    .map((r) => ({ tag: r.tag_name, version: versionOfTag(r.tag_name), images: imagesOf(versionOfTag(r.tag_name), r.assets), prerelease: r.prerelease }))
    .filter((r) => r.images.length)
    .sort((a, b) => compareVersions(b.version, a.version));
}

export interface FetchHooks {
  info(msg: string): void;
  progress(name: string, received: number, total: number): void;
}

export interface FetchedImage {
  id: string;
  version: string;
  tag: string;
  /** Verified files, by kind. */
  qcow2: string;
  manifest: string;
  sums: string;
}

/** `V` or `<image id>_V` → the verified qcow2 and manifest of that release, downloaded into `dir`. */
export async function fetchReleaseImage(gh: Octokit, ref: RepoRef, target: string, dir: string, hooks: FetchHooks, opts: { allowedSigners?: string; dryRun?: boolean } = {}): Promise<FetchedImage> {
  const m = /^(?:(.+)_)?v?([0-9][0-9A-Za-z.+-]*)$/.exec(target);
  if (!m) throw new ConfigError('release', [{ path: '--to', message: `'${target}' is neither a version nor <image id>_<version>` }]);
  const version = m[2]!;
  const tag = releaseTag(version);
  const release = (await gh.rest.repos.getReleaseByTag({ ...ref, tag }).catch(async (e: unknown) => {
    if (isRequestError(e) && e.status === 404) {
      const known = (await listReleases(gh, ref).catch(() => [])).map((r) => r.version);
      throw new ConfigError('release', [{ path: '--to', message: `${ref.owner}/${ref.repo} has no published release ${tag}`, hint: known.length ? `published: ${known.join(', ')}` : 'it has no published ober release' }]);
    }
    throw explain(e, `reading release ${tag}`, ref);
  })).data;
  const images = imagesOf(version, release.assets);
  const id = m[1] ?? (images.length === 1 ? images[0] : undefined);
  if (!id || !images.includes(id)) {
    throw new ConfigError('release', [{
      path: '--to',
      message: m[1] ? `release ${tag} has no image ${m[1]}` : `release ${tag} has ${images.length ? `several images (${images.join(', ')})` : 'no image'}`,
      hint: images.length ? `name one: --to ${images[0]}_${version}` : 'publish one with ober release publish',
    }]);
  }
  const specs = releaseAssets(id, version);
  const find = (name: string): ApiAsset => {
    const a = release.assets.find((x) => x.name === name);
    if (!a) throw new ConfigError('release', [{ path: '--to', message: `release ${tag} lacks ${name}` }]);
    return a;
  };
  const sumsSpec = specs.find((s) => s.kind === 'sums')!;
  const planned = { id, version, tag, qcow2: path.join(dir, specs[0]!.name), manifest: path.join(dir, specs[1]!.name), sums: path.join(dir, sumsSpec.name) };
  if (opts.dryRun) {
    for (const s of specs.filter((x) => x.kind !== 'sbom')) find(s.name); // the assets exist
    return planned;
  }
  await mkdir(dir, { recursive: true });
  // SHA256SUMS first; what it says is checked against GitHub's own digest of each asset
  const sumsFile = path.join(dir, sumsSpec.name);
  await downloadAsset(gh, ref, find(sumsSpec.name), sumsFile, undefined, hooks);
  if (opts.allowedSigners) {
    const sigName = `${sumsSpec.name}.sig`;
    if (!release.assets.some((a) => a.name === sigName)) throw new ChecksumMismatchError(`release ${tag} has no ${sigName}, and --allowed-signers asks for one: refused`);
    const sig = await downloadAsset(gh, ref, find(sigName), path.join(dir, sigName), undefined, hooks);
    hooks.info(`${sumsSpec.name}: signed by ${await verifySums(sumsFile, sig, opts.allowedSigners)}`);
  }
  const sums = parseSums(await readFile(sumsFile, 'utf8'), `${tag}/${sumsSpec.name}`);
  const files: Partial<Record<'qcow2' | 'manifest', string>> = {};
  for (const s of specs.filter((x) => x.kind === 'qcow2' || x.kind === 'manifest')) {
    const asset = find(s.name);
    const want = expectedSum(sums, s.name, `${tag}/${sumsSpec.name}`);
    if (asset.digest && asset.digest !== `sha256:${want}`) {
      throw new ChecksumMismatchError(`${s.name}: GitHub's digest ${asset.digest} contradicts SHA256SUMS (sha256:${want}): refused, nothing downloaded`);
    }
    files[s.kind as 'qcow2' | 'manifest'] = await downloadAsset(gh, ref, asset, path.join(dir, s.name), want, hooks);
  }
  return { id, version, tag, qcow2: files.qcow2!, manifest: files.manifest!, sums: sumsFile };
}

/**
 * One asset into `dest`, through `dest.part`: a present `.part` is continued with `Range: bytes=N-`
 * (206) or restarted when the server sends it all (200). With `sha256`, a mismatch deletes the
 * download and throws; a file already at `dest` with the right digest is not fetched again.
 */
export async function downloadAsset(gh: Octokit, ref: RepoRef, asset: ApiAsset, dest: string, sha256: string | undefined, hooks: FetchHooks): Promise<string> {
  if (asset.state !== 'uploaded') throw new ApiError(`${asset.name} is not completely uploaded (state ${asset.state}): publish the release again`);
  if (sha256 && (await stat(dest).catch(() => undefined)) && (await sha256File(dest)) === sha256) {
    hooks.info(`${asset.name}: already here, sha256 verified`);
    return dest;
  }
  const part = `${dest}.part`;
  let have = (await stat(part).catch(() => undefined))?.size ?? 0;
  if (have > asset.size) {
    await rm(part);
    have = 0;
  }
  if (have < asset.size) {
    if (have) hooks.info(`${asset.name}: resuming at ${have} of ${asset.size} bytes`);
    const res = await gh.request('GET /repos/{owner}/{repo}/releases/assets/{asset_id}', {
      ...ref,
      asset_id: asset.id,
      // GitHub answers 302 to its storage; fetch follows it and drops the token on the way
      headers: { accept: 'application/octet-stream', ...(have ? { range: `bytes=${have}-` } : {}) },
      request: { parseSuccessResponseBody: false },
    }).catch((e: unknown) => { throw explain(e, `downloading ${asset.name}`, ref); });
    const resumed = (res.status as number) === 206;
    let received = resumed ? have : 0;
    const counted = Readable.fromWeb(res.data as unknown as WebReadableStream<Uint8Array>);
    counted.on('data', (c: Buffer) => hooks.progress(asset.name, (received += c.length), asset.size));
    await pipeline(counted, createWriteStream(part, { flags: resumed ? 'a' : 'w' })).catch((e: unknown) => {
      throw new ApiError(`downloading ${asset.name}: interrupted after ${received} of ${asset.size} bytes (${(e as Error).message}); run again to resume`);
    });
  }
  if (sha256) {
    const got = await sha256File(part);
    if (got !== sha256) {
      await rm(part, { force: true });
      throw new ChecksumMismatchError(`${asset.name}: downloaded sha256 ${got}, SHA256SUMS lists ${sha256}: refused and deleted`);
    }
  }
  await rename(part, dest);
  return dest;
}
