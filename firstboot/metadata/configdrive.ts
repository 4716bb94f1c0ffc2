// The ConfigDrive v2 layout (OpenStack config drive; cloud-init "ConfigDrive" datasource) on a
// drive labelled `config-2`. Proxmox (generate_configdrive2 in PVE/QemuServer/Cloudinit.pm) writes
// only `openstack/latest/`: meta_data.json is `{"uuid": ..., "network_config": {"content_path":
// "/content/0000"}}` with no host name (that travels in user_data), and the network is ifupdown
// text in `openstack/content/0000`. cloud-init takes the instance id from `uuid` and the host name
// from `hostname` (KEY_COPIES in cloudinit/sources/helpers/openstack.py).
//
// vendor_data.json: Proxmox copies the `cicustom vendor=` snippet into it verbatim, and cloud-init
// loads it as JSON or rejects the whole drive (BrokenMetadata), then uses its "cloud-init" member
// (convert_vendordata). So with configdrive2 the ober snippet is JSON: either
// `{"cloud-init": "#cloud-config\nober: ..."}` or an object with an `ober` member.
import { type TextFile, isCloudConfig, isRecord, kindOf, parseJson, parseJsonObject } from './documents.js';
import {
  type MetadataSource,
  type NetworkConfigDoc,
  type NodeMetadata,
  assembleMetadata,
  metadataKeys,
  requireInstanceId,
} from './metadata.js';
import { problem } from './problems.js';
import { type FileTree, readText } from './tree.js';

export const CONFIGDRIVE_LABEL = 'config-2';

/** cloud-init reads the newest version directory it knows; Proxmox only writes `latest`. */
const DIR = 'openstack/latest';

const VENDOR_JSON_HINT =
  'with citype configdrive2 Proxmox copies the vendor snippet verbatim into vendor_data.json, which cloud-init requires to be JSON: ' +
  'write the snippet as {"cloud-init": "#cloud-config\\nober: ..."}, or use citype nocloud (the Proxmox default for Linux)';

export async function isConfigDriveTree(tree: FileTree): Promise<boolean> {
  return (await tree.read(`${DIR}/meta_data.json`)) !== undefined;
}

export async function readConfigDrive(tree: FileTree, source: MetadataSource = 'configdrive2'): Promise<NodeMetadata> {
  const metaFile = await readText(tree, `${DIR}/meta_data.json`);
  if (!metaFile) {
    throw problem(
      tree.describe(`${DIR}/meta_data.json`),
      'is missing: a ConfigDrive2 drive (label config-2) must have openstack/latest/meta_data.json with a uuid',
    );
  }
  const meta = parseJsonObject(metaFile.text, metaFile.file);
  const uuid = meta.uuid;
  if (uuid !== undefined && typeof uuid !== 'string') throw problem(metaFile.file, `uuid must be a string, found ${kindOf(uuid)}`, undefined, 'uuid');
  const hostname = typeof meta.hostname === 'string' ? meta.hostname : undefined;
  const vendor = await readVendorData(tree);

  return assembleMetadata({
    source,
    location: tree.location,
    instanceId: requireInstanceId(uuid, metaFile.file, 'uuid', 'Proxmox writes the uuid itself; if you set cicustom meta=, that snippet must contain a "uuid"'),
    metaData: meta,
    ...(hostname ? { metaHostname: hostname } : {}),
    metaKeys: metadataKeys(meta.public_keys, metaFile.file, 'public_keys'),
    userData: await readText(tree, `${DIR}/user_data`),
    ...vendor,
    networkConfig: await readNetwork(tree, meta, metaFile.file),
  });
}

async function readVendorData(tree: FileTree): Promise<{ vendorData?: TextFile; vendorOber?: { file: string; doc: unknown } }> {
  const f = await readText(tree, `${DIR}/vendor_data.json`);
  if (!f || f.text.trim() === '') return {}; // Proxmox writes an empty file without cicustom vendor=
  if (isCloudConfig(f.text)) throw problem(f.file, 'is #cloud-config YAML, but vendor_data.json must be JSON', VENDOR_JSON_HINT);
  const value = parseJson(f.text, f.file);
  if (typeof value === 'string') return { vendorData: { file: f.file, text: value } };
  if (!isRecord(value)) throw problem(f.file, `must be a JSON object or string, found ${kindOf(value)}`, VENDOR_JSON_HINT);

  const inner = value['cloud-init'];
  if (inner !== undefined && inner !== null && typeof inner !== 'string') {
    throw problem(f.file, `"cloud-init" must be a string holding the #cloud-config text, found ${kindOf(inner)}`, VENDOR_JSON_HINT, 'cloud-init');
  }
  return {
    ...(typeof inner === 'string' ? { vendorData: { file: `${f.file} ("cloud-init")`, text: inner } } : {}),
    ...('ober' in value ? { vendorOber: { file: f.file, doc: value.ober } } : {}),
  };
}

/** network_data.json when present, else the ifupdown file meta_data.json points to. */
async function readNetwork(tree: FileTree, meta: Record<string, unknown>, metaFile: string): Promise<NetworkConfigDoc | undefined> {
  const json = await readText(tree, `${DIR}/network_data.json`);
  if (json && json.text.trim()) return { format: 'openstack', file: json.file, doc: parseJsonObject(json.text, json.file) };

  const pointer = meta.network_config;
  if (pointer === undefined || pointer === null) return undefined;
  const contentPath = isRecord(pointer) ? pointer.content_path : undefined;
  if (typeof contentPath !== 'string' || !contentPath.startsWith('/')) {
    throw problem(metaFile, 'network_config.content_path must be a path like "/content/0000"', undefined, 'network_config.content_path');
  }
  const eni = await readText(tree, `openstack${contentPath}`);
  if (!eni) throw problem(metaFile, `network_config.content_path points to openstack${contentPath}, which is missing`, undefined, 'network_config.content_path');
  return eni.text.trim() ? { format: 'eni', file: eni.file, text: eni.text } : undefined;
}
