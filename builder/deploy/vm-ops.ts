// Making, starting, retiring and removing one node's VM and its data carrier (snippet or seed
// ISO): the steps deploy, rollout and destroy share. Every call goes through ProxmoxApi (the
// request builders a dry run prints) and waits for its task.
import { createHash } from 'node:crypto';
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import type { QemuConfig, QemuSettings } from '../proxmox/api.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import { ProxmoxError } from '../proxmox/errors.js';
import { backoffDelay, DEFAULT_RETRY } from '../proxmox/retry.js';
import { buildSeedIso, type SnippetWriter } from './carriers.js';
import { carrierFile, RETIRED_TAG } from './identity.js';
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

/** A VM's data carrier: its vendor-data snippet or its seed ISO, on the storage of its Proxmox node. */
export interface Carrier {
  kind: 'snippet' | 'seed';
  pveNode: string;
  storage: string;
  file: string;
}

export const carrierVolid = (c: Carrier): string => `${c.storage}:${c.kind === 'snippet' ? 'snippets' : 'iso'}/${c.file}`;

/** How often a taken VMID is skipped before giving up (another tool allocating in a burst). */
const VMID_ATTEMPTS = 20;
/** How often a clone whose worker timed out on a lock is tried again. */
const CLONE_LOCK_ATTEMPTS = 5;

