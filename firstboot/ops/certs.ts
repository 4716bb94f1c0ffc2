// Certificate hot reload. HAProxy reads every PEM in the release's certs directory at start and at
// each reload, so a broken file there would be picked up by the next reload, whatever caused it.
// Therefore a file that fails the checks is moved out of the directory (kept for the operator
// under the state directory) and the last good copy is put back; only a set of valid files that
// differs from the last good set leads to `haproxy -c` and a graceful reload.
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Layout } from '../model/layout.js';
import { checkPem } from '../model/pem.js';
import { writeFileAtomic } from './atomic.js';

export interface CertDirs {
  /** What HAProxy reads (layout.haproxyCertDir). */
  live: string;
  /** The last set HAProxy was reloaded with; in /run, so each boot starts from its own rendering. */
  good: string;
  /** Refused files, timestamped, for the operator to look at. */
  rejected: string;
}

export const certDirs = (l: Layout): CertDirs => ({
  live: l.haproxyCertDir,
  good: path.join(l.runDir, 'certs', 'last-good'),
  rejected: path.join(l.stateDir, 'certs', 'rejected'),
});

export interface Rejected {
  name: string;
  problem: string;
  movedTo: string;
  /** Whether the last good copy was put back in its place. */
  restored: boolean;
}

export interface CertScan {
  rejected: Rejected[];
  /** Names (file names) whose content differs from the last good set, or that appeared or went. */
  changed: string[];
  valid: string[];
}

async function pemFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw e;
  }
  for (const n of names.filter((x) => x.endsWith('.pem') && !x.startsWith('.')).sort()) out.set(n, await readFile(path.join(dir, n), 'utf8'));
  return out;
}

/** Check every live file; move broken ones aside and restore their last good copy. */
export async function scanCertificates(dirs: CertDirs, now: Date): Promise<CertScan> {
  const live = await pemFiles(dirs.live);
  const good = await pemFiles(dirs.good);
  const rejected: Rejected[] = [];
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  for (const [name, pem] of live) {
    // No expiry check here: an expired renewal is still better refused by the operator than by us.
    const problem = checkPem(pem);
    if (!problem) continue;
    await mkdir(dirs.rejected, { recursive: true, mode: 0o700 });
    const movedTo = path.join(dirs.rejected, `${name}.${stamp}`);
    await rename(path.join(dirs.live, name), movedTo);
    const last = good.get(name);
    if (last !== undefined) await writeFileAtomic(path.join(dirs.live, name), last, 0o600);
    rejected.push({ name, problem, movedTo, restored: last !== undefined });
  }
  const current = await pemFiles(dirs.live);
  const names = new Set([...current.keys(), ...good.keys()]);
  const changed = [...names].filter((n) => current.get(n) !== good.get(n)).sort();
  return { rejected, changed, valid: [...current.keys()] };
}

/** After a successful reload: the live set becomes the last good set. */
export async function recordGood(dirs: CertDirs): Promise<void> {
  const live = await pemFiles(dirs.live);
  await mkdir(dirs.good, { recursive: true, mode: 0o700 });
  for (const n of (await pemFiles(dirs.good)).keys()) if (!live.has(n)) await rm(path.join(dirs.good, n));
  for (const [n, pem] of live) await writeFileAtomic(path.join(dirs.good, n), pem, 0o600);
}

/** `haproxy -c` refused the live set: put the last good files back (and drop ones it never had). */
export async function rollBack(dirs: CertDirs, names: readonly string[]): Promise<void> {
  const good = await pemFiles(dirs.good);
  // No good set recorded yet (first change after boot): nothing known to return to; leave the files.
  if (good.size === 0) return;
  for (const n of names) {
    const last = good.get(n);
    if (last !== undefined) await writeFileAtomic(path.join(dirs.live, n), last, 0o600);
    else {
      await mkdir(dirs.rejected, { recursive: true, mode: 0o700 });
      await rename(path.join(dirs.live, n), path.join(dirs.rejected, `${n}.refused-by-haproxy`)).catch(() => {});
    }
  }
}

export interface CertReloadDeps {
  /** `haproxy -c` on the node's configuration; resolves with the exit code and output. */
  check(): Promise<{ exitCode: number; output: string }>;
  reload(): Promise<void>;
  now(): Date;
}

export interface CertReloadResult {
  rejected: Rejected[];
  changed: string[];
  reloaded: boolean;
  /** haproxy -c output when it refused the new set. */
  refusedByHaproxy?: string;
}

/** Validate all, check the configuration, then reload gracefully: `ober certs reload`. */
export async function reloadCertificates(dirs: CertDirs, deps: CertReloadDeps): Promise<CertReloadResult> {
  const scan = await scanCertificates(dirs, deps.now());
  if (scan.changed.length === 0) return { rejected: scan.rejected, changed: [], reloaded: false };
  const check = await deps.check();
  if (check.exitCode !== 0) {
    await rollBack(dirs, scan.changed);
    return { rejected: scan.rejected, changed: scan.changed, reloaded: false, refusedByHaproxy: check.output };
  }
  await deps.reload();
  await recordGood(dirs);
  return { rejected: scan.rejected, changed: scan.changed, reloaded: true };
}
