// Stage `rootfs`: bootstrap the distribution's root filesystem into <out>/tree. Cached on its own,
// keyed only by what shapes the package set, so a change in overlays/ never re-runs the bootstrap.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../../firstboot/lib/exec.js';
import type { DebianDistribution, ImageDefinition, RhelDistribution } from '../definition.js';
import type { Stage, StageLog } from '../stage.js';
import { AptProgress } from '../apt-progress.js';
import { treeDigest } from '../tree.js';

/** Bump when the stage's code changes what it produces. */
const REVISION = 2;

export interface RootfsOptions {
  sourceDateEpoch: number;
  /** Downloaded packages, kept across builds (not an input: it never changes the result). */
  packageCache: string;
}

export function rootfsStage(def: ImageDefinition, opts: RootfsOptions): Stage {
  const argv = (out: string): string[] =>
    def.distribution.family === 'debian'
      ? mmdebstrapArgv(def, def.distribution, path.join(out, 'tree'), opts.packageCache)
      : dnfArgv(def, def.distribution, path.join(out, 'tree'));
  return {
    name: 'rootfs',
    inputs: {
      revision: REVISION,
      distribution: def.distribution,
      packages: [...def.packages].sort(),
      pathExcludes: def.pathExcludes,
      sourceDateEpoch: opts.sourceDateEpoch,
    },
    commands: [argv('<out>')],
    async run(out, log) {
      await mkdir(opts.packageCache, { recursive: true });
      await run(argv(out), { env: { ...process.env, SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch), LC_ALL: 'C.UTF-8' }, onLine: aptProgressTap(log) });
      await writeFile(path.join(out, 'tree.digest'), await treeDigest(path.join(out, 'tree')));
    },
  };
}

export function mmdebstrapArgv(def: ImageDefinition, dist: DebianDistribution, tree: string, debCache: string): string[] {
  return debianBootstrapArgv({
    variant: 'apt',
    dist,
    packages: def.packages,
    pathExcludes: def.pathExcludes,
    tree,
    debCache,
    // openssh-server's postinst generates host keys; they are per VM (and would make every rootfs differ)
    hooks: ['--customize-hook=rm -f "$1"/etc/ssh/ssh_host_*'],
  });
}

export interface DebianBootstrap {
  /** mmdebstrap's variant: `apt` for the image, `buildd` (build-essential) for a build root. */
  variant: 'apt' | 'buildd';
  dist: DebianDistribution;
  packages: readonly string[];
  pathExcludes: ImageDefinition['pathExcludes'];
  tree: string;
  debCache: string;
  hooks?: readonly string[];
}

/** The one mmdebstrap command line: the image's rootfs and the haproxy stage's build root. */
export function debianBootstrapArgv(b: DebianBootstrap): string[] {
  return [
    'mmdebstrap',
    `--variant=${b.variant}`,
    '--mode=root',
    '--format=directory',
    // apt's and dpkg's lines (Get:, Unpacking, Setting up) are the build's package progress
    '--verbose',
    ...(b.packages.length ? [`--include=${b.packages.join(',')}`] : []),
    ...b.pathExcludes.map((p) => ('exclude' in p ? `--dpkgopt=path-exclude=${p.exclude}` : `--dpkgopt=path-include=${p.include}`)),
    // the .deb cache, as in mmdebstrap(1) "EXAMPLES": sync in before, out after installing
    '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
    `--setup-hook=sync-in ${b.debCache} /var/cache/apt/archives/`,
    `--customize-hook=sync-out /var/cache/apt/archives ${b.debCache}`,
    ...(b.hooks ?? []),
    b.dist.release,
    b.tree,
    // explicit sources: the build host's own apt sources are never inherited
    ...b.dist.mirrors,
  ];
}

/** apt's and dpkg's output of an mmdebstrap run as progress lines on `log`. */
export function aptProgressTap(log: StageLog): (line: string) => void {
  const apt = new AptProgress();
  return (line) => {
    const m = apt.line(line);
    if (m) log.info(m.text, { transient: m.transient });
  };
}

export function dnfArgv(def: ImageDefinition, dist: RhelDistribution, tree: string): string[] {
  return [
    'dnf',
    '-y',
    `--installroot=${tree}`,
    `--releasever=${dist.release}`,
    '--forcearch=x86_64',
    // only the repositories of the definition, never the host's
    '--setopt=reposdir=/dev/null',
    '--setopt=install_weak_deps=False',
    '--setopt=tsflags=nodocs',
    ...dist.repositories.flatMap((r) => [`--repofrompath=${r.id},${r.baseurl}`, `--repo=${r.id}`]),
    'install',
    ...def.packages,
  ];
}
