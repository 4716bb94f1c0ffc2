// `ober sync`: change the whitelists at run time without dropping a connection.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { readNodeConfig } from '../health/node-config.js';
import { ConfigError } from '../lib/errors.js';
import type { Register } from '../lib/program.js';
import { haproxySocket } from '../ops/haproxy-cli.js';
import { nftApply } from '../ops/nft-sets.js';
import { applySync, planSync } from '../ops/sync.js';
import { backendsOutside, enforced, flagOf, readSynced, resolveWhitelists, SYNC_KEYS, type SyncKey } from '../ops/whitelists.js';

type SyncOptions = Partial<Record<SyncKey, string>> & { dryRun?: boolean };

const show = (v: string[] | 'any' | undefined) => (v === undefined ? '(not known on the node)' : v === 'any' ? 'any source' : v.length ? v.join(', ') : '(nobody)');

const registerSync: Register = (program, ctx) => {
  const cmd = program
    .command('sync')
    .description('replace whitelists at run time (HAProxy ACLs, nftables sets) without dropping connections; no option: print them');
  for (const k of SYNC_KEYS) cmd.option(`${flagOf(k)} <hostlist>`, `new whitelists.${k} (addresses, networks, host names, hostlist ranges)`);
  cmd.option('--dry-run', 'print what would change, change nothing').action(async (opts: SyncOptions, c: Command) => {
    const out = ctx.output(c);
    const layout = ctx.layout(c);
    const node = readNodeConfig(layout);
    const synced = await readSynced(layout);
    const given = Object.fromEntries(SYNC_KEYS.filter((k) => opts[k] !== undefined).map((k) => [k, opts[k]])) as Partial<Record<SyncKey, string>>;

    if (Object.keys(given).length === 0) {
      const now = enforced(node, synced);
      if (out.json) out.emitJson({ ok: true, whitelists: now, synced });
      else for (const k of SYNC_KEYS) out.result(`${k.padEnd(13)} ${show(now[k])}${synced[k] ? '  (ober sync)' : ''}`);
      return;
    }

    const resolved = await resolveWhitelists(given);
    const plan = planSync(node, layout, resolved, synced);
    if (resolved.backendHttp) plan.issues.push(...(await backendsOutside(node, resolved.backendHttp)));
    if (plan.issues.length) throw new ConfigError('ober sync', plan.issues);

    for (const ch of plan.changes) {
      out.info(`${ch.key}: ${show(ch.from)} → ${show(ch.to)}`);
      if (ch.added.length) out.info(`  + ${ch.added.join(', ')}`);
      if (ch.removed.length) out.info(`  - ${ch.removed.join(', ')}`);
      for (const t of ch.targets) out.detail(`  ${t.kind === 'nft-set' ? `nftables set ${t.set}` : `HAProxy ACL ${t.file}`}`);
      if (ch.note) out.info(`  (${ch.note})`);
    }
    if (opts.dryRun) {
      if (out.json) out.emitJson({ ok: true, dryRun: true, changes: plan.changes });
      return;
    }
    // HAProxy not running: its ACL files are rewritten and read at its next start.
    const cli = haproxySocket(layout.haproxySocket);
    const haproxy = existsSync(layout.haproxySocket) && (await cli('show info').then(() => true, () => false)) ? cli : undefined;
    const done = await applySync(layout, plan, { nft: nftApply(), ...(haproxy ? { haproxy } : {}) });
    if (out.json) out.emitJson({ ok: true, changes: plan.changes, applied: done });
    else out.ok(`applied: ${done.join(', ')}`);
  });
};

export const syncRegisters: Register[] = [registerSync];
