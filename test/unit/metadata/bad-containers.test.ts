// A corpus of broken cloud-init containers. Each must be refused with a ConfigError whose message
// starts with the file at fault and says what is wrong; none may crash or be silently accepted.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../firstboot/lib/errors.js';
import { readMetadata, type ReadMetadataOptions } from '../../../firstboot/metadata/read-metadata.js';
import { MAX_FILE_BYTES } from '../../../firstboot/metadata/tree.js';
import { buildIso, configDrive, nocloudDrive, proxmoxUserData, tempDir, writeTree } from './fixtures.js';

interface Case {
  name: string;
  /** Builds the input; returns the options and the file the message must name. */
  setup: () => Promise<{ options: ReadMetadataOptions; file: string }>;
  message: RegExp;
}

/** A NoCloud directory with some files replaced; `file` is the one expected in the message. */
function nocloud(overrides: Record<string, string | Buffer>, file: string) {
  return async () => {
    const dir = await writeTree(await tempDir(), { ...nocloudDrive(), ...overrides });
    return { options: { path: dir }, file: path.join(dir, file) };
  };
}

function configdrive(overrides: Record<string, string | Buffer>, file: string) {
  return async () => {
    const dir = await writeTree(await tempDir(), { ...configDrive(), ...overrides });
    return { options: { path: dir }, file: path.join(dir, file) };
  };
}

async function iso(files: Record<string, string>, label = 'cidata'): Promise<string> {
  return buildIso(await writeTree(await tempDir(), files), path.join(await tempDir(), 'drive.iso'), label);
}

function truncatedIso(keepBytes: (size: number) => number) {
  return async () => {
    const img = await iso(nocloudDrive());
    const bytes = await readFile(img);
    await writeFile(img, bytes.subarray(0, keepBytes(bytes.length)));
    return { options: { path: img }, file: img };
  };
}

function localFile(content: string | Buffer) {
  return async () => {
    const p = path.join(await tempDir(), 'ober.yaml');
    await writeFile(p, content);
    return { options: { path: p }, file: p };
  };
}

function cloudInit(files: Record<string, string>, file: string) {
  return async () => {
    const root = await writeTree(await tempDir(), files);
    return { options: { root }, file: path.join(root, file) };
  };
}

