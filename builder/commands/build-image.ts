// `ober build-image [definition]`: build the appliance image (see docs/image.md).
import path from 'node:path';
import type { Register } from '../../firstboot/lib/program.js';
import { shellQuote } from '../../firstboot/lib/errors.js';
import { choiceFlag, listFlag } from '../../firstboot/lib/flags.js';
import { buildImage, type BuildReport } from '../image/build.js';
import { DEFAULT_IMAGE_DEFINITION } from '../image/definition.js';
import { exportProject } from '../export/export.js';
import { mkosiBuildArgv, requireMkosi, runMkosiBuild } from '../export/mkosi-tool.js';

const STAGES = ['rootfs', 'haproxy', 'customize', 'assemble', 'convert', 'manifest'] as const;

export const registerBuildImage: Register = (program, ctx) => {
  program
    .command('build-image')
    .description('build the appliance image: rootfs → haproxy (flavour awslc) → customize → assemble → convert → manifest (cached per stage)')
    .argument('[definition]', 'image definition', DEFAULT_IMAGE_DEFINITION)
    .option('--builder <builder>', 'native (this pipeline) or mkosi (exports the project to <cache-dir>/mkosi and runs mkosi >= 25)', 'native')
    .option('--plan', 'print the stages, their cache state and commands; run nothing')
    .option('--dry-run', 'same as --plan')
    .option('--rebuild <stages>', `comma-separated stages to run even when cached (${STAGES.join(',')})`)
    .option('--cache-dir <dir>', 'stage cache', '.cache/image')
    .option('--sources <dir>', 'offline mirror of the pinned source archives (haproxy.sources): files by name or in pool/ layout; nothing is downloaded')
    .option('--out-dir <dir>', 'where the artifacts are published', 'out')
    .action(async (definition: string, opts: { builder: string; plan?: boolean; dryRun?: boolean; rebuild?: string; cacheDir: string; outDir: string; sources?: string }, cmd) => {
      const out = ctx.output(cmd);
      choiceFlag(opts.builder, '--builder', 'ober build-image', ['native', 'mkosi'] as const);
      if (opts.builder === 'mkosi') {
        const repo = process.cwd();
        const projectDir = path.resolve(repo, opts.cacheDir, 'mkosi');
        const outDir = path.resolve(repo, opts.outDir);
        const dryRun = opts.plan || opts.dryRun;
        // checked before anything is written: without a recent mkosi nothing can follow
        const mkosi = dryRun ? (process.env.OBER_MKOSI ?? 'mkosi') : await requireMkosi();
        const exported = await exportProject('mkosi', repo, path.resolve(repo, definition), projectDir, dryRun);
        const argv = mkosiBuildArgv(mkosi, projectDir, outDir);
        if (!dryRun) {
          out.info(`mkosi project written to ${projectDir}; running ${argv.map(shellQuote).join(' ')}`);
          await runMkosiBuild(mkosi, projectDir, outDir);
        }
        if (out.json) return out.emitJson({ ok: true, builder: 'mkosi', dryRun: !!dryRun, image: exported.image, project: projectDir, command: argv });
        if (dryRun) return out.result(`${exported.image.id} ${exported.image.version}: would export the mkosi project to ${projectDir} and run\n  $ ${argv.map(shellQuote).join(' ')}`);
        return out.ok(`${exported.image.id} ${exported.image.version} built by mkosi into ${outDir}`);
      }
      const force = listFlag(opts.rebuild, '--rebuild', 'ober build-image', STAGES);
      const repo = process.cwd();
      const report = await buildImage(
        {
          repo,
          definition: path.resolve(repo, definition),
          cacheDir: path.resolve(repo, opts.cacheDir),
          outDir: path.resolve(repo, opts.outDir),
          ...(opts.sources ? { sourcesDir: path.resolve(repo, opts.sources) } : {}),
          dryRun: opts.plan || opts.dryRun,
          force,
        },
        { info: (m) => out.info(m), stages: (names, work) => out.progress().steps(names, work) },
      );
      if (out.json) out.emitJson({ ok: true, ...report });
      else printReport(report, (m) => out.result(m));
    });
};

function printReport(r: BuildReport, print: (m: string) => void): void {
  if (!r.stages) {
    print(`${r.image.id} ${r.image.version}: plan`);
    for (const s of r.plan) {
      print(`  ${s.name.padEnd(10)} ${s.key}  ${s.cached ? 'cached' : `will run (${s.reason})`}`);
      for (const argv of s.commands) print(`      $ ${argv.map(shellQuote).join(' ')}`);
    }
    return;
  }
  print(`${r.image.id} ${r.image.version}:`);
  for (const s of r.stages) print(`  ${s.name.padEnd(10)} ${s.cached ? 'cached' : `${s.seconds.toFixed(1)} s`}`);
  for (const a of r.artifacts ?? []) print(`  → ${a}`);
}
