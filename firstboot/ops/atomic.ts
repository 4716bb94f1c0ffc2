// Write a file so that readers see either the old or the new content, never half of it: a
// temporary file beside it, fsync, rename (rename(2) is atomic within one file system). The one
// way every program here replaces a file (node state, ACLs, records, the rollout state, the
// health feed's track file).
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  /** File mode (default 0644). */
  mode?: number;
  /** Mode of directories created on the way (default 0755). */
  dirMode?: number;
  /** Owner to give the file before it appears (e.g. root for secrets; needs root). */
  owner?: { uid: number; gid: number };
}

let counter = 0;
/** A temporary name unique per process and write: two writes in flight never share one. */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++counter}.tmp`);
}

const optionsOf = (o: number | AtomicWriteOptions | undefined): AtomicWriteOptions => (typeof o === 'number' ? { mode: o } : (o ?? {}));

export async function writeFileAtomic(file: string, content: string | Uint8Array, options?: number | AtomicWriteOptions): Promise<void> {
  const { mode = 0o644, dirMode = 0o755, owner } = optionsOf(options);
  await mkdir(path.dirname(file), { recursive: true, mode: dirMode });
  const tmp = tempName(file);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(content);
      await fh.chmod(mode);
      if (owner) await fh.chown(owner.uid, owner.gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The same, synchronously: for writers that must not interleave (the health feed's track file). */
export function writeFileAtomicSync(file: string, content: string | Uint8Array, options?: number | AtomicWriteOptions): void {
  const { mode = 0o644, dirMode = 0o755 } = optionsOf(options);
  mkdirSync(path.dirname(file), { recursive: true, mode: dirMode });
  const tmp = tempName(file);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
      fchmodSync(fd, mode);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
