// `ober backend-routes`: give the path to every server of a backend whose connections HAProxy keeps
// a `quickack 1` route (firstboot/ops/backend-quickack.ts says why). Run once per boot by
// ober-routes.service, which ober-http pulls in and waits for: after the network is up, which
// first boot (before the network) cannot wait for; networkd keeps the routes from then on. A route
// that does not take is reported (exit 1, and `ober doctor`), and HAProxy starts anyway.
import type { Command } from 'commander';
import type { Register } from '../lib/program.js';
import { readNodeConfig } from '../health/node-config.js';
import { applyBackendQuickAck, planBackendQuickAck } from '../ops/backend-quickack.js';

interface Options {
  dryRun?: boolean;
}

export const registerBackendRoutes: Register = (program, ctx) => {
  program
    .command('backend-routes')
    .description('route every kept backend server with quickack (ober-routes.service, before HAProxy starts): small answers never wait for a delayed ACK')
    .option('--dry-run', 'print the routes it would make, change nothing')
    .action(async (opts: Options, cmd: Command) => {
      const out = ctx.output(cmd);
      const layout = ctx.layout(cmd);
      const node = readNodeConfig(layout);
      if (opts.dryRun) {
        const plan = await planBackendQuickAck(node);
        if (out.json) out.emitJson({ ok: true, dryRun: true, ...plan });
        else {
          for (const r of plan.routes) out.info(`would route ${r.address} ${r.gateway ? `via ${r.gateway} ` : ''}dev ${r.dev}${r.local ? ' (local)' : ''} with quickack`);
          for (const h of plan.unresolved) out.warn(`${h}: no address or route now`);
          if (!plan.routes.length && !plan.unresolved.length) out.info('no backend keeps its connections: nothing to route');
        }
        return;
      }
      const r = await applyBackendQuickAck(node, { networkd: true, networkdDir: layout.networkdDir, header: 'Herr Ober: backend routes (ober backend-routes)' });
      const missed = r.results.filter((x) => !x.ok);
      if (out.json) out.emitJson({ ok: missed.length === 0 && r.unresolved.length === 0, ...r });
      else {
        for (const x of r.results) (x.ok ? out.ok.bind(out) : out.warn.bind(out))(`${x.address} ${x.gateway ? `via ${x.gateway} ` : ''}dev ${x.dev}: ${x.ok ? `quickack (${x.via === 'networkd' ? 'networkd drop-in' : 'ip route'})` : 'the quickack route did not take: small answers on its kept connections may wait ~40 ms'}`);
        for (const h of r.unresolved) out.warn(`${h}: no address or route now, so no quickack route: small answers on its kept connections may wait ~40 ms`);
      }
      if (missed.length || r.unresolved.length) process.exitCode = 1;
    });
};
