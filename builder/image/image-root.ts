// The image's own programs on the build host: `chroot` into the customized root tree of a build
// (the stage cache's customize/<key>/{root,var}), so HAProxy, keepalived, ExaBGP, BIRD, sshd,
// systemd-analyze and nft run against the image's own libraries, Python and configuration defaults
// — not the build host's. Used by the config checks of the unit tests, the lab and `ober drill`,
// and the manifest stage (the exact versions the image ships).
//
// The cached trees are never written: each run gets a private mount namespace (`unshare --mount`)
// in which the tree is the lower layer of a throw-away overlay on tmpfs, with /proc, /sys, /dev,
// a fresh /run and /tmp, and the host directories the program must see (its config, sockets,
// the lab's node roots) bound at the same paths. The namespace and the overlay vanish with the
// process; the program keeps its PID (unshare, sh and chroot all exec in place), so the lab can
// signal it as before.
import { existsSync, mkdirSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';

/** Where `ober build-image` keeps its stage cache unless told otherwise (--cache-dir). */
export const DEFAULT_CACHE_DIR = '.cache/image';
/** The image the lab and the checks prefer: the default definition's (image/debian-13.yaml). */
export const DEFAULT_IMAGE_ID = 'herr-ober-debian-13';
/** Empty directory the private tmpfs is mounted on (in the private namespace only). */
const MOUNT_POINT = '/run/ober-image-root';
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

export interface ImageTree {
  /** customize/<key>: holds root/ and var/ (the persistent partition's tree). */
  dir: string;
  id: string;
  version: string;
}

/**
 * Which programs run the daemons: the image's (chroot into its tree) or the host's. `label` names
 * the choice for the output of tests, the lab and `ober drill`; `note` says why it is the host.
 */
export interface DaemonRoot {
  kind: 'image' | 'host';
  label: string;
  tree?: ImageTree;
  note?: string;
  /** argv that runs `argv` with this root's programs; `binds` are host paths it must see (same path). */
  wrap(argv: readonly string[], binds?: readonly string[]): string[];
}

export const hostDaemons = (note: string): DaemonRoot => ({ kind: 'host', label: 'host', note, wrap: (argv) => [...argv] });

// $1 root tree, $2 var tree, $3 mount point, then bind paths up to `--`, then the program.
const ENTER = String.raw`
set -eu
root=$1 var=$2 top=$3
shift 3
mount -t tmpfs -o mode=0755 ober-image-root "$top"
mkdir "$top/u" "$top/w" "$top/vu" "$top/vw" "$top/r"
mount -t overlay -o "lowerdir=$root,upperdir=$top/u,workdir=$top/w" ober-image-root "$top/r"
mount -t overlay -o "lowerdir=$var,upperdir=$top/vu,workdir=$top/vw" ober-image-var "$top/r/var"
mount -t proc proc "$top/r/proc"
mount --rbind /sys "$top/r/sys"
mount --rbind /dev "$top/r/dev"
mount -t tmpfs -o mode=0755 run "$top/r/run"
mount -t tmpfs -o mode=1777 tmp "$top/r/tmp"
# /etc/resolv.conf is systemd-resolved's stub file in /run (a dangling link in the tree); on a node
# resolved writes it at boot, and HAProxy's resolvers section reads it (parse-resolv-conf)
mkdir -p "$top/r/run/systemd/resolve"
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' > "$top/r/run/systemd/resolve/stub-resolv.conf"
while [ "$1" != -- ]; do
  if [ -d "$1" ]; then mkdir -p "$top/r$1"; else mkdir -p "$(dirname "$top/r$1")"; : > "$top/r$1"; fi
  mount --rbind "$1" "$top/r$1"
  shift
done
shift
PATH=${PATH}
export PATH
exec chroot "$top/r" "$@"
`;

export function imageDaemons(tree: ImageTree): DaemonRoot {
  return chrootDaemons(tree, `image ${tree.id} ${tree.version} (${tree.dir})`);
}

/**
 * Programs of any tree laid out as a customize entry (`root/` and `var/` under `tree.dir`), run
 * as imageDaemons runs the image's: e.g. the lab's Ceph from a Debian root of its own (ceph-root.ts).
 */
export function chrootDaemons(tree: ImageTree, label: string): DaemonRoot {
  return {
    kind: 'image',
    label,
    tree,
    wrap(argv, binds = []) {
      mkdirSync(MOUNT_POINT, { recursive: true });
      const paths = [...new Set(binds.map((b) => path.resolve(b)))].sort();
      return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', ENTER, 'ober-image-root',
        path.join(tree.dir, 'root'), path.join(tree.dir, 'var'), MOUNT_POINT, ...paths, '--', ...argv];
    },
  };
}

