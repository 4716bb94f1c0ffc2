import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MetadataNotFoundError, readMetadata } from '../../../firstboot/metadata/read-metadata.js';
import {
  MAC0,
  OBER_DOC,
  OBER_VENDOR_SNIPPET,
  SSH_KEY,
  buildIso,
  configDrive,
  nocloudDrive,
  proxmoxMetaData,
  proxmoxNetworkV1,
  proxmoxUserData,
  rootWithDevice,
  sha1,
  tempDir,
  writeTree,
  type IsoNames,
} from './fixtures.js';

async function nocloudIso(files = nocloudDrive(), names: IsoNames = 'JR', label = 'cidata'): Promise<string> {
  return buildIso(await writeTree(await tempDir(), files), path.join(await tempDir(), 'seed.iso'), label, names);
}

describe('readMetadata: NoCloud drive (Proxmox default)', () => {
  const user = proxmoxUserData();
  const network = proxmoxNetworkV1();

  it.each(['R', 'J', 'JR'] as const)('reads a cidata ISO (-%s) found by probing /dev/sr0, without udev', async (names) => {
    const root = await rootWithDevice(await nocloudIso(nocloudDrive(), names));
    const md = await readMetadata({ root });
    expect(md).toMatchObject({
      source: 'nocloud',
      location: path.join(root, 'dev/sr0'),
      instanceId: sha1(user + network),
      hostname: 'ober-n1',
      defaultUser: 'ops',
      sshAuthorizedKeys: [SSH_KEY],
      metaData: { 'instance-id': sha1(user + network) },
      userData: user,
      vendorData: OBER_VENDOR_SNIPPET,
      ober: { from: 'vendor-data', file: `${path.join(root, 'dev/sr0')}:/vendor-data`, doc: OBER_DOC },
      warnings: [],
    });
    expect(md.networkConfig).toMatchObject({ format: 'cloud-init', file: `${path.join(root, 'dev/sr0')}:/network-config` });
    expect(md.networkConfig?.format === 'cloud-init' && md.networkConfig.doc.config).toHaveLength(3);
  });

  it('finds the drive through udev\'s /dev/disk/by-label/cidata link, whatever its device name', async () => {
    const root = await rootWithDevice(await nocloudIso(), 'vdb', 'cidata');
    const md = await readMetadata({ root });
    expect(md.location).toBe(path.join(root, 'dev/vdb'));
    expect(md.ober?.doc).toEqual(OBER_DOC);
  });

  it('skips CD-ROMs and disks with other labels and takes the one labelled CIDATA (upper case, as cloud-init does)', async () => {
    const root = await rootWithDevice(await nocloudIso(nocloudDrive(), 'JR', 'debian-12'), 'sr0');
    await writeFile(path.join(root, 'dev/vda'), Buffer.alloc(40 * 2048)); // a blank disk
    await copyFile(await nocloudIso(nocloudDrive(), 'JR', 'CIDATA'), path.join(root, 'dev/sr1'));
    const md = await readMetadata({ root });
    expect(md.location).toBe(path.join(root, 'dev/sr1'));
  });

  it('falls back to user-data when cicustom user= carries ober and vendor-data is empty (no cicustom vendor=)', async () => {
    const custom = `${OBER_VENDOR_SNIPPET}hostname: custom-host\n`;
    const md = await readMetadata({ path: await writeTree(await tempDir(), nocloudDrive({ user: custom, vendor: '' })) });
    expect(md.ober).toMatchObject({ from: 'user-data', doc: OBER_DOC });
    expect(md.hostname).toBe('custom-host');
    expect(md.vendorData).toBeUndefined();
    expect(md.sshAuthorizedKeys).toBeUndefined(); // ciuser/sshkeys are lost with cicustom user=
  });

  it('prefers vendor-data over user-data and says the other was ignored', async () => {
    const dir = await writeTree(await tempDir(), nocloudDrive({ user: `${OBER_VENDOR_SNIPPET}` }));
    const md = await readMetadata({ path: dir });
    expect(md.ober?.from).toBe('vendor-data');
    expect(md.warnings).toEqual([`${path.join(dir, 'user-data')}: its ober data is ignored, ${path.join(dir, 'vendor-data')} takes precedence`]);
  });

  it('reads a drive without ober data (the caller decides that is fatal) and notes a non-cloud-config vendor-data', async () => {
    const md = await readMetadata({ path: await writeTree(await tempDir(), nocloudDrive({ vendor: '#!/bin/sh\necho hi\n' })) });
    expect(md.ober).toBeUndefined();
    expect(md.vendorData).toBe('#!/bin/sh\necho hi\n');
    expect(md.warnings.join()).toMatch(/vendor-data is not #cloud-config/);
  });

  it('keeps an instance id that YAML would read as a number exactly as written', async () => {
    const md = await readMetadata({ path: await writeTree(await tempDir(), nocloudDrive({ meta: 'instance-id: 1234e5\n' })) });
    expect(md.instanceId).toBe('1234e5');
  });

  it('takes host name and keys from meta-data when user-data has none (local-hostname, public-keys)', async () => {
    const meta = `instance-id: i-1\nlocal-hostname: n7.example.org\npublic-keys:\n  - ${SSH_KEY}\n`;
    const md = await readMetadata({ path: await writeTree(await tempDir(), nocloudDrive({ user: '', meta })) });
    expect(md).toMatchObject({ hostname: 'n7', sshAuthorizedKeys: [SSH_KEY] });
  });

  it('reads a NoCloud seed directory inside the image when no drive is attached', async () => {
    const root = await tempDir();
    await writeTree(path.join(root, 'var/lib/cloud/seed/nocloud'), nocloudDrive());
    const md = await readMetadata({ root });
    expect(md.location).toBe(path.join(root, 'var/lib/cloud/seed/nocloud'));
    expect(md.ober?.doc).toEqual(OBER_DOC);
  });
});

describe('readMetadata: ConfigDrive2 drive (citype configdrive2)', () => {
  it('reads a config-2 ISO: uuid as instance id, host name from user_data, ober from vendor_data.json "cloud-init"', async () => {
    const files = configDrive();
    const img = await buildIso(await writeTree(await tempDir(), files), path.join(await tempDir(), 'cd.iso'), 'config-2');
    const root = await rootWithDevice(img, 'sr0', 'config-2');
    const md = await readMetadata({ root });
    expect(md).toMatchObject({
      source: 'configdrive2',
      instanceId: sha1(files['openstack/latest/user_data']! + files['openstack/content/0000']!),
      hostname: 'ober-n1',
      defaultUser: 'ops',
      vendorData: OBER_VENDOR_SNIPPET,
      ober: { from: 'vendor-data', doc: OBER_DOC },
    });
    expect(md.networkConfig).toMatchObject({ format: 'eni', text: files['openstack/content/0000'] });
  });

  it('accepts vendor_data.json as an object with an ober member, and prefers network_data.json', async () => {
    const networkData = JSON.stringify({ links: [{ id: 'tap0', type: 'vif', ethernet_mac_address: MAC0 }], networks: [], services: [] });
    const dir = await writeTree(await tempDir(), configDrive({ vendor: JSON.stringify({ ober: OBER_DOC }), networkData }));
    const md = await readMetadata({ path: dir });
    expect(md.ober).toEqual({ from: 'vendor-data', file: path.join(dir, 'openstack/latest/vendor_data.json'), doc: OBER_DOC });
    expect(md.vendorData).toBeUndefined();
    expect(md.networkConfig).toMatchObject({ format: 'openstack' });
  });

  it('tries the NoCloud drive before the ConfigDrive2 drive', async () => {
    const root = await rootWithDevice(await nocloudIso(), 'sr1');
    const cd = await buildIso(await writeTree(await tempDir(), configDrive()), path.join(await tempDir(), 'cd.iso'), 'config-2');
    await copyFile(cd, path.join(root, 'dev/sr0'));
    expect((await readMetadata({ root })).source).toBe('nocloud');
  });
});

describe('readMetadata: cloud-init instance data (cloud-init ran first)', () => {
  async function cloudInitRoot(instanceId: string, opts: { sensitive?: boolean } = {}): Promise<string> {
    const root = await tempDir();
    // The shape cloud-init 22.4 writes (DataSource.persist_instance_data); user/vendor data are not in it.
    const data = {
      _beta_keys: ['subplatform'],
      base64_encoded_keys: [],
      ds: { _doc: 'EXPERIMENTAL: ...', meta_data: { 'instance-id': instanceId } },
      merged_cfg: 'redacted for non-root user',
      sensitive_keys: ['merged_cfg', 'security-credentials'],
      v1: { cloud_name: 'nocloud', instance_id: instanceId, local_hostname: 'ober-n1', platform: 'nocloud', public_ssh_keys: [], subplatform: 'config-disk (/dev/sr0)' },
    };
    await writeTree(root, {
      'run/cloud-init/instance-data.json': JSON.stringify(data),
      [`var/lib/cloud/instances/${instanceId}/user-data.txt`]: proxmoxUserData(),
      [`var/lib/cloud/instances/${instanceId}/vendor-data.txt`]: OBER_VENDOR_SNIPPET,
      // A previous instance's files must never be read.
      'var/lib/cloud/instances/old-instance/vendor-data.txt': '#cloud-config\nober: {version: 1, node: stale}\n',
    });
    if (opts.sensitive) {
      await writeTree(root, { 'run/cloud-init/instance-data-sensitive.json': JSON.stringify({ ...data, merged_cfg: {} }) });
    }
    return root;
  }

  it('reads instance id, host name, user and vendor data of the current instance', async () => {
    const root = await cloudInitRoot('9f1c0d', { sensitive: true });
    const md = await readMetadata({ root });
    expect(md).toMatchObject({
      source: 'cloud-init',
      location: path.join(root, 'run/cloud-init/instance-data-sensitive.json'),
      instanceId: '9f1c0d',
      hostname: 'ober-n1',
      defaultUser: 'ops',
      sshAuthorizedKeys: [SSH_KEY],
      ober: { from: 'vendor-data', doc: OBER_DOC },
      warnings: [],
    });
  });

  it('falls back to the redacted instance-data.json when the sensitive one cannot be read, and says so', async () => {
    const root = await cloudInitRoot('9f1c0d');
    const md = await readMetadata({ root });
    expect(md.location).toBe(path.join(root, 'run/cloud-init/instance-data.json'));
    expect(md.ober?.doc).toEqual(OBER_DOC);
    expect(md.warnings).toEqual([
      `${path.join(root, 'run/cloud-init/instance-data-sensitive.json')} is absent or not readable (not root?): read the redacted ${md.location}`,
    ]);
  });

  it('uses the sensitive file when it is readable (mode 0600 as cloud-init writes it)', async () => {
    const root = await cloudInitRoot('9f1c0d', { sensitive: true });
    await chmod(path.join(root, 'run/cloud-init/instance-data-sensitive.json'), 0o600);
    expect((await readMetadata({ root })).location).toBe(path.join(root, 'run/cloud-init/instance-data-sensitive.json'));
  });
});

describe('readMetadata: nothing found', () => {
  it('lists every place it looked', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'dev'));
    await writeFile(path.join(root, 'dev/sr0'), '');
    const err = await readMetadata({ root }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetadataNotFoundError);
    const looked = (err as MetadataNotFoundError).looked;
    expect(looked).toEqual([
      `${root}/dev/disk/by-label/cidata: absent`,
      `${root}/dev/disk/by-label/CIDATA: absent`,
      `${root}/dev/sr0: no ISO9660 volume`,
      `${root}/var/lib/cloud/seed/nocloud: no meta-data`,
      `${root}/var/lib/cloud/seed/nocloud-net: no meta-data`,
      `${root}/dev/disk/by-label/config-2: absent`,
      `${root}/dev/disk/by-label/CONFIG-2: absent`,
      `${root}/dev/sr0: no ISO9660 volume`,
      `${root}/run/cloud-init/instance-data-sensitive.json, ${root}/run/cloud-init/instance-data.json: absent (cloud-init did not run in this boot)`,
    ]);
    expect((err as Error).message).toMatch(/qm set <vmid> --cicustom vendor=local:snippets\/<node>-ober\.yaml/);
  });
});

describe('readMetadata --metadata FILE', () => {
  it('reads a bare ober document, with an instance id derived from its content', async () => {
    const p = path.join(await tempDir(), 'ober.yaml');
    await writeFile(p, 'version: 1\nnode: ober-n1\ncluster:\n  name: s3-edge\n  nodes: [ober-n1, ober-n2]\n');
    const md = await readMetadata({ path: p });
    expect(md).toMatchObject({ source: 'file', location: p, ober: { from: 'file', doc: OBER_DOC } });
    expect(md.instanceId).toMatch(/^local-[0-9a-f]{40}$/);
  });

  it('reads the deployed vendor snippet (#cloud-config with ober:) the same way', async () => {
    const p = path.join(await tempDir(), 'n1-ober.yaml');
    await writeFile(p, OBER_VENDOR_SNIPPET);
    expect((await readMetadata({ path: p })).ober?.doc).toEqual(OBER_DOC);
  });

  it('reads an ISO given as a file, picking the layout by its label', async () => {
    const md = await readMetadata({ path: await nocloudIso() });
    expect(md.source).toBe('nocloud');
    expect(md.instanceId).toBe(proxmoxMetaData(proxmoxUserData(), proxmoxNetworkV1()).slice(13, -1));
  });
});
