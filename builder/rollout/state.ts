// The rollout's record: written after every step (temporary file + rename, 0600), so an
// interrupted rollout knows exactly where each node stands and can be resumed or reverted.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { writeFileAtomic } from '../../firstboot/ops/atomic.js';
import type { TemplateInfo } from '../deploy/templates.js';
import type { Carrier } from '../deploy/vm-ops.js';
import type { QemuSettings } from '../proxmox/api.js';

export interface OldVm {
  vmid: number;
  mac?: string;
  /** Its onboot before it was retired (restored when it serves again). */
  onboot?: boolean;
  /** Its snippet or seed ISO: kept while the VM may come back, removed when it is gone for good. */
  carriers?: Carrier[];
  /**
   * A pinned VMID: the old VM was destroyed to free its VMID for the replacement. What it takes to
   * make it again on a rollback: its template and settings (its carriers are kept).
   */
  destroyed?: { templateTag: string; settings: QemuSettings };
}

/**
 * A node's progress, in order. `drained`: `ober stop` took it out of service; `old-stopped`: its
 * old VM is off (kept); `created`/`started`: the new VM exists/runs; `healthy`: it passed its gate;
 * `done`: the old VM is gone (or kept with --keep-old). `rolled-back`/`reverted`: back on the old VM.
 */
export type NodeStep = 'pending' | 'drained' | 'old-stopped' | 'created' | 'started' | 'healthy' | 'done' | 'rolled-back' | 'reverted';

export interface NodeRollout {
  node: string;
  pveNode: string;
  step: NodeStep;
  /** The VM being replaced; absent for a node that had none. */
  old?: OldVm;
  new?: { vmid: number };
  /** The node already ran the target with this data. */
  skip?: boolean;
  failure?: { gate: string; saw: string; message: string };
}

export interface RolloutState {
  version: 1;
  cluster: string;
  to: TemplateInfo;
  status: 'running' | 'failed' | 'done' | 'reverted';
  keepOld: boolean;
  updatedAt: string;
  nodes: NodeRollout[];
}

export function defaultStatePath(clusterFile: string, cluster: string): string {
  return path.join(path.dirname(path.resolve(clusterFile)), '.ober', `rollout-${cluster}.json`);
}

export async function readState(file: string): Promise<RolloutState | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const s = JSON.parse(text) as RolloutState;
    if (s.version !== 1 || !Array.isArray(s.nodes)) throw new Error('not a rollout state (version 1)');
    return s;
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `unreadable rollout state: ${(e as Error).message}`, hint: 'inspect the file; remove it only when no rollout is under way' }]);
  }
}

export async function writeState(file: string, state: RolloutState, now: () => Date = () => new Date()): Promise<void> {
  state.updatedAt = now().toISOString();
  await writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600, dirMode: 0o700 });
}
