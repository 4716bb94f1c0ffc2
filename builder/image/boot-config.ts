// Text files that tie the image to its disk layout: fstab, GRUB configs. Pure functions of the
// definition and the derived identifiers, so the unit tests can read exactly what the image gets.
import type { ImageDefinition } from './definition.js';
import type { ImageIdentifiers } from './identifiers.js';

export function fstab(ids: ImageIdentifiers): string {
  return [
    '# Herr Ober: / is read-only. /var is the persistent partition (last on the disk, grown at boot);',
    '# the initramfs (scripts/local-bottom/ober-var-etc) mounts it, checks it and puts the writable',
    '# /etc overlay on top, so it has no fsck pass here.',
    `UUID=${ids.rootFsUuid} / ext4 ro,errors=remount-ro 0 1`,
    `UUID=${ids.varFsUuid} /var ext4 nodev,nosuid 0 0`,
    'tmpfs /tmp tmpfs nodev,nosuid,mode=1777,size=256M 0 0',
    '',
  ].join('\n');
}

export function kernelArguments(def: ImageDefinition, ids: ImageIdentifiers): string {
  return [`root=UUID=${ids.rootFsUuid}`, 'ro', ...def.kernelCommandLine].join(' ');
}

/** /boot/grub/grub.cfg, read by both the BIOS and the UEFI GRUB. The kernel is fixed: the image is immutable. */
export function grubConfig(def: ImageDefinition, ids: ImageIdentifiers, kernelVersion: string): string {
  return `# Herr Ober ${def.id} ${def.version}, written by the image build (no update-grub here).
set default=0
set timeout=1
if [ "$grub_platform" = "pc" ]; then
  serial --unit=0 --speed=115200
  terminal_input console serial
  terminal_output console serial
fi
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root ${ids.rootFsUuid}
menuentry '${def.id} ${def.version}' {
  linux /boot/vmlinuz-${kernelVersion} ${kernelArguments(def, ids)}
  initrd /boot/initrd.img-${kernelVersion}
}
`;
}

/**
 * The config embedded in the BIOS core.img: find the root filesystem by UUID and set the prefix;
 * GRUB's normal mode then reads $prefix/grub.cfg by itself. (A `configfile` here would run before
 * normal mode is set up and leave a nested menu without its timeout.)
 */
export function grubBiosEmbeddedConfig(ids: ImageIdentifiers): string {
  return `search --no-floppy --fs-uuid --set=root ${ids.rootFsUuid}
set prefix=($root)/boot/grub
`;
}

/**
 * \EFI\<vendor>\grub.cfg for Debian's signed GRUB, whose baked-in prefix is that directory: it
 * runs in normal mode already, so it hands over to /boot/grub/grub.cfg explicitly.
 */
export function grubEfiConfig(ids: ImageIdentifiers): string {
  return grubBiosEmbeddedConfig(ids) + 'configfile $prefix/grub.cfg\n';
}

export function osReleaseFields(def: ImageDefinition): string {
  return `IMAGE_ID=${def.id}\nIMAGE_VERSION=${def.version}\n`;
}
