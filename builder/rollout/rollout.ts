// `ober rollout`: replace the nodes one at a time with VMs of another template. For each node:
// take it out of service (ober stop), stop its old VM (kept), clone the new template with the
// node's data (same MAC with keepMac), start it and wait for its health gate; a failed gate rolls
// the node back (new VM destroyed, old VM started, healthy again) and stops the rollout. The state
// file is written after every step: --resume continues, --revert brings every node back.
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import type { ClusterVm } from '../proxmox/api.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { SnippetWriter } from '../deploy/carriers.js';
import { describeGateFailure, waitHealthy, type GateTiming, type HealthProbes } from '../deploy/gates.js';
import { dataTag, tagsOf, vmName } from '../deploy/identity.js';
import { macOf, nodeVm, proxmoxOf, type NodeVm, type SnippetMode } from '../deploy/node-vm.js';
import { cloneChoice, describeCreate, describeGates, nodeVms, type PlannedCall } from '../deploy/plan.js';
import type { TemplateInfo } from '../deploy/templates.js';
import { createNodeVm, destroyVm, startVm, stopVm, type VmContext } from '../deploy/vm-ops.js';
import { requests } from '../proxmox/api.js';
import type { NodeAgent } from './node-agent.js';
import { writeState, type NodeRollout, type NodeStep, type RolloutState } from './state.js';

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

/** Pure: what the rollout will do, node by node, as calls (the dry run). */
export function describeRollout(resolved: Cluster, state: RolloutState, mode: SnippetMode, snippetPath: (f: string) => string): { node: string; skip: boolean; calls: PlannedCall[] }[] {
  const clone = cloneChoice(resolved);
  return state.nodes.map((n) => {
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], mode);
    if (n.skip) return { node: n.node, skip: true, calls: [] };
    const calls: PlannedCall[] = [];
    if (n.old) {
      calls.push({ method: 'SSH', path: `${proxmoxOf(resolved).ciuser}@${vm.address}`, params: {}, note: 'sudo -n ober stop --json: out of service, drained' });
      calls.push({ method: requests.stopVm(n.pveNode, n.old.vmid).method, path: requests.stopVm(n.pveNode, n.old.vmid).path, params: {}, note: 'the old VM is kept until the new one passed' });
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
  state.status = 'running';
  await writeState(deps.statePath, state);

  for (const n of state.nodes) {
    if (n.step === 'done' || n.step === 'healthy') continue;
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], deps.mode);
    if (n.step === 'rolled-back' || n.step === 'reverted') n.step = 'pending'; // retried from the start
    const gateTarget = (vmid: number) => ({ api: deps.client.api, pveNode: n.pveNode, vmid, node: n.node, address: vm.address, cluster: resolved });

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
      if (n.old) {
        // Remember the MAC before anything else happens to the old VM (keepMac).
        if (px.keepMac) n.old.mac = macOf((await deps.client.api.vmConfig(n.pveNode, n.old.vmid)).net0);
        await stopVm(ctx, n.pveNode, n.old.vmid, n.node);
      }
      await record(n, 'old-stopped');
    }
    if (n.step === 'old-stopped') {
      await removeStrays(ctx, n, state.cluster);
      const vmid = await createNodeVm(ctx, { ...vm, pveNode: n.pveNode }, state.to, clone, { mac: px.keepMac ? n.old?.mac : undefined });
      n.new = { vmid };
      await record(n, 'created');
    }
    const newVmid = (n.new as { vmid: number }).vmid;
    if (n.step === 'created') {
      await startVm(ctx, n.pveNode, newVmid, n.node);
      await record(n, 'started');
    }
    if (n.step === 'started') {
      const gate = await waitHealthy(gateTarget(newVmid), deps.probes, deps.timing, (g) => log(n.node, `waiting for the ${g} gate`));
      if (!gate.ok) {
        const message = describeGateFailure(n.node, newVmid, gate);
        n.failure = { gate: gate.gate, saw: gate.saw, message };
        log(n.node, `${message}; rolling back`);
        const back = await restoreOld(ctx, n, deps, vm, gateTarget);
        await record(n, 'rolled-back');
        state.status = 'failed';
        await writeState(deps.statePath, state);
        throw new RolloutStopped(`rollout stopped at ${n.node}: ${message}. ${back}`, state);
      }
      log(n.node, `healthy on ${state.to.tag} after ${Math.round(gate.elapsedMs / 1000)} s`);
      n.failure = undefined;
      await record(n, 'healthy');
    }
  }

  // Every node passed: only now are the old VMs expendable.
  for (const n of state.nodes) {
    if (n.step !== 'healthy') continue;
    if (n.old && !state.keepOld) {
      log(n.node, `destroying the old VM ${n.old.vmid}`);
      await destroyVm(ctx, n.pveNode, n.old.vmid);
    }
    await record(n, 'done');
  }
  state.status = 'done';
  await writeState(deps.statePath, state);
  return state;
}

