// What the appliance adds to a distribution root, as one list of files with their modes: the
// overlays, the image-wide rendered files, the node program and its wrapper. The native customize
// stage writes these into its tree; the mkosi and Packer exporters ship the same list.
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RenderedFile } from '../../firstboot/render/files.js';
import type { ImageDefinition } from './definition.js';
import { walk } from './tree.js';

export interface ApplianceFile {
  /** Absolute path inside the image. */
  path: string;
  mode: number;
  content: Buffer;
}

/** Where the node program lies in the image, and the command that runs it. */
export const NODE_PROGRAM_PATH = '/usr/lib/ober/ober-node.mjs';
export const NODE_WRAPPER: RenderedFile = {
  path: '/usr/bin/ober',
  mode: 0o755,
  content: `#!/bin/sh\nexec /usr/bin/node ${NODE_PROGRAM_PATH} "$@"\n`,
};

/** Overlays (mode from the executable bit: git keeps only that), rendered files, node program, in that order. */
export async function applianceFiles(inputs: { overlaysDir: string; imageFiles: readonly RenderedFile[]; nodeProgram: { path: string } }): Promise<ApplianceFile[]> {
  const files: ApplianceFile[] = [];
  for await (const rel of walk(inputs.overlaysDir)) {
    const st = await lstat(path.join(inputs.overlaysDir, rel));
    if (!st.isFile()) continue;
    files.push({ path: `/${rel}`, mode: st.mode & 0o111 ? 0o755 : 0o644, content: await readFile(path.join(inputs.overlaysDir, rel)) });
  }
  for (const f of inputs.imageFiles) files.push({ path: f.path, mode: f.mode, content: Buffer.from(f.content) });
  files.push({ path: NODE_PROGRAM_PATH, mode: 0o644, content: await readFile(inputs.nodeProgram.path) });
  files.push({ path: NODE_WRAPPER.path, mode: NODE_WRAPPER.mode, content: Buffer.from(NODE_WRAPPER.content) });
  return files;
}

/** Units to enable: the definition's, and every rendered unit that has an [Install] section. */
export function unitsToEnable(def: ImageDefinition, files: readonly RenderedFile[]): string[] {
  const rendered = files
    .filter((f) => /^\/(etc|usr\/lib|lib)\/systemd\/system\/[^/]+\.(service|timer|socket|path)$/.test(f.path) && /^\[Install\]/m.test(f.content))
    .map((f) => path.basename(f.path));
  return [...def.services.enable, ...rendered];
}

/**
 * What only the native disk layout uses: the initramfs-tools script that mounts /var and the /etc
 * overlay (mkosi boots its own systemd initrd; a cloud image has no /var partition and the script
 * would stop its boot), and the unit that grows the /var partition (a cloud image grows its root).
 */
export const NATIVE_LAYOUT_ONLY = {
  files: ['/etc/initramfs-tools/scripts/local-bottom/ober-var-etc'],
  units: ['ober-grow-var.service'],
} as const;
