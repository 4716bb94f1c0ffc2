// `ober firstboot`: what ober-firstboot.service runs at every boot; with --metadata/--root/--no-start
// an operator (or a test) sees what a node would do with given data, without touching the system.
import type { Command } from 'commander';
import { firstboot, recordUnfinished } from '../boot/firstboot.js';
import { systemdActions } from '../boot/system-actions.js';
import { ConfigError, formatIssues } from '../lib/errors.js';
import type { Register } from '../lib/program.js';
import { installedTarget, targetFlag } from '../lib/flags.js';

export const registerFirstboot: Register = (program, ctx) => {
  program
    .command('firstboot')
    .description("read this node's cloud-init data, validate, render and install its configuration (every boot)")
    .option('-m, --metadata <path>', 'metadata directory, ISO image or ober YAML file (default: the Proxmox cloud-init drive)')
    .option('--no-start', 'install the files only: no sysctl, firewall or systemd changes')
    .option('--target <family>', 'image family: debian or rhel', 'debian')
    .option('--haproxy-version <x.y>', "render for this HAProxy version (default: the installed haproxy's, `haproxy -v`)")
    .option('--record-unfinished', "after the unit ended (ExecStopPost): record a run that was killed before it recorded anything")
    .action(async (opts: { metadata?: string; start: boolean; target: string; haproxyVersion?: string; recordUnfinished?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const layout = ctx.layout(cmd);
      if (opts.recordUnfinished) {
        const message = await recordUnfinished(layout, process.env);
        if (message) process.stderr.write(`ober firstboot: FAILED — this node serves nothing:\n  ${message}\n`);
        return;
      }
      // Version-dependent features follow the HAProxy this image ships: the node asks its own.
      let target = targetFlag(opts.target, 'ober firstboot', opts.haproxyVersion);
      if (opts.haproxyVersion === undefined) {
        const installed = await installedTarget(target);
        target = installed.target;
        if (installed.warning) out.warn(installed.warning);
      }
      try {
        const { record } = await firstboot({
          layout,
          ...(opts.metadata ? { metadataPath: opts.metadata } : {}),
          target,
          ...(opts.start ? { actions: systemdActions } : {}),
        });
        for (const w of record.warnings) out.warn(w);
        if (out.json) out.emitJson(record);
        else out.ok(`first boot: node ${record.node} of ${record.cluster} (${record.mode}), release ${record.release} ${record.result} from ${record.source} ${record.location}`);
      } catch (e) {
        // The reason goes to the console (serial) in plain words before the frame reports the error.
        const detail = e instanceof ConfigError ? `${e.source}\n${formatIssues(e.issues)}` : (e as Error).message;
        process.stderr.write(`ober firstboot: FAILED — this node serves nothing until its metadata is fixed:\n${detail}\n`);
        throw e;
      }
    });
};
