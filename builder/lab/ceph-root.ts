// The lab's Ceph from a Debian root of its own, run by chroot as the image's daemons are
// (image-root.ts): `OBER_CEPH=trixie` runs Debian 13's Ceph (18.2) on this Debian 12 host, whose own
// packages are Ceph 16.2 (the default, `OBER_CEPH=host`).
//
// The root is made once by mmdebstrap — the same command line as the image's rootfs and HAProxy
// build root (stages/rootfs.ts), with the release and mirrors of the image definition of that
// release — and cached as a stage entry under <cache>/ceph/<key>, keyed by the release, mirrors
// and package list. Its layout is a customize entry's (root/ and var/), so chrootDaemons runs its
// programs on a throw-away overlay: the cached tree is never written, the cluster's own directory is
// bound in at the same path.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireTools, run, type ToolRequirement } from '../../firstboot/lib/exec.js';
import { createProgress, type ProgressOptions } from '../../firstboot/lib/progress.js';
import { canonicalJson } from '../image/canonical.js';
import { loadImageDefinition, type DebianDistribution, type ImageDefinition } from '../image/definition.js';
import { chrootDaemons, hostDaemons, type DaemonRoot } from '../image/image-root.js';
import { parseDpkgStatus, type InstalledPackage } from '../image/packages.js';
import { StageCache, type Stage, type StageLog } from '../image/stage.js';
import { aptProgressTap, debianBootstrapArgv } from '../image/stages/rootfs.js';

/** Bump when the stage's code changes what it produces. */
const REVISION = 1;

/** Stage cache root: entries are <dir>/ceph/<key>, the .deb cache <dir>/ceph/packages/<release>. */
export const DEFAULT_CEPH_CACHE_DIR = '.cache';
const STAGE = 'ceph';

/** What the lab runs (ceph-authtool, monmaptool and the `ceph` CLI are in ceph-common). No Recommends. */
export const CEPH_ROOT_PACKAGES = ['ceph-common', 'ceph-mon', 'ceph-osd', 'radosgw'] as const;

/** OBER_CEPH values besides `host`: the image definition whose distribution (release, mirrors) the root uses. */
export const CEPH_ROOT_RELEASES: Readonly<Record<string, string>> = { trixie: 'image/debian-13.yaml', bookworm: 'image/debian-12.yaml' };

const EXCLUDES: ImageDefinition['pathExcludes'] = [{ exclude: '/usr/share/doc/*' }, { exclude: '/usr/share/man/*' }, { exclude: '/usr/share/locale/*' }];

const BOOTSTRAP_TOOLS: ToolRequirement[] = [{ tool: 'mmdebstrap', purpose: 'bootstrap the Debian root the lab’s Ceph runs from (OBER_CEPH)', debianPackage: 'mmdebstrap' }];
const CHROOT_TOOLS: ToolRequirement[] = [
  { tool: 'unshare', purpose: 'run the lab’s Ceph from its own root in a private mount namespace (OBER_CEPH)', debianPackage: 'util-linux' },
  { tool: 'chroot', purpose: 'run the lab’s Ceph from its own root (OBER_CEPH)', debianPackage: 'coreutils' },
];

/** What the stage records about the root (ceph.json). */
export interface CephRootInfo {
  release: string;
  /** The Debian version of ceph-common, e.g. `18.2.7+ds-1`. */
  version: string;
  packages: InstalledPackage[];
}

export interface CephRoot extends CephRootInfo {
  /** The stage entry: root/, var/, ceph.json. */
  dir: string;
  cached: boolean;
  seconds: number;
}

export function cephRootArgv(dist: DebianDistribution, tree: string, debCache: string): string[] {
  return debianBootstrapArgv({ variant: 'apt', dist, packages: CEPH_ROOT_PACKAGES, pathExcludes: EXCLUDES, tree, debCache });
}

