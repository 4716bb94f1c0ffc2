// cloud-init's own record of what it read, for images where cloud-init ran before us (Debian 12
// ships cloud-init 22.4). DataSource.persist_instance_data (cloudinit/sources/__init__.py) writes
// /run/cloud-init/instance-data-sensitive.json (root only) and a redacted, world-readable
// /run/cloud-init/instance-data.json. Both leave out user-data and vendor-data, which cloud-init
// keeps raw (mode 0600) as user-data.txt and vendor-data.txt in /var/lib/cloud/instances/<id>/.
// We go there by instance id rather than through the /var/lib/cloud/instance symlink, so files
// of an earlier instance can never be mistaken for this one's. /run is a tmpfs: no instance-data
// means cloud-init did not run in this boot, and this source is absent.
//
// Limits: for NoCloud, cloud-init 22.4 does not keep network-config in instance data; for
// ConfigDrive, vendor-data.txt holds only the "cloud-init" member of vendor_data.json, so an
// `ober` member beside it is not visible here.
import { access, constants } from 'node:fs/promises';
import { isRecord, parseJsonObject } from './documents.js';
import { type NodeMetadata, assembleMetadata, metadataKeys, requireInstanceId } from './metadata.js';
import { directoryTree, readText } from './tree.js';

const SENSITIVE = 'run/cloud-init/instance-data-sensitive.json';
const REDACTED = 'run/cloud-init/instance-data.json';

/** Where this source looks, relative to the root, for the "looked in" list. */
export const CLOUD_INIT_PATHS = [SENSITIVE, REDACTED];

/** cloud-init's cached metadata, or undefined when cloud-init has not run in this boot. */
export async function readCloudInitCache(root: string): Promise<NodeMetadata | undefined> {
  const tree = directoryTree(root);
  const readable = await access(tree.describe(SENSITIVE), constants.R_OK).then(() => true, () => false);
  const instanceFile = await readText(tree, readable ? SENSITIVE : REDACTED);
  if (!instanceFile) return undefined;

  const data = parseJsonObject(instanceFile.text, instanceFile.file);
  const v1 = isRecord(data.v1) ? data.v1 : {};
  const ds = isRecord(data.ds) ? data.ds : {};
  const metaData = isRecord(ds.meta_data) ? ds.meta_data : {};
  const instanceId = requireInstanceId(
    stringOr(v1.instance_id) ?? stringOr(metaData['instance-id']),
    instanceFile.file,
    'v1.instance_id',
    'cloud-init wrote instance data without an instance id: check `cloud-init status --long` and the datasource it found',
  );
  const instanceDir = `var/lib/cloud/instances/${instanceId}`;
  const hostname = stringOr(v1.local_hostname);

  const result = assembleMetadata({
    source: 'cloud-init',
    location: instanceFile.file,
    instanceId,
    metaData,
    ...(hostname ? { metaHostname: hostname } : {}),
    metaKeys: metadataKeys(v1.public_ssh_keys, instanceFile.file, 'v1.public_ssh_keys'),
    userData: await readText(tree, `${instanceDir}/user-data.txt`),
    vendorData: await readText(tree, `${instanceDir}/vendor-data.txt`),
    ...(isRecord(ds.network_json) ? { networkConfig: { format: 'openstack', file: `${instanceFile.file} (ds.network_json)`, doc: ds.network_json } } : {}),
  });
  if (!readable) {
    result.warnings.push(`${tree.describe(SENSITIVE)} is absent or not readable (not root?): read the redacted ${instanceFile.file}`);
  }
  return result;
}

function stringOr(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v : undefined;
}
