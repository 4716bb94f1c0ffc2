// The build's inputs that live outside the definition (and need I/O to read): the clock, the
// overlays, the image-wide rendered files and the bundled node program. Read once, up front.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { RenderedFile } from '../../firstboot/render/files.js';
import { renderImageFiles } from '../../firstboot/render/image-files.js';
import { sha256 } from './canonical.js';
import { hashFile, walk } from './tree.js';

export interface BuildInputs {
  /** SOURCE_DATE_EPOCH: file times are clamped to it and it is passed to mmdebstrap and mkfs. */
  sourceDateEpoch: number;
  overlaysDir: string;
  overlaysDigest: string;
  imageFiles: RenderedFile[];
  nodeProgram: { path: string; sha256: string };
}

export async function readBuildInputs(repo: string, definitionFile: string): Promise<BuildInputs> {
  const overlaysDir = path.join(repo, 'overlays/base');
  const nodeProgram = path.join(repo, 'dist/ober-node.mjs');
  if (!(await stat(nodeProgram).catch(() => undefined))) {
    throw new ConfigError(nodeProgram, [{ path: '', message: 'the bundled node program is missing', hint: 'run `npm run build` first (npm run build-image does)' }]);
  }
  return {
    sourceDateEpoch: await sourceDateEpoch(definitionFile),
    overlaysDir,
    overlaysDigest: await overlayDigest(overlaysDir),
    imageFiles: renderImageFiles(),
    nodeProgram: { path: nodeProgram, sha256: await hashFile(nodeProgram) },
  };
}

/**
 * SOURCE_DATE_EPOCH from the environment (reproducible-builds.org); else the time of the last
 * commit that touched the definition, so the rootfs cache survives unrelated commits; else the
 * definition file's mtime.
 */
async function sourceDateEpoch(definitionFile: string): Promise<number> {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined) {
    if (!/^\d+$/.test(env)) throw new ConfigError('SOURCE_DATE_EPOCH', [{ path: '', message: `not a number of seconds: ${env}` }]);
    return Number(env);
  }
  const git = await run(['git', 'log', '-1', '--format=%ct', '--', path.basename(definitionFile)], {
    cwd: path.dirname(definitionFile),
    allowFailure: true,
  }).catch(() => undefined);
  const fromGit = git?.exitCode === 0 ? git.stdout.trim() : '';
  if (/^\d+$/.test(fromGit)) return Number(fromGit);
  return Math.floor((await stat(definitionFile)).mtimeMs / 1000);
}

/** Paths, executable bits and contents: exactly what copyOverlay() takes from the tree. */
async function overlayDigest(dir: string): Promise<string> {
  const lines: string[] = [];
  for await (const rel of walk(dir)) {
    const st = await stat(path.join(dir, rel));
    lines.push(st.isDirectory() ? `d ${rel}` : `f ${st.mode & 0o111 ? 'x' : '-'} ${await hashFile(path.join(dir, rel))} ${rel}`);
  }
  return sha256(lines.join('\n'));
}
