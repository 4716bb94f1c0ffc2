// `ober release publish [V] --repo OWNER/NAME` and `ober release download V --repo OWNER/NAME`.
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { Register } from '../../firstboot/lib/program.js';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition } from '../image/definition.js';
import { fetchReleaseImage } from '../release/download.js';
import { publishRelease } from '../release/publish.js';
import { addGithubOptions, githubFromFlags, transferProgress, type GithubFlags } from './github-options.js';

/** Where downloaded releases are kept: beside the stage cache, per repository. */
export const releaseDownloadDir = (repo: string): string => path.join('.cache', 'releases', repo.replace('/', '_'));

export const registerRelease: Register = (program, ctx) => {
  const release = program.command('release').description('GitHub releases of built images');

  const publish = release
    .command('publish')
    .description('create or update the GitHub release of a built version and upload its qcow2, manifest, SBOM and SHA256SUMS (resumes an interrupted run)')
    // a positional argument: --version is the program's own flag (commander reads it anywhere)
    .argument('[version]', 'version to publish (default: the image definition\'s)')
    .option('--definition <file>', 'image definition (its id names the artifacts)', DEFAULT_IMAGE_DEFINITION)
    .option('--out-dir <dir>', 'where ober build-image put the artifacts', 'out')
    .option('--sign-key <file>', 'sign SHA256SUMS with this SSH key (ssh-keygen -Y sign; no passphrase, or its .pub with the key in ssh-agent) and upload SHA256SUMS.sig')
    .option('--dry-run', 'show what would be created, uploaded or skipped; change nothing');
  addGithubOptions(publish, 'GitHub repository (required)').action(async (versionArg: string | undefined, flags: GithubFlags & { definition: string; outDir: string; dryRun?: boolean; signKey?: string }, cmd: Command) => {
    const out = ctx.output(cmd);
    if (!flags.repo) throw new ConfigError('ober release publish', [{ path: '--repo', message: 'required: the repository to publish to, OWNER/NAME' }]);
    const def = await loadImageDefinition(flags.definition);
    const { gh, ref } = await githubFromFlags(flags, out, true);
    const version = versionArg ?? def.version;
    const r = await publishRelease(gh, ref, { id: def.id, version, outDir: flags.outDir, dryRun: flags.dryRun, signKey: flags.signKey }, { info: (m) => out.info(m), progress: transferProgress(out, 'upload') });
    if (out.json) return out.emitJson({ ok: true, dryRun: !!flags.dryRun, ...r });
    const verb = { upload: 'upload', replace: 'replace', skip: 'skip' } as const;
    if (flags.dryRun) {
      out.result(`dry run: ${r.repo} ${r.tag}: ${r.created ? 'would create the release (draft until every asset is up)' : `release ${r.releaseId} exists`}${r.published ? ', would publish it' : ''}`);
      for (const a of r.assets) out.result(`  ${verb[a.action].padEnd(8)} ${a.name} (${a.reason})`);
      return;
    }
    out.ok(`${r.repo} ${r.tag}: ${r.assets.filter((a) => a.action !== 'skip').length} uploaded, ${r.assets.filter((a) => a.action === 'skip').length} already there${r.published ? '; published' : ''}`);
  });

  const download = release
    .command('download')
    .description('download a release\'s image and manifest with resume, verified against its SHA256SUMS')
    .argument('<version>', 'version, or <image id>_<version> when the release holds several images')
    .option('--dir <dir>', 'download directory (default .cache/releases/<owner>_<name>)')
    .option('--dry-run', 'find the release and its assets; download nothing');
  addGithubOptions(download, 'GitHub repository (required)', { reading: true }).action(async (version: string, flags: GithubFlags & { dir?: string; dryRun?: boolean }, cmd: Command) => {
    const out = ctx.output(cmd);
    if (!flags.repo) throw new ConfigError('ober release download', [{ path: '--repo', message: 'required: the repository to read, OWNER/NAME' }]);
    const { gh, ref } = await githubFromFlags(flags, out, false);
    const img = await fetchReleaseImage(gh, ref, version, flags.dir ?? releaseDownloadDir(flags.repo), { info: (m) => out.info(m), progress: transferProgress(out, 'download') }, { allowedSigners: flags.allowedSigners, dryRun: flags.dryRun });
    if (out.json) return out.emitJson({ ok: true, dryRun: !!flags.dryRun, ...img });
    if (flags.dryRun) return out.result(`dry run: ${img.id} ${img.version} (${img.tag}) would be downloaded to ${img.qcow2} (+ manifest, SHA256SUMS) and verified`);
    out.ok(`${img.id} ${img.version} (${img.tag}) verified against SHA256SUMS: ${img.qcow2}`);
  });
};
