// The NoCloud layout (cloud-init docs, "NoCloud" datasource): `meta-data`, `user-data`,
// `vendor-data` and `network-config` at the root of a drive labelled `cidata`. Proxmox writes all
// four (generate_nocloud in PVE/QemuServer/Cloudinit.pm): meta-data is only
// `instance-id: <sha1 of user-data and network-config>`, vendor-data is empty unless
// `cicustom vendor=` is set, and `cicustom user=` replaces the generated user-data entirely.
import { parseYamlMapping } from './documents.js';
import { type MetadataSource, type NodeMetadata, assembleMetadata, metadataKeys, requireInstanceId } from './metadata.js';
import { problem } from './problems.js';
import { type FileTree, readText } from './tree.js';

export const NOCLOUD_LABEL = 'cidata';

const MISSING_INSTANCE_ID_HINT =
  'Proxmox writes "instance-id: <sha1>" itself; if you set cicustom meta=, that snippet must contain an instance-id line';

export async function isNoCloudTree(tree: FileTree): Promise<boolean> {
  return (await tree.read('meta-data')) !== undefined;
}

export async function readNoCloud(tree: FileTree, source: MetadataSource = 'nocloud'): Promise<NodeMetadata> {
  const metaFile = await readText(tree, 'meta-data');
  if (!metaFile) {
    throw problem(
      tree.describe('meta-data'),
      'is missing: a NoCloud drive (label cidata) must have meta-data with an instance-id',
      MISSING_INSTANCE_ID_HINT,
    );
  }
  const meta = parseYamlMapping(metaFile.text, metaFile.file);
  const network = await readText(tree, 'network-config');
  const networkDoc = network && network.text.trim() ? parseYamlMapping(network.text, network.file).value : undefined;
  const metaHostname = meta.text('local-hostname');

  return assembleMetadata({
    source,
    location: tree.location,
    instanceId: requireInstanceId(meta.text('instance-id'), metaFile.file, 'instance-id', MISSING_INSTANCE_ID_HINT),
    metaData: meta.value,
    ...(metaHostname ? { metaHostname } : {}),
    metaKeys: metadataKeys(meta.value['public-keys'], metaFile.file, 'public-keys'),
    userData: await readText(tree, 'user-data'),
    vendorData: await readText(tree, 'vendor-data'),
    ...(networkDoc && Object.keys(networkDoc).length
      ? { networkConfig: { format: 'cloud-init', file: network!.file, doc: networkDoc } }
      : {}),
  });
}
