// Shared test fixtures: the example clusters, loaded and resolved the way `ober render` does.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadClusterFile } from '../../firstboot/model/cluster-file.js';
import type { Cluster } from '../../firstboot/model/schema.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const EXAMPLES = ['bgp-3node.yaml', 'keepalived-3node.yaml'].map((f) => path.join(REPO, 'examples', f));
/** Clusters the renderers must also handle that the examples do not show (e.g. a node without peers). */
export const EXTRA_CLUSTERS = ['keepalived-1node.yaml'].map((f) => path.join(REPO, 'test', 'fixtures', f));

export async function loadExample(file: string): Promise<Cluster> {
  return (await loadClusterFile(file, {})).resolved;
}

/**
 * A scratch directory under the repo's .cache (not /tmp: keepalived's script security refuses
 * scripts below world-writable directories).
 */
export async function scratchDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const base = path.join(REPO, '.cache', 'test');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(base, { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(path.join(base, `${prefix}-`));
  // Traversable like a node's root: HAProxy's workers (user haproxy) read the status files in it.
  await chmod(dir, 0o755);
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
