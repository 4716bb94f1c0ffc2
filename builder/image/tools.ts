// Every external program the pipeline runs, checked before the first stage with the Debian package
// that provides it.
import type { ToolRequirement } from '../../firstboot/lib/exec.js';
import type { ImageDefinition } from './definition.js';

const common: ToolRequirement[] = [
  { tool: 'cp', purpose: 'copy the cached root filesystem for customizing', debianPackage: 'coreutils' },
  { tool: 'chroot', purpose: "run the image's own tools (systemctl, update-initramfs, grub-mkimage)", debianPackage: 'coreutils' },
  { tool: 'mkfs.ext4', purpose: 'create the root and /var filesystems from directories (mkfs.ext4 -d)', debianPackage: 'e2fsprogs' },
  { tool: 'debugfs', purpose: 'set the inode times mkfs.ext4 -d copies from the tree to SOURCE_DATE_EPOCH', debianPackage: 'e2fsprogs' },
  { tool: 'mkfs.vfat', purpose: 'create the EFI system partition', debianPackage: 'dosfstools' },
  { tool: 'mcopy', purpose: 'fill the EFI system partition without mounting it', debianPackage: 'mtools' },
  { tool: 'mmd', purpose: 'create directories in the EFI system partition', debianPackage: 'mtools' },
  { tool: 'sfdisk', purpose: 'write the GPT partition table into the disk image', debianPackage: 'fdisk' },
  { tool: 'qemu-img', purpose: 'convert the raw disk to a compressed qcow2', debianPackage: 'qemu-utils' },
];

export function buildTools(def: ImageDefinition): ToolRequirement[] {
  const bootstrap: ToolRequirement =
    def.distribution.family === 'debian'
      ? { tool: 'mmdebstrap', purpose: 'bootstrap the Debian root filesystem', debianPackage: 'mmdebstrap' }
      : { tool: 'dnf', purpose: `bootstrap the ${def.distribution.name} root filesystem (dnf --installroot)`, debianPackage: 'dnf' };
  // flavour awslc: the haproxy stage compiles in its own build root, entered in a private mount namespace
  const haproxy: ToolRequirement[] =
    def.haproxy.flavour === 'awslc' ? [{ tool: 'unshare', purpose: 'enter the HAProxy build root with /proc and /dev in a private mount namespace', debianPackage: 'util-linux' }] : [];
  return [bootstrap, ...common, ...haproxy];
}
