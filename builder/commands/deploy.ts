// `ober deploy --cluster cluster.yaml`: one VM per node, cloned from an appliance template, given
// its node data, started and waited for until healthy. Nodes already deployed are left alone.
import type { Command } from 'commander';
import { deriveAll, loadClusterFile } from '../../firstboot/model/cluster-file.js';
import type { Output } from '../../firstboot/lib/output.js';
import type { Register } from '../../firstboot/lib/program.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { renderNode } from '../../firstboot/render/index.js';
import { deploy, type DeployResult } from '../deploy/deploy.js';
import { httpProbes } from '../deploy/gates.js';
import { nodeVm, proxmoxOf, type SnippetMode } from '../deploy/node-vm.js';
import { cloneChoice, describeCreate, describeGates, redactedVendorData } from '../deploy/plan.js';
import { connect } from '../proxmox/client.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from '../proxmox/connection.js';
import { addPlacementOptions, printCalls, printableCalls, resolvePlacement, type PlacementFlags } from './placement-options.js';

interface DeployFlags extends ConnectionFlags, PlacementFlags {
  cluster: string;
  template?: string;
  dryRun?: boolean;
}

/**
 * The cluster file, validated exactly as the node will validate it, every node derived and
 * rendered, and every node's VM data computed — before the first call to Proxmox.
 */
export async function loadForDeploy(file: string, mode: SnippetMode): Promise<Cluster> {
  const { resolved } = await loadClusterFile(file);
  for (const n of await deriveAll(resolved)) renderNode(n);
  proxmoxOf(resolved);
  for (const n of resolved.nodes) nodeVm(resolved, n, mode);
  return resolved;
}

export const registerDeploy: Register = (program, ctx) => {
  const cmd = program
    .command('deploy')
    .description('create and start one VM per node from an appliance template; nodes already deployed are left alone')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML) with a proxmox section')
    .option('--template <ref>', 'template: VMID, <image id>_<version> or version (default: the newest ober template)')
    .option('--dry-run', 'print every API call and the vendor data (secrets redacted); make no call');
  addConnectionOptions(addPlacementOptions(cmd)).action(async (flags: DeployFlags, c: Command) => {
    const out = ctx.output(c);
    const placement = resolvePlacement(flags);
    const resolved = await loadForDeploy(flags.cluster, placement.mode);
    if (flags.dryRun) return printDeployPlan(out, resolved, placement.mode, placement.snippetsDir, flags.template);
    const client = await connect(resolveConnection(flags), { onRetry: (m) => out.warn(m) });
    const snippets = placement.snippetsFor(client.api);
    let result: DeployResult;
    try {
      result = await out.progress().steps(
        resolved.nodes.map((n) => n.name),
        (log) =>
          deploy(client, {
            resolved,
            template: flags.template,
            mode: placement.mode,
            snippets,
            probes: httpProbes(),
            timing: placement.timing,
            log,
          }),
      );
    } finally {
      await snippets?.close();
      await client.close();
    }
    if (out.json) out.emitJson({ ...result });
    else {
      for (const n of result.nodes) {
        const line = `${n.node}: ${n.status}${n.vmid ? ` (VM ${n.vmid} on ${n.pveNode})` : ''}${n.message ? ` — ${n.message}` : ''}`;
        if (n.status === 'failed') out.warn(line);
        else out.ok(line);
      }
    }
    if (!result.ok) process.exitCode = 1;
  });
};

function printDeployPlan(out: Output, resolved: Cluster, mode: SnippetMode, snippetsDir: string, template: string | undefined): void {
  const px = proxmoxOf(resolved);
  const ref = { vmid: template && /^\d+$/.test(template) ? Number(template) : `<template ${template ?? 'newest'}>`, node: px.node ?? '<node of the template>' };
  const plan = { cluster: resolved.name, clone: cloneChoice(resolved), template: ref };
  const nodes = resolved.nodes.map((n) => {
    const vm = nodeVm(resolved, n, mode);
    const calls = printableCalls([...describeCreate(plan, vm, (f) => `${snippetsDir}/${f}`), ...describeGates(resolved, vm)]);
    return { node: n.name, calls, vendorData: redactedVendorData(resolved, n.name) };
  });
  const reads = printableCalls([
    { method: 'GET', path: '/cluster/resources', params: { type: 'vm' }, note: 'find the template; nodes whose VM already has this template and data are left alone' },
    { method: 'GET', path: `/nodes/${ref.node}/qemu/${ref.vmid}/config`, params: {}, note: `the template's firmware must be ${px.firmware}` },
  ]);
  if (out.json) return out.emitJson({ ok: true, dryRun: true, cluster: resolved.name, mode, reads, nodes });
  out.result(`dry run: ober deploy of cluster ${resolved.name} (${resolved.mode}, ${nodes.length} nodes, snippets by ${mode}) — no call made`);
  printCalls(out, reads);
  for (const n of nodes) {
    out.result(`${n.node}:`);
    printCalls(out, n.calls);
    out.result(`  vendor data (secrets redacted):`);
    for (const line of n.vendorData.trimEnd().split('\n')) out.result(`    ${line}`);
  }
}
