// The build plan: every stage with its inputs and cache key, computed before anything runs. Stage
// keys chain (each stage's inputs hold the keys of the stages it consumes), so the whole plan, and
// with it `--plan`, is known up front.
import type { ImageDefinition } from './definition.js';
import { deriveIdentifiers, type ImageIdentifiers } from './identifiers.js';
import type { BuildInputs } from './inputs.js';
import { computeLayout, type DiskLayout } from './layout.js';
import { stageKey, type Stage, type StageCache } from './stage.js';
import { assembleStage } from './stages/assemble.js';
import { convertStage } from './stages/convert.js';
import { customizeStage } from './stages/customize.js';
import { haproxyStage } from './stages/haproxy.js';
import type { SourceStore } from './sources.js';
import { manifestStage, type ArtifactNames } from './stages/manifest.js';
import { rootfsStage } from './stages/rootfs.js';

export interface BuildPlan {
  def: ImageDefinition;
  ids: ImageIdentifiers;
  layout: DiskLayout;
  names: ArtifactNames;
  stages: Stage[];
  sources: SourceStore;
  /** Stage name → directory of its (future) cache entry. */
  dirs: Record<string, string>;
}

/** `<image-id>_<version>.<ext>`: the one place artifact names are made. */
export function artifactNames(def: ImageDefinition): ArtifactNames {
  const base = `${def.id}_${def.version}`;
  return { qcow2: `${base}.qcow2`, manifest: `${base}.manifest.json`, sbom: `${base}.cdx.json`, sums: `${base}.SHA256SUMS` };
}

export interface PlanPaths {
  /** The release's .deb cache (rootfs and the haproxy build root). */
  packageCache: string;
  /** Pinned source archives: the checksum-keyed cache and an optional offline directory. */
  sources: SourceStore;
}

export function planBuild(def: ImageDefinition, inputs: BuildInputs, cache: StageCache, paths: PlanPaths): BuildPlan {
  const { packageCache } = paths;
  const ids = deriveIdentifiers(def);
  const layout = computeLayout(def);
  const names = artifactNames(def);
  const stages: Stage[] = [];
  const dirs: Record<string, string> = {};
  const keys: Record<string, string> = {};
  const add = (s: Stage): { dir: string; key: string } => {
    const key = stageKey(s);
    stages.push(s);
    keys[s.name] = key;
    dirs[s.name] = cache.dir(s.name, key);
    return { dir: dirs[s.name]!, key };
  };
  const sde = inputs.sourceDateEpoch;

  const rootfs = add(rootfsStage(def, { sourceDateEpoch: sde, packageCache }));
  // flavour awslc: HAProxy built and packaged on its own, keyed by its sources, not by the rootfs
  const haproxy = def.haproxy.flavour === 'awslc' ? add(haproxyStage({ def, sources: paths.sources, packageCache, sourceDateEpoch: sde })) : undefined;
  const customize = add(
    customizeStage({
      def, ids, rootfsDir: rootfs.dir, rootfsKey: rootfs.key, haproxy, overlaysDir: inputs.overlaysDir, overlaysDigest: inputs.overlaysDigest,
      imageFiles: inputs.imageFiles, nodeProgram: inputs.nodeProgram, sourceDateEpoch: sde,
    }),
  );
  const assemble = add(assembleStage({ def, ids, layout, customizeDir: customize.dir, customizeKey: customize.key, sourceDateEpoch: sde }));
  const convert = add(convertStage(def, assemble.dir, assemble.key, names.qcow2));
  add(manifestStage({ def, names, customizeDir: customize.dir, haproxyDir: haproxy?.dir, convertDir: convert.dir, stageKeys: { ...keys }, sourceDateEpoch: sde }));
  return { def, ids, layout, names, stages, dirs, sources: paths.sources };
}
