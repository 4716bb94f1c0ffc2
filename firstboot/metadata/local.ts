// `--metadata DIR|ISO|FILE`, for tests and rescue: a NoCloud or ConfigDrive2 directory, an image
// (or device) of either drive, or a YAML file holding the ober document.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { isConfigDriveTree, readConfigDrive, CONFIGDRIVE_LABEL } from './configdrive.js';
import { decodeText, isCloudConfig, isRecord, kindOf, parseYamlMapping } from './documents.js';
import { IsoImage, readVolumeLabel, withFileSource } from './iso9660.js';
import type { NodeMetadata } from './metadata.js';
import { isNoCloudTree, readNoCloud, NOCLOUD_LABEL } from './nocloud.js';
import { errnoCode, problem } from './problems.js';
import { directoryTree, isoTree, type FileTree } from './tree.js';

export async function readLocal(p: string): Promise<NodeMetadata> {
  const st = await stat(p).catch((e: unknown) => {
    throw problem(p, errnoCode(e) === 'ENOENT' ? 'does not exist' : `cannot be read: ${(e as Error).message}`);
  });
  if (st.isDirectory()) return readDriveTree(directoryTree(p));
  if (!st.isFile() && !st.isBlockDevice()) throw problem(p, 'is not a directory, a file or a block device');
  return withFileSource(p, async (src) => {
    const label = await readVolumeLabel(src);
    if (label === undefined) return readOberFile(p);
    const iso = await IsoImage.open(src);
    const tree = isoTree(iso, p);
    if (label.toLowerCase() === NOCLOUD_LABEL) return readNoCloud(tree);
    if (label.toLowerCase() === CONFIGDRIVE_LABEL) return readConfigDrive(tree);
    throw problem(
      p,
      `ISO9660 volume label "${label}" is neither ${NOCLOUD_LABEL} (NoCloud) nor ${CONFIGDRIVE_LABEL} (ConfigDrive2)`,
      `cloud-init only reads drives with those labels; build the image with genisoimage -J -R -V ${NOCLOUD_LABEL}`,
    );
  });
}

async function readDriveTree(tree: FileTree): Promise<NodeMetadata> {
  if (await isNoCloudTree(tree)) return readNoCloud(tree);
  if (await isConfigDriveTree(tree)) return readConfigDrive(tree);
  throw problem(
    tree.location,
    'is neither a NoCloud directory (meta-data, user-data, vendor-data, network-config) nor a ConfigDrive2 directory (openstack/latest/meta_data.json)',
    'point --metadata at the root of an extracted cloud-init drive, at the drive image, or at a YAML file with the ober document',
  );
}

/**
 * A YAML file with the ober document: either the document itself, or a #cloud-config with an
 * `ober:` key (the vendor snippet as deployed). Its instance id is derived from its content, as
 * Proxmox derives meta-data's from user-data and network-config, so a changed file is a new instance.
 */
async function readOberFile(p: string): Promise<NodeMetadata> {
  const tree = directoryTree(path.dirname(p));
  const bytes = (await tree.read(path.basename(p)))!;
  if (bytes.includes(0)) {
    throw problem(
      p,
      'is neither an ISO9660 image (no complete volume descriptor at byte 32768: truncated?) nor a YAML text file (it holds NUL bytes)',
      'pass the cloud-init drive image, an extracted drive directory, or a YAML file with the ober document',
    );
  }
  const f = { file: p, text: decodeText(bytes, p) };
  const value = parseYamlMapping(f.text, f.file).value;
  const wrapped = isCloudConfig(f.text);
  const doc = wrapped ? value.ober : value;
  if (!isRecord(doc) || Object.keys(doc).length === 0) {
    throw problem(
      f.file,
      wrapped ? (doc === undefined ? 'has no ober key' : `ober must be a mapping, found ${kindOf(doc)}`) : 'holds no ober document (it is empty)',
      'the file holds the ober document ({ version: 1, node: ..., cluster: ... }), or "#cloud-config" and an "ober:" key',
      wrapped ? 'ober' : '',
    );
  }
  return {
    source: 'file',
    location: p,
    instanceId: `local-${createHash('sha256').update(f.text).digest('hex').slice(0, 40)}`,
    metaData: {},
    ober: { from: 'file', file: f.file, doc },
    warnings: [],
  };
}
