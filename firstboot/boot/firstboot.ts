// The first-boot program: read → validate → derive → render → install → activate → record.
// Runs on every boot (ober-firstboot.service). Any failure before `install` leaves the node with
// no new configuration and no serving service (ober-http Requires= this unit), and says why on the
// console and in the status record.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, OberError } from '../lib/errors.js';
import { deriveNode } from '../model/derive.js';
import { namesToResolve, resolveNames, type Lookup } from '../model/inputs.js';
import type { Layout } from '../model/layout.js';
import { validateCluster, validateNodeData } from '../model/load.js';
import type { Cluster, NodeData } from '../model/schema.js';
import { readMetadata, type NodeMetadata } from '../metadata/index.js';
import { renderNode } from '../render/index.js';
import type { Target } from '../render/target.js';
import { installRelease } from './install.js';
import { readRecord, writeRecord, type FirstbootRecord } from './status-record.js';

/** What first boot does to the running system after installing; absent with --no-start. */
export interface SystemActions {
  /** Apply kernel settings, firewall, drop-ins; reload systemd; the services start from their units. */
  activate(layout: Layout, mode: Cluster['mode']): Promise<void>;
}

export interface FirstbootOptions {
  layout: Layout;
  /** --metadata DIR|ISO|FILE; default: look for the Proxmox drive. */
  metadataPath?: string;
  target?: Target;
  actions?: SystemActions;
  lookup?: Lookup;
  now?: () => Date;
}

export interface FirstbootResult {
  record: FirstbootRecord;
  node?: NodeData;
}

export async function firstboot(opts: FirstbootOptions): Promise<FirstbootResult> {
  const { layout } = opts;
  const now = opts.now ?? (() => new Date());
  const imageVersion = await readImageVersion(layout.root);
  const base = { at: now().toISOString(), warnings: [] as string[], ...(imageVersion ? { imageVersion } : {}) };
  let meta: NodeMetadata | undefined;
  try {
    meta = await readMetadata({ root: layout.root || undefined, ...(opts.metadataPath ? { path: opts.metadataPath } : {}) });
    const where = { instanceId: meta.instanceId, source: meta.source, location: meta.location };
    const warnings = [...meta.warnings];
    if (!meta.ober) {
      throw new ConfigError(meta.location, [
        {
          path: 'ober',
          message: 'no ober data in vendor-data or user-data',
          hint: 'deploy the node with `ober deploy` (cicustom vendor=...:snippets/<node>-ober.yaml)',
        },
      ]);
    }
    const source = `${meta.ober.file} (${meta.ober.from})`;
    const { value: data, warnings: w } = validateNodeData(meta.ober.doc, source, { now: now().getTime() });
    warnings.push(...w.map((x) => `${x.path}: ${x.message}`));
    const cluster = await withSyncedWhitelists(data.cluster, layout, source);
    if (meta.hostname && meta.hostname !== data.node) warnings.push(`host name '${meta.hostname}' differs from the ober node name '${data.node}'`);

    const names = await resolveNames(namesToResolve(cluster), opts.lookup);
    const nodeConfig = deriveNode(cluster, data.node, { names });
    const files = renderNode(nodeConfig, { layout, ...(opts.target ? { target: opts.target } : {}) });
    const installed = await installRelease(layout, files);
    if (installed.repaired.length) warnings.push(`repaired ${installed.repaired.length} file(s) that differed from the rendering: ${installed.repaired.join(', ')}`);
    if (opts.actions) await opts.actions.activate(layout, nodeConfig.mode);

    const record: FirstbootRecord = {
      ...base,
      ...where,
      ok: true,
      result: installed.changed || installed.repaired.length ? 'rendered' : 'unchanged',
      node: data.node,
      cluster: cluster.name,
      mode: cluster.mode,
      release: installed.release,
      warnings,
    };
    await writeRecord(layout, record);
    return { record, node: { ...data, cluster } };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const record: FirstbootRecord = {
      ...base,
      ...(meta ? { instanceId: meta.instanceId, source: meta.source, location: meta.location } : {}),
      ok: false,
      result: 'failed',
      error: { kind: err.name, message: err.message, ...(err instanceof ConfigError ? { issues: err.issues } : {}) },
    };
    await writeRecord(layout, record).catch(() => {});
    if (err instanceof OberError) throw err;
    throw e;
  }
}

/**
 * After ober-firstboot.service ended (ExecStopPost): a run that was killed (out of memory, the
 * start timeout, a crash of node itself) wrote no record, or left an earlier run's success in
 * place. Write a failed record then, so `ober status` and the console say what happened. Returns
 * the message written, or undefined when the run ended well or recorded its own failure.
 * `env` is systemd's: SERVICE_RESULT, EXIT_CODE, EXIT_STATUS (systemd.exec(5)).
 */
export async function recordUnfinished(layout: Layout, env: Readonly<Record<string, string | undefined>>, now: Date = new Date()): Promise<string | undefined> {
  const result = env.SERVICE_RESULT;
  if (result === undefined || result === 'success') return undefined;
  const rec = await readRecord(layout);
  if (rec?.thisBoot && !rec.ok) return undefined;
  const how = [env.EXIT_CODE, env.EXIT_STATUS].filter(Boolean).join(' ');
  const message = `first boot ended without a result: ${result}${how ? ` (${how})` : ''} — killed, crashed or out of time before it could say why; see journalctl -b -u ober-firstboot`;
  await writeRecord(layout, { at: now.toISOString(), ok: false, result: 'failed', warnings: [], error: { kind: 'Unfinished', message } });
  return message;
}

/** `ober sync` keeps run-time whitelist changes here; they win over the metadata at every boot. */
export const syncFile = (l: Layout) => path.join(l.stateDir, 'sync', 'whitelists.json');

async function withSyncedWhitelists(cluster: Cluster, layout: Layout, source: string): Promise<Cluster> {
  let text: string;
  try {
    text = await readFile(syncFile(layout), 'utf8');
  } catch {
    return cluster;
  }
  let synced: unknown;
  try {
    synced = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(syncFile(layout), [{ path: '', message: `not JSON: ${(e as Error).message}`, hint: 'fix it or remove it and run ober sync again' }]);
  }
  const merged = { ...cluster, whitelists: { ...cluster.whitelists, ...(synced as object) } };
  // The merged document goes through the same schema and rules as the metadata.
  return validateCluster(merged, `${source} + ${syncFile(layout)}`, 'node-data').value;
}

async function readImageVersion(root: string): Promise<string | undefined> {
  try {
    const text = await readFile(path.join(root || '/', 'etc/os-release'), 'utf8');
    return /^IMAGE_VERSION="?([^"\n]+)"?$/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}
