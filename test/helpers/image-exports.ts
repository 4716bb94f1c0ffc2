// Shared by the export tests: a copy of the default image definition with one package changed, and
// the Debian 13 root that holds mkosi 25.3 (Debian 12's mkosi 14 cannot read an mkosi >= 25 project).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { DEFAULT_IMAGE_DEFINITION } from '../../builder/image/definition.js';
import { REPO } from './fixtures.js';

/** The default definition with `from` replaced by `to` in its package list, written to `file`. */
export function definitionWithPackage(file: string, from: string, to: string): string {
  const doc = parse(readFileSync(path.join(REPO, DEFAULT_IMAGE_DEFINITION), 'utf8')) as { packages: string[] };
  const i = doc.packages.indexOf(from);
  if (i < 0) throw new Error(`${from} is not in ${DEFAULT_IMAGE_DEFINITION}`);
  doc.packages[i] = to;
  writeFileSync(file, stringify(doc));
  return file;
}

const TRIXIE_MIRROR = 'deb http://deb.debian.org/debian trixie main';
/** mkosi and what `mkosi summary` and `systemd-repart` need; no recommends. */
const ROOT_PACKAGES = ['mkosi', 'python3', 'systemd-repart', 'dosfstools', 'mtools', 'e2fsprogs'];

/**
 * A Debian 13 root with mkosi, made once by mmdebstrap under .cache/mkosi-root/<key> (the key
 * hashes the mmdebstrap arguments, so a change in the package list makes a new root).
 */
export function trixieMkosiRoot(): string {
  const argv = ['--variant=apt', '--mode=root', '--format=directory', `--include=${ROOT_PACKAGES.join(',')}`, 'trixie'];
  const key = createHash('sha256').update(JSON.stringify([argv, TRIXIE_MIRROR])).digest('hex').slice(0, 16);
  const root = path.join(REPO, '.cache', 'mkosi-root', key);
  if (existsSync(path.join(root, 'usr/bin/mkosi'))) return root;
  const tmp = `${root}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.dirname(root), { recursive: true });
  execFileSync('mmdebstrap', [...argv, tmp, TRIXIE_MIRROR], { stdio: ['ignore', 'ignore', 'inherit'] });
  renameSync(tmp, root);
  return root;
}

/**
 * Run a program of the trixie root with /proc and /dev mounted in a private mount namespace (gone
 * when the command ends; systemd-repart reopens its image through /proc/self/fd).
 */
export function inTrixieRoot(root: string, argv: string[]): { status: number; stdout: string; stderr: string } {
  const script = 'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && root=$1 && shift && exec chroot "$root" "$@"';
  const r = execFileSyncSafe('unshare', ['--mount', '--fork', 'sh', '-c', script, 'sh', root, ...argv]);
  return r;
}

function execFileSyncSafe(file: string, args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string };
    return { status: err.status ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}
