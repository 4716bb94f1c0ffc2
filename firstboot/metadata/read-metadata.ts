// Where a node's metadata comes from, tried in order: the NoCloud drive Proxmox attaches (label
// cidata), a ConfigDrive2 drive (label config-2, `citype configdrive2`), then cloud-init's cache
// when cloud-init ran first. Drives are read without mounting; nothing is ever written. A source
// that is present but broken is an error, not a reason to try the next one: falling back would
// hide a damaged drive behind older data.
import { OberError } from '../lib/errors.js';
import { CLOUD_INIT_PATHS, readCloudInitCache } from './cloud-init-cache.js';
import { CONFIGDRIVE_LABEL, readConfigDrive } from './configdrive.js';
import { findLabelledDevices } from './devices.js';
import { IsoImage, withFileSource } from './iso9660.js';
import { readLocal } from './local.js';
import type { NodeMetadata } from './metadata.js';
import { NOCLOUD_LABEL, isNoCloudTree, readNoCloud } from './nocloud.js';
import { directoryTree, isoTree, type FileTree } from './tree.js';
import path from 'node:path';

export interface ReadMetadataOptions {
  /** File system root: '/' on a node; tests pass a directory shaped like one. */
  root?: string;
  /** `--metadata DIR|ISO|FILE`: read only this, and nothing else. */
  path?: string;
}

/** cloud-init's NoCloud seed directories, used when the data was copied into the image. */
const NOCLOUD_SEED_DIRS = ['var/lib/cloud/seed/nocloud', 'var/lib/cloud/seed/nocloud-net'];

export class MetadataNotFoundError extends OberError {
  override name = 'MetadataNotFoundError';
  constructor(readonly looked: readonly string[]) {
    super(
      'no node metadata found (no cloud-init drive, no cloud-init instance data). Looked at:\n' +
        looked.map((l) => `  - ${l}`).join('\n') +
        '\n  fix: attach a CloudInit drive to the VM (qm set <vmid> --ide2 <storage>:cloudinit) and set the ober vendor snippet ' +
        '(qm set <vmid> --cicustom vendor=local:snippets/<node>-ober.yaml), or pass --metadata DIR|ISO|FILE',
    );
  }
}

export async function readMetadata(options: ReadMetadataOptions = {}): Promise<NodeMetadata> {
  if (options.path) return readLocal(options.path);
  const root = options.root ?? '/';
  const looked: string[] = [];
  return (
    (await fromDrive(root, NOCLOUD_LABEL, readNoCloud, looked)) ??
    (await fromSeedDirs(root, looked)) ??
    (await fromDrive(root, CONFIGDRIVE_LABEL, readConfigDrive, looked)) ??
    (await fromCloudInit(root, looked)) ??
    notFound(looked)
  );
}

async function fromDrive(
  root: string,
  label: string,
  read: (tree: FileTree) => Promise<NodeMetadata>,
  looked: string[],
): Promise<NodeMetadata | undefined> {
  const [device] = await findLabelledDevices(root, label, looked);
  if (!device) return undefined;
  return withFileSource(device, async (src) => read(isoTree(await IsoImage.open(src), device)));
}

async function fromSeedDirs(root: string, looked: string[]): Promise<NodeMetadata | undefined> {
  for (const dir of NOCLOUD_SEED_DIRS) {
    const tree = directoryTree(path.join(root, dir));
    if (await isNoCloudTree(tree)) return readNoCloud(tree);
    looked.push(`${tree.location}: no meta-data`);
  }
  return undefined;
}

async function fromCloudInit(root: string, looked: string[]): Promise<NodeMetadata | undefined> {
  const found = await readCloudInitCache(root);
  if (!found) looked.push(`${CLOUD_INIT_PATHS.map((p) => path.join(root, p)).join(', ')}: absent (cloud-init did not run in this boot)`);
  return found;
}

function notFound(looked: string[]): never {
  throw new MetadataNotFoundError(looked);
}
