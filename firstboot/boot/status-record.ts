// The first-boot status record: what the last run did, read by `ober status` and `ober doctor`.
// Written to /run (this boot) and /var/lib/ober (the last run, across reboots).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigIssue } from '../lib/errors.js';
import type { Layout } from '../model/layout.js';
import { writeFileAtomic } from '../ops/atomic.js';

export interface FirstbootRecord {
  ok: boolean;
  /** ISO time of the run. */
  at: string;
  /** What happened: rendered (new release), unchanged (verified), failed. */
  result: 'rendered' | 'unchanged' | 'failed';
  instanceId?: string;
  source?: string;
  location?: string;
  node?: string;
  cluster?: string;
  mode?: string;
  release?: string;
  imageVersion?: string;
  warnings: string[];
  error?: { kind: string; message: string; issues?: ConfigIssue[] };
}

export const recordPaths = (l: Layout) => ({
  boot: path.join(l.runDir, 'firstboot.json'),
  last: path.join(l.stateDir, 'firstboot-last.json'),
});

export async function writeRecord(l: Layout, rec: FirstbootRecord): Promise<void> {
  const text = JSON.stringify(rec, null, 2) + '\n';
  for (const p of Object.values(recordPaths(l))) await writeFileAtomic(p, text, 0o644);
}

/** This boot's record, else the last one; undefined when first boot never ran. */
export async function readRecord(l: Layout): Promise<(FirstbootRecord & { thisBoot: boolean }) | undefined> {
  const { boot, last } = recordPaths(l);
  for (const [p, thisBoot] of [
    [boot, true],
    [last, false],
  ] as const) {
    try {
      return { ...(JSON.parse(await readFile(p, 'utf8')) as FirstbootRecord), thisBoot };
    } catch {
      /* next */
    }
  }
  return undefined;
}
