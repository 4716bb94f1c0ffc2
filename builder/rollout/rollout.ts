// `ober rollout`: replace the nodes one at a time with VMs of another template. For each node:
// take it out of service (ober stop), retire its old VM (stopped, onboot=0, tagged ober-retired:
// a host reboot must not start it beside its replacement), clone the new template with the node's
// data (same MAC with keepMac), start it and wait for its health gate. Any failure from the clone
// to the gate rolls the node back (new VM and its carrier removed, old VM serving and healthy
// again) and stops the rollout. A pinned VMID is held by the old VM: that VM is destroyed first
// (its template and settings recorded, its carrier kept) and made again on a rollback. The state
// file is written after every step: --resume continues, --revert brings every node back.
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import type { ClusterVm } from '../proxmox/api.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { SnippetWriter } from '../deploy/carriers.js';
import { describeGateFailure, waitHealthy, type GateTiming, type HealthProbes } from '../deploy/gates.js';
import { dataTag, RETIRED_TAG, tagsOf, vmName } from '../deploy/identity.js';
import { macOf, nodeVm, proxmoxOf, type NodeVm, type SnippetMode } from '../deploy/node-vm.js';
import { cloneChoice, describeCreate, describeGates, nodeVms, type PlannedCall, type TemplateRef } from '../deploy/plan.js';
import { listTemplates, type TemplateInfo } from '../deploy/templates.js';
import {
  carriersOf,
  checkClonePlacement,
  createNodeVm,
  destroyNodeVm,
  reinstateVm,
  removeCarriers,
  retireVm,
  startVm,
  stopVm,
  type CloneChoice,
  type VmContext,
} from '../deploy/vm-ops.js';
import { requests, type QemuConfig, type QemuSettings } from '../proxmox/api.js';
import type { NodeAgent } from './node-agent.js';
import { writeState, type NodeRollout, type NodeStep, type OldVm, type RolloutState } from './state.js';

export interface RolloutDeps {
  client: ProxmoxClient;
  agent: NodeAgent;
  probes: HealthProbes;
  timing: GateTiming;
  mode: SnippetMode;
  snippets?: SnippetWriter;
  statePath: string;
  log?: (node: string, message: string) => void;
  /** Tests: called after each recorded step (throw to simulate an interruption). */
  afterStep?: (node: string, step: NodeStep) => void | Promise<void>;
}

export class RolloutStopped extends ApiError {
  override name = 'RolloutStopped';
  constructor(
    message: string,
    readonly state: RolloutState,
  ) {
    super(message);
  }
}

/** Pure: the initial state of a rollout to `to`, from the VMs that exist. */
export function planRollout(resolved: Cluster, to: TemplateInfo, existing: readonly ClusterVm[], mode: SnippetMode, keepOld: boolean): RolloutState {
  const issues: { path: string; message: string; hint?: string }[] = [];
  const nodes: NodeRollout[] = resolved.nodes.map((n) => {
    const vm = nodeVm(resolved, n, mode);
    const have = nodeVms(existing, resolved.name, n.name);
    if (have.length > 1) issues.push({ path: n.name, message: `has ${have.length} VMs (${have.map((v) => v.vmid).join(', ')})`, hint: 'an earlier rollout was interrupted: use --resume or --revert' });
    const old = have[0];
    const pveNode = vm.pveNode ?? old?.node ?? to.node;
    const skip = !!old && tagsOf(old).includes(to.tag) && tagsOf(old).includes(dataTag(vm.digest));
    return { node: n.name, pveNode, step: skip ? 'done' : 'pending', ...(old ? { old: { vmid: old.vmid } } : {}), ...(skip ? { skip: true } : {}) };
  });
  if (issues.length) throw new ConfigError('ober rollout', issues);
  return { version: 1, cluster: resolved.name, to, status: 'running', keepOld, updatedAt: '', nodes };
}

/**
 * What a dry run describes: a rollout's saved state, or the preview of one not yet started, with
 * placeholders (`<old VM of ober1>`) where only Proxmox could answer. A RolloutState is one.
 */
export interface RolloutPreview {
  cluster: string;
  to: TemplateRef;
  nodes: { node: string; pveNode: string; skip?: boolean; old?: { vmid: number | string } }[];
}

/** The preview of a rollout to `to` that has not started: every node replaced, each one's old VM unknown. */
export function previewRollout(resolved: Cluster, to: TemplateRef): RolloutPreview {
  return {
    cluster: resolved.name,
    to,
    nodes: resolved.nodes.map((n) => ({ node: n.name, pveNode: n.proxmox?.node ?? to.node, old: { vmid: `<old VM of ${n.name}>` } })),
  };
}

