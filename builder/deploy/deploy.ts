// `ober deploy`, the applying half: observe (VMs, templates), plan (plan.ts), then create the
// missing nodes one after another (one clone at a time: clones of one template contend for its
// storage) and wait for all of them to pass their health gate together.
import { ApiError } from '../../firstboot/lib/errors.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import type { ProxmoxClient } from '../proxmox/client.js';
import type { SnippetWriter } from './carriers.js';
import { describeGateFailure, waitHealthy, type GateResult, type GateTiming, type HealthProbes } from './gates.js';
import { proxmoxOf, type SnippetMode } from './node-vm.js';
import { planDeploy, type DeployPlan } from './plan.js';
import { listTemplates, selectTemplate, type TemplateInfo } from './templates.js';
import { checkClonePlacement, createNodeVm, startVm, type VmContext } from './vm-ops.js';

export interface DeployOptions {
  resolved: Cluster;
  /** --template: VMID, <id>_<version> or version; default the newest template. */
  template?: string;
  mode: SnippetMode;
  /** Required in sftp mode. */
  snippets?: SnippetWriter;
  probes: HealthProbes;
  timing: GateTiming;
  log?: (node: string, message: string) => void;
}

export interface NodeOutcome {
  node: string;
  status: 'created' | 'unchanged' | 'failed';
  vmid?: number;
  pveNode?: string;
  gate?: GateResult;
  message?: string;
}

export interface DeployResult {
  ok: boolean;
  template: TemplateInfo;
  nodes: NodeOutcome[];
}

/** The template to clone, checked against what the cluster file expects of it. */
export async function findTemplate(client: ProxmoxClient, resolved: Cluster, selector: string | undefined, flag: string): Promise<TemplateInfo> {
  const template = selectTemplate(listTemplates(await client.api.clusterVms()), selector, flag);
  const px = proxmoxOf(resolved);
  const bios = String((await client.api.vmConfig(template.node, template.vmid)).bios ?? 'seabios');
  if (bios !== px.firmware) {
    throw new ApiError(
      `template ${template.vmid} (${template.tag}) boots with ${bios} but proxmox.firmware is ${px.firmware}: ` +
        `firmware is fixed when the template is made (ober template create --bios ${px.firmware}), or change proxmox.firmware`,
    );
  }
  return template;
}

export async function deploy(client: ProxmoxClient, opts: DeployOptions): Promise<DeployResult> {
  const log = opts.log ?? (() => {});
  if (opts.mode === 'sftp' && !opts.snippets) throw new ApiError('internal: sftp mode without a snippet writer');
  const template = await findTemplate(client, opts.resolved, opts.template, '--template');
  const plan: DeployPlan = planDeploy({ resolved: opts.resolved, mode: opts.mode, template, existing: await client.api.clusterVms() });
  const ctx: VmContext = { client, cluster: plan.cluster, snippets: opts.snippets, log };
  // A clone the server would refuse (another node, local storage) is refused before anything changes.
  await checkClonePlacement(client, template, plan.actions.filter((a) => a.kind === 'create').map((a) => a.vm.pveNode ?? template.node), plan.clone);

  const outcomes: NodeOutcome[] = [];
  const toGate: { outcome: NodeOutcome; address: string }[] = [];
  for (const action of plan.actions) {
    const { vm } = action;
    if (action.kind === 'unchanged') {
      log(vm.node, `VM ${action.vmid} on ${action.pveNode} already runs ${template.tag} with this data: left alone`);
      const outcome: NodeOutcome = { node: vm.node, status: 'unchanged', vmid: action.vmid, pveNode: action.pveNode };
      outcomes.push(outcome);
      if (!action.running) {
        await startVm(ctx, action.pveNode, action.vmid, vm.node);
        toGate.push({ outcome, address: vm.address });
      }
      continue;
    }
    const pveNode = vm.pveNode ?? template.node;
    // A node that cannot be made stops the run (the next would most likely fail alike); nodes made
    // before it stay, and deploy leaves them alone when it runs again after the fix.
    const vmid = await createNodeVm(ctx, vm, template, plan.clone);
    await startVm(ctx, pveNode, vmid, vm.node);
    const outcome: NodeOutcome = { node: vm.node, status: 'created', vmid, pveNode };
    outcomes.push(outcome);
    toGate.push({ outcome, address: vm.address });
  }

  await Promise.all(
    toGate.map(async ({ outcome, address }) => {
      const vmid = outcome.vmid as number;
      const gate = await waitHealthy(
        { api: client.api, pveNode: outcome.pveNode as string, vmid, node: outcome.node, address, cluster: opts.resolved },
        opts.probes,
        opts.timing,
        (g) => log(outcome.node, `waiting for the ${g} gate`),
      );
      outcome.gate = gate;
      if (gate.ok) log(outcome.node, `healthy after ${Math.round(gate.elapsedMs / 1000)} s`);
      else {
        outcome.status = 'failed';
        outcome.message = describeGateFailure(outcome.node, vmid, gate);
        log(outcome.node, outcome.message);
      }
    }),
  );
  return { ok: outcomes.every((o) => o.status !== 'failed'), template, nodes: outcomes };
}
