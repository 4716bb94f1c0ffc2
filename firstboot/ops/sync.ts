// `ober sync`: plan (pure: what changes where) and apply (nftables, HAProxy, files, sync file).
import path from 'node:path';
import type { ConfigIssue } from '../lib/errors.js';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { ACL_FILES } from '../render/haproxy.js';
import { NFT_SETS } from '../render/system.js';
import { writeFileAtomic } from './atomic.js';
import { replaceAcl, type HaproxyCommand } from './haproxy-cli.js';
import { nftSetScript, type NftApply } from './nft-sets.js';
import { enforced, flagOf, writeSynced, type SyncedWhitelists, type SyncKey } from './whitelists.js';

export type SyncTarget = { kind: 'haproxy-acl'; file: string } | { kind: 'nft-set'; set: string };

export interface SyncChange {
  key: SyncKey;
  /** What the node enforces now ('any': no whitelist; undefined: not known on the node). */
  from: string[] | 'any' | undefined;
  /** What it will enforce (routers: the BGP neighbours are always included). */
  to: string[];
  added: string[];
  removed: string[];
  targets: SyncTarget[];
  note?: string;
}

export interface SyncPlan {
  changes: SyncChange[];
  /** Written to the sync file: the operator's lists, as resolved. */
  persist: SyncedWhitelists;
  issues: ConfigIssue[];
}

/** `resolved`: the given whitelists, expanded and resolved (resolveWhitelists). */
export function planSync(node: NodeConfig, layout: Layout, resolved: SyncedWhitelists, synced: SyncedWhitelists): SyncPlan {
  const now = enforced(node, synced);
  const issues: ConfigIssue[] = [];
  const changes: SyncChange[] = [];
  const acl = (k: keyof typeof ACL_FILES): SyncTarget => ({ kind: 'haproxy-acl', file: path.join(layout.haproxyAclDir, ACL_FILES[k]) });
  const set = (k: keyof typeof NFT_SETS): SyncTarget => ({ kind: 'nft-set', set: NFT_SETS[k] });
  const notConfigured = (k: SyncKey) =>
    issues.push({
      path: flagOf(k),
      message: `whitelists.${k} was not set when this node was configured: there is no HAProxy ACL or nftables set to update at run time`,
      hint: `set whitelists.${k} in the cluster file and redeploy the node`,
    });

  for (const key of Object.keys(resolved) as SyncKey[]) {
    const entries = resolved[key] ?? [];
    const from = now[key];
    let to = entries;
    let targets: SyncTarget[] = [];
    let note: string | undefined;
    switch (key) {
      case 'frontendHttp':
      case 'monitoring':
        if (from === 'any') notConfigured(key);
        targets = [acl(key), set(key)];
        break;
      case 'admin':
        if (from === 'any') notConfigured(key);
        targets = [set(key)];
        break;
      case 'routers':
        if (node.bgp) {
          // The configured neighbours may always speak BGP/BFD (derive.ts does the same union).
          to = [...new Set([...node.bgp.neighbors.map((n) => n.address), ...entries])];
          targets = [set(key)];
        } else note = 'keepalived mode: no BGP/BFD filter uses it; kept for a change of mode';
        break;
      case 'backendHttp':
        note = 'checked against the current backend servers; HAProxy itself does not filter on it';
        break;
    }
    const before = Array.isArray(from) ? from : [];
    changes.push({
      key,
      from,
      to,
      added: to.filter((x) => !before.includes(x)),
      removed: before.filter((x) => !to.includes(x)),
      targets,
      ...(note ? { note } : {}),
    });
  }
  return { changes, persist: resolved, issues };
}

export interface SyncDeps {
  /** HAProxy's runtime API; undefined when HAProxy is not running (the ACL file is read at its start). */
  haproxy?: HaproxyCommand;
  nft: NftApply;
}

/** nftables first (one transaction for every set), then HAProxy's ACLs, the ACL files, the sync file. */
export async function applySync(layout: Layout, plan: SyncPlan, deps: SyncDeps): Promise<string[]> {
  const done: string[] = [];
  const sets = plan.changes.flatMap((c) => c.targets.flatMap((t) => (t.kind === 'nft-set' ? [{ set: t.set, elements: c.to }] : [])));
  if (sets.length) {
    await deps.nft(nftSetScript(sets));
    done.push(...sets.map((s) => `nftables set ${s.set}`));
  }
  for (const c of plan.changes) {
    for (const t of c.targets) {
      if (t.kind !== 'haproxy-acl') continue;
      if (deps.haproxy) {
        await replaceAcl(deps.haproxy, t.file, c.to);
        done.push(`HAProxy ACL ${path.basename(t.file)}`);
      }
      // The release's copy, so a reload or restart keeps the new list.
      await writeFileAtomic(t.file, c.to.map((e) => `${e}\n`).join(''), 0o644);
      done.push(t.file);
    }
  }
  await writeSynced(layout, plan.persist);
  done.push('sync file');
  return done;
}
