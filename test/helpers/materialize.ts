// Write a node's rendered files, plus the image's static files, into a scratch root so the real
// daemons can check them with every referenced path present.
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeRenderedFiles } from '../../firstboot/render/files.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { renderImageFiles, renderNode, type RenderedFile } from '../../firstboot/render/index.js';
import { REPO } from './fixtures.js';

export interface Materialized {
  layout: Layout;
  node: NodeConfig;
  nodeFiles: RenderedFile[];
  imageFiles: RenderedFile[];
}

export async function materialize(cluster: Cluster, nodeName: string, root: string): Promise<Materialized> {
  const layout = nodeLayout(root);
  const node = deriveNode(cluster, nodeName);
  const nodeFiles = renderNode(node, { layout });
  const imageFiles = renderImageFiles({ layout });
  // Paths already carry the root; write them as they are.
  await writeRenderedFiles('/', [...nodeFiles, ...imageFiles]);
  // The node program and its wrapper, as the image installs them.
  await mkdir(layout.programDir, { recursive: true });
  await copyFile(path.join(REPO, 'dist', 'ober-node.mjs'), path.join(layout.programDir, 'ober-node.mjs'));
  await mkdir(path.dirname(layout.oberBin), { recursive: true });
  await writeFile(layout.oberBin, `#!/bin/sh\nexec node ${layout.programDir}/ober-node.mjs "$@"\n`);
  await chmod(layout.oberBin, 0o755);
  await mkdir(layout.runDir, { recursive: true });
  return { layout, node, nodeFiles, imageFiles };
}
