// `ober destroy`: remove a cluster's VMs (retired ones included) and every data carrier the tool
// made for it — snippets and seed ISOs named <cluster>-<node>-<vmid>-<hash> — also those no VM
// names any more (left by an interrupted run). Plan first (reads only: what --dry-run prints),
// then apply the plan.
import type { Cluster } from '../../firstboot/model/schema.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { nodeVms } from './plan.js';
import { proxmoxOf } from './node-vm.js';
import { carrierVolid, carriersOf, destroyNodeVm, removeCarriers, type Carrier, type VmContext } from './vm-ops.js';
import type { SnippetWriter } from './carriers.js';

export interface DestroyPlan {
  cluster: string;
  vms: { node: string; vmid: number; pveNode: string; status: string; carriers: Carrier[] }[];
  /** Carriers of the cluster no VM names. */
  orphans: Carrier[];
}

export async function planDestroy(client: ProxmoxClient, resolved: Cluster): Promise<DestroyPlan> {
  const { api } = client;
  const existing = await api.clusterVms();
  const vms: DestroyPlan['vms'] = [];
  for (const n of resolved.nodes) {
    for (const vm of nodeVms(existing, resolved.name, n.name, { retired: true })) {
      const carriers = carriersOf(await api.vmConfig(vm.node, vm.vmid), vm.node, resolved.name);
      vms.push({ node: n.name, vmid: vm.vmid, pveNode: vm.node, status: vm.status, carriers });
    }
  }
  const named = new Set(vms.flatMap((v) => v.carriers.map((c) => `${c.pveNode} ${carrierVolid(c)}`)));
  const storage = proxmoxOf(resolved).snippetStorage;
  const ours = new RegExp(`^${resolved.name}-(?:${resolved.nodes.map((n) => n.name).join('|')})-\\d+-[0-9a-f]{12}\\.(yaml|iso)$`);
  const orphans: Carrier[] = [];
  const seenShared = new Set<string>();
  for (const { node: pveNode, status } of await api.nodes()) {
    if (status !== 'online') continue;
    const info = (await api.storages(pveNode)).find((s) => s.storage === storage);
    if (!info) continue;
    for (const v of await api.storageContent(pveNode, storage)) {
      const file = v.volid.slice(v.volid.indexOf('/') + 1);
      const m = ours.exec(file);
      if (!m || named.has(`${pveNode} ${v.volid}`)) continue;
      // A shared storage lists the same file on every node: remove it once.
      if (info.shared) {
        if (seenShared.has(v.volid) || vms.some((x) => x.carriers.some((c) => carrierVolid(c) === v.volid))) continue;
        seenShared.add(v.volid);
      }
      orphans.push({ kind: m[1] === 'iso' ? 'seed' : 'snippet', pveNode, storage, file });
    }
  }
  return { cluster: resolved.name, vms, orphans };
}

export async function applyDestroy(client: ProxmoxClient, plan: DestroyPlan, snippets: SnippetWriter | undefined, log: (node: string, m: string) => void): Promise<void> {
  const ctx: VmContext = { client, cluster: plan.cluster, snippets, log };
  for (const vm of plan.vms) {
    log(vm.node, `destroying VM ${vm.vmid} on ${vm.pveNode}`);
    await destroyNodeVm(ctx, vm.pveNode, vm.vmid, vm.node);
  }
  for (const o of plan.orphans) await removeCarriers(ctx, [o], '(left over)');
}
