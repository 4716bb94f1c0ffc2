// Installing a node's rendered files atomically. Files under the `current` tree go into a new
// release directory named by the hash of their content; `current` is then switched to it with one
// rename of a symlink, so HAProxy & co. never see a half-written configuration. Files outside it
// (/run drop-ins) are each written to a temporary name and renamed.
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readFile, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from '../model/layout.js';
import type { RenderedFile } from '../render/files.js';
import { writeFileAtomic } from '../ops/atomic.js';

/** Releases kept besides the current one (the previous one, for a quick look or rollback). */
const KEEP_RELEASES = 2;

export function releaseId(files: readonly RenderedFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : 1))) h.update(`${f.path}\0${f.mode}\0${f.content}\0`);
  return h.digest('hex').slice(0, 16);
}

export interface InstallResult {
  release: string;
  /** false: the same release was already current and every file matched. */
  changed: boolean;
  /** Files that differed from the current release when it was verified (a tampered or damaged tree). */
  repaired: string[];
}

export async function installRelease(layout: Layout, files: readonly RenderedFile[]): Promise<InstallResult> {
  const id = releaseId(files);
  const releasesDir = path.join(layout.stateDir, 'releases');
  const inTree = (f: RenderedFile) => f.path.startsWith(`${layout.current}/`);
  const treeFiles = files.filter(inTree);
  const otherFiles = files.filter((f) => !inTree(f));

  const currentTarget = await readlink(layout.current).catch(() => undefined);
  const sameRelease = currentTarget !== undefined && path.basename(currentTarget) === id;
  const repaired = sameRelease ? await differing(treeFiles) : [];

  if (!sameRelease || repaired.length) {
    const dir = path.join(releasesDir, id);
    const staging = `${dir}.staging-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    for (const f of treeFiles) await writeSecure(path.join(staging, path.relative(layout.current, f.path)), f);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    // Switch: a new symlink under a temporary name, renamed over `current` (atomic on one fs).
    const tmpLink = `${layout.current}.new-${process.pid}`;
    await rm(tmpLink, { force: true });
    await symlink(path.join('releases', id), tmpLink);
    await rename(tmpLink, layout.current);
    await pruneReleases(releasesDir, id);
  }
  for (const f of otherFiles) await writeFileAtomic(f.path, f.content, { mode: f.mode, ...rootOwned() });
  return { release: id, changed: !sameRelease, repaired };
}

/** Files of the current release whose content differs from what is rendered (or that are missing). */
async function differing(files: readonly RenderedFile[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    const content = await readFile(f.path, 'utf8').catch(() => undefined);
    if (content !== f.content) out.push(f.path);
  }
  return out;
}

// Secrets land root-owned (the node program runs as root; in tests as whoever runs them).
const rootOwned = () => (process.getuid?.() === 0 ? { owner: { uid: 0, gid: 0 } } : {});

/** A file of the staging tree: not atomic by itself, the whole tree appears by one rename. */
async function writeSecure(p: string, f: RenderedFile): Promise<void> {
  await mkdir(path.dirname(p), { recursive: true, mode: 0o755 });
  await writeFile(p, f.content, { mode: f.mode });
  await chmod(p, f.mode);
  if (process.getuid?.() === 0) await chown(p, 0, 0);
}

async function pruneReleases(dir: string, keep: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const others = entries.filter((e) => e.isDirectory() && e.name !== keep && !e.name.includes('.staging-'));
  // Oldest first by name is meaningless for hashes: order by mtime.
  const withTimes = await Promise.all(others.map(async (e) => ({ name: e.name, t: (await stat(path.join(dir, e.name))).mtimeMs })));
  withTimes.sort((a, b) => b.t - a.t);
  for (const e of withTimes.slice(KEEP_RELEASES - 1)) await rm(path.join(dir, e.name), { recursive: true, force: true });
}
