// `ober destroy --cluster F [--dry-run | --yes]`: remove the cluster's VMs, snippets and seed ISOs.
import type { Command } from 'commander';
import { loadClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { carrierVolid } from '../deploy/vm-ops.js';
import { applyDestroy, planDestroy } from '../deploy/destroy.js';
import { proxmoxOf } from '../deploy/node-vm.js';
import { connect } from '../proxmox/client.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from '../proxmox/connection.js';
import { addPlacementOptions, resolvePlacement, type PlacementFlags } from './placement-options.js';

interface DestroyFlags extends ConnectionFlags, PlacementFlags {
  cluster: string;
  dryRun?: boolean;
  yes?: boolean;
}

export const registerDestroy: Register = (program, ctx) => {
  const cmd = program
    .command('destroy')
    .description("remove a cluster's VMs (retired ones too), their snippets and seed ISOs, and any left over from interrupted runs")
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .option('--dry-run', 'read what exists and print what would be removed; change nothing')
    .option('--yes', 'really remove (required without --dry-run)');
  addConnectionOptions(addPlacementOptions(cmd)).action(async (flags: DestroyFlags, c: Command) => {
    const out = ctx.output(c);
    if (!flags.dryRun && !flags.yes) {
      throw new ConfigError('ober destroy', [{ path: '--yes', message: 'destroying a cluster needs --yes', hint: 'look first: ober destroy --cluster <file> --dry-run' }]);
    }
    const placement = resolvePlacement(flags);
    const { resolved } = await loadClusterFile(flags.cluster);
    proxmoxOf(resolved);
    const client = await connect(resolveConnection(flags), { onRetry: (m) => out.warn(m) });
    const snippets = flags.dryRun ? undefined : placement.snippetsFor(client.api);
    try {
      const plan = await planDestroy(client, resolved);
      if (flags.dryRun) {
        if (out.json) return out.emitJson({ ok: true, dryRun: true, ...plan });
        out.result(`dry run: ober destroy of cluster ${resolved.name} — nothing changed`);
        for (const vm of plan.vms) {
          out.result(`  ${vm.node}: VM ${vm.vmid} on ${vm.pveNode} (${vm.status})${vm.carriers.map((c) => `, ${carrierVolid(c)}`).join('')}`);
        }
        for (const o of plan.orphans) out.result(`  left over: ${carrierVolid(o)} on ${o.pveNode}`);
        if (!plan.vms.length && !plan.orphans.length) out.result('  nothing to remove');
        return;
      }
      await applyDestroy(client, plan, snippets, (node, m) => out.info(`${node}: ${m}`));
      if (out.json) out.emitJson({ ok: true, removed: plan });
      else out.ok(`cluster ${resolved.name}: ${plan.vms.length} VMs and ${plan.vms.reduce((n, v) => n + v.carriers.length, 0) + plan.orphans.length} snippets/seeds removed`);
    } finally {
      await snippets?.close();
      await client.close();
    }
  });
};
