// Checks before the first stage: every tool present, every package source reachable. A failure
// here costs seconds instead of a half-finished bootstrap.
import { requireTools } from '../../firstboot/lib/exec.js';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import type { ImageDefinition } from './definition.js';
import { buildTools } from './tools.js';

const PROBE_TIMEOUT_MS = 8000;

export async function preflight(def: ImageDefinition, source: string): Promise<void> {
  await checkSources(def, source);
  await requireTools(buildTools(def));
}

/** Every package source answers; all unreachable ones are reported together. */
export async function checkSources(def: ImageDefinition, source: string): Promise<void> {
  const issues: ConfigIssue[] = [];
  await Promise.all(
    sourceProbes(def).map(async ({ path, url }) => {
      const problem = await probe(url);
      if (problem) {
        issues.push({
          path,
          message: `${url} is not reachable from this machine (${problem})`,
          hint: 'build on a machine that reaches this repository, or point the definition at a reachable mirror',
        });
      }
    }),
  );
  if (issues.length) throw new ConfigError(source, issues.sort((a, b) => a.path.localeCompare(b.path)));
}

/** One index file per package source: apt's InRelease, dnf's repomd.xml. */
export function sourceProbes(def: ImageDefinition): { path: string; url: string }[] {
  const d = def.distribution;
  if (d.family === 'debian') {
    return d.mirrors.map((line, i) => {
      const [, url, suite] = line.split(' ');
      return { path: `distribution.mirrors[${i}]`, url: `${url!.replace(/\/$/, '')}/dists/${suite}/InRelease` };
    });
  }
  return d.repositories.map((r, i) => ({ path: `distribution.repositories[${i}].baseurl`, url: new URL('repodata/repomd.xml', r.baseurl.endsWith('/') ? r.baseurl : `${r.baseurl}/`).href }));
}

async function probe(url: string): Promise<string | undefined> {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return res.ok ? undefined : `HTTP ${res.status}`;
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    return err.cause?.code ?? err.cause?.message ?? err.message;
  }
}
