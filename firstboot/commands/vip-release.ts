// `ober vip-release`: remove this node's keepalived VIPs from its VRRP interface. Run by
// ober-ha.service as ExecStopPost, whichever way keepalived stopped: a keepalived killed with
// SIGKILL (OOM killer, watchdog) leaves its VIPs configured, and after a backup takes over the VIP
// is on two nodes at once (lab note 11: the router follows whichever GARP came last).
import type { Command } from 'commander';
import { run } from '../lib/exec.js';
import { ipv4Addresses } from '../lib/ip.js';
import type { Register } from '../lib/program.js';
import { readNodeConfig } from '../health/node-config.js';

export interface ReleasedVip {
  name: string;
  address: string;
  interface: string;
}

export async function releaseVips(node: Parameters<typeof releasePlan>[0]): Promise<ReleasedVip[]> {
  const plan = releasePlan(node);
  const present = await ipv4Addresses(plan.interface);
  const released: ReleasedVip[] = [];
  for (const v of plan.vips) {
    if (!present.has(v.address)) continue;
    await run(['ip', '-4', 'addr', 'del', `${v.address}/32`, 'dev', plan.interface]);
    released.push({ ...v, interface: plan.interface });
  }
  return released;
}

/** Which VIPs on which interface are keepalived's on this node. */
export function releasePlan(node: ReturnType<typeof readNodeConfig>): { interface: string; vips: { name: string; address: string }[] } {
  return {
    interface: node.keepalived?.interface ?? node.node.interface,
    vips: node.mode === 'keepalived' ? node.vips.map((v) => ({ name: v.name, address: v.address })) : [],
  };
}

export const registerVipRelease: Register = (program, ctx) => {
  program
    .command('vip-release')
    .description("remove this node's keepalived VIPs from its interface (ExecStopPost of ober-ha after keepalived died)")
    .action(async (_opts: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const node = readNodeConfig(ctx.layout(cmd));
      const released = await releaseVips(node);
      if (out.json) out.emitJson({ ok: true, released });
      else if (released.length === 0) out.info('no VIP of this node is configured');
      else for (const r of released) out.ok(`released ${r.name} ${r.address}/32 from ${r.interface}`);
    });
};