export function cephRootStage(dist: DebianDistribution, debCache: string): Stage {
  return {
    name: STAGE,
    // the .deb cache is not an input: it never changes the result
    inputs: { revision: REVISION, release: dist.release, mirrors: dist.mirrors, packages: [...CEPH_ROOT_PACKAGES].sort(), pathExcludes: EXCLUDES },
    commands: [cephRootArgv(dist, '<out>/root', debCache)],
    async run(out, log) {
      await mkdir(debCache, { recursive: true });
      await run(cephRootArgv(dist, path.join(out, 'root'), debCache), { env: { ...process.env, LC_ALL: 'C.UTF-8' }, onLine: aptProgressTap(log) });
      // chrootDaemons' layout: /var beside the root, laid over its (empty) /var on each run
      await rename(path.join(out, 'root/var'), path.join(out, 'var'));
      await mkdir(path.join(out, 'root/var'));
      const installed = parseDpkgStatus(await readFile(path.join(out, 'var/lib/dpkg/status'), 'utf8'));
      const packages = installed.filter((p) => (CEPH_ROOT_PACKAGES as readonly string[]).includes(p.name));
      const version = packages.find((p) => p.name === 'ceph-common')?.version;
      if (!version || packages.length !== CEPH_ROOT_PACKAGES.length) throw new Error(`the Ceph root lacks packages: ${CEPH_ROOT_PACKAGES.filter((n) => !packages.some((p) => p.name === n)).join(', ')}`);
      const info: CephRootInfo = { release: dist.release, version, packages };
      await writeFile(path.join(out, 'ceph.json'), canonicalJson(info, 2) + '\n');
      log.info(`ceph ${version} from ${dist.release}: ${installed.length} packages`);
    },
  };
}

/** The cached root of `release` (CEPH_ROOT_RELEASES), bootstrapped on the first call. */
export async function ensureCephRoot(o: { release: string; cacheDir?: string; log?: StageLog; progress?: ProgressOptions }): Promise<CephRoot> {
  const defFile = CEPH_ROOT_RELEASES[o.release];
  if (!defFile) throw new Error(`no Ceph root for ${o.release}: use ${Object.keys(CEPH_ROOT_RELEASES).join(' or ')}`);
  const def = await loadImageDefinition(defFile);
  const dist = def.distribution;
  if (dist.family !== 'debian' || dist.release !== o.release) throw new Error(`${defFile} is not Debian ${o.release}`);
  const cacheDir = path.resolve(o.cacheDir ?? DEFAULT_CEPH_CACHE_DIR);
  const stage = cephRootStage(dist, path.join(cacheDir, STAGE, 'packages', `debian-${dist.release}`));
  const cache = new StageCache(cacheDir);
  if (!(await cache.has(stage))) await requireTools(BOOTSTRAP_TOOLS);
  // Progress as build-image shows its stages (stderr: listr2 on a terminal, timestamped lines elsewhere).
  const step = `ceph root ${o.release}`;
  const r = o.log ? await cache.run(stage, o.log) : await createProgress(o.progress).steps([step], (log) => cache.run(stage, { info: (m, note) => log(step, m, note) }));
  const info = JSON.parse(await readFile(path.join(r.dir, 'ceph.json'), 'utf8')) as CephRootInfo;
  return { ...info, dir: r.dir, cached: r.cached, seconds: r.seconds };
}

/** The root's programs, by chroot (the cluster's directory is bound in by CephCluster). */
export function cephRootDaemons(root: Pick<CephRoot, 'dir' | 'release' | 'version'>): DaemonRoot {
  return chrootDaemons({ dir: root.dir, id: `ceph-${root.release}`, version: root.version }, `Debian ${root.release} root, ceph ${root.version} (${root.dir})`);
}

/**
 * Whose Ceph the lab runs. OBER_CEPH unset or `host`: the host's packages. OBER_CEPH=trixie (or
 * bookworm): a cached root of that release, built on first use (needs root and the mirror).
 */
export async function resolveCephDaemons(o: { env?: NodeJS.ProcessEnv; cacheDir?: string; uid?: number; log?: StageLog } = {}): Promise<DaemonRoot> {
  const want = (o.env ?? process.env).OBER_CEPH || 'host';
  if (want === 'host') return hostDaemons('the host’s Ceph packages');
  if (!CEPH_ROOT_RELEASES[want]) throw new Error(`OBER_CEPH=${want}: use host, ${Object.keys(CEPH_ROOT_RELEASES).join(' or ')}`);
  if ((o.uid ?? process.getuid?.() ?? 0) !== 0) throw new Error(`OBER_CEPH=${want} needs root (mmdebstrap, chroot and mounts)`);
  await requireTools(CHROOT_TOOLS);
  return cephRootDaemons(await ensureCephRoot({ release: want, ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}), ...(o.log ? { log: o.log } : {}) }));
}
