// `ober deploy`, the pure half: from the validated cluster, the chosen template and the VMs that
// exist, decide per node what happens (create / unchanged / conflict), and describe it as the API
// calls it takes — the dry run prints exactly this, the apply half executes the same decisions.
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { requests, type ApiRequest, type ClusterVm } from '../proxmox/api.js';
import { dataTag, nodeTag, RETIRED_TAG, tagsOf } from './identity.js';
import { nodeVm, proxmoxOf, type NodeVm, type SnippetMode } from './node-vm.js';
import type { TemplateInfo } from './templates.js';
import type { CloneChoice } from './vm-ops.js';

export type NodeAction =
  | { kind: 'create'; vm: NodeVm }
  | { kind: 'unchanged'; vm: NodeVm; vmid: number; pveNode: string; running: boolean };

export interface DeployPlan {
  cluster: string;
  mode: SnippetMode;
  template: TemplateInfo;
  clone: CloneChoice;
  actions: NodeAction[];
}

/** The VMs of one node (by its node tag), templates and retired VMs (kept by a rollout) excluded. */
export function nodeVms(existing: readonly ClusterVm[], cluster: string, node: string, opts: { retired?: boolean } = {}): ClusterVm[] {
  const tag = nodeTag(cluster, node);
  return existing.filter((vm) => vm.type === 'qemu' && !vm.template && tagsOf(vm).includes(tag) && (opts.retired || !tagsOf(vm).includes(RETIRED_TAG)));
}

export function cloneChoice(resolved: Cluster): CloneChoice {
  const px = proxmoxOf(resolved);
  return { full: px.clone === 'full', ...(px.storage ? { storage: px.storage } : {}), ...(px.diskGB ? { diskGB: px.diskGB } : {}) };
}

export function planDeploy(p: { resolved: Cluster; mode: SnippetMode; template: TemplateInfo; existing: readonly ClusterVm[] }): DeployPlan {
  const { resolved, template } = p;
  const conflicts: ConfigIssue[] = [];
  const actions: NodeAction[] = [];
  for (const node of resolved.nodes) {
    const vm = nodeVm(resolved, node, p.mode);
    const have = nodeVms(p.existing, resolved.name, node.name);
    const [only] = have;
    if (!only) {
      actions.push({ kind: 'create', vm });
      continue;
    }
    const tags = tagsOf(only);
    if (have.length === 1 && tags.includes(template.tag) && tags.includes(dataTag(vm.digest))) {
      actions.push({ kind: 'unchanged', vm, vmid: only.vmid, pveNode: only.node, running: only.status === 'running' });
      continue;
    }
    const list = have.map((v) => `VM ${v.vmid} on ${v.node} (${v.status})`).join(', ');
    conflicts.push(
      have.length > 1
        ? { path: node.name, message: `has ${have.length} VMs: ${list}`, hint: 'a rollout is under way or was interrupted: ober rollout --resume or --revert' }
        : {
            path: node.name,
            message: `${list} runs ${tags.includes(template.tag) ? 'other data' : 'another template'} than this deploy would give it`,
            hint: `nodes are replaced, never changed in place: ober rollout --cluster <file> --to ${template.id}_${template.version}`,
          },
    );
  }
  if (conflicts.length) throw new ConfigError('ober deploy', conflicts);
  return { cluster: resolved.name, mode: p.mode, template, clone: cloneChoice(resolved), actions };
}

// --- description (dry run, --json) -----------------------------------------------------------

export interface PlannedCall {
  method: string;
  path: string;
  params: Record<string, string | number | boolean | undefined>;
  note?: string;
}

export interface NodeDescription {
  node: string;
  action: NodeAction['kind'];
  vmid?: number | string;
  calls: PlannedCall[];
  /** The vendor data with secrets and private keys replaced. */
  vendorData: string;
}

const REDACTED = '<redacted>';

/** The cluster as a node receives it, with every secret value and PEM replaced (for printing). */
export function redactCluster(resolved: Cluster): Cluster {
  return {
    ...resolved,
    secrets: Object.fromEntries(Object.entries(resolved.secrets).map(([k, s]) => [k, s.value !== undefined ? { value: REDACTED } : s])),
    certificates: resolved.certificates.map((c) => (c.pem !== undefined ? { ...c, pem: `${REDACTED} (${c.pem.length} bytes of PEM)` } : c)),
  };
}

