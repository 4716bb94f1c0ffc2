// Image-definition fixtures shared by the plan, definition and HAProxy-flavour tests: fixed build
// inputs, a plan against an empty (nonexistent) cache, and a definition's schema issues as lines.
import { ConfigError } from '../../firstboot/lib/errors.js';
import { parseImageDefinition, type ImageDefinition } from '../../builder/image/definition.js';
import type { BuildInputs } from '../../builder/image/inputs.js';
import { planBuild } from '../../builder/image/plan.js';
import { StageCache } from '../../builder/image/stage.js';

export const TEST_INPUTS: BuildInputs = {
  sourceDateEpoch: 1_700_000_000,
  overlaysDir: 'overlays/base',
  overlaysDigest: 'o1',
  imageFiles: [],
  nodeProgram: { path: 'dist/ober-node.mjs', sha256: 'n1' },
};

/** The build plan of `def` with nothing cached and nothing downloadable. */
export function planOffline(def: ImageDefinition, over: Partial<BuildInputs> = {}): ReturnType<typeof planBuild> {
  return planBuild(def, { ...TEST_INPUTS, ...over }, new StageCache('/nonexistent/cache'), { packageCache: '/nonexistent/debs', sources: { cacheDir: '/nonexistent/sources' } });
}

/** `path: message` of every issue the definition schema finds in `doc` (none: []). */
export function definitionIssues(doc: unknown): string[] {
  try {
    parseImageDefinition('test.yaml', doc);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}
