// `ober build-image`: load the definition, read the inputs, plan, check, run the stages, publish.
import { link, mkdir, rm, stat } from 'node:fs/promises';
import { ConfigError } from '../../firstboot/lib/errors.js';
import path from 'node:path';
import { loadImageDefinition } from './definition.js';
import { readBuildInputs } from './inputs.js';
import { planBuild, type BuildPlan } from './plan.js';
import { preflight } from './preflight.js';
import { fetchSource, resolveSources } from './sources.js';
import { StageCache, type StageLog, type StageResult } from './stage.js';

export interface BuildOptions {
  repo: string;
  definition: string;
  cacheDir: string;
  outDir: string;
  /** Only report what would run. */
  dryRun?: boolean;
  /** `--sources DIR`: pinned source archives are taken from here, never downloaded. */
  sourcesDir?: string;
  /** Stage names to run even on a cache hit. */
  force?: readonly string[];
}

export interface PlannedStage {
  name: string;
  key: string;
  cached: boolean;
  reason?: string;
  commands: string[][];
}

export interface BuildReport {
  image: { id: string; version: string };
  plan: PlannedStage[];
  stages?: StageResult[];
  artifacts?: string[];
}

/** How the build reports: a note before the stages run, and each stage's progress by its name. */
export interface BuildProgress {
  info(msg: string): void;
  stages<T>(names: readonly string[], work: (log: (stage: string, msg: string, note?: { transient?: boolean }) => void) => Promise<T>): Promise<T>;
}

export async function buildImage(opts: BuildOptions, progress: BuildProgress): Promise<BuildReport> {
  const def = await loadImageDefinition(opts.definition);
  if (opts.sourcesDir && !(await stat(opts.sourcesDir).catch(() => undefined))?.isDirectory())
    throw new ConfigError('--sources', [{ path: '', message: `${opts.sourcesDir} is not a directory`, hint: 'give a directory holding the archives of haproxy.sources (by file name or in pool/ layout)' }]);
  const inputs = await readBuildInputs(opts.repo, opts.definition);
  const cache = new StageCache(path.join(opts.cacheDir, 'stages'));
  const plan = planBuild(def, inputs, cache, {
    packageCache: path.join(opts.cacheDir, 'packages', `${def.distribution.name}-${def.distribution.release}`),
    sources: { cacheDir: path.join(opts.cacheDir, 'sources'), ...(opts.sourcesDir ? { offlineDir: opts.sourcesDir } : {}) },
  });
  const report: BuildReport = { image: { id: def.id, version: def.version }, plan: await describePlan(plan, cache, opts.force ?? []) };
  if (opts.dryRun) return report;

  await preflight(def, opts.definition);
  // The pinned archives first, when a stage that needs them will run: a wrong checksum or a file
  // missing from --sources stops the build before the long rootfs bootstrap, not after it.
  if (report.plan.some((s) => s.name === 'haproxy' && !s.cached)) {
    for (const src of resolveSources(def)) await fetchSource(src, plan.sources, { info: (m) => progress.info(m) });
  }
  const stages: StageResult[] = (report.stages = []);
  await progress.stages(
    plan.stages.map((s) => s.name),
    async (log) => {
      for (const stage of plan.stages) {
        const stageLog: StageLog = { info: (m, note) => log(stage.name, m, note) };
        stages.push(await cache.run(stage, stageLog, { force: opts.force?.includes(stage.name) }));
      }
    },
  );
  report.artifacts = await publish(plan, opts.outDir);
  return report;
}

async function describePlan(plan: BuildPlan, cache: StageCache, force: readonly string[]): Promise<PlannedStage[]> {
  const described: PlannedStage[] = [];
  let upstreamRuns = false; // a stage whose input stage will run cannot be a hit yet
  for (const s of plan.stages) {
    const hit: boolean = !upstreamRuns && !force.includes(s.name) && (await cache.has(s));
    const key = path.basename(plan.dirs[s.name]!);
    described.push({ name: s.name, key, cached: hit, ...(hit ? {} : { reason: force.includes(s.name) ? 'forced' : await cache.missReason(s) }), commands: s.commands });
    upstreamRuns ||= !hit;
  }
  return described;
}

/** Hard links from the cache into out/: `<image-id>_<version>.{qcow2,manifest.json,cdx.json,SHA256SUMS}`. */
async function publish(plan: BuildPlan, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const { names, dirs } = plan;
  const sources: [string, string][] = [
    [path.join(dirs.convert!, names.qcow2), names.qcow2],
    [path.join(dirs.manifest!, names.manifest), names.manifest],
    [path.join(dirs.manifest!, names.sbom), names.sbom],
    [path.join(dirs.manifest!, names.sums), names.sums],
  ];
  const published: string[] = [];
  for (const [from, name] of sources) {
    const to = path.join(outDir, name);
    await rm(to, { force: true });
    await link(from, to);
    published.push(to);
  }
  return published;
}
