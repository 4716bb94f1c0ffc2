// Stage `customize`: a copy of the cached rootfs made into the appliance: overlays, the files of
// renderImageFiles(), the node program, identity and boot files, units, hardening, initramfs, boot
// loaders; then /var is split off into its own tree (it becomes the persistent partition).
// Output: <out>/root, <out>/var, <out>/esp (trees), <out>/bios/{boot,core}.img, <out>/*.digest.
import { chmod, copyFile, lstat, mkdir, readdir, readFile, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeRenderedFiles, type RenderedFile } from '../../../firstboot/render/files.js';
import { run } from '../../../firstboot/lib/exec.js';
import { ConfigError, InternalError } from '../../../firstboot/lib/errors.js';
import { NODE_PROGRAM_PATH, NODE_WRAPPER, unitsToEnable } from '../appliance-files.js';
import { fstab, grubBiosEmbeddedConfig, grubConfig, grubEfiConfig, osReleaseFields } from '../boot-config.js';
import type { Json } from '../canonical.js';
import type { ImageDefinition, KernelModules } from '../definition.js';
import type { ImageIdentifiers } from '../identifiers.js';
import { parseModulesBuiltin, parseModulesDep, planModuleTrim } from '../kernel-modules.js';
import type { Stage } from '../stage.js';
import { AWSLC_PACKAGE, haproxyPackageFile } from './haproxy.js';
import { clampMtimes, copyTree, hashFile, treeDigest, walk } from '../tree.js';

const REVISION = 5;

export interface CustomizeInputs {
  def: ImageDefinition;
  ids: ImageIdentifiers;
  rootfsDir: string;
  rootfsKey: string;
  /** Flavour awslc: the haproxy stage's entry, whose .deb replaces the distribution's haproxy. */
  haproxy?: { dir: string; key: string } | undefined;
  overlaysDir: string;
  overlaysDigest: string;
  imageFiles: RenderedFile[];
  nodeProgram: { path: string; sha256: string };
  sourceDateEpoch: number;
}

export function customizeStage(c: CustomizeInputs): Stage {
  const { def } = c;
  return {
    name: 'customize',
    inputs: {
      revision: REVISION,
      rootfs: c.rootfsKey,
      haproxy: c.haproxy?.key ?? null,
      overlays: c.overlaysDigest,
      imageFiles: c.imageFiles as unknown as Json,
      nodeProgram: c.nodeProgram.sha256,
      image: { id: def.id, version: def.version },
      services: def.services,
      boot: def.boot,
      kernelModules: def.kernelModules ?? null,
      kernelCommandLine: def.kernelCommandLine,
      identifiers: c.ids as unknown as Json,
      sourceDateEpoch: c.sourceDateEpoch,
    },
    commands: [
      ['cp', '-a', '--reflink=auto', `${c.rootfsDir}/tree`, '<out>/root'],
      ...(c.haproxy ? [['chroot', '<out>/root', 'dpkg', '--purge', 'haproxy'], ['chroot', '<out>/root', 'dpkg', '-i', `/tmp/${AWSLC_PACKAGE}_<version>_amd64.deb`]] : []),
      ['chroot', '<out>/root', 'systemctl', 'enable', '...'],
      ['chroot', '<out>/root', 'depmod', '<kernel>'],
      ['chroot', '<out>/root', 'update-initramfs', '-u', '-k', '<kernel>'],
      ['chroot', '<out>/root', def.boot.mkimage, '-O', 'i386-pc', '...'],
    ],
    async run(out) {
      if (def.distribution.family !== 'debian') {
        // dracut needs its own module for the /var + /etc overlay mount; not written yet.
        throw new InternalError(`customize: the ${def.distribution.family} family is planned but not implemented`);
      }
      const root = path.join(out, 'root');
      const chroot: Chroot = (argv) => chrootRun(root, argv, c.sourceDateEpoch);
      await copyTree(path.join(c.rootfsDir, 'tree'), root);
      if (c.haproxy) await installHaproxyPackage(root, chroot, await haproxyPackageFile(c.haproxy.dir));
      await copyOverlay(c.overlaysDir, root);
      await writeRenderedFiles(root, c.imageFiles);
      await installNodeProgram(root, c.nodeProgram);
      await stampIdentity(root, def, c.ids);
      await enableServices(chroot, def, c.imageFiles);
      await harden(root, chroot);
      const kernel = await kernelVersion(root);
      if (def.kernelModules) await trimKernelModules(root, chroot, kernel, def.kernelModules);
      await mkdir(path.join(root, 'boot/grub'), { recursive: true });
      await writeFile(path.join(root, 'boot/grub/grub.cfg'), grubConfig(def, c.ids, kernel));
      await chroot(['update-initramfs', '-u', '-k', kernel]);
      await makeBootLoaders(root, chroot, out, def, c.ids);
      await markUpdated(root, c.sourceDateEpoch);
      await splitVar(root, path.join(out, 'var'));
      for (const tree of ['root', 'var', 'esp']) {
        await clampMtimes(path.join(out, tree), c.sourceDateEpoch);
        await writeFile(path.join(out, `${tree}.digest`), await treeDigest(path.join(out, tree)));
      }
      await writeFile(path.join(out, 'kernel-version'), kernel + '\n');
    },
  };
}

