// File-tree helpers shared by the stages: copy, clamp times, digest (the reproducibility evidence).
import { createReadStream } from 'node:fs';
import { lstat, lutimes, readdir, readlink } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';

/** Copy a tree preserving owners, modes, links and xattrs; shares blocks where the filesystem can. */
export async function copyTree(from: string, to: string): Promise<void> {
  await run(['cp', '-a', '--reflink=auto', from, to]);
}

/** Walk a tree depth-first in sorted order, yielding paths relative to the root ('' = the root). */
export async function* walk(root: string, rel = ''): AsyncGenerator<string> {
  yield rel;
  const st = await lstat(path.join(root, rel));
  if (!st.isDirectory()) return;
  for (const name of (await readdir(path.join(root, rel))).sort()) yield* walk(root, rel ? `${rel}/${name}` : name);
}

/** Set every mtime/atime newer than `epoch` to `epoch` (SOURCE_DATE_EPOCH), like mkosi and mmdebstrap. */
export async function clampMtimes(root: string, epoch: number): Promise<void> {
  for await (const rel of walk(root)) {
    const p = path.join(root, rel);
    const st = await lstat(p);
    if (st.mtimeMs / 1000 > epoch || st.atimeMs / 1000 > epoch) await lutimes(p, epoch, Math.min(epoch, st.mtimeMs / 1000));
  }
}

/**
 * One line per entry: type, mode, owner, size, content hash (or link target), path; sorted.
 * Two trees with the same digest file have the same file list and contents.
 */
export async function treeDigest(root: string): Promise<string> {
  const lines: string[] = [];
  for await (const rel of walk(root)) {
    const p = path.join(root, rel);
    const st = await lstat(p);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const who = `${st.uid}:${st.gid}`;
    let what: string;
    if (st.isSymbolicLink()) what = `l -> ${await readlink(p)}`;
    else if (st.isDirectory()) what = 'd';
    else if (st.isFile()) what = `f ${st.size} ${await hashFile(p)}`;
    else what = `s ${st.rdev}`;
    lines.push(`${mode} ${who} ${what} /${rel}`);
  }
  return lines.join('\n') + '\n';
}

export async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  return h.digest('hex');
}
