// `ober doctor` (is this node set up right?) and `ober test` (would its configuration start?).
import type { Command } from 'commander';
import { readNodeConfig } from '../health/node-config.js';
import type { Output } from '../lib/output.js';
import type { ProgramContext, Register } from '../lib/program.js';
import type { NodeConfig } from '../model/derive.js';
import { DOCTOR_CHECKS, runChecks, TEST_CHECKS, type Check, type CheckResult } from '../ops/checks.js';
import { systemProbes } from '../ops/probes.js';

const MARK = { ok: '✓', warn: '!', fail: '✗', skip: '-' } as const;

function print(out: Output, results: CheckResult[]): void {
  const c = out.colors;
  const colour = { ok: c.green, warn: c.yellow, fail: c.red, skip: c.dim } as const;
  for (const r of results) {
    out.result(`${colour[r.status](MARK[r.status])} ${r.title}: ${r.detail}`);
    if (r.fix && r.status !== 'ok') out.result(`    fix: ${r.fix}`);
  }
}

const action = (ctx: ProgramContext, checks: readonly Check[]) => async (_opts: unknown, cmd: Command) => {
  const out = ctx.output(cmd);
  const layout = ctx.layout(cmd);
  let node: NodeConfig | undefined;
  let nodeError: string | undefined;
  try {
    node = readNodeConfig(layout);
  } catch (e) {
    nodeError = (e as Error).message.split('\n').join(' ');
  }
  const results = await runChecks(checks, { layout, probes: systemProbes, procSys: '/proc/sys', ...(node ? { node } : {}), ...(nodeError ? { nodeError } : {}) });
  const ok = results.every((r) => r.status !== 'fail');
  if (out.json) out.emitJson({ ok, checks: results });
  else print(out, results);
  if (!ok) process.exitCode = 1;
};

const registerDoctor: Register = (program, ctx) => {
  program
    .command('doctor')
    .description('check this node: configuration, kernel settings, watchdog, VIPs, neighbours, certificates, backends, clock')
    .action(action(ctx, DOCTOR_CHECKS));
};

const registerTest: Register = (program, ctx) => {
  program
    .command('test')
    .description('check the rendered configuration with the real daemons and the BGP neighbours; starts nothing')
    .action(action(ctx, TEST_CHECKS));
};

export const doctorRegisters: Register[] = [registerDoctor, registerTest];
