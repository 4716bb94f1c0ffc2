// Pinned source archives (image definition `haproxy.sources`): where each one is fetched from, and
// the fetch itself. An archive is known by its sha256: the cache holds it under that checksum, a
// local directory (`--sources DIR`, an offline mirror) is tried before the network, and a file
// whose checksum differs from the pin stops the build with both checksums named.
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { ImageDefinition, SourceArchive } from './definition.js';
import { hashFile } from './tree.js';

export interface ResolvedSource {
  /** The key in `haproxy.sources` (haproxy, awslc). */
  name: string;
  version: string;
  sha256: string;
  file: string;
  url: string;
  /** Path of the same file inside a Debian mirror (pool/main/h/haproxy/...), when it is one. */
  poolPath?: string;
  tree: string;
}

/** Where fetched archives are kept and where an offline mirror is (when given). */
export interface SourceStore {
  /** <cache-dir>/sources: one file per checksum, `<sha256>/<file>`. */
  cacheDir: string;
  /** `--sources DIR`: files by name, or laid out like a Debian mirror (pool/main/...). Never the network then. */
  offlineDir?: string;
}

/** Debian's pool directory of a source package: `lib*` packages use four letters, others one. */
export function debianPoolPath(pkg: string, file: string): string {
  const prefix = pkg.startsWith('lib') ? pkg.slice(0, 4) : pkg.slice(0, 1);
  return `pool/main/${prefix}/${pkg}/${file}`;
}

/** The base URL of the definition's first mirror (`deb URL SUITE ...`). */
function mirrorBase(def: ImageDefinition): string | undefined {
  if (def.distribution.family !== 'debian') return undefined;
  const url = def.distribution.mirrors[0]?.split(' ')[1];
  return url?.replace(/\/$/, '');
}

export function resolveSources(def: ImageDefinition): ResolvedSource[] {
  const sources = def.haproxy.sources;
  if (!sources) return [];
  return (Object.entries(sources) as [string, SourceArchive][]).map(([name, s]) => {
    if (s.debian) {
      const base = mirrorBase(def);
      const poolPath = debianPoolPath(s.debian.package, s.debian.file);
      return { name, version: s.version, sha256: s.sha256, file: s.debian.file, url: `${base}/${poolPath}`, poolPath, tree: s.tree };
    }
    const url = s.url!;
    const file = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '') || `${name}.tar`;
    return { name, version: s.version, sha256: s.sha256, file, url, tree: s.tree };
  });
}

export interface FetchLog {
  info(msg: string, note?: { transient?: boolean }): void;
}

/**
 * The archive as a local file whose sha256 is the pinned one: from the cache, else the offline
 * directory, else the network (undici, progress on `log`). Returns the cached path.
 */
export async function fetchSource(src: ResolvedSource, store: SourceStore, log: FetchLog): Promise<string> {
  const cached = path.join(store.cacheDir, src.sha256, src.file);
  if ((await isFile(cached)) && (await hashFile(cached)) === src.sha256) {
    log.info(`${src.file}: cached (sha256 ${src.sha256.slice(0, 12)}…)`);
    return cached;
  }
  await mkdir(path.dirname(cached), { recursive: true });
  const tmp = `${cached}.tmp-${process.pid}`;
  let origin: string;
  try {
    if (store.offlineDir) {
      const candidates = [path.join(store.offlineDir, src.file), ...(src.poolPath ? [path.join(store.offlineDir, src.poolPath)] : [])];
      const found = await firstFile(candidates);
      if (!found) {
        throw new ConfigError(`--sources ${store.offlineDir}`, [
          { path: `haproxy.sources.${src.name}`, message: `${src.file} is not in the offline sources directory (looked for ${candidates.join(', ')})`, hint: `copy it there (it is ${src.url}), or build without --sources to download it` },
        ]);
      }
      origin = found;
      await copyFile(found, tmp);
    } else {
      origin = src.url;
      await download(src.url, tmp, src.file, log);
    }
    const actual = await hashFile(tmp);
    if (actual !== src.sha256) {
      throw new ConfigError('image definition', [
        {
          path: `haproxy.sources.${src.name}.sha256`,
          message: `${origin} has sha256 ${actual}, but the definition pins ${src.sha256}`,
          hint: 'if the new archive is the one you mean to build, put its checksum into the definition; otherwise the source or the mirror changed the file: find out why before building',
        },
      ]);
    }
    await rename(tmp, cached);
  } finally {
    await rm(tmp, { force: true });
  }
  log.info(`${src.file}: sha256 ${src.sha256.slice(0, 12)}… verified (from ${origin})`);
  return cached;
}

const PROGRESS_EVERY_MS = 1000;

// Mirrors may redirect (deb.debian.org to a CDN node): follow a few.
let agent: Dispatcher | undefined;
const dispatcher = (): Dispatcher => (agent ??= new Agent({ headersTimeout: 30_000, bodyTimeout: 60_000 }).compose(interceptors.redirect({ maxRedirections: 5 })));

async function download(url: string, to: string, label: string, log: FetchLog): Promise<void> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, { dispatcher: dispatcher() });
  } catch (e) {
    const err = e as Error & { code?: string };
    throw new ConfigError('image definition', [{ path: `haproxy.sources`, message: `cannot download ${url}: ${err.code ?? err.message}`, hint: 'build on a machine that reaches the mirror, or pass --sources DIR with the archives' }]);
  }
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new ConfigError('image definition', [{ path: `haproxy.sources`, message: `cannot download ${url}: HTTP ${res.statusCode}`, hint: 'check the file name and version against the mirror, or pass --sources DIR with the archives' }]);
  }
  const total = Number(res.headers['content-length'] ?? 0);
  let done = 0;
  let last = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const now = Date.now();
      if (now - last >= PROGRESS_EVERY_MS) {
        last = now;
        log.info(`${label}: ${(done / 1e6).toFixed(1)}${total ? ` of ${(total / 1e6).toFixed(1)}` : ''} MB`, { transient: true });
      }
      cb(null, chunk);
    },
  });
  await pipeline(res.body, meter, createWriteStream(to));
  log.info(`${label}: downloaded ${(done / 1e6).toFixed(1)} MB from ${url}`);
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

async function firstFile(paths: readonly string[]): Promise<string | undefined> {
  for (const p of paths) if (await isFile(p)) return p;
  return undefined;
}
