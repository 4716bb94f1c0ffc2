// `ober image export`: load the definition and the build inputs, make the project for one builder,
// write it. The exporters themselves are pure (mkosi.ts, packer.ts).
import path from 'node:path';
import { applianceFiles } from '../image/appliance-files.js';
import { loadImageDefinition } from '../image/definition.js';
import { deriveIdentifiers } from '../image/identifiers.js';
import { readBuildInputs } from '../image/inputs.js';
import { mkosiProject } from './mkosi.js';
import { packerProject, PACKER_TEMPLATE } from './packer.js';
import { writeProject, type ProjectFile } from './project.js';

export const EXPORT_BUILDERS = ['mkosi', 'packer'] as const;
export type ExportBuilder = (typeof EXPORT_BUILDERS)[number];

export interface ExportReport {
  builder: ExportBuilder;
  image: { id: string; version: string };
  dir: string;
  files: number;
  /** The file the builder reads first. */
  entry: string;
  /** What to run next. */
  next: string[];
}

export async function projectFor(builder: ExportBuilder, repo: string, definition: string): Promise<{ files: ProjectFile[]; image: { id: string; version: string } }> {
  const def = await loadImageDefinition(definition);
  const inputs = await readBuildInputs(repo, definition);
  const files = await applianceFiles(inputs);
  const project =
    builder === 'mkosi'
      ? mkosiProject({ def, ids: deriveIdentifiers(def), files, imageFiles: inputs.imageFiles, sourceDateEpoch: inputs.sourceDateEpoch })
      : packerProject({ def, files, imageFiles: inputs.imageFiles });
  return { files: project, image: { id: def.id, version: def.version } };
}

export async function exportProject(builder: ExportBuilder, repo: string, definition: string, dir: string, dryRun = false): Promise<ExportReport & { paths: string[] }> {
  const { files, image } = await projectFor(builder, repo, definition);
  if (!dryRun) await writeProject(dir, files, builder);
  const entry = builder === 'mkosi' ? 'mkosi.conf' : PACKER_TEMPLATE;
  const next =
    builder === 'mkosi'
      ? [`mkosi -C ${dir} summary`, `mkosi -C ${dir} build   # mkosi >= 25 (Debian 13)`]
      : [`packer validate -var node=NODE -var vm_id=VMID -var clone_vm=TEMPLATE ${path.join(dir, PACKER_TEMPLATE)}`, `cd ${dir} && packer build -var ... ${PACKER_TEMPLATE}`];
  return { builder, image, dir, files: files.length, entry, next, paths: files.map((f) => f.path).sort() };
}
