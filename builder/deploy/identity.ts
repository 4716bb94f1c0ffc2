// Names the tool gives what it deploys, from one place: VM names, the tags that find a node's VM
// again, the snippet file, and the template version a tag carries. Proxmox tags are
// `[a-z0-9_][a-z0-9_+.-]*` (pve-tag); cluster and node names are `[a-z0-9-]`, so `_` separates safely.
import semver from 'semver';
import type { ClusterVm } from '../proxmox/api.js';
import { OBER_TAG } from '../proxmox/template.js';

/** VM name: a DNS name (format dns-name). */
export const vmName = (cluster: string, node: string): string => `${cluster}-${node}`;

/** Marks the VM of one node of one cluster (old and new VM carry it during a rollout). */
export const nodeTag = (cluster: string, node: string): string => `ober-node_${cluster}_${node}`;

/** Marks the data a VM was given (digest of its vendor data and cloud-init settings). */
export const dataTag = (digest: string): string => `ober-data_${digest.slice(0, 16)}`;

/** Marks an old VM kept stopped (onboot=0) beside its replacement until the rollout is done. */
export const RETIRED_TAG = 'ober-retired';

/**
 * File name of a VM's data carrier (vendor-data snippet or seed ISO): per VM and per content, so no
 * two VMs ever share one — a replacement that takes over a pinned VMID gets a new file, the old
 * VM's stays until that VM is gone for good, and removing a VM's carrier never touches another's.
 */
export const carrierFile = (cluster: string, node: string, vmid: number | string, contentHash: string, ext: 'yaml' | 'iso'): string =>
  `${cluster}-${node}-${vmid}-${contentHash.slice(0, 12)}.${ext}`;

export function tagsOf(vm: Pick<ClusterVm, 'tags'>): string[] {
  return (vm.tags ?? '').split(/[;,\s]+/).filter(Boolean).map((t) => t.toLowerCase());
}

export interface TemplateTag {
  tag: string;
  id: string;
  version: string;
}

/** `ober_<id>_<version>` (templateIdentity): the version has no `_`, so it follows the last one. */
export function parseTemplateTag(tag: string): TemplateTag | undefined {
  const m = /^ober_(.+)_([^_]+)$/.exec(tag);
  return m ? { tag, id: m[1] as string, version: m[2] as string } : undefined;
}

export function templateTagOf(vm: Pick<ClusterVm, 'tags'>): TemplateTag | undefined {
  for (const t of tagsOf(vm)) {
    const parsed = parseTemplateTag(t);
    if (parsed && t !== OBER_TAG) return parsed;
  }
  return undefined;
}

/**
 * Semantic version order (semver.org §11, by the `semver` package): a pre-release sorts before its
 * release, build metadata is ignored. Versions that are not semver sort by plain string
 * comparison, after.
 */
export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [semver.parse(a), semver.parse(b)];
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a.localeCompare(b);
  return semver.compare(pa, pb);
}
