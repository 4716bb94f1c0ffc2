// Loading a cluster file: read (bounded), validate, resolve its secrets and certificates, and
// derive its nodes. The one way every admin command (ober validate, render, deploy, rollout,
// drill, fleet...) gets a cluster.
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { BoundedReadError, readBoundedText } from '../lib/read-bounded.js';
import { deriveNode, type NodeConfig } from './derive.js';
import { namesToResolve, resolveClusterInputs, resolveNames } from './inputs.js';
import { loadClusterText, MAX_DOCUMENT_BYTES, validateCluster } from './load.js';
import type { Cluster } from './schema.js';

export interface LoadedCluster {
  /** As written, validated. */
  cluster: Cluster;
  /** With secrets and certificates read: what nodes receive. */
  resolved: Cluster;
  warnings: ConfigIssue[];
}

/**
 * Read and validate a cluster file as written, without reading its secrets or certificates (for
 * commands that only look at a running cluster, such as `ober fleet status`).
 */
export async function readClusterFile(file: string): Promise<Pick<LoadedCluster, 'cluster' | 'warnings'>> {
  let text: string;
  try {
    text = await readBoundedText(file, { maxBytes: MAX_DOCUMENT_BYTES });
  } catch (e) {
    if (!(e instanceof BoundedReadError)) throw e;
    throw new ConfigError(file, [{ path: '', message: `the cluster file ${e.reason}`, ...(e.hint ? { hint: e.hint } : {}) }]);
  }
  const { value: cluster, warnings } = loadClusterText(text, file, { now: Date.now() });
  return { cluster, warnings };
}

/** Read, validate and resolve a cluster file (the one way every admin command loads one). */
export async function loadClusterFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedCluster> {
  const { cluster, warnings } = await readClusterFile(file);
  const resolved = await resolveClusterInputs(cluster, { baseDir: path.dirname(path.resolve(file)), env });
  // Certificates read from files get the same checks node data gets.
  validateCluster(resolved, `${file} (with files read)`, 'node-data', { now: Date.now() });
  return { cluster, resolved, warnings };
}

export async function deriveAll(resolved: Cluster, only?: string): Promise<NodeConfig[]> {
  const names = await resolveNames(namesToResolve(resolved));
  if (only && !resolved.nodes.some((n) => n.name === only)) {
    throw new ConfigError('cluster', [{ path: '--node', message: `no node named '${only}'`, hint: `known nodes: ${resolved.nodes.map((n) => n.name).join(', ')}` }]);
  }
  const nodes = only ? [only] : resolved.nodes.map((n) => n.name);
  return nodes.map((n) => deriveNode(resolved, n, { names }));
}