/**
 * The most recently used customize entry of the stage cache (of `imageId` when given). The key
 * changes with every change to the node program, so the newest entry, not the current plan's:
 * the daemons inside do not depend on it.
 */
export async function findImageTree(o: { cacheDir?: string; imageId?: string } = {}): Promise<ImageTree | undefined> {
  const base = path.join(o.cacheDir ?? DEFAULT_CACHE_DIR, 'stages', 'customize');
  const found: (ImageTree & { mtime: number })[] = [];
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (name.includes('.tmp-')) continue;
    const dir = path.resolve(base, name);
    const inputsFile = path.join(dir, '.inputs.json');
    const st = await stat(inputsFile).catch(() => undefined);
    if (!st || !existsSync(path.join(dir, 'root/usr')) || !existsSync(path.join(dir, 'var'))) continue;
    const inputs = JSON.parse(await readFile(inputsFile, 'utf8')) as { image?: { id?: string; version?: string } };
    const id = inputs.image?.id;
    if (!id || (o.imageId && id !== o.imageId)) continue;
    found.push({ dir, id, version: inputs.image?.version ?? '?', mtime: st.mtimeMs });
  }
  const best = found.sort((a, b) => b.mtime - a.mtime)[0];
  return best && { dir: best.dir, id: best.id, version: best.version };
}

/**
 * The daemons for tests, the lab and `ober drill`. OBER_DAEMONS=host forces the host's,
 * OBER_DAEMONS=image requires an image tree (an error without one); OBER_IMAGE_TREE=<customize
 * entry> picks a tree. Otherwise: the default image's newest tree, else any image's, else the host.
 */
export async function resolveDaemons(o: { cacheDir?: string; env?: NodeJS.ProcessEnv; uid?: number } = {}): Promise<DaemonRoot> {
  const env = o.env ?? process.env;
  const want = env.OBER_DAEMONS ?? 'auto';
  if (!['auto', 'host', 'image'].includes(want)) throw new Error(`OBER_DAEMONS=${want}: use host, image or auto`);
  if (want === 'host') return hostDaemons('OBER_DAEMONS=host');
  const uid = o.uid ?? process.getuid?.() ?? 0;
  const explicit = env.OBER_IMAGE_TREE;
  let tree: ImageTree | undefined;
  if (explicit) {
    tree = await findImageTree({ cacheDir: path.resolve(explicit, '../../..') }).then((t) => (t?.dir === path.resolve(explicit) ? t : undefined));
    if (!tree) {
      const inputs = await readFile(path.join(explicit, '.inputs.json'), 'utf8').catch(() => undefined);
      if (!inputs) throw new Error(`OBER_IMAGE_TREE=${explicit}: not a customize stage entry (no .inputs.json); use .cache/image/stages/customize/<key>`);
      const img = (JSON.parse(inputs) as { image?: { id?: string; version?: string } }).image;
      tree = { dir: path.resolve(explicit), id: img?.id ?? '?', version: img?.version ?? '?' };
    }
  } else {
    tree = (await findImageTree({ ...o, imageId: DEFAULT_IMAGE_ID })) ?? (await findImageTree(o));
  }
  if (tree && uid !== 0) {
    if (want === 'image') throw new Error('OBER_DAEMONS=image needs root (chroot and mounts)');
    return hostDaemons(`an image tree exists (${tree.dir}) but chroot needs root`);
  }
  if (tree) return imageDaemons(tree);
  if (want === 'image') throw new Error(`OBER_DAEMONS=image: no image tree under ${path.resolve(o.cacheDir ?? DEFAULT_CACHE_DIR)}; run npm run build-image first`);
  return hostDaemons(`no image tree under ${path.resolve(o.cacheDir ?? DEFAULT_CACHE_DIR)} (npm run build-image builds one)`);
}