export function redactedVendorData(resolved: Cluster, node: string): string {
  return vendorDataSnippet(nodeData(redactCluster(resolved), node), 'nocloud');
}

const call = (r: ApiRequest, note?: string): PlannedCall => ({ method: r.method, path: r.path, params: r.params, ...(note ? { note } : {}) });

/**
 * What creating one node's VM does, in order. `vmid` is a placeholder until the clone decides it.
 * Reads that only serve the bookkeeping of the real run (task status polls) are summarized in notes.
 */
/** A template as a dry run knows it: maybe only placeholders. */
export interface TemplateRef {
  vmid: number | string;
  node: string;
  tag?: string;
}

export function describeCreate(plan: Pick<DeployPlan, 'cluster' | 'clone'> & { template: TemplateRef }, vm: NodeVm, snippetPath: (file: string) => string, mac?: string): PlannedCall[] {
  const t = plan.template;
  const pveNode = vm.pveNode ?? t.node;
  const vmid = vm.vmid ?? `<vmid of ${vm.node}>`;
  const wait = 'then poll the task until it stops';
  const calls: PlannedCall[] = [];
  if (vm.vmid === undefined) calls.push(call(requests.nextId(), 'a free VMID (not reserved: on "already exists" the next one is tried)'));
  calls.push(
    call(
      requests.cloneVm(t.node, t.vmid as number, {
        newid: vmid as number,
        name: vm.settings.name,
        full: plan.clone.full,
        ...(plan.clone.full && plan.clone.storage ? { storage: plan.clone.storage } : {}),
        ...(pveNode !== t.node ? { target: pveNode } : {}),
      }),
      wait,
    ),
  );
  calls.push(call(requests.vmConfig(pveNode, vmid), mac ? undefined : "read the clone's MAC (kept in net0)"));
  const settings = { ...vm.settings, tags: `${vm.settings.tags};${t.tag ?? '<template tag>'}`, net0: vm.settings.net0?.replace(/^virtio(?:=[^,]*)?/, `virtio=${mac ?? '<MAC of the clone>'}`) };
  // Carriers are named per VM and content (carrierFile), on the storage of the VM's own node.
  const carrier = (ext: string) => `${plan.cluster}-${vm.node}-${vmid}-<sha256 of its content>.${ext}`;
  if (vm.snippet) {
    const name = carrier('yaml');
    calls.push({ method: 'SFTP', path: `${pveNode}:${snippetPath(name)}`, params: { mode: '0600', bytes: Buffer.byteLength(vm.vendorData) }, note: `vendor data for ${vm.node} (shown below), on the host of ${pveNode}` });
    Object.assign(settings, { cicustom: `vendor=${vm.snippet.storage}:snippets/${name}` });
  }
  if (vm.seed) {
    const name = carrier('iso');
    calls.push({ method: 'LOCAL', path: `genisoimage -volid cidata ${name}`, params: { files: 'user-data meta-data network-config vendor-data' } });
    calls.push(call({ ...requests.upload(pveNode, vm.seed.storage, 'iso'), params: { content: 'iso', filename: name } }, wait));
    Object.assign(settings, { scsi1: `${vm.seed.storage}:iso/${name},media=cdrom` });
  }
  calls.push(call(requests.updateVmConfig(pveNode, vmid, settings), wait));
  if (plan.clone.diskGB) calls.push(call(requests.resizeDisk(pveNode, vmid, 'scsi0', `${plan.clone.diskGB}G`), wait));
  calls.push(call(requests.startVm(pveNode, vmid), wait));
  calls.push(call(requests.agentNetworkInterfaces(pveNode, vmid), `until it reports ${vm.address}`));
  return calls;
}

/** Gate probes as pseudo-calls, so the dry run shows the whole path to "healthy". */
export function describeGates(resolved: Cluster, vm: NodeVm): PlannedCall[] {
  const out: PlannedCall[] = [{ method: 'PROBE', path: `http://${vm.address}:8404/health`, params: {}, note: 'until HTTP 200' }];
  if (resolved.mode === 'bgp') {
    for (const v of resolved.vips) out.push({ method: 'PROBE', path: `http://${vm.address}:8404/health/${v.name}`, params: {}, note: `until HTTP 200 (${v.address} announced)` });
  }
  return out;
}
