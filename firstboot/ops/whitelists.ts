// Run-time whitelists (`ober sync`): parse and resolve what the operator gave, compare it with what
// the node enforces now, and persist it where first boot applies it over the metadata at every boot.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { syncFile } from '../boot/firstboot.js';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { addressMatches, parseAddressList } from '../model/addresses.js';
import type { NodeConfig } from '../model/derive.js';
import { resolveNames, systemLookup, type Lookup } from '../model/inputs.js';
import type { Layout } from '../model/layout.js';
import { isIPv4 } from '../model/net.js';
import { writeFileAtomic } from './atomic.js';

export const SYNC_KEYS = ['frontendHttp', 'routers', 'backendHttp', 'monitoring', 'admin'] as const;
export type SyncKey = (typeof SYNC_KEYS)[number];
export type SyncedWhitelists = Partial<Record<SyncKey, string[]>>;

/** The command-line flag of a whitelist key: frontendHttp → --frontend-http. */
export const flagOf = (k: SyncKey) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const syncSchema = z.strictObject(Object.fromEntries(SYNC_KEYS.map((k) => [k, z.array(z.string()).optional()])) as Record<SyncKey, z.ZodOptional<z.ZodArray<z.ZodString>>>);

export async function readSynced(layout: Layout): Promise<SyncedWhitelists> {
  const file = syncFile(layout);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `not JSON: ${(e as Error).message}`, hint: 'remove it and run ober sync again' }]);
  }
  const r = syncSchema.safeParse(data);
  if (!r.success) throw new ConfigError(file, r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })));
  return r.data;
}

/** Merge `changes` into the sync file (keys not given keep their value); atomic, sorted keys. */
export async function writeSynced(layout: Layout, changes: SyncedWhitelists): Promise<SyncedWhitelists> {
  const merged = { ...(await readSynced(layout)), ...changes };
  const ordered = Object.fromEntries(SYNC_KEYS.filter((k) => merged[k] !== undefined).map((k) => [k, merged[k]]));
  await writeFileAtomic(syncFile(layout), JSON.stringify(ordered, null, 2) + '\n', 0o644);
  return ordered;
}

/**
 * A hostlist → expanded addresses and networks. Names are resolved through DNS here, once: a
 * name that does not resolve is an error naming it (a whitelist silently missing a host would
 * lock it out without a word).
 */
export async function resolveWhitelists(
  given: Partial<Record<SyncKey, string>>,
  lookup: Lookup = systemLookup,
): Promise<Record<string, string[]>> {
  const issues: ConfigIssue[] = [];
  const out: Record<string, string[]> = {};
  for (const key of SYNC_KEYS) {
    const list = given[key];
    if (list === undefined) continue;
    const parsed = parseAddressList(list);
    if (!parsed.ok) {
      for (const e of parsed.errors) issues.push({ path: flagOf(key), message: e });
      continue;
    }
    const names = parsed.value.filter((e) => e.kind === 'name').map((e) => e.value);
    const resolved = await resolveNames(names, lookup);
    const entries: string[] = [];
    for (const e of parsed.value) {
      if (e.kind !== 'name') entries.push(e.value);
      else if (resolved[e.value]) entries.push(...(resolved[e.value] ?? []));
      else issues.push({ path: flagOf(key), message: `host name '${e.value}' does not resolve`, hint: 'check DNS on this node, or write the address' });
    }
    out[key] = [...new Set(entries)];
  }
  if (issues.length) throw new ConfigError('ober sync', issues);
  return out;
}

/** Backend servers that fall outside a new backendHttp list (names resolved as HAProxy would). */
export async function backendsOutside(node: Pick<NodeConfig, 'backends'>, entries: readonly string[], lookup: Lookup = systemLookup): Promise<ConfigIssue[]> {
  const nets = parseAddressList(entries as string[]);
  if (!nets.ok) return nets.errors.map((m) => ({ path: flagOf('backendHttp'), message: m }));
  const servers = node.backends.flatMap((b) => b.servers.map((s) => ({ backend: b.name, host: s.host, port: s.port })));
  const names = servers.filter((s) => !isIPv4(s.host)).map((s) => s.host);
  const resolved = await resolveNames([...new Set(names)], lookup);
  const issues: ConfigIssue[] = [];
  for (const s of servers) {
    const ips = isIPv4(s.host) ? [s.host] : (resolved[s.host] ?? []);
    if (ips.length === 0) issues.push({ path: flagOf('backendHttp'), message: `backend ${s.backend} server ${s.host} does not resolve, so it cannot be checked` });
    for (const ip of ips) {
      if (!nets.value.some((e) => addressMatches(ip, e))) {
        issues.push({ path: flagOf('backendHttp'), message: `backend ${s.backend} server ${s.host}:${s.port} (${ip}) would be outside the list`, hint: 'include its network, or change the backends first' });
      }
    }
  }
  return issues;
}

/** What the node enforces now for each key: a list, 'any' (no whitelist), or undefined (not known on the node). */
export function enforced(node: NodeConfig, synced: SyncedWhitelists): Record<SyncKey, string[] | 'any' | undefined> {
  const src = (l: NodeConfig['whitelists']['frontendHttp']) => (l.any ? ('any' as const) : l.entries);
  return {
    frontendHttp: src(node.whitelists.frontendHttp),
    monitoring: src(node.whitelists.monitoring),
    admin: src(node.whitelists.admin),
    routers: node.whitelists.routers,
    // Not part of node.json: only the sync file knows a run-time value.
    backendHttp: synced.backendHttp,
  };
}
