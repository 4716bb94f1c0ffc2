// Making, starting and removing one node's VM: the steps deploy and rollout share. Every call goes
// through ProxmoxApi (the request builders a dry run prints) and waits for its task.
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import type { QemuSettings } from '../proxmox/api.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { ProxmoxError } from '../proxmox/errors.js';
import { buildSeedIso, type SnippetWriter } from './carriers.js';
import { seedIsoFile } from './identity.js';
import { CLOUDINIT_SLOT, macOf, withMac, type NodeVm } from './node-vm.js';
import type { TemplateInfo } from './templates.js';

export interface VmContext {
  client: ProxmoxClient;
  cluster: string;
  /** SFTP mode; undefined in ISO mode. */
  snippets?: SnippetWriter;
  log(node: string, message: string): void;
}

export interface CloneChoice {
  full: boolean;
  /** Target storage of a full clone. */
  storage?: string;
  diskGB?: number;
}

/** How often a taken VMID is skipped before giving up (another tool allocating in a burst). */
const VMID_ATTEMPTS = 20;

const isTaken = (e: unknown): boolean => e instanceof ProxmoxError && e.kind === 'server' && /already exists/.test(e.message);

/**
 * Clone the template into a new VM for `vm`, give it its data, leave it stopped. Returns the VMID.
 * A VM made here that cannot be finished is destroyed again, so a re-run starts clean.
 */
export async function createNodeVm(ctx: VmContext, vm: NodeVm, template: TemplateInfo, clone: CloneChoice, opts: { mac?: string } = {}): Promise<number> {
  const { api, tasks } = ctx.client;
  const pveNode = vm.pveNode ?? template.node;
  if (vm.snippet && ctx.snippets) {
    // Before the clone: a host we cannot write to fails the node before anything exists.
    ctx.log(vm.node, `writing vendor data to ${ctx.snippets.pathOf(vm.snippet.file)} (SFTP, 0600)`);
    await ctx.snippets.write(vm.snippet.file, vm.vendorData);
  }
  const vmid = await cloneWithFreeId(ctx, vm, template, pveNode, clone);
  try {
    // The clone inherited the template's tags; setting tags replaces them, so name it again.
    const settings: QemuSettings = { ...vm.settings, tags: `${vm.settings.tags};${template.tag}` };
    // Setting net0 without a MAC would make the server generate yet another one: keep the
    // clone's (or the pinned / kept one), which the seed's network config must name too.
    const mac = opts.mac ?? macOf(settings.net0) ?? macOf((await api.vmConfig(pveNode, vmid)).net0);
    if (!mac) throw new ApiError(`VM ${vmid} has no MAC address on net0 after cloning template ${template.vmid}`);
    if (settings.net0) settings.net0 = withMac(settings.net0, mac);
    if (vm.seed) settings[CLOUDINIT_SLOT] = await uploadSeed(ctx, vm, pveNode, vmid, mac);
    ctx.log(vm.node, `configuring VM ${vmid} (cloud-init ${vm.seed ? 'seed ISO' : 'drive + vendor snippet'})`);
    await tasks.wait(await api.updateVmConfig(pveNode, vmid, settings));
    if (clone.diskGB) {
      ctx.log(vm.node, `growing scsi0 of VM ${vmid} to ${clone.diskGB} GiB`);
      await tasks.wait(await api.resizeDisk(pveNode, vmid, 'scsi0', `${clone.diskGB}G`));
    }
  } catch (e) {
    ctx.log(vm.node, `removing the unfinished VM ${vmid}`);
    await destroyVm(ctx, pveNode, vmid).catch((d: unknown) => ctx.log(vm.node, `could not remove VM ${vmid}: ${(d as Error).message}`));
    throw e;
  }
  return vmid;
}

