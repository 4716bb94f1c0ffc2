// `ober drill`: build the lab for the user's cluster (network namespaces on this machine, real
// HAProxy / ExaBGP / BIRD / keepalived with the files the nodes would render, an FRR router, a
// client and a backend), inject each failure, and print the recovery table next to the seed's
// figures. Needs root; touches nothing outside the namespaces it creates, and removes them.
import type { Command } from 'commander';
import { loadClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError, OberError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { formatTable } from '../lab/drill-report.js';
import { runDrill } from '../lab/drills.js';
import { SCENARIOS } from '../lab/scenarios.js';
import { Lab, labLeftovers } from '../lab/netns.js';
import { resolveDaemons } from '../image/image-root.js';
import { checkLabTools } from '../lab/topology.js';

interface DrillCliOptions {
  cluster: string;
  mode?: string;
  trials: string;
  only?: string;
}

export const registerDrill: Register = (program, ctx) => {
  program
    .command('drill')
    .description('failure drills on a lab of network namespaces built from the cluster file (root): recovery times per scenario')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .option('--mode <mode>', "expected HA mode, bgp or keepalived (the cluster's mode is what runs)")
    .option('--trials <n>', 'trials per scenario (a different node each)', '3')
    .option('--only <ids>', `comma-separated scenario ids (${SCENARIOS.map((s) => s.id).join(', ')})`)
    .action(async (opts: DrillCliOptions, cmd: Command) => {
      const out = ctx.output(cmd);
      const trials = Number(opts.trials);
      if (!Number.isInteger(trials) || trials < 1 || trials > 50) {
        throw new ConfigError('ober drill', [{ path: '--trials', message: `'${opts.trials}' is not a whole number from 1 to 50` }]);
      }
      const { resolved } = await loadClusterFile(opts.cluster);
      if (opts.mode !== undefined && opts.mode !== resolved.mode) {
        throw new ConfigError('ober drill', [
          { path: '--mode', message: `the cluster ${opts.cluster} is in ${resolved.mode} mode, not '${opts.mode}'`, hint: `drill a ${opts.mode} cluster file, or drop --mode` },
        ]);
      }
      const only = opts.only?.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id && s.mode === resolved.mode)) ?? [];
      if (unknown.length) {
        throw new ConfigError('ober drill', [
          { path: '--only', message: `unknown ${resolved.mode} scenario(s): ${unknown.join(', ')}`, hint: `known: ${SCENARIOS.filter((s) => s.mode === resolved.mode).map((s) => s.id).join(', ')}` },
        ]);
      }
      if (typeof process.getuid === 'function' && process.getuid() !== 0) {
        throw new OberError('ober drill needs root: it creates network namespaces and runs HAProxy, the routing daemons and keepalived in them. Run it as root (sudo ober drill ...).');
      }
      // The image's HAProxy, keepalived, ExaBGP and BIRD when an image tree was built here
      // (.cache/image, OBER_IMAGE_TREE), else the host's (OBER_DAEMONS=host|image forces one).
      const daemons = await resolveDaemons();
      await checkLabTools(resolved.mode, daemons);

      const lab = new Lab();
      const scenarios = SCENARIOS.filter((s) => s.mode === resolved.mode && (!only || only.includes(s.id))).map((s) => s.id);
      let report;
      try {
        report = await out.progress().steps(['lab', ...scenarios], (log) => {
          log('lab', `building the lab for ${resolved.name} (${resolved.mode}, ${resolved.nodes.length} nodes) in ${lab.dir}`);
          return runDrill(lab, resolved, { trials, daemons, ...(only ? { only } : {}), log: (m) => log('lab', m), progress: log });
        });
      } finally {
        await lab.teardown();
      }
      const left = await labLeftovers(lab);
      const clean = left.namespaces.length === 0 && left.veths.length === 0 && left.processes.length === 0 && !left.dir;
      const table = formatTable(report);
      if (out.json) {
        out.emitJson({ ok: clean && report.summary.every((s) => s.problems.length === 0), ...report, table, leftovers: left });
      } else {
        out.result(table);
        if (!clean) out.warn(`the lab left something behind: ${JSON.stringify(left)}`);
      }
      if (!clean) process.exitCode = 1;
    });
};