/** Pure: what the rollout will do, node by node, as calls (the dry run). */
export function describeRollout(resolved: Cluster, state: RolloutPreview, mode: SnippetMode, snippetPath: (f: string) => string): { node: string; skip: boolean; calls: PlannedCall[] }[] {
  const clone = cloneChoice(resolved);
  return state.nodes.map((n) => {
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], mode);
    if (n.skip) return { node: n.node, skip: true, calls: [] };
    const calls: PlannedCall[] = [];
    if (n.old) {
      calls.push({ method: 'SSH', path: `${proxmoxOf(resolved).ciuser}@${vm.address}`, params: {}, note: 'sudo -n ober stop --json: out of service, drained' });
      const stop = requests.stopVm(n.pveNode, n.old.vmid);
      calls.push({ method: stop.method, path: stop.path, params: {} });
      if (vm.vmidPinned) {
        const destroy = requests.destroyVm(n.pveNode, n.old.vmid, { purge: true, 'destroy-unreferenced-disks': true });
        calls.push({ ...destroy, note: `only if the old VM holds the pinned VMID ${vm.vmid}: its template and settings are recorded to make it again on a rollback` });
      }
      const retire = requests.updateVmConfig(n.pveNode, n.old.vmid, { onboot: false, tags: `<its tags>;${RETIRED_TAG}` });
      calls.push({ ...retire, note: 'otherwise: the old VM is kept, stopped and never started by a host reboot, until the new one passed' });
    }
    calls.push(...describeCreate({ cluster: state.cluster, clone, template: state.to }, { ...vm, pveNode: n.pveNode }, snippetPath));
    calls.push(...describeGates(resolved, vm));
    return { node: n.node, skip: false, calls };
  });
}

export async function runRollout(resolved: Cluster, state: RolloutState, deps: RolloutDeps): Promise<RolloutState> {
  const log = deps.log ?? (() => {});
  const ctx: VmContext = { client: deps.client, cluster: state.cluster, snippets: deps.snippets, log };
  const clone = cloneChoice(resolved);
  const px = proxmoxOf(resolved);
  const record = async (n: NodeRollout, step: NodeStep): Promise<void> => {
    n.step = step;
    await writeState(deps.statePath, state);
    await deps.afterStep?.(n.node, step);
  };
  // A clone the server would refuse is refused before the first node is taken out of service.
  await checkClonePlacement(deps.client, state.to, state.nodes.filter((n) => !n.skip && n.step !== 'done').map((n) => n.pveNode), clone);
  state.status = 'running';
  await writeState(deps.statePath, state);

  for (const n of state.nodes) {
    if (n.step === 'done' || n.step === 'healthy') continue;
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], deps.mode);
    if (n.step === 'rolled-back' || n.step === 'reverted') n.step = 'pending'; // retried from the start
    const gateTarget = (vmid: number) => ({ api: deps.client.api, pveNode: n.pveNode, vmid, node: n.node, address: vm.address, cluster: resolved });
    /** Roll this node back to its old VM and stop the rollout. */
    const stop = async (message: string, failure: { gate: string; saw: string }): Promise<never> => {
      n.failure = { ...failure, message };
      log(n.node, `${message}; rolling back`);
      const back = await restoreOld(ctx, n, deps, vm, gateTarget, clone);
      await record(n, 'rolled-back');
      state.status = 'failed';
      await writeState(deps.statePath, state);
      throw new RolloutStopped(`rollout stopped at ${n.node}: ${message}. ${back}`, state);
    };

    if (n.step === 'pending') {
      if (n.old) {
        log(n.node, `taking ${n.node} out of service (ober stop)`);
        const r = await deps.agent.drain(n.node, vm.address);
        if (!r.ok) {
          state.status = 'failed';
          n.failure = { gate: 'drain', saw: r.detail, message: `${n.node}: taking it out of service failed: ${r.detail}` };
          await writeState(deps.statePath, state);
          throw new RolloutStopped(`${n.failure.message}. Nothing was changed on Proxmox for ${n.node}; check the node, then ober rollout --resume (or --revert).`, state);
        }
      }
      await record(n, 'drained');
    }
    if (n.step === 'drained') {
      if (n.old) await setAsideOld(ctx, n, n.old, vm.vmidPinned && vm.vmid === n.old.vmid, px.keepMac);
      await record(n, 'old-stopped');
    }
    if (n.step === 'old-stopped') {
      await removeStrays(ctx, n, state.cluster);
      let vmid: number;
      try {
        vmid = await createNodeVm(ctx, { ...vm, pveNode: n.pveNode }, state.to, clone, { mac: px.keepMac ? n.old?.mac : undefined });
      } catch (e) {
        return stop(`making the new VM of ${n.node} failed: ${(e as Error).message}`, { gate: 'create', saw: (e as Error).message.split('\n')[0] ?? '' });
      }
      n.new = { vmid };
      await record(n, 'created');
    }
    const newVmid = (n.new as { vmid: number }).vmid;
    if (n.step === 'created') {
      try {
        await startVm(ctx, n.pveNode, newVmid, n.node);
      } catch (e) {
        return stop(`starting the new VM ${newVmid} of ${n.node} failed: ${(e as Error).message}`, { gate: 'start', saw: (e as Error).message.split('\n')[0] ?? '' });
      }
      await record(n, 'started');
    }
    if (n.step === 'started') {
      const gate = await waitHealthy(gateTarget(newVmid), deps.probes, deps.timing, (g) => log(n.node, `waiting for the ${g} gate`));
      if (!gate.ok) return stop(describeGateFailure(n.node, newVmid, gate), { gate: gate.gate, saw: gate.saw });
      log(n.node, `healthy on ${state.to.tag} after ${Math.round(gate.elapsedMs / 1000)} s`);
      // The node's address is served by a VM with new SSH host keys from now on.
      await deps.agent.replaced?.(n.node, vm.address);
      n.failure = undefined;
      await record(n, 'healthy');
    }
  }

  // Every node passed: only now are the old VMs expendable.
  for (const n of state.nodes) {
    if (n.step !== 'healthy') continue;
    if (n.old?.destroyed) {
      await removeCarriers(ctx, n.old.carriers ?? [], n.node);
    } else if (n.old && !state.keepOld) {
      log(n.node, `destroying the old VM ${n.old.vmid}`);
      await destroyNodeVm(ctx, n.pveNode, n.old.vmid, n.node);
    }
    await record(n, 'done');
  }
  state.status = 'done';
  await writeState(deps.statePath, state);
  return state;
}

