// Writing an exported build project (mkosi, Packer) into a directory: all files are finished in a
// staging directory beside it and moved into place at once, so a failed export leaves nothing half
// written. A directory is only ever replaced when an earlier export made it (it holds the marker).
import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../firstboot/lib/errors.js';

export interface ProjectFile {
  /** Relative to the project directory. */
  path: string;
  mode: number;
  content: string | Buffer;
}

/** Marks a directory as written by `ober image export`, so a later export may replace it. */
export const EXPORT_MARKER = '.ober-export';

export async function writeProject(dir: string, files: readonly ProjectFile[], builder: string): Promise<void> {
  const target = path.resolve(dir);
  const existing = await readdir(target).catch(() => undefined);
  if (existing && existing.length && !existing.includes(EXPORT_MARKER)) {
    throw new ConfigError('ober image export', [
      { path: 'DIR', message: `${dir} exists and was not written by ober image export`, hint: 'give a new or empty directory; an earlier export is replaced' },
    ]);
  }
  const staging = `${target}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  try {
    for (const f of [...files, { path: EXPORT_MARKER, mode: 0o644, content: `${builder}\n` }]) {
      if (path.isAbsolute(f.path) || f.path.split('/').includes('..')) throw new Error(`export: bad project path ${f.path}`);
      const to = path.join(staging, f.path);
      await mkdir(path.dirname(to), { recursive: true });
      await writeFile(to, f.content);
      await chmod(to, f.mode);
    }
    await mkdir(path.dirname(target), { recursive: true });
    if (existing) await rm(target, { recursive: true, force: true });
    await rename(staging, target);
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}
