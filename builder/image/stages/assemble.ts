// Stage `assemble`: the raw GPT disk, built in userspace on a plain file (no loop devices, no
// mounts): sfdisk writes the table, mkfs.ext4 -d writes root and /var straight into their
// partitions (-E offset), the ESP is a mkfs.vfat image filled with mtools, and the BIOS boot code
// is patched in by hand (what grub-bios-setup does, which needs a block device).
import { lstat, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../../firstboot/lib/exec.js';
import { InternalError } from '../../../firstboot/lib/errors.js';
import type { ImageDefinition } from '../definition.js';
import type { ImageIdentifiers } from '../identifiers.js';
import { PARTITION_TYPES, SECTOR, partitionByRole, type DiskLayout, type PartitionExtent } from '../layout.js';
import type { Stage } from '../stage.js';
import { walk } from '../tree.js';

const REVISION = 3;

/**
 * ext4 features pinned to what bookworm's GRUB 2.06 and e2fsck read: a newer host mke2fs would
 * enable metadata_csum_seed and orphan_file by default.
 */
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

export interface AssembleInputs {
  def: ImageDefinition;
  ids: ImageIdentifiers;
  layout: DiskLayout;
  customizeDir: string;
  customizeKey: string;
  sourceDateEpoch: number;
}

export function assembleStage(a: AssembleInputs): Stage {
  const disk = (out: string): string => path.join(out, 'disk.raw');
  return {
    name: 'assemble',
    inputs: { revision: REVISION, customize: a.customizeKey, layout: a.layout as never, identifiers: a.ids as never, sourceDateEpoch: a.sourceDateEpoch },
    commands: [
      ['sfdisk', '--no-reread', '--no-tell-kernel', '<out>/disk.raw'],
      mkfsVfatArgv(a, '<out>/esp.img'),
      ['mcopy', '-m', '-i', '<out>/esp.img', '...'],
      mkfsExt4Argv(a, 'root', `${a.customizeDir}/root`, '<out>/disk.raw'),
      mkfsExt4Argv(a, 'var', `${a.customizeDir}/var`, '<out>/disk.raw'),
      ['debugfs', '-w', '-f', '<out>/<root|var>.debugfs', '<out>/disk.raw?offset=<partition>'],
    ],
    async run(out) {
      await writeFile(disk(out), '');
      await truncate(disk(out), a.layout.sizeBytes); // sparse
      await run(['sfdisk', '--no-reread', '--no-tell-kernel', disk(out)], { input: sfdiskScript(a.layout, a.ids) });
      await writeEsp(a, out);
      const env = { ...process.env, MKE2FS_CONFIG: path.join(out, 'mke2fs.conf'), E2FSPROGS_FAKE_TIME: String(a.sourceDateEpoch) };
      await writeFile(env.MKE2FS_CONFIG, MKE2FS_CONF);
      for (const role of ['root', 'var'] as const) {
        await run(mkfsExt4Argv(a, role, path.join(a.customizeDir, role), disk(out)), { env });
        await clampInodeTimes(a, role, path.join(out, `${role}.debugfs`), disk(out), env);
      }
      await rm(env.MKE2FS_CONFIG);
      await installBiosBoot(a.layout, path.join(a.customizeDir, 'bios'), disk(out));
    },
  };
}

export function sfdiskScript(layout: DiskLayout, ids: ImageIdentifiers): string {
  const lines = ['label: gpt', `label-id: ${ids.diskGuid}`, 'unit: sectors', 'first-lba: 2048', ''];
  for (const p of layout.partitions) {
    lines.push(`start=${p.startSector}, size=${p.sectors}, type=${PARTITION_TYPES[p.role]}, uuid=${ids.partitionUuids[p.name]}, name="${p.name}"`);
  }
  return lines.join('\n') + '\n';
}

function mkfsVfatArgv(a: AssembleInputs, image: string): string[] {
  const esp = partitionByRole(a.layout, 'esp');
  // --invariant: no time-based or random values (dosfstools 4.2), so the ESP is reproducible
  return ['mkfs.vfat', '--invariant', '-C', '-F', '32', '-n', 'ESP', '-i', a.ids.espVolumeId, image, String((esp.sectors * SECTOR) / 1024)];
}

function mkfsExt4Argv(a: AssembleInputs, role: 'root' | 'var', tree: string, disk: string): string[] {
  const p = partitionByRole(a.layout, role);
  const uuid = role === 'root' ? a.ids.rootFsUuid : a.ids.varFsUuid;
  return [
    'mkfs.ext4', '-q', '-F', '-t', 'ext4', '-L', role, '-U', uuid,
    // fixed directory hash seed and offset into the disk file; a size without suffix would be KiB
    '-E', `offset=${p.startSector * SECTOR},root_owner=0:0,hash_seed=${uuid}`,
    '-d', tree, disk, `${(p.sectors * SECTOR) / 1024}k`,
  ];
}

/**
 * mkfs.ext4 -d (e2fsprogs 1.47.0) copies each inode's ctime and atime from the source tree, where
 * ctime is when the customize stage clamped the file and atime when it was last read: both set to
 * SOURCE_DATE_EPOCH with debugfs, so two builds give the same bytes.
 */
async function clampInodeTimes(a: AssembleInputs, role: 'root' | 'var', commandFile: string, disk: string, env: Record<string, string | undefined>): Promise<void> {
  const lines: string[] = [];
  for await (const rel of walk(path.join(a.customizeDir, role))) {
    if (/["\n]/.test(rel)) throw new InternalError(`cannot pass /${rel} to debugfs (quote or newline in the name)`);
    for (const field of ['ctime', 'atime']) lines.push(`sif "/${rel}" ${field} @${a.sourceDateEpoch}`);
  }
  await writeFile(commandFile, lines.join('\n') + '\n');
  const r = await run(['debugfs', '-w', '-f', commandFile, `${disk}?offset=${partitionByRole(a.layout, role).startSector * SECTOR}`], { env });
  await rm(commandFile);
  // debugfs echoes each command as "debugfs: ..." and reports a failed one on a line of its own
  const failed = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l && !l.startsWith('debugfs'));
  if (failed.length) throw new InternalError(`debugfs could not clamp the inode times of ${role}:\n${failed.slice(0, 5).join('\n')}`);
}

async function writeEsp(a: AssembleInputs, out: string): Promise<void> {
  const image = path.join(out, 'esp.img');
  const tree = path.join(a.customizeDir, 'esp');
  await run(mkfsVfatArgv(a, image));
  // mtools stamps the directories mmd creates with the current time unless SOURCE_DATE_EPOCH is set
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: String(a.sourceDateEpoch) };
  for await (const rel of walk(tree)) {
    if (!rel) continue;
    const isDir = (await lstat(path.join(tree, rel))).isDirectory();
    await run(isDir ? ['mmd', '-i', image, `::/${rel}`] : ['mcopy', '-m', '-i', image, path.join(tree, rel), `::/${rel}`], { env });
  }
  await writeAt(path.join(out, 'disk.raw'), await readFile(image), partitionByRole(a.layout, 'esp').startSector * SECTOR);
  await rm(image);
}

/**
 * grub-bios-setup by hand (grub/util/setup.c): core.img goes into the BIOS boot partition with the
 * block list in its first sector pointing at the rest; boot.img (first 440 bytes only, keeping the
 * protective MBR's partition table) points at core.img and skips the boot-drive check.
 */
async function installBiosBoot(layout: DiskLayout, biosDir: string, disk: string): Promise<void> {
  const part: PartitionExtent = partitionByRole(layout, 'bios-boot');
  const core = await readFile(path.join(biosDir, 'core.img'));
  const boot = await readFile(path.join(biosDir, 'boot.img'));
  const sectors = Math.ceil(core.length / SECTOR);
  if (sectors > part.sectors) throw new InternalError(`core.img (${sectors} sectors) does not fit the BIOS boot partition (${part.sectors})`);
  core.writeBigUInt64LE(BigInt(part.startSector + 1), 0x1f4); // diskboot.img block list: start LBA
  core.writeUInt16LE(sectors - 1, 0x1fc); //                       ... and length in sectors
  boot.writeBigUInt64LE(BigInt(part.startSector), 0x5c); //       boot.img: LBA of core.img
  boot.writeUInt16LE(0x9090, 0x66); //                            NOP the drive check (as grub-setup)
  await writeAt(disk, core, part.startSector * SECTOR);
  await writeAt(disk, boot.subarray(0, 440), 0);
}

async function writeAt(file: string, data: Buffer, position: number): Promise<void> {
  const fh = await open(file, 'r+');
  try {
    await fh.write(data, 0, data.length, position);
  } finally {
    await fh.close();
  }
}