/**
 * Take the old VM out of the way of its replacement. Normally it is retired (stopped, onboot=0,
 * tagged) and kept for a rollback. With a pinned VMID it holds the VMID the replacement must get:
 * it is destroyed, with what it takes to make it again recorded and its carrier kept.
 */
async function setAsideOld(ctx: VmContext, n: NodeRollout, old: OldVm, pinned: boolean, keepMac: boolean): Promise<void> {
  const config = await ctx.client.api.vmConfig(n.pveNode, old.vmid);
  // Remember the MAC before anything else happens to the old VM (keepMac).
  if (keepMac) old.mac = macOf(config.net0);
  old.onboot = /^(1|yes|on|true)$/.test(String(config.onboot ?? '0'));
  old.carriers = carriersOf(config, n.pveNode, ctx.cluster);
  if (!pinned) {
    await retireVm(ctx, n.pveNode, old.vmid, n.node);
    return;
  }
  const templateTag = tagsOf({ tags: String(config.tags ?? '') }).find((t) => /^ober_.+_[^_]+$/.test(t));
  if (!templateTag) throw new ApiError(`VM ${old.vmid} of ${n.node} carries no template tag: it cannot be made again on a rollback, so it is not destroyed`);
  old.destroyed = { templateTag, settings: recreateSettings(config) };
  await stopVm(ctx, n.pveNode, old.vmid, n.node);
  ctx.log(n.node, `destroying the old VM ${old.vmid} to free its pinned VMID (its ${old.carriers.map((c) => c.kind).join(', ') || 'data'} is kept until the rollout is done)`);
  await destroyNodeVm(ctx, n.pveNode, old.vmid, n.node, { keepCarriers: true });
}

/** The settings the tool gave a node's VM, read back from its config (to make the same VM again). */
function recreateSettings(config: QemuConfig): QemuSettings {
  const keys = ['name', 'tags', 'cores', 'memory', 'net0', 'ciuser', 'ipconfig0', 'nameserver', 'searchdomain', 'cicustom', 'scsi1'] as const;
  const out: Record<string, string | number | boolean> = {};
  for (const k of keys) if (config[k] !== undefined) out[k] = config[k] as string | number;
  if (config.onboot !== undefined) out.onboot = String(config.onboot) === '1';
  if (config.ciupgrade !== undefined) out.ciupgrade = String(config.ciupgrade) === '1';
  // The server keeps sshkeys URL-encoded; settings carry plain text (encoded when sent).
  if (config.sshkeys !== undefined) out.sshkeys = decodeURIComponent(String(config.sshkeys));
  return out as QemuSettings;
}

