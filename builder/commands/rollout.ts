// `ober rollout --cluster F --to <version> [--resume|--revert]` and `ober upgrade --check`.
import type { Command } from 'commander';
import path from 'node:path';
import { loadClusterFile } from '../../firstboot/model/cluster-file.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { findTemplate } from '../deploy/deploy.js';
import { httpProbes } from '../deploy/gates.js';
import { compareVersions, templateTagOf } from '../deploy/identity.js';
import { proxmoxOf } from '../deploy/node-vm.js';
import { nodeVms } from '../deploy/plan.js';
import { listTemplates, type TemplateInfo } from '../deploy/templates.js';
import type { ClusterVm } from '../proxmox/api.js';
import { connect } from '../proxmox/client.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from '../proxmox/connection.js';
import { DEFAULT_STOP_COMMAND, sshNodeAgent } from '../rollout/node-agent.js';
import { RolloutStopped, describeRollout, planRollout, previewRollout, revertRollout, runRollout } from '../rollout/rollout.js';
import { defaultStatePath, readState, type RolloutState } from '../rollout/state.js';
import { loadForDeploy } from './deploy.js';
import { addGithubOptions } from './github-options.js';
import { checkReleases, templateFromRelease, type ReleaseCheckFlags } from './release-upgrade.js';
import { addPlacementOptions, printCalls, printableCalls, resolvePlacement, type PlacementFlags } from './placement-options.js';

interface RolloutFlags extends ConnectionFlags, PlacementFlags {
  cluster: string;
  to?: string;
  resume?: boolean;
  revert?: boolean;
  state?: string;
  keepOld?: boolean;
  dryRun?: boolean;
  nodeSshKey?: string;
}

export const registerRollout: Register = (program, ctx) => {
  const cmd = program
    .command('rollout')
    .description('replace the nodes one at a time with VMs of another template, each behind a health gate')
    .requiredOption('-c, --cluster <file>', 'cluster description (YAML)')
    .option('--to <ref>', 'target template: version, <image id>_<version> or VMID')
    .option('--resume', 'continue an interrupted or stopped rollout where its state file says')
    .option('--revert', 'bring every node the rollout replaced back to its old VM')
    .option('--state <file>', 'state file (default .ober/rollout-<cluster>.json beside the cluster file)')
    .option('--keep-old', 'keep the old VMs (stopped) after success')
    .option('--node-ssh-key <file>', 'key for SSH to the nodes as proxmox.ciuser, for ober stop (default: --ssh-key)')
    .option('--dry-run', 'print what the rollout would do; make no call')
    .option('--download-dir <dir>', 'with --repo: where release images are kept (default .cache/releases/<owner>_<name>)');
  addGithubOptions(cmd, 'take --to V from this GitHub repository\'s releases: download, verify SHA256SUMS, make the template', { reading: true });
  addConnectionOptions(addPlacementOptions(cmd)).action(async (flags: RolloutFlags & ReleaseCheckFlags, c: Command) => {
    const out = ctx.output(c);
    if ([flags.resume, flags.revert, flags.to !== undefined && !flags.resume && !flags.revert].filter(Boolean).length !== 1) {
      throw new ConfigError('ober rollout', [{ path: '--to', message: 'give exactly one of --to <version>, --resume, --revert' }]);
    }
    const placement = resolvePlacement(flags);
    const resolved = await loadForDeploy(flags.cluster, placement.mode);
    const statePath = flags.state ?? defaultStatePath(flags.cluster, resolved.name);
    const previous = await readState(statePath);
    if ((flags.resume || flags.revert) && !previous) {
      throw new ConfigError('ober rollout', [{ path: '--state', message: `no rollout state at ${statePath}` }]);
    }
    if (flags.to && previous && (previous.status === 'running' || previous.status === 'failed')) {
      throw new ConfigError('ober rollout', [{ path: '--to', message: `a rollout to ${previous.to.tag} is unfinished (${statePath})`, hint: 'finish it with --resume or undo it with --revert' }]);
    }
    if (flags.dryRun) {
      // --resume/--revert describe the saved state; --to a rollout not started, with placeholders
      // where only Proxmox could answer (the template's VMID and tag, each node's old VM).
      const preview = previous && !flags.to ? previous : previewRollout(resolved, { vmid: `<template ${flags.to ?? ''}>`, node: proxmoxOf(resolved).node ?? '<node>' });
      const nodes = describeRollout(resolved, preview, placement.mode, (f) => `${placement.snippetsDir}/${f}`);
      if (out.json) return out.emitJson({ ok: true, dryRun: true, nodes: nodes.map((n) => ({ ...n, calls: printableCalls(n.calls) })) });
      out.result(`dry run: rollout of ${resolved.name}, one node at a time — no call made`);
      for (const n of nodes) {
        out.result(`${n.node}:${n.skip ? ' already there, skipped' : ''}`);
        printCalls(out, printableCalls(n.calls));
      }
      return;
    }
    const client = await connect(resolveConnection(flags), { onRetry: (m) => out.warn(m) });
    const snippets = placement.snippetsFor(client.api);
    const px = proxmoxOf(resolved);
    const deps = {
      client,
      agent: sshNodeAgent({
        port: 22,
        username: px.ciuser,
        keyFile: flags.nodeSshKey ?? flags.sshKey ?? process.env.OBER_SSH_KEY,
        // Node host keys are made at first boot: recorded on first contact, checked ever after.
        knownHostsFile: path.join(path.dirname(statePath), 'known_hosts'),
        hostKeyPolicy: 'accept-new' as const,
        command: DEFAULT_STOP_COMMAND,
        timeoutMs: (resolved.haproxy.drainTimeoutSec + 120) * 1000,
      }),
      probes: httpProbes(),
      timing: placement.timing,
      mode: placement.mode,
      snippets,
      statePath,
    };
    try {
      // A release is made into a template first (its own progress), then one line per node.
      const toRef = !flags.revert && !flags.resume && flags.repo && flags.to ? await templateFromRelease(client, resolved, flags.to, flags, out) : flags.to;
      // One progress line per node, in rollout order; its latest step under it.
      const state = await out.progress().steps(
        resolved.nodes.map((n) => n.name),
        async (log): Promise<RolloutState> => {
          const withLog = { ...deps, log };
          if (flags.revert) return revertRollout(resolved, previous as RolloutState, withLog);
          if (flags.resume) return runRollout(resolved, previous as RolloutState, withLog);
          const to = await findTemplate(client, resolved, toRef, '--to');
          return runRollout(resolved, planRollout(resolved, to, await client.api.clusterVms(), placement.mode, !!flags.keepOld), withLog);
        },
      );
      if (out.json) out.emitJson({ ok: true, state });
      else out.ok(`rollout of ${resolved.name} ${state.status === 'reverted' ? 'reverted' : `to ${state.to.tag} done`} (state: ${statePath})`);
    } catch (e) {
      if (e instanceof RolloutStopped && out.json) {
        out.emitJson({ ok: false, error: { kind: e.name, message: e.message }, state: e.state });
        process.exitCode = 1;
        return;
      }
      throw e;
    } finally {
      await snippets?.close();
      await client.close();
    }
  });
};

