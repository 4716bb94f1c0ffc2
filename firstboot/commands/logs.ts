// `ober logs`: the journal of the ober units, through journalctl (argv, never a shell).
import type { Command } from 'commander';
import { ConfigError } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import type { Register } from '../lib/program.js';
import { SERVICES, unitName, type Service } from '../ops/services.js';

export interface LogsOptions {
  follow?: boolean;
  lines?: number;
  service?: Service;
  json?: boolean;
}

export function journalctlArgv(o: LogsOptions): string[] {
  return [
    'journalctl',
    // Without --service: every ober unit (journalctl matches unit name globs).
    '-u',
    o.service ? unitName(o.service) : 'ober-*',
    '--no-pager',
    '-o',
    o.json ? 'json' : 'short-iso',
    ...(o.lines !== undefined ? ['-n', String(o.lines)] : []),
    ...(o.follow ? ['-f'] : []),
  ];
}

const registerLogs: Register = (program, ctx) => {
  program
    .command('logs')
    .description('show the logs of the ober services (journalctl)')
    .option('-f, --follow', 'keep printing new entries')
    .option('-n, --lines <n>', 'number of most recent entries')
    .option('--service <name>', `one service: ${SERVICES.join(', ')}`)
    .action(async (opts: { follow?: boolean; lines?: string; service?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const issues = [];
      if (opts.service !== undefined && !(SERVICES as readonly string[]).includes(opts.service)) {
        issues.push({ path: '--service', message: `'${opts.service}' is not a service`, hint: `use one of ${SERVICES.join(', ')}` });
      }
      if (opts.lines !== undefined && !/^\d+$/.test(opts.lines)) issues.push({ path: '--lines', message: `'${opts.lines}' is not a number` });
      // --json is one document: entries that keep coming cannot be one.
      if (out.json && opts.follow) issues.push({ path: '--follow', message: 'cannot be combined with --json (one JSON document)', hint: 'ober logs --json -n 100, or journalctl -u "ober-*" -o json -f for a stream' });
      if (issues.length) throw new ConfigError('ober logs', issues);
      const argv = journalctlArgv({
        follow: !!opts.follow,
        ...(opts.lines !== undefined ? { lines: Number(opts.lines) } : {}),
        ...(opts.service ? { service: opts.service as Service } : {}),
        json: out.json,
      });
      if (out.json) {
        // journalctl -o json prints one object a line: gathered into the run's one document.
        const r = await run(argv);
        out.emitJson({ ok: true, entries: r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown) });
        return;
      }
      // Streamed straight through: -f runs until interrupted.
      await run(argv, { inherit: true });
    });
};

export const logsRegisters: Register[] = [registerLogs];