/** Bring every node that was touched back to its old VM (--revert). */
export async function revertRollout(resolved: Cluster, state: RolloutState, deps: RolloutDeps): Promise<RolloutState> {
  const log = deps.log ?? (() => {});
  const ctx: VmContext = { client: deps.client, cluster: state.cluster, snippets: deps.snippets, log };
  const failures: string[] = [];
  for (const n of [...state.nodes].reverse()) {
    if (n.skip || n.step === 'pending' || n.step === 'reverted' || n.step === 'rolled-back') continue;
    if (n.step === 'done' && n.old && !state.keepOld) {
      failures.push(`${n.node}: its old VM ${n.old.vmid} was already destroyed; it stays on ${state.to.tag}`);
      continue;
    }
    const vm = nodeVm(resolved, resolved.nodes.find((x) => x.name === n.node) as Cluster['nodes'][number], deps.mode);
    const gateTarget = (vmid: number) => ({ api: deps.client.api, pveNode: n.pveNode, vmid, node: n.node, address: vm.address, cluster: resolved });
    log(n.node, 'reverting to the old VM');
    const back = await restoreOld(ctx, n, deps, vm, gateTarget);
    if (/not healthy/.test(back)) failures.push(`${n.node}: ${back}`);
    n.step = 'reverted';
    await writeState(deps.statePath, state);
  }
  state.status = failures.length ? 'failed' : 'reverted';
  await writeState(deps.statePath, state);
  if (failures.length) throw new RolloutStopped(`revert incomplete:\n  ${failures.join('\n  ')}`, state);
  return state;
}

/** Destroy the new VM (if any), boot the old one fresh (clears `ober stop`'s maintenance state), wait healthy. */
async function restoreOld(
  ctx: VmContext,
  n: NodeRollout,
  deps: RolloutDeps,
  vm: NodeVm,
  gateTarget: (vmid: number) => Parameters<typeof waitHealthy>[0],
): Promise<string> {
  if (n.new) {
    ctx.log(n.node, `destroying the new VM ${n.new.vmid}`);
    await destroyVm(ctx, n.pveNode, n.new.vmid);
    n.new = undefined;
  }
  await removeStrays(ctx, n, ctx.cluster);
  if (!n.old) return `${n.node} had no VM before; none is left.`;
  await stopVm(ctx, n.pveNode, n.old.vmid, n.node);
  await startVm(ctx, n.pveNode, n.old.vmid, n.node);
  const gate = await waitHealthy(gateTarget(n.old.vmid), deps.probes, deps.timing);
  return gate.ok
    ? `${n.node} is back on its old VM ${n.old.vmid} and healthy.`
    : `${n.node}: the old VM ${n.old.vmid} was started but is not healthy (${describeGateFailure(vm.node, n.old.vmid, gate)}).`;
}

/** VMs of this node that are neither its old nor its recorded new one: left by an interruption mid-clone. */
async function removeStrays(ctx: VmContext, n: NodeRollout, cluster: string): Promise<void> {
  const keep = new Set([n.old?.vmid, n.new?.vmid]);
  const name = vmName(cluster, n.node);
  // A clone interrupted before its configuration has the template's tags but already the node's VM name.
  const candidates = (await ctx.client.api.clusterVms()).filter((vm) => vm.type === 'qemu' && !vm.template && (vm.name === name || nodeVms([vm], cluster, n.node).length));
  for (const stray of candidates) {
    if (keep.has(stray.vmid)) continue;
    ctx.log(n.node, `removing VM ${stray.vmid}, left over from an interrupted step`);
    await destroyVm(ctx, stray.node, stray.vmid);
  }
}