/** Bring every node that was touched back to its old VM (--revert). */
export async function revertRollout(resolved: Cluster, state: RolloutState, deps: RolloutDeps): Promise<RolloutState> {
  const log = deps.log ?? (() => {});
  const ctx: VmContext = { client: deps.client, cluster: state.cluster, snippets: deps.snippets, log };
  const failures: string[] = [];
  for (const n of [...state.nodes].reverse()) {
    if (n.skip || n.step === 'pending' || n.step === 'reverted' || n.step === 'rolled-back') continue;
    if (n.step === 'done' && n.old && (n.old.destroyed || !state.keepOld)) {
      failures.push(`${n.node}: its old VM ${n.old.vmid} was already destroyed; it stays on ${state.to.tag}`);
      continue;
    }
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], deps.mode);
    const gateTarget = (vmid: number) => ({ api: deps.client.api, pveNode: n.pveNode, vmid, node: n.node, address: vm.address, cluster: resolved });
    log(n.node, 'reverting to the old VM');
    const back = await restoreOld(ctx, n, deps, vm, gateTarget, cloneChoice(resolved));
    if (/not healthy|cannot/.test(back)) failures.push(`${n.node}: ${back}`);
    n.step = 'reverted';
    await writeState(deps.statePath, state);
  }
  state.status = failures.length ? 'failed' : 'reverted';
  await writeState(deps.statePath, state);
  if (failures.length) throw new RolloutStopped(`revert incomplete:\n  ${failures.join('\n  ')}`, state);
  return state;
}

/**
 * Remove the new VM (if any) with its carrier, and bring the old VM back: a retired one is
 * reinstated (onboot as before, tag removed) and booted fresh (that clears `ober stop`'s
 * maintenance state); a destroyed one (pinned VMID) is cloned again from its template with its
 * recorded settings. Then it must pass its gate.
 */
async function restoreOld(
  ctx: VmContext,
  n: NodeRollout,
  deps: RolloutDeps,
  vm: NodeVm,
  gateTarget: (vmid: number) => Parameters<typeof waitHealthy>[0],
  clone: CloneChoice,
): Promise<string> {
  if (n.new) {
    ctx.log(n.node, `destroying the new VM ${n.new.vmid}`);
    await destroyNodeVm(ctx, n.pveNode, n.new.vmid, n.node);
    n.new = undefined;
  }
  await removeStrays(ctx, n, ctx.cluster);
  if (!n.old) return `${n.node} had no VM before; none is left.`;
  const old = n.old;
  if (old.destroyed) {
    const template = listTemplates(await ctx.client.api.clusterVms()).find((t) => t.tag === old.destroyed?.templateTag);
    if (!template) return `${n.node}: its old VM ${old.vmid} cannot be made again: template ${old.destroyed.templateTag} is gone.`;
    ctx.log(n.node, `making the old VM ${old.vmid} again from ${template.tag}`);
    await ctx.client.tasks.wait(
      await ctx.client.api.cloneVm(template.node, template.vmid, {
        newid: old.vmid,
        name: old.destroyed.settings.name,
        full: clone.full,
        ...(clone.full && clone.storage ? { storage: clone.storage } : {}),
        ...(n.pveNode !== template.node ? { target: n.pveNode } : {}),
      }),
    );
    await ctx.client.tasks.wait(await ctx.client.api.updateVmConfig(n.pveNode, old.vmid, old.destroyed.settings));
    old.destroyed = undefined;
    await startVm(ctx, n.pveNode, old.vmid, n.node);
    await deps.agent.replaced?.(n.node, vm.address);
  } else {
    if (old.onboot !== undefined) await reinstateVm(ctx, n.pveNode, old.vmid, old.onboot);
    await stopVm(ctx, n.pveNode, old.vmid, n.node);
    await startVm(ctx, n.pveNode, old.vmid, n.node);
  }
  const gate = await waitHealthy(gateTarget(old.vmid), deps.probes, deps.timing);
  return gate.ok
    ? `${n.node} is back on its old VM ${old.vmid} and healthy.`
    : `${n.node}: the old VM ${old.vmid} was started but is not healthy (${describeGateFailure(vm.node, old.vmid, gate)}).`;
}

/** VMs of this node that are neither its old nor its recorded new one: left by an interruption mid-clone. */
async function removeStrays(ctx: VmContext, n: NodeRollout, cluster: string): Promise<void> {
  const keep = new Set([n.old?.vmid, n.new?.vmid]);
  const name = vmName(cluster, n.node);
  // A clone interrupted before its configuration has the template's tags but already the node's VM name.
  const candidates = (await ctx.client.api.clusterVms()).filter((vm) => vm.type === 'qemu' && !vm.template && (vm.name === name || nodeVms([vm], cluster, n.node).length));
  for (const stray of candidates) {
    if (keep.has(stray.vmid) || tagsOf(stray).includes(RETIRED_TAG)) continue;
    ctx.log(n.node, `removing VM ${stray.vmid}, left over from an interrupted step`);
    await destroyNodeVm(ctx, stray.node, stray.vmid, n.node);
  }
}
