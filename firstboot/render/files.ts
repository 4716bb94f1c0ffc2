import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** A file the renderer produces, as it will lie on the node (absolute path inside the node's root). */
export interface RenderedFile {
  path: string;
  /** Unix permission bits, e.g. 0o644; secrets are 0o600. */
  mode: number;
  content: string;
}

/**
 * Write rendered files under `root` ('/' on a node or in the lab's per-node tree, a directory for
 * `ober render --out`, the image's root file system at build time). Whatever lies at a path is
 * replaced, never written through: a symlink the package manager left there must not redirect
 * the write, and an existing file's mode must not survive.
 */
export async function writeRenderedFiles(root: string, files: readonly RenderedFile[]): Promise<void> {
  for (const f of files) {
    const dest = path.join(root, f.path);
    await mkdir(path.dirname(dest), { recursive: true });
    await rm(dest, { force: true });
    await writeFile(dest, f.content, { mode: f.mode });
    await chmod(dest, f.mode); // the umask narrowed writeFile's mode
  }
}
