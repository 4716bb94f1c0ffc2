// `ober dashboard --cluster F [--listen ADDR]`: the fleet view as a live local web page.
import type { Command } from 'commander';
import { readClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { intFlag } from '../../firstboot/lib/flags.js';
import type { Register } from '../../firstboot/lib/program.js';
import { FLEET_TIMEOUT_MS } from '../fleet/collect.js';
import { DASHBOARD_INTERVAL_MS, DASHBOARD_LISTEN, parseListen, startDashboard } from '../fleet/dashboard.js';

interface DashboardFlags {
  cluster: string;
  listen: string;
  intervalMs?: string;
  timeoutMs?: string;
}

export const registerDashboard: Register = (program, ctx) => {
  program
    .command('dashboard')
    .description('a local web page with the fleet view (ober fleet status), live, the event timeline, split brain in red; runs until interrupted')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML); the nodes are asked at nodes[].address:8404')
    .option('--listen <host:port>', 'where the page is served (keep it on loopback unless others should see it)', DASHBOARD_LISTEN)
    .option('--interval-ms <ms>', `how often the nodes are asked (default ${DASHBOARD_INTERVAL_MS})`)
    .option('--timeout-ms <ms>', `per node (default ${FLEET_TIMEOUT_MS})`)
    .action(async (flags: DashboardFlags, c: Command) => {
      const out = ctx.output(c);
      if (!parseListen(flags.listen)) throw new ConfigError('dashboard', [{ path: '--listen', message: `'${flags.listen}' is not host:port`, hint: `e.g. ${DASHBOARD_LISTEN}` }]);
      const intervalMs = intFlag(flags.intervalMs, '--interval-ms', 'dashboard', 200, 3_600_000) ?? DASHBOARD_INTERVAL_MS;
      const timeoutMs = intFlag(flags.timeoutMs, '--timeout-ms', 'dashboard', 100, 60_000) ?? FLEET_TIMEOUT_MS;
      const { cluster } = await readClusterFile(flags.cluster);
      let d;
      try {
        d = await startDashboard(cluster, { listen: flags.listen, intervalMs, timeoutMs });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new ConfigError('dashboard', [{ path: '--listen', message: `cannot listen on ${flags.listen}: ${err.code ?? err.message}`, hint: 'choose another address or port' }]);
      }
      out.ok(`dashboard of ${cluster.name} at ${d.url} (Ctrl-C stops it)`);
      if (out.json) out.emitJson({ ok: true, url: d.url });
      else out.result(d.url);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await d.close();
    });
};