/**
 * The built HAProxy instead of the distribution's: the rootfs is the same for both flavours (its
 * haproxy brought the shared libraries the built one links), the distribution's package is purged
 * and the .deb installed, so the dpkg database, the manifest and the SBOM name only the built one.
 */
async function installHaproxyPackage(root: string, chroot: Chroot, deb: string): Promise<void> {
  const inRoot = `/tmp/${path.basename(deb)}`;
  await copyFile(deb, path.join(root, inRoot));
  // maintainer scripts must not try to stop a service in the chroot (policy-rc.d(8) interface)
  const policy = path.join(root, 'usr/sbin/policy-rc.d');
  await writeFile(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    await chroot(['dpkg', '--purge', 'haproxy']);
    await chroot(['dpkg', '-i', inRoot]);
  } finally {
    await rm(policy, { force: true });
    await rm(path.join(root, inRoot), { force: true });
  }
}

/** Files of overlays/<set>/ are copied verbatim; modes come from the executable bit (git keeps only that). */
async function copyOverlay(from: string, root: string): Promise<void> {
  for await (const rel of walk(from)) {
    if (!rel) continue;
    const src = path.join(from, rel);
    const dst = path.join(root, rel);
    const st = await lstat(src);
    if (st.isDirectory()) {
      await mkdir(dst, { recursive: true });
    } else {
      await rm(dst, { force: true });
      await copyFile(src, dst);
      await chmod(dst, st.mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

async function installNodeProgram(root: string, bundle: { path: string; sha256: string }): Promise<void> {
  const installed = path.join(root, NODE_PROGRAM_PATH);
  await mkdir(path.dirname(installed), { recursive: true });
  await copyFile(bundle.path, installed);
  // the cache key holds the hash read when the build started: a bundle rebuilt since then
  // (another `npm run build`) would be cached under the wrong key
  if ((await hashFile(installed)) !== bundle.sha256)
    throw new InternalError(`${bundle.path} changed while the image was being built; run the build again`);
  await chmod(installed, 0o644);
  await writeFile(path.join(root, NODE_WRAPPER.path), NODE_WRAPPER.content, { mode: NODE_WRAPPER.mode });
}

async function stampIdentity(root: string, def: ImageDefinition, ids: ImageIdentifiers): Promise<void> {
  // /etc/os-release is a link to /usr/lib/os-release (os-release(5)); IMAGE_* are its image fields.
  const osRelease = path.join(root, 'usr/lib/os-release');
  const kept = (await readFile(osRelease, 'utf8')).split('\n').filter((l) => l && !/^IMAGE_(ID|VERSION)=/.test(l));
  await writeFile(osRelease, kept.join('\n') + '\n' + osReleaseFields(def));
  await writeFile(path.join(root, 'etc/fstab'), fstab(ids));
}

async function enableServices(chroot: Chroot, def: ImageDefinition, files: readonly RenderedFile[]): Promise<void> {
  await chroot(['systemctl', 'enable', ...unitsToEnable(def, files)]);
  if (def.services.disable.length) await chroot(['systemctl', 'disable', ...def.services.disable]);
}

/** No shared identity, no password, nothing node-specific baked in. */
async function harden(root: string, chroot: Chroot): Promise<void> {
  await chroot(['usermod', '--lock', 'root']);
  for (const f of await readdir(path.join(root, 'etc/ssh'))) {
    if (f.startsWith('ssh_host_')) await rm(path.join(root, 'etc/ssh', f));
  }
  // empty (not missing): systemd treats the first boot as such and commits a fresh id (machine-id(5))
  await writeFile(path.join(root, 'etc/machine-id'), '');
  await rm(path.join(root, 'var/lib/dbus/machine-id'), { force: true });
}

/**
 * /etc and /var are consistent with /usr as built (dpkg made the users, ld.so.cache, the journal
 * catalog). Without these stamps `ConditionNeedsUpdate=` holds on the first boot and systemd-sysusers,
 * ldconfig and the catalog update run anyway: ~9 s of the first boot's critical chain under TCG.
 * After the mtime clamp, stamp and /usr both carry SOURCE_DATE_EPOCH, which counts as up to date.
 */
async function markUpdated(root: string, sourceDateEpoch: number): Promise<void> {
  const stamp = `# Written by the Herr Ober image build, as systemd-update-done(8) would: /etc and /var match /usr.\nTIMESTAMP_NSEC=${sourceDateEpoch}000000000\n`;
  for (const dir of ['etc', 'var']) await writeFile(path.join(root, dir, '.updated'), stamp);
}

async function kernelVersion(root: string): Promise<string> {
  const kernels = (await readdir(path.join(root, 'boot'))).filter((f) => f.startsWith('vmlinuz-')).sort();
  if (kernels.length !== 1) throw new InternalError(`expected one kernel in /boot, found: ${kernels.join(', ') || 'none'}`);
  return kernels[0]!.slice('vmlinuz-'.length);
}

/**
 * The definition's module trim (builder/image/kernel-modules.ts): delete, depmod, and an initramfs
 * that holds only the listed modules (MODULES=list; MODULES=dep would inspect the build host).
 */
async function trimKernelModules(root: string, chroot: Chroot, kernel: string, spec: KernelModules): Promise<void> {
  const dir = path.join(root, 'usr/lib/modules', kernel);
  const index = {
    ...parseModulesDep(await readFile(path.join(dir, 'modules.dep'), 'utf8')),
    builtin: parseModulesBuiltin(await readFile(path.join(dir, 'modules.builtin'), 'utf8')),
  };
  const trim = planModuleTrim(index, spec, kernel);
  if (trim.problems.length) throw new ConfigError('image definition (kernelModules)', trim.problems);
  for (const m of trim.remove) await rm(path.join(dir, m));
  await removeEmptyDirs(path.join(dir, 'kernel'));
  await chroot(['depmod', kernel]);
  const header = '# written by the image build from kernelModules.initramfs (image definition)\n';
  await writeFile(path.join(root, 'etc/initramfs-tools/modules'), header + spec.initramfs.join('\n') + '\n');
  await writeFile(path.join(root, 'etc/initramfs-tools/conf.d/ober-modules'), header + 'MODULES=list\n');
}

/** Bottom-up: a directory left empty by the trim goes too. */
async function removeEmptyDirs(dir: string): Promise<boolean> {
  let empty = true;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory() && (await removeEmptyDirs(path.join(dir, e.name)))) await rmdir(path.join(dir, e.name));
    else empty = false;
  }
  return empty;
}

/**
 * What grub-install would do, without a block device: BIOS core.img with an embedded config (the
 * assemble stage patches it into the disk), and Debian's signed shim + GRUB on the ESP tree.
 * GRUB's module directories are links into /usr/lib/grub instead of copies.
 */
async function makeBootLoaders(root: string, chroot: Chroot, out: string, def: ImageDefinition, ids: ImageIdentifiers): Promise<void> {
  const grubDir = path.join(root, 'boot/grub');
  for (const platform of ['i386-pc', 'x86_64-efi']) {
    await rm(path.join(grubDir, platform), { recursive: true, force: true });
    await symlink(path.posix.join('../..', def.boot.grubModules, platform), path.join(grubDir, platform));
  }
  await writeFile(path.join(root, 'tmp/early.cfg'), grubBiosEmbeddedConfig(ids));
  await chroot([def.boot.mkimage, '-O', 'i386-pc', '-o', '/tmp/core.img', '-c', '/tmp/early.cfg', '-p', '/boot/grub',
    'biosdisk', 'part_gpt', 'ext2', 'search', 'search_fs_uuid', 'configfile', 'normal']);
  await mkdir(path.join(out, 'bios'));
  await rename(path.join(root, 'tmp/core.img'), path.join(out, 'bios/core.img'));
  await copyFile(path.join(root, def.boot.grubModules, 'i386-pc/boot.img'), path.join(out, 'bios/boot.img'));
  await rm(path.join(root, 'tmp/early.cfg'));

  const efi = def.boot.efi;
  const esp = path.join(out, 'esp');
  await mkdir(path.join(esp, 'EFI/BOOT'), { recursive: true });
  await mkdir(path.join(esp, `EFI/${efi.vendor}`), { recursive: true });
  await copyFile(path.join(root, efi.shim), path.join(esp, 'EFI/BOOT/BOOTX64.EFI'));
  await copyFile(path.join(root, efi.grub), path.join(esp, 'EFI/BOOT/grubx64.efi'));
  await copyFile(path.join(root, efi.mokManager), path.join(esp, 'EFI/BOOT/mmx64.efi'));
  // the signed GRUB reads $prefix/grub.cfg with its baked-in prefix \EFI\<vendor>
  await writeFile(path.join(esp, `EFI/${efi.vendor}/grub.cfg`), grubEfiConfig(ids));
}

/**
 * Move /var's contents into their own tree (the persistent partition) and leave an empty mount
 * point. /home lives on /var too: cloud-init creates the users' home directories at boot.
 */
async function splitVar(root: string, varTree: string): Promise<void> {
  await mkdir(varTree, { mode: 0o755 });
  for (const entry of await readdir(path.join(root, 'var'))) {
    await rename(path.join(root, 'var', entry), path.join(varTree, entry));
  }
  await mkdir(path.join(varTree, 'home'), { mode: 0o755 });
  await mkdir(path.join(varTree, 'lib/ober'), { recursive: true, mode: 0o755 });
  await rmdir(path.join(root, 'home'));
  await symlink('var/home', path.join(root, 'home'));
}

type Chroot = (argv: string[]) => Promise<unknown>;

/** SOURCE_DATE_EPOCH goes in too: mkinitramfs clamps the initramfs's file times to it. */
function chrootRun(root: string, argv: string[], sourceDateEpoch: number): Promise<unknown> {
  return run(['chroot', root, ...argv], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C.UTF-8', HOME: '/root', SOURCE_DATE_EPOCH: String(sourceDateEpoch) } });
}