const BAD: Case[] = [
  // vendor-data / user-data (#cloud-config containers)
  { name: 'vendor-data with broken YAML', setup: nocloud({ 'vendor-data': '#cloud-config\nober: [unclosed\n' }, 'vendor-data'), message: /is not valid YAML/ },
  { name: 'vendor-data that is a list', setup: nocloud({ 'vendor-data': '#cloud-config\n- a\n- b\n' }, 'vendor-data'), message: /must be a YAML mapping.*found a list/ },
  { name: 'vendor-data that is a bare string', setup: nocloud({ 'vendor-data': '#cloud-config\njust words\n' }, 'vendor-data'), message: /must be a YAML mapping.*found a string/ },
  { name: 'vendor-data with a duplicate ober key', setup: nocloud({ 'vendor-data': '#cloud-config\nober: {}\nober: {}\n' }, 'vendor-data'), message: /is not valid YAML.*[Mm]ap keys must be unique/ },
  { name: 'ober that is a list', setup: nocloud({ 'vendor-data': '#cloud-config\nober: [1, 2]\n' }, 'vendor-data'), message: /ober: ober must be a mapping .* found a list/ },
  { name: 'ober that is a string', setup: nocloud({ 'vendor-data': '#cloud-config\nober: yes please\n' }, 'vendor-data'), message: /ober must be a mapping .* found a string/ },
  { name: 'ober that is empty (null)', setup: nocloud({ 'vendor-data': '#cloud-config\nober:\n' }, 'vendor-data'), message: /ober must be a mapping .* found nothing/ },
  { name: 'ober in user-data that is a number', setup: nocloud({ 'vendor-data': '', 'user-data': '#cloud-config\nober: 1\n' }, 'user-data'), message: /ober must be a mapping/ },
  { name: 'YAML alias bomb in vendor-data', setup: nocloud({ 'vendor-data': `#cloud-config\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(60)}*a]\nober: [${'*b, '.repeat(60)}*b]\n` }, 'vendor-data'), message: /cannot be loaded: .*alias/i },
  { name: 'user-data ssh_authorized_keys that is a string', setup: nocloud({ 'user-data': '#cloud-config\nssh_authorized_keys: ssh-ed25519 AAAA\n' }, 'user-data'), message: /ssh_authorized_keys: ssh_authorized_keys must be a list/ },
  { name: 'user-data user that is a list', setup: nocloud({ 'user-data': '#cloud-config\nuser: [a, b]\n' }, 'user-data'), message: /user: user must be a user name or a mapping/ },
  { name: 'user-data with NUL bytes (binary garbage)', setup: nocloud({ 'user-data': Buffer.from([0x23, 0x21, 0x00, 0x7f, 0x45, 0x4c, 0x46, 0x00]) }, 'user-data'), message: /contains NUL bytes/ },
  { name: 'vendor-data that is not UTF-8', setup: nocloud({ 'vendor-data': Buffer.from([0x23, 0x63, 0xff, 0xfe, 0xfd, 0x0a]) }, 'vendor-data'), message: /is not UTF-8 text/ },
  { name: `vendor-data over the ${MAX_FILE_BYTES}-byte limit`, setup: nocloud({ 'vendor-data': `#cloud-config\n#${'x'.repeat(MAX_FILE_BYTES)}\n` }, 'vendor-data'), message: /is \d+ bytes, over the 1048576-byte limit/ },
  // meta-data
  { name: 'meta-data without instance-id', setup: nocloud({ 'meta-data': 'local-hostname: n1\n' }, 'meta-data'), message: /instance-id: has no instance-id/ },
  { name: 'empty meta-data', setup: nocloud({ 'meta-data': '' }, 'meta-data'), message: /has no instance-id[\s\S]*cicustom meta=/ },
  { name: 'meta-data with broken YAML', setup: nocloud({ 'meta-data': 'instance-id: [\n' }, 'meta-data'), message: /is not valid YAML/ },
  { name: 'meta-data instance-id that climbs directories', setup: nocloud({ 'meta-data': 'instance-id: ../../etc\n' }, 'meta-data'), message: /is not a usable instance id/ },
  { name: 'meta-data instance-id that is a mapping', setup: nocloud({ 'meta-data': 'instance-id: {a: 1}\n' }, 'meta-data'), message: /has no instance-id/ },
  { name: 'network-config that is a list', setup: nocloud({ 'network-config': '- type: physical\n' }, 'network-config'), message: /must be a YAML mapping/ },
  {
    name: 'cidata ISO without meta-data',
    setup: async () => {
      const img = await iso({ 'user-data': proxmoxUserData(), 'vendor-data': '' });
      return { options: { path: img }, file: `${img}:/meta-data` };
    },
    message: /is missing: a NoCloud drive \(label cidata\) must have meta-data/,
  },
  // ISO images
  { name: 'ISO truncated inside the volume descriptors', setup: truncatedIso(() => 16 * 2048 + 100), message: /is neither an ISO9660 image \(no complete volume descriptor at byte 32768: truncated\?\)/ },
  { name: 'ISO truncated after the descriptors', setup: truncatedIso(() => 19 * 2048), message: /truncated ISO9660 image/ },
  { name: 'ISO truncated by one byte', setup: truncatedIso((n) => n - 1), message: /truncated ISO9660 image: the volume is \d+ bytes/ },
  {
    name: 'ISO with a label cloud-init does not read',
    setup: async () => {
      const img = await buildIso(await writeTree(await tempDir(), nocloudDrive()), path.join(await tempDir(), 'drive.iso'), 'config-3');
      return { options: { path: img }, file: img };
    },
    message: /volume label "config-3" is neither cidata \(NoCloud\) nor config-2/,
  },
  // ConfigDrive2
  { name: 'meta_data.json with broken JSON', setup: configdrive({ 'openstack/latest/meta_data.json': '{"uuid": ' }, 'openstack/latest/meta_data.json'), message: /is not valid JSON/ },
  { name: 'empty meta_data.json', setup: configdrive({ 'openstack/latest/meta_data.json': '' }, 'openstack/latest/meta_data.json'), message: /is not valid JSON/ },
  { name: 'meta_data.json that is a list', setup: configdrive({ 'openstack/latest/meta_data.json': '[1]' }, 'openstack/latest/meta_data.json'), message: /must be a JSON object, found a list/ },
  { name: 'meta_data.json without uuid', setup: configdrive({ 'openstack/latest/meta_data.json': '{"hostname": "n1"}' }, 'openstack/latest/meta_data.json'), message: /uuid: has no uuid/ },
  { name: 'meta_data.json uuid that is a number', setup: configdrive({ 'openstack/latest/meta_data.json': '{"uuid": 7}' }, 'openstack/latest/meta_data.json'), message: /uuid must be a string/ },
  {
    name: 'vendor_data.json holding the YAML snippet verbatim',
    setup: configdrive({ 'openstack/latest/vendor_data.json': '#cloud-config\nober: {version: 1}\n' }, 'openstack/latest/vendor_data.json'),
    message: /is #cloud-config YAML, but vendor_data.json must be JSON[\s\S]*\{"cloud-init": /,
  },
  { name: 'vendor_data.json that is a number', setup: configdrive({ 'openstack/latest/vendor_data.json': '42' }, 'openstack/latest/vendor_data.json'), message: /must be a JSON object or string/ },
  { name: 'vendor_data.json "cloud-init" that is an object', setup: configdrive({ 'openstack/latest/vendor_data.json': '{"cloud-init": {"ober": {}}}' }, 'openstack/latest/vendor_data.json'), message: /"cloud-init" must be a string/ },
  {
    name: 'vendor_data.json "cloud-init" whose ober is a list',
    setup: configdrive({ 'openstack/latest/vendor_data.json': JSON.stringify({ 'cloud-init': '#cloud-config\nober: [1]\n' }) }, 'openstack/latest/vendor_data.json ("cloud-init")'),
    message: /ober must be a mapping/,
  },
  {
    name: 'meta_data.json content_path that climbs out of the drive',
    setup: configdrive({ 'openstack/latest/meta_data.json': '{"uuid": "u1", "network_config": {"content_path": "/../../../etc/passwd"}}' }, ''),
    message: /refusing to read path "openstack\/\.\.\/\.\.\/\.\.\/etc\/passwd"/,
  },
  {
    name: 'meta_data.json content_path to a missing file',
    setup: configdrive({ 'openstack/latest/meta_data.json': '{"uuid": "u1", "network_config": {"content_path": "/content/0009"}}' }, 'openstack/latest/meta_data.json'),
    message: /points to openstack\/content\/0009, which is missing/,
  },
  // --metadata FILE and DIR
  { name: 'ober file that is a list', setup: localFile('- version: 1\n'), message: /must be a YAML mapping/ },
  { name: 'ober file with #cloud-config but no ober key', setup: localFile('#cloud-config\nhostname: n1\n'), message: /has no ober key/ },
  { name: 'empty ober file', setup: localFile(''), message: /holds no ober document/ },
  { name: 'ober file of binary garbage', setup: localFile(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256))), message: /is neither an ISO9660 image .* nor a YAML text file/ },
  {
    name: 'directory with neither layout',
    setup: async () => {
      const dir = await writeTree(await tempDir(), { 'user-data': proxmoxUserData() });
      return { options: { path: dir }, file: dir };
    },
    message: /is neither a NoCloud directory .* nor a ConfigDrive2 directory/,
  },
  // cloud-init instance data
  { name: 'instance-data.json with broken JSON', setup: cloudInit({ 'run/cloud-init/instance-data.json': '{"v1": ' }, 'run/cloud-init/instance-data.json'), message: /is not valid JSON/ },
  {
    name: 'instance-data.json without an instance id',
    setup: cloudInit({ 'run/cloud-init/instance-data.json': '{"v1": {"local_hostname": "n1"}, "ds": {"meta_data": {}}}' }, 'run/cloud-init/instance-data.json'),
    message: /has no v1\.instance_id/,
  },
];

describe('bad containers are refused with a message naming the file', () => {
  it('has a corpus of at least 20 cases', () => {
    expect(BAD.length).toBeGreaterThanOrEqual(20);
  });

  it.each(BAD.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { options, file } = await c.setup();
    const err = await readMetadata(options).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'must be refused').toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message.startsWith(`${file}: `) || (c.name.includes('climbs') && message.includes('refusing')), message).toBe(true);
    expect(message).toMatch(c.message);
  });
});
