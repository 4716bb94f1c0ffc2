// The files of a cloud-init drive, read the same way whether they lie in a directory (a mounted or
// extracted drive, a seed directory, a test fixture) or inside an ISO image read without mounting.
import { stat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { type TextFile, decodeText } from './documents.js';
import type { IsoImage } from './iso9660.js';
import { errnoCode, problem } from './problems.js';

/**
 * Largest file accepted. Proxmox reads each cicustom snippet with a 1 MiB cap
 * (read_cloudinit_snippets_file in PVE/QemuServer/Cloudinit.pm), so nothing larger is legitimate.
 */
export const MAX_FILE_BYTES = 1024 * 1024;

export interface FileTree {
  /** The directory, image or device, for messages. */
  readonly location: string;
  /** How a file of this tree is named in messages. */
  describe(rel: string): string;
  /** The file's bytes, or undefined when it does not exist. Refuses directories and oversized files. */
  read(rel: string): Promise<Buffer | undefined>;
}

/** A file of the tree as UTF-8 text, or undefined when it does not exist. */
export async function readText(tree: FileTree, rel: string): Promise<TextFile | undefined> {
  const bytes = await tree.read(rel);
  const file = tree.describe(rel);
  return bytes === undefined ? undefined : { file, text: decodeText(bytes, file) };
}

export function directoryTree(dir: string): FileTree {
  const describe = (rel: string) => path.join(dir, rel);
  return {
    location: dir,
    describe,
    async read(rel) {
      const file = describe(checkedRelative(rel, dir));
      let st;
      try {
        st = await stat(file);
      } catch (e) {
        if (errnoCode(e) === 'ENOENT' || errnoCode(e) === 'ENOTDIR') return undefined;
        throw problem(file, `cannot read: ${(e as Error).message}`);
      }
      if (!st.isFile()) throw problem(file, 'is not a regular file');
      checkSize(file, st.size);
      return readFile(file);
    },
  };
}

export function isoTree(iso: IsoImage, location: string): FileTree {
  const describe = (rel: string) => `${location}:/${rel}`;
  return {
    location,
    describe,
    async read(rel) {
      const entry = await iso.find(checkedRelative(rel, location));
      if (!entry) return undefined;
      if (entry.isDir) throw problem(describe(rel), 'is a directory, not a file');
      checkSize(describe(rel), entry.size);
      return iso.readEntry(entry);
    },
  };
}

function checkSize(file: string, size: number): void {
  if (size > MAX_FILE_BYTES) {
    throw problem(
      file,
      `is ${size} bytes, over the ${MAX_FILE_BYTES}-byte limit for cloud-init files`,
      'Proxmox itself refuses snippets over 1 MiB; keep vendor/user data small',
    );
  }
}

/** Paths come from our own constants or from a drive's meta_data.json: never let them climb out. */
function checkedRelative(rel: string, location: string): string {
  const parts = rel.split('/').filter(Boolean);
  if (parts.length === 0 || parts.some((p) => p === '..' || p === '.')) {
    throw problem(location, `refusing to read path "${rel}": it must stay inside the drive`);
  }
  return parts.join('/');
}
