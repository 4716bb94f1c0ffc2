// `ober build-image [definition]`: build the appliance image (see docs/image.md).
import path from 'node:path';
import type { Register } from '../../firstboot/lib/program.js';
import { shellQuote } from '../../firstboot/lib/errors.js';
import { buildImage, type BuildReport } from '../image/build.js';

const STAGES = ['rootfs', 'customize', 'assemble', 'convert', 'manifest'];

export const registerBuildImage: Register = (program, ctx) => {
  program
    .command('build-image')
    .description('build the appliance image: rootfs → customize → assemble → convert → manifest (cached per stage)')
    .argument('[definition]', 'image definition', 'image/debian-12.yaml')
    .option('--plan', 'print the stages, their cache state and commands; run nothing')
    .option('--dry-run', 'same as --plan')
    .option('--rebuild <stages>', `comma-separated stages to run even when cached (${STAGES.join(',')})`)
    .option('--cache-dir <dir>', 'stage cache', '.cache/image')
    .option('--out-dir <dir>', 'where the artifacts are published', 'out')
    .action(async (definition: string, opts: { plan?: boolean; dryRun?: boolean; rebuild?: string; cacheDir: string; outDir: string }, cmd) => {
      const out = ctx.output(cmd);
      const force = opts.rebuild ? opts.rebuild.split(',').map((s) => s.trim()) : [];
      const unknown = force.filter((s) => !STAGES.includes(s));
      if (unknown.length) throw new Error(`--rebuild: unknown stage(s) ${unknown.join(', ')}; stages are ${STAGES.join(', ')}`);
      const repo = process.cwd();
      const report = await buildImage(
        {
          repo,
          definition: path.resolve(repo, definition),
          cacheDir: path.resolve(repo, opts.cacheDir),
          outDir: path.resolve(repo, opts.outDir),
          dryRun: opts.plan || opts.dryRun,
          force,
        },
        { info: (m) => out.info(m) },
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
