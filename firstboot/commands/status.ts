// `ober status`: what this node is doing — mode, VIPs and who holds them, BGP/BFD or VRRP state,
// HAProxy backends, the last first-boot result, the image version. Exit 0 when healthy, else 1.
// `--publish` keeps the same document (and recent events) in /run for the node status API.
import type { Command } from 'commander';
import { intFlag } from '../lib/flags.js';
import type { Register } from '../lib/program.js';
import { collectStatus } from '../ops/node-status.js';
import { PUBLISH_INTERVAL_MS, publishStatusLoop } from '../ops/status-publish.js';

export { collectStatus, parseStatsCsv, type NodeStatus } from '../ops/node-status.js';

export const registerStatus: Register = (program, ctx) => {
  program
    .command('status')
    .description('mode, VIPs, BGP/BFD or VRRP state, backends, last first boot, image version (exit 1 when unhealthy)')
    .option('--publish', 'keep publishing the status and recent events for the node status API (:8404/status, /events); runs until stopped (ober-status.service)')
    .option('--interval-ms <ms>', `with --publish: how often (default ${PUBLISH_INTERVAL_MS})`)
    .action(async (opts: { publish?: boolean; intervalMs?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const intervalMs = intFlag(opts.intervalMs, '--interval-ms', 'status', 200, 60_000) ?? PUBLISH_INTERVAL_MS;
      if (opts.publish) {
        const layout = ctx.layout(cmd);
        out.info(`publishing the status to ${layout.statusFile} and events to ${layout.eventsFile} every ${intervalMs} ms`);
        await publishStatusLoop(layout, { intervalMs, warn: (m) => out.warn(m) });
        return;
      }
      const s = await collectStatus(ctx.layout(cmd));
      if (out.json) out.emitJson(s);
      else {
        const c = out.colors;
        out.result(`${s.healthy ? c.green('healthy') : c.red('NOT healthy')}  node ${s.node ?? '?'} of ${s.cluster ?? '?'}, mode ${s.mode ?? '?'}, image ${s.imageVersion ?? '?'}`);
        if (s.firstboot) out.result(`first boot: ${s.firstboot.result} at ${s.firstboot.at}${s.firstboot.thisBoot ? '' : ' (earlier boot)'}${s.firstboot.release ? `, release ${s.firstboot.release}` : ''}`);
        for (const v of s.vips) {
          const state = v.vrrpState ?? (v.announced === undefined ? '' : v.announced ? 'announced' : 'withdrawn');
          out.result(`  VIP ${v.name} ${v.address}: ${state}${v.heldHere ? ', held here' : ''}, backend ${v.backendUp ? 'up' : 'DOWN'}`);
        }
        for (const b of s.bgp ?? []) out.result(`  BGP ${b.neighbor}: ${b.established ? 'established' : 'down'}`);
        for (const b of s.bfd ?? []) out.result(`  BFD ${b.neighbor}: ${b.state}`);
        for (const b of s.backends) out.result(`  ${b.backend}/${b.server}: ${b.status}`);
        for (const p of s.problems) out.result(`  ${c.yellow('!')} ${p}`);
        for (const w of s.warnings) out.result(`  ${c.yellow('warning:')} ${w}`);
      }
      if (!s.healthy) process.exitCode = 1;
    });
};
