// `ober stop`, `ober start`, `ober restart`: take the node out of rotation gracefully and back.
import type { Command } from 'commander';
import { rm } from 'node:fs/promises';
import { readNodeConfig } from '../health/node-config.js';
import { ConfigError } from '../lib/errors.js';
import type { Output } from '../lib/output.js';
import type { ProgramContext, Register } from '../lib/program.js';
import type { Layout } from '../model/layout.js';
import { writeFileAtomic } from '../ops/atomic.js';
import { addAclPattern, backendSessions, frontendCounters, haproxySocket } from '../ops/haproxy-cli.js';
import { holdNewConnections, releaseHold, unsettledConnections } from '../ops/sockets.js';
import { chooseServiceControl, type ServiceControl } from '../ops/services.js';
import { backendId, closingAclPath, CLOSING_PATTERN, S3_PORTS } from '../render/haproxy.js';
import { executeStop, planStop, stopSettings, type StopStepResult } from '../ops/stop.js';
import { localAddresses } from '../ops/vrrp.js';
import { realClock } from '../ops/wait.js';

interface StopOptions {
  drainTimeout?: string;
  dryRun?: boolean;
  systemd: boolean;
}

function seconds(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError('ober', [{ path: flag, message: `must be a whole number of seconds, got '${v}'` }]);
  return n;
}

export async function gracefulStop(layout: Layout, service: ServiceControl, out: Output, opts: { drainTimeoutSec?: number; dryRun?: boolean }): Promise<StopStepResult[] | undefined> {
  const node = readNodeConfig(layout);
  const settings = stopSettings(node, opts.drainTimeoutSec === undefined ? {} : { drainTimeoutSec: opts.drainTimeoutSec });
  if (opts.dryRun) {
    const steps = planStop(settings);
    if (out.json) out.emitJson({ ok: true, dryRun: true, steps });
    else steps.forEach((s, i) => out.result(`${i + 1}. ${s.name}: ${s.description}`));
    return undefined;
  }
  const cli = haproxySocket(layout.haproxySocket, 2000);
  return executeStop(settings, {
    setMaintenance: () => writeFileAtomic(layout.maintenanceFlag, `ober stop at ${new Date().toISOString()}\n`),
    closeConnections: () => addAclPattern(cli, closingAclPath(layout), CLOSING_PATTERN),
    // The track feed writes 1 too while the flag exists; writing it here saves its poll interval.
    lowerPriority: () => writeFileAtomic(layout.trackFile, '1\n'),
    holdNewConnections: (expirySec) => holdNewConnections(node.vips.map((v) => v.address), expirySec),
    releaseHold: () => releaseHold(),
    inFlight: async () => {
      try {
        const requests = await backendSessions(cli, [...new Set(node.vips.map((v) => backendId(v.backend)))]);
        // Only VIPs still here: a connection on one that already moved (a fail-back took it) gets
        // no ACK again and keeps its send queue until TCP gives up; waiting for it is pointless.
        const local = await localAddresses();
        const unsettled = await unsettledConnections(node.vips.filter((v) => local.has(v.address)).map((v) => v.address), Object.values(S3_PORTS));
        const sockets = unsettled.slice(0, 3).map((q) => `${q.peer}→${q.local} recv-q ${q.recvQ} send-q ${q.sendQ}`);
        return { count: requests + unsettled.length, detail: `${requests} request(s) at the backends, ${unsettled.length} connection(s) with data unread or unacknowledged, or no request yet${sockets.length ? `: ${sockets.join(', ')}` : ''}` };
      } catch {
        return undefined;
      }
    },
    frontends: (names) => frontendCounters(cli, names).catch(() => undefined),
    // The addresses are the truth for where traffic goes; the VRRP state files come from notify
    // scripts keepalived runs concurrently, and a quick MASTER → BACKUP can leave a stale MASTER.
    heldVips: async () => {
      const local = await localAddresses();
      return node.vips.filter((v) => local.has(v.address)).map((v) => v.address);
    },
    service,
    clock: realClock,
    progress: (step, message) => out.info(`→ ${step}: ${message}`),
  });
}

function report(out: Output, results: StopStepResult[]): void {
  for (const r of results) {
    if (r.ok) out.ok(`${r.name}: ${r.detail} (${(r.elapsedMs / 1000).toFixed(1)} s)`);
    else out.warn(`${r.name}: ${r.detail}`);
  }
}

async function start(layout: Layout, service: ServiceControl, out: Output): Promise<void> {
  await rm(layout.maintenanceFlag, { force: true });
  out.ok('maintenance flag removed: the health feeds report this node again once HAProxy is healthy');
  // The mode's units follow through the Upholds= drop-in of ober-http.
  await service.start('http');
  out.ok(`ober-http started (${service.kind})`);
}

const serviceFor = (ctx: ProgramContext, cmd: Command, systemd: boolean) => chooseServiceControl(ctx.layout(cmd), { noSystemd: !systemd });

const registerStop: Register = (program, ctx) => {
  program
    .command('stop')
    .description('take this node out of service gracefully: end client keep-alive, withdraw/hand over the VIPs, drain HAProxy, stop it')
    .option('--drain-timeout <seconds>', "bound on waiting for connections to finish (default: the cluster's haproxy.drainTimeoutSec)")
    .option('--dry-run', 'print the steps, change nothing')
    .option('--no-systemd', 'signal HAProxy through its pid file instead of systemctl')
    .action(async (opts: StopOptions, cmd: Command) => {
      const out = ctx.output(cmd);
      const layout = ctx.layout(cmd);
      const drainTimeoutSec = seconds(opts.drainTimeout, '--drain-timeout');
      const results = await gracefulStop(layout, serviceFor(ctx, cmd, opts.systemd), out, { ...(drainTimeoutSec !== undefined ? { drainTimeoutSec } : {}), dryRun: !!opts.dryRun });
      if (!results) return;
      if (out.json) out.emitJson({ ok: true, steps: results });
      else report(out, results);
    });
};

const registerStart: Register = (program, ctx) => {
  program
    .command('start')
    .description('put this node back into service: remove the maintenance flag and start HAProxy (the HA units follow)')
    .option('--no-systemd', 'start HAProxy directly instead of through systemctl')
    .action(async (opts: { systemd: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      await start(ctx.layout(cmd), serviceFor(ctx, cmd, opts.systemd), out);
      if (out.json) out.emitJson({ ok: true });
    });
};

const registerRestart: Register = (program, ctx) => {
  program
    .command('restart')
    .description('ober stop, then ober start')
    .option('--drain-timeout <seconds>', "bound on waiting for connections to finish (default: the cluster's haproxy.drainTimeoutSec)")
    .option('--no-systemd', 'signal HAProxy through its pid file instead of systemctl')
    .action(async (opts: StopOptions, cmd: Command) => {
      const out = ctx.output(cmd);
      const layout = ctx.layout(cmd);
      const service = serviceFor(ctx, cmd, opts.systemd);
      const drainTimeoutSec = seconds(opts.drainTimeout, '--drain-timeout');
      const results = (await gracefulStop(layout, service, out, drainTimeoutSec !== undefined ? { drainTimeoutSec } : {})) ?? [];
      report(out, results);
      await start(layout, service, out);
      if (out.json) out.emitJson({ ok: true, steps: results });
    });
};

export const serviceRegisters: Register[] = [registerStop, registerStart, registerRestart];