/** The VMID is in use: said synchronously, or — the clone re-checks inside its worker — by the task. */
const isTaken = (e: unknown): boolean => e instanceof ProxmoxError && (e.kind === 'server' || e.kind === 'task') && /already exists/.test(e.message);
/** qemu-server's clone worker takes its config locks with a 1 s timeout: a busy VM fails the task. */
const isTaskLockTimeout = (e: unknown): boolean => e instanceof ProxmoxError && e.kind === 'task' && /can't lock file '[^']*' - got timeout/.test(e.message);

/**
 * Refuse, before anything changes, a clone the server would refuse: `target` (a VM on another
 * Proxmox node than its template) needs every disk of the template on shared storage
 * (qemu-server PVE/API2/Qemu.pm clone_vm: "can't clone VM to node ... (VM uses local storage)").
 */
export async function checkClonePlacement(client: ProxmoxClient, template: TemplateInfo, pveNodes: Iterable<string>, clone: CloneChoice): Promise<void> {
  const others = [...new Set(pveNodes)].filter((n) => n !== template.node);
  if (!others.length) return;
  const config = await client.api.vmConfig(template.node, template.vmid);
  const storages = await client.api.storages(template.node);
  const shared = new Set(storages.filter((s) => s.shared).map((s) => s.storage));
  const local = [...new Set(diskStorages(config))].filter((s) => !shared.has(s));
  if (clone.full && clone.storage && !shared.has(clone.storage)) local.push(clone.storage);
  if (!local.length) return;
  throw new ConfigError('placement', [
    {
      path: 'nodes[].proxmox.node',
      message:
        `template ${template.vmid} (${template.tag}) is on ${template.node} with disks on storage ${local.map((s) => `'${s}'`).join(', ')}, ` +
        `which is not shared: Proxmox cannot clone it to ${others.join(', ')}`,
      hint: `make the template on shared storage (ober template create --storage <shared storage>), or place these nodes on ${template.node}`,
    },
  ]);
}

/** Storages of a VM's own disks (cd-roms excluded). */
function diskStorages(config: QemuConfig): string[] {
  return Object.entries(config)
    .filter(([k, v]) => /^(?:(?:scsi|ide|sata|virtio)\d+|efidisk0|tpmstate0)$/.test(k) && !/(^|,)media=cdrom(,|$)/.test(String(v)))
    .map(([, v]) => String(v).split(',')[0]?.split(':')[0] as string)
    .filter((s) => s && s !== 'none');
}

/**
 * Clone the template into a new VM for `vm`, give it its data, leave it stopped. Returns the VMID.
 * A VM made here that cannot be finished is destroyed again with its carrier, so a re-run starts clean.
 */
export async function createNodeVm(ctx: VmContext, vm: NodeVm, template: TemplateInfo, clone: CloneChoice, opts: { mac?: string } = {}): Promise<number> {
  const { api, tasks } = ctx.client;
  const pveNode = vm.pveNode ?? template.node;
  const vmid = await cloneWithFreeId(ctx, vm, template, pveNode, clone);
  const written: Carrier[] = [];
  try {
    // The clone inherited the template's tags; setting tags replaces them, so name it again.
    const settings: QemuSettings = { ...vm.settings, tags: `${vm.settings.tags};${template.tag}` };
    // Setting net0 without a MAC would make the server generate yet another one: keep the
    // clone's (or the pinned / kept one), which the seed's network config must name too.
    const mac = opts.mac ?? macOf(settings.net0) ?? macOf((await api.vmConfig(pveNode, vmid)).net0);
    if (!mac) throw new ApiError(`VM ${vmid} has no MAC address on net0 after cloning template ${template.vmid}`);
    if (settings.net0) settings.net0 = withMac(settings.net0, mac);
    if (vm.snippet) {
      if (!ctx.snippets) throw new ApiError('internal: sftp mode without a snippet writer');
      const carrier: Carrier = { kind: 'snippet', pveNode, storage: vm.snippet.storage, file: carrierFile(ctx.cluster, vm.node, vmid, contentHash(vm.vendorData, template.tag), 'yaml') };
      ctx.log(vm.node, `writing vendor data to ${ctx.snippets.pathOf(carrier.file, pveNode)} on ${pveNode} (SFTP, 0600)`);
      written.push(carrier);
      await ctx.snippets.write(carrier.file, vm.vendorData, pveNode);
      settings.cicustom = `vendor=${carrierVolid(carrier)}`;
    }
    if (vm.seed) {
      const carrier = await uploadSeed(ctx, vm, pveNode, vmid, mac, template.tag);
      written.push(carrier);
      // Replaces Proxmox's cloud-init drive: two `cidata` volumes would leave cloud-init guessing.
      settings[CLOUDINIT_SLOT] = `${carrierVolid(carrier)},media=cdrom`;
    }
    ctx.log(vm.node, `configuring VM ${vmid} (cloud-init ${vm.seed ? 'seed ISO' : 'drive + vendor snippet'})`);
    await tasks.wait(await api.updateVmConfig(pveNode, vmid, settings));
    if (clone.diskGB) {
      ctx.log(vm.node, `growing scsi0 of VM ${vmid} to ${clone.diskGB} GiB`);
      await tasks.wait(await api.resizeDisk(pveNode, vmid, 'scsi0', `${clone.diskGB}G`));
    }
  } catch (e) {
    ctx.log(vm.node, `removing the unfinished VM ${vmid}`);
    await destroyNodeVm(ctx, pveNode, vmid, vm.node).catch((d: unknown) => ctx.log(vm.node, `could not remove VM ${vmid}: ${(d as Error).message}`));
    await removeCarriers(ctx, written, vm.node);
    throw e;
  }
  return vmid;
}

function contentHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

async function cloneWithFreeId(ctx: VmContext, vm: NodeVm, template: TemplateInfo, pveNode: string, clone: CloneChoice): Promise<number> {
  const { api, tasks } = ctx.client;
  let candidate = vm.vmid;
  let lockFailures = 0;
  for (let attempt = 1; ; attempt++) {
    // /cluster/nextid does not reserve the id: the clone itself is the reservation, retried on a race.
    const vmid = candidate ?? (await api.nextId());
    ctx.log(vm.node, `cloning template ${template.vmid} (${template.tag}) to VM ${vmid} on ${pveNode} (${clone.full ? 'full' : 'linked'})`);
    try {
      const upid = await api.cloneVm(template.node, template.vmid, {
        newid: vmid,
        name: vm.settings.name,
        full: clone.full,
        ...(clone.full && clone.storage ? { storage: clone.storage } : {}),
        ...(pveNode !== template.node ? { target: pveNode } : {}),
      });
      await tasks.wait(upid);
      return vmid;
    } catch (e) {
      if (isTaskLockTimeout(e) && ++lockFailures < CLONE_LOCK_ATTEMPTS) {
        // The worker gave up on a lock another task holds and removed what it had made: try again.
        const delay = backoffDelay(DEFAULT_RETRY, lockFailures);
        ctx.log(vm.node, `the clone could not take its lock (${(e as Error).message.split('\n')[0]}); again in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        candidate = vmid;
        continue;
      }
      if (!isTaken(e)) throw e;
      if (vm.vmidPinned) {
        throw new ConfigError('cluster', [{ path: `nodes[${vm.node}].proxmox.vmid`, message: `VMID ${vmid} is already used by another VM`, hint: 'pick a free id or remove the pin' }]);
      }
      if (attempt >= VMID_ATTEMPTS) throw new ApiError(`no free VMID found for ${vm.node} after ${VMID_ATTEMPTS} attempts (last: ${vmid})`);
      ctx.log(vm.node, `VMID ${vmid} was taken meanwhile; trying ${vmid + 1}`);
      candidate = vmid + 1;
    }
  }
}

/**
 * ISO mode: build the seed with the VM's MAC and upload it as `iso` content on the VM's node. The
 * name is per VM and content, so a reused VMID never boots an older seed (uploads overwrite, and a
 * destroyed VM leaves its ISOs behind: pve-storage Status.pm, qemu-server destroy_vm).
 */
async function uploadSeed(ctx: VmContext, vm: NodeVm, pveNode: string, vmid: number, nicMac: string, templateTag: string): Promise<Carrier> {
  const { api, tasks } = ctx.client;
  const seed = vm.seed as NonNullable<NodeVm['seed']>;
  const docs = { userData: seed.userData, metaData: seed.metaData(vmid), networkConfig: seed.networkConfig(nicMac), vendorData: vm.vendorData };
  const carrier: Carrier = {
    kind: 'seed',
    pveNode,
    storage: seed.storage,
    file: carrierFile(ctx.cluster, vm.node, vmid, contentHash(docs.userData, docs.metaData, docs.networkConfig, docs.vendorData, templateTag), 'iso'),
  };
  const iso = await buildSeedIso(docs, carrier.file);
  try {
    ctx.log(vm.node, `uploading seed ${carrierVolid(carrier)} to ${pveNode}`);
    await tasks.wait(await api.upload(pveNode, seed.storage, { content: 'iso', file: { path: iso.path, name: carrier.file, size: iso.size } }));
  } finally {
    await iso.cleanup();
  }
  return carrier;
}

/** The carriers a VM's config names (cicustom snippets, seed ISOs) that this tool made for the cluster. */
export function carriersOf(config: QemuConfig, pveNode: string, cluster: string): Carrier[] {
  const out: Carrier[] = [];
  const ours = (file: string) => file.startsWith(`${cluster}-`);
  for (const part of String(config.cicustom ?? '').split(',')) {
    const m = /^\w+=([^:]+):snippets\/(.+)$/.exec(part);
    if (m && ours(m[2] as string)) out.push({ kind: 'snippet', pveNode, storage: m[1] as string, file: m[2] as string });
  }
  for (const [key, value] of Object.entries(config)) {
    if (!/^(?:scsi|ide|sata)\d+$/.test(key)) continue;
    const m = /^([^:,]+):iso\/([^,]+)/.exec(String(value));
    if (m && ours(m[2] as string)) out.push({ kind: 'seed', pveNode, storage: m[1] as string, file: m[2] as string });
  }
  return out;
}

/** Remove carriers whose VM is gone: snippets by SFTP on their node's host (or the API), ISOs by the API. */
export async function removeCarriers(ctx: VmContext, carriers: readonly Carrier[], node: string): Promise<void> {
  for (const c of carriers) {
    try {
      if (c.kind === 'snippet' && ctx.snippets) await ctx.snippets.remove(c.file, c.pveNode);
      else await ctx.client.tasks.wait(await ctx.client.api.deleteVolume(c.pveNode, c.storage, carrierVolid(c)));
      ctx.log(node, `removed ${carrierVolid(c)} on ${c.pveNode}`);
    } catch (e) {
      if (e instanceof ProxmoxError && /does not exist/.test(e.message)) continue;
      // Left behind, said loudly: it holds the node's secrets.
      ctx.log(node, `could not remove ${carrierVolid(c)} on ${c.pveNode}: ${(e as Error).message}`);
    }
  }
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

/**
 * Stop an old VM and keep it as a fallback that can never come up by itself: onboot=0 (a host
 * reboot would otherwise start it beside its replacement, with the same address) and a tag.
 */
export async function retireVm(ctx: VmContext, pveNode: string, vmid: number, node: string): Promise<void> {
  await stopVm(ctx, pveNode, vmid, node);
  const tags = String((await ctx.client.api.vmConfig(pveNode, vmid)).tags ?? '').split(/[;,\s]+/).filter(Boolean);
  ctx.log(node, `keeping the old VM ${vmid} stopped with onboot=0 (tag ${RETIRED_TAG})`);
  await ctx.client.tasks.wait(await ctx.client.api.updateVmConfig(pveNode, vmid, { onboot: false, tags: [...new Set([...tags, RETIRED_TAG])].join(';') }));
}

/** Undo retireVm: the VM serves the node again. */
export async function reinstateVm(ctx: VmContext, pveNode: string, vmid: number, onboot: boolean): Promise<void> {
  const tags = String((await ctx.client.api.vmConfig(pveNode, vmid)).tags ?? '').split(/[;,\s]+/).filter((t) => t && t !== RETIRED_TAG);
  await ctx.client.tasks.wait(await ctx.client.api.updateVmConfig(pveNode, vmid, { onboot, tags: tags.join(';') }));
}

/**
 * Destroy a VM (stopped first) and, unless `keepCarriers`, its snippet or seed ISO. Returns the
 * carriers its config named (removed, or kept for the caller). A VM already gone is fine.
 */
export async function destroyNodeVm(ctx: VmContext, pveNode: string, vmid: number, node: string, opts: { keepCarriers?: boolean } = {}): Promise<Carrier[]> {
  const { api, tasks } = ctx.client;
  const config = await api.vmConfig(pveNode, vmid).catch((e: unknown) => {
    if (e instanceof ProxmoxError && /does not exist/.test(e.message)) return undefined;
    throw e;
  });
  if (!config) return []; // already gone
  const carriers = carriersOf(config, pveNode, ctx.cluster);
  if ((await api.vmStatus(pveNode, vmid)).status === 'running') await tasks.wait(await api.stopVm(pveNode, vmid));
  await tasks.wait(await api.destroyVm(pveNode, vmid, { purge: true, 'destroy-unreferenced-disks': true }));
  if (!opts.keepCarriers) await removeCarriers(ctx, carriers, node);
  return carriers;
}
