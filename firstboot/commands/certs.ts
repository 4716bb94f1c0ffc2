// `ober certs reload`: run by ober-certs.service whenever the certificate directory changes
// (ober-certs.path), or by hand. Broken files are refused and the old certificate stays in service.
import type { Command } from 'commander';
import { OberError } from '../lib/errors.js';
import type { Register } from '../lib/program.js';
import { certDirs, reloadCertificates } from '../ops/certs.js';
import { systemProbes } from '../ops/probes.js';
import { chooseServiceControl } from '../ops/services.js';

const registerCerts: Register = (program, ctx) => {
  const certs = program.command('certs').description('TLS certificates served by HAProxy');
  certs
    .command('reload')
    .description('check every certificate, refuse broken ones (the last good copy stays), haproxy -c, then reload gracefully')
    .option('--no-systemd', 'signal HAProxy through its pid file instead of systemctl')
    .action(async (opts: { systemd: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const layout = ctx.layout(cmd);
      const service = chooseServiceControl(layout, { noSystemd: !opts.systemd });
      const r = await reloadCertificates(certDirs(layout), {
        check: () => systemProbes.run(['haproxy', '-c', '-f', layout.haproxyCfg]),
        reload: () => service.reload('http'),
        now: () => new Date(),
      });
      for (const x of r.rejected) {
        // stderr goes to the journal under systemd: this is the log line an operator will look for.
        out.warn(`refused ${x.name}: ${x.problem}; moved to ${x.movedTo}; ${x.restored ? 'the last good copy is back in place' : 'no earlier copy to restore'}`);
      }
      if (r.refusedByHaproxy !== undefined) out.warn(`haproxy -c refused the new certificates:\n${r.refusedByHaproxy}`);
      if (r.reloaded) out.ok(`reloaded HAProxy for ${r.changed.join(', ')}`);
      else if (r.changed.length === 0) out.ok('no certificate changed: no reload');
      const ok = r.rejected.length === 0 && r.refusedByHaproxy === undefined;
      if (out.json) out.emitJson({ ok, ...r });
      if (!ok) {
        // Non-zero exit: ober-certs.service shows as failed, the refusal is visible in systemctl --failed.
        if (out.json) process.exitCode = 1;
        else throw new OberError(`certificate reload refused ${r.rejected.length + (r.refusedByHaproxy !== undefined ? 1 : 0)} change(s); HAProxy keeps serving the previous certificates`);
      }
    });
};

export const certsRegisters: Register[] = [registerCerts];
