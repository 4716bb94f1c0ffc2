// `ober fleet status --cluster F [--json] [--watch]`: every node's status API in one table, and
// the flags no single node can see (split brain, a VIP on nobody, version skew, unreachable).
import type { Command } from 'commander';
import { readClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { intFlag } from '../../firstboot/lib/flags.js';
import type { Register } from '../../firstboot/lib/program.js';
import { FLEET_TIMEOUT_MS, fleetSnapshot } from '../fleet/collect.js';
import { formatFleet } from '../fleet/format.js';

/** --watch: how often the view is asked again. */
export const WATCH_INTERVAL_MS = 2000;

interface FleetFlags {
  cluster: string;
  watch?: boolean;
  intervalMs?: string;
  timeoutMs?: string;
  events?: string;
}

export const registerFleet: Register = (program, ctx) => {
  const fleet = program.command('fleet').description('the cluster as a whole, from every node’s status API (:8404/status)');
  fleet
    .command('status')
    .description('one table of every node (version, first boot, HAProxy, backends, VIPs, BGP/BFD, VRRP) and what no node sees alone: a VIP on two nodes or none, two VRRP MASTERs, version skew, unreachable nodes (exit 1 when anything is flagged)')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML); the nodes are asked at nodes[].address:8404 (the admin host must be in whitelists.monitoring)')
    .option('--watch', 'ask again every interval and redraw, until interrupted')
    .option('--interval-ms <ms>', `with --watch: how often (default ${WATCH_INTERVAL_MS})`)
    .option('--timeout-ms <ms>', `per node (default ${FLEET_TIMEOUT_MS})`)
    .option('--events <n>', 'how many of the latest events to print (default 5)')
    .action(async (flags: FleetFlags, c: Command) => {
      const out = ctx.output(c);
      const interval = intFlag(flags.intervalMs, '--interval-ms', 'fleet status', 200, 3_600_000) ?? WATCH_INTERVAL_MS;
      const timeout = intFlag(flags.timeoutMs, '--timeout-ms', 'fleet status', 100, 60_000) ?? FLEET_TIMEOUT_MS;
      const events = intFlag(flags.events, '--events', 'fleet status', 0, 1000) ?? 5;
      if (flags.watch && out.json) {
        throw new ConfigError('fleet status', [{ path: '--watch', message: '--watch redraws a screen; --json prints one document', hint: 'use one of them (for a live view in a browser: ober dashboard)' }]);
      }
      const { cluster } = await readClusterFile(flags.cluster);
      if (!flags.watch) {
        const view = await fleetSnapshot(cluster, timeout);
        if (out.json) out.emitJson(view);
        else for (const l of formatFleet(view, out.colors, { events })) out.result(l);
        if (!view.ok) process.exitCode = 1;
        return;
      }
      const tty = (process.stdout as { isTTY?: boolean }).isTTY === true;
      let stop = false;
      const onInt = () => (stop = true);
      process.once('SIGINT', onInt);
      try {
        while (!stop) {
          const started = Date.now();
          const view = await fleetSnapshot(cluster, timeout);
          // On a terminal: redraw in place; elsewhere (a log), one view after the other.
          if (tty) process.stdout.write('\x1b[H\x1b[2J');
          for (const l of formatFleet(view, out.colors, { events })) out.result(l);
          if (!tty) out.result('');
          process.exitCode = view.ok ? 0 : 1;
          while (!stop && Date.now() - started < interval) await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        process.off('SIGINT', onInt);
      }
    });
};
