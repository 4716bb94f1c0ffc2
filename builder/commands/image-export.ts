// `ober image export --builder mkosi|packer DIR [--definition FILE]`: the image definition as a
// project for another image builder (README "Three ways to build").
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { EXPORT_BUILDERS, exportProject, type ExportBuilder } from '../export/export.js';
import { DEFAULT_IMAGE_DEFINITION } from '../image/definition.js';

export const registerImage: Register = (program, ctx) => {
  const image = program.command('image').description('image definitions: export them for other builders');
  image
    .command('export')
    .description('write an mkosi project or a Packer template that builds the appliance from the image definition')
    .argument('<dir>', 'project directory (created; an earlier export there is replaced)')
    .requiredOption('--builder <builder>', `${EXPORT_BUILDERS.join(' or ')}`)
    .option('--definition <file>', 'image definition', DEFAULT_IMAGE_DEFINITION)
    .option('--dry-run', 'list the files it would write; write nothing')
    .action(async (dir: string, flags: { builder: string; definition: string; dryRun?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      if (!(EXPORT_BUILDERS as readonly string[]).includes(flags.builder)) {
        throw new ConfigError('ober image export', [{ path: '--builder', message: `'${flags.builder}' is not a builder to export for`, hint: `use ${EXPORT_BUILDERS.join(' or ')} (the native build is ober build-image)` }]);
      }
      const repo = process.cwd();
      const r = await exportProject(flags.builder as ExportBuilder, repo, path.resolve(repo, flags.definition), dir, flags.dryRun);
      if (out.json) return out.emitJson({ ok: true, dryRun: !!flags.dryRun, ...r });
      if (flags.dryRun) {
        out.result(`dry run: ${r.builder} project for ${r.image.id} ${r.image.version}, ${r.files} files (none written)`);
        for (const p of r.paths) out.result(`  ${path.join(dir, p)}`);
        return;
      }
      out.ok(`${r.builder} project for ${r.image.id} ${r.image.version}: ${r.files} files in ${dir} (${r.entry})`);
      for (const n of r.next) out.result(`  next: ${n}`);
    });
};