export interface UpgradeCandidate {
  template: TemplateInfo;
  newerThan: string[];
}

/** Pure: templates newer than the oldest version a node of the cluster runs (or any, without a cluster). */
export function upgradeCandidates(vms: readonly ClusterVm[], cluster?: { name: string; nodes: { name: string }[] }): { running: Record<string, string>; newer: TemplateInfo[] } {
  const running: Record<string, string> = {};
  if (cluster) {
    for (const n of cluster.nodes) {
      const version = nodeVms(vms, cluster.name, n.name).map((vm) => templateTagOf(vm)?.version).find(Boolean);
      if (version) running[n.name] = version;
    }
  }
  const templates = listTemplates(vms);
  const versions = Object.values(running);
  const oldest = versions.sort(compareVersions)[0];
  const newer = templates.filter((t) => oldest === undefined || compareVersions(t.version, oldest) > 0);
  return { running, newer };
}

export const registerUpgrade: Register = (program, ctx) => {
  const cmd = program
    .command('upgrade')
    .description('list ober templates on Proxmox (or, with --repo, releases) newer than what the nodes run; the upgrade itself is ober rollout')
    .option('--check', 'the same (what upgrade does without --download: it changes nothing)')
    .option('-c, --cluster <file>', 'cluster whose nodes to compare (default: list every template)')
    .option('--current <version>', 'with --repo: the version to compare with (default: the image definition\'s)')
    .option('--download', 'with --repo: download the newest release and verify it against its SHA256SUMS')
    .option('--download-dir <dir>', 'with --repo: where to keep it (default .cache/releases/<owner>_<name>)');
  addGithubOptions(cmd, 'list the newer releases of this GitHub repository instead of Proxmox templates', { reading: true });
  addConnectionOptions(cmd).action(async (flags: ConnectionFlags & ReleaseCheckFlags & { cluster?: string }, c: Command) => {
    const out = ctx.output(c);
    if (flags.repo) return checkReleases(flags, out);
    const cluster = flags.cluster ? (await loadClusterFile(flags.cluster)).cluster : undefined;
    const client = await connect(resolveConnection(flags), { onRetry: (m) => out.warn(m) });
    try {
      const { running, newer } = upgradeCandidates(await client.api.clusterVms(), cluster);
      if (out.json) return out.emitJson({ ok: true, running, newer });
      for (const [node, v] of Object.entries(running)) out.result(`${node}: runs ${v}`);
      if (!newer.length) out.result('no newer template');
      for (const t of newer) out.result(`${t.version}  ${t.id}_${t.version}  (template VM ${t.vmid} on ${t.node}) — ober rollout --to ${t.version}`);
    } finally {
      await client.close();
    }
  });
};