/** The versions the daemon programs report about themselves (undefined when absent). */
export interface DaemonVersions {
  haproxy?: string;
  /** The SSL library HAProxy runs on (`haproxy -vv`: "Running on: OpenSSL 3.5.1 ..."). */
  haproxySsl?: string;
  keepalived?: string;
  exabgp?: string;
  bird?: string;
  systemd?: string;
  nftables?: string;
  openssh?: string;
  node?: string;
}

const PROBES: { key: keyof DaemonVersions; argv: string[]; pattern: RegExp }[] = [
  { key: 'haproxy', argv: ['haproxy', '-v'], pattern: /^HA-?Proxy version (\S+)/m },
  { key: 'haproxySsl', argv: ['haproxy', '-vv'], pattern: /^Running on (?:SSL library|OpenSSL version) ?: ?(.+?)\s*$/m },
  { key: 'keepalived', argv: ['keepalived', '--version'], pattern: /^Keepalived v(\S+)/m },
  { key: 'exabgp', argv: ['exabgp', '--version'], pattern: /^ExaBGP\s*:\s*(\S+)/m },
  { key: 'bird', argv: ['bird', '--version'], pattern: /^BIRD version (\S+)/m },
  { key: 'systemd', argv: ['systemctl', '--version'], pattern: /^systemd \d+ \(([^)]+)\)/m },
  { key: 'nftables', argv: ['nft', '--version'], pattern: /^nftables v(\S+)/m },
  { key: 'openssh', argv: ['ssh', '-V'], pattern: /^(OpenSSH_\S+?),?\s/m },
  { key: 'node', argv: ['node', '--version'], pattern: /^v(\S+)/m },
];

export async function daemonVersions(root: DaemonRoot): Promise<DaemonVersions> {
  const out: DaemonVersions = {};
  // One namespace for all probes: a shell prints each program's output under a marker line.
  const script = PROBES.map((p, i) => `echo "@@${i}"; ${p.argv.join(' ')} 2>&1 || true`).join('\n');
  const r = await run(root.wrap(['sh', '-c', script]), { allowFailure: true, env: { ...process.env, PATH: `${PATH}:${process.env.PATH ?? ''}` } });
  const parts = r.stdout.split(/^@@(\d+)$/m);
  for (let i = 1; i < parts.length; i += 2) {
    const probe = PROBES[Number(parts[i])];
    const m = probe?.pattern.exec(parts[i + 1] ?? '');
    if (probe && m?.[1]) out[probe.key] = m[1];
  }
  return out;
}

/** "haproxy 3.0.11-1 (OpenSSL 3.5.1 ...), keepalived 2.3.3, ..." for test and lab output. */
export function formatVersions(v: DaemonVersions): string {
  const parts: string[] = [];
  if (v.haproxy) parts.push(`haproxy ${v.haproxy}${v.haproxySsl ? ` (${v.haproxySsl})` : ''}`);
  for (const k of ['keepalived', 'exabgp', 'bird', 'systemd', 'nftables', 'openssh', 'node'] as const) if (v[k]) parts.push(`${k} ${v[k]}`);
  return parts.join(', ');
}
