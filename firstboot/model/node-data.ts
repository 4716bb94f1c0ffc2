// The document a node receives, and its wire format: a #cloud-config vendor-data snippet with one
// top-level `ober:` key (cicustom vendor=...). For ConfigDrive2, Proxmox copies the snippet into
// vendor_data.json verbatim, so it must then be JSON: {"cloud-init": "<the #cloud-config text>"}.
import { stringify } from 'yaml';
import type { Cluster, NodeData } from './schema.js';

/** The node data for one node of a resolved cluster (secrets and certificates read). */
export function nodeData(resolved: Cluster, node: string): NodeData {
  return { version: 1, node, cluster: resolved };
}

export function vendorDataSnippet(data: NodeData, format: 'nocloud' | 'configdrive2' = 'nocloud'): string {
  const cloudConfig = `#cloud-config\n# Herr Ober node data for ${data.node} of ${data.cluster.name}. Contains secrets: keep it root-only.\n${stringify({ ober: data }, { lineWidth: 0 })}`;
  return format === 'configdrive2' ? `${JSON.stringify({ 'cloud-init': cloudConfig })}\n` : cloudConfig;
}