async function cloneWithFreeId(ctx: VmContext, vm: NodeVm, template: TemplateInfo, pveNode: string, clone: CloneChoice): Promise<number> {
  const { api, tasks } = ctx.client;
  let candidate = vm.vmid;
  for (let attempt = 1; ; attempt++) {
    // /cluster/nextid does not reserve the id: the clone itself is the reservation, retried on a race.
    const vmid = candidate ?? (await api.nextId());
    ctx.log(vm.node, `cloning template ${template.vmid} (${template.tag}) to VM ${vmid} (${clone.full ? 'full' : 'linked'})`);
    let upid: string;
    try {
      upid = await api.cloneVm(template.node, template.vmid, {
        newid: vmid,
        name: vm.settings.name,
        full: clone.full,
        ...(clone.full && clone.storage ? { storage: clone.storage } : {}),
        ...(pveNode !== template.node ? { target: pveNode } : {}),
      });
    } catch (e) {
      if (!isTaken(e)) throw e;
      if (vm.vmidPinned) {
        throw new ConfigError('cluster', [{ path: `nodes[${vm.node}].proxmox.vmid`, message: `VMID ${vmid} is already used by another VM`, hint: 'pick a free id or remove the pin' }]);
      }
      if (attempt >= VMID_ATTEMPTS) throw new ApiError(`no free VMID found for ${vm.node} after ${VMID_ATTEMPTS} attempts (last: ${vmid})`);
      ctx.log(vm.node, `VMID ${vmid} was taken meanwhile; trying ${vmid + 1}`);
      candidate = vmid + 1;
      continue;
    }
    await tasks.wait(upid);
    return vmid;
  }
}

/** ISO mode: build the seed with the clone's MAC, upload it as `iso` content; returns the drive value. */
async function uploadSeed(ctx: VmContext, vm: NodeVm, pveNode: string, vmid: number, nicMac: string): Promise<string> {
  const { api, tasks } = ctx.client;
  const seed = vm.seed as NonNullable<NodeVm['seed']>;
  const name = seedIsoFile(ctx.cluster, vm.node, vmid);
  const volid = `${seed.storage}:iso/${name}`;
  const present = (await api.storageContent(pveNode, seed.storage, 'iso')).some((v) => v.volid === volid);
  if (!present) {
    const iso = await buildSeedIso({ userData: seed.userData, metaData: seed.metaData(vmid), networkConfig: seed.networkConfig(nicMac), vendorData: vm.vendorData }, name);
    try {
      ctx.log(vm.node, `uploading seed ${volid}`);
      await tasks.wait(await api.upload(pveNode, seed.storage, { content: 'iso', file: { path: iso.path, name, size: iso.size } }));
    } finally {
      await iso.cleanup();
    }
  }
  // Replaces Proxmox's cloud-init drive: two `cidata` volumes would leave cloud-init guessing.
  return `${volid},media=cdrom`;
}

export async function startVm(ctx: VmContext, pveNode: string, vmid: number, node: string): Promise<void> {
  ctx.log(node, `starting VM ${vmid}`);
  await ctx.client.tasks.wait(await ctx.client.api.startVm(pveNode, vmid));
}

/** Stop hard: the node was taken out of service before (ober stop), or it failed its gate. */
export async function stopVm(ctx: VmContext, pveNode: string, vmid: number, node: string): Promise<void> {
  const status = await ctx.client.api.vmStatus(pveNode, vmid);
  if (status.status === 'stopped') return;
  ctx.log(node, `stopping VM ${vmid}`);
  await ctx.client.tasks.wait(await ctx.client.api.stopVm(pveNode, vmid));
}

export async function destroyVm(ctx: VmContext, pveNode: string, vmid: number): Promise<void> {
  const { api, tasks } = ctx.client;
  const status = await api.vmStatus(pveNode, vmid).catch((e: unknown) => {
    if (e instanceof ProxmoxError && /does not exist/.test(e.message)) return undefined;
    throw e;
  });
  if (!status) return; // already gone
  if (status.status === 'running') await tasks.wait(await api.stopVm(pveNode, vmid));
  await tasks.wait(await api.destroyVm(pveNode, vmid, { purge: true, 'destroy-unreferenced-disks': true }));
}
