// Cloud-init drives shaped exactly as Proxmox writes them (PVE/QemuServer/Cloudinit.pm:
// cloudinit_userdata, nocloud_network, nocloud_gen_metadata, configdrive2_metadata,
// configdrive2_network, commit_cloudinit_disk), built into temp directories and ISO images.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { run } from '../../../firstboot/lib/exec.js';

/** Proxmox's own MAC prefix (BC:24:11), lower-cased as nocloud_network writes it. */
export const MAC0 = 'bc:24:11:5e:00:01';
export const MAC1 = 'bc:24:11:5e:00:02';
export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx1Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg ops@admin';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

export async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'ober-metadata-'));
  dirs.push(d);
  return d;
}

export async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, content);
  }
  return dir;
}

/** genisoimage flags: Proxmox used `-R` until 2023 and `-J -R` since; `-J` alone is tested too. */
export type IsoNames = 'R' | 'J' | 'JR' | 'plain';

export async function buildIso(dir: string, out: string, label: string, names: IsoNames = 'JR'): Promise<string> {
  const flags = { R: ['-R'], J: ['-J'], JR: ['-J', '-R'], plain: [] }[names];
  await run(['genisoimage', '-quiet', '-iso-level', '3', ...flags, '-V', label, '-o', out, dir]);
  return out;
}

export interface VmConfig {
  name: string;
  searchdomain?: string;
  ciuser?: string;
  cipassword?: string;
  sshkeys?: string[];
  nameservers?: string[];
  nics: { id: number; mac: string; ip?: 'dhcp' | string; gw?: string; ip6?: 'dhcp' | 'auto' | string; gw6?: string }[];
}

export const VM: VmConfig = {
  name: 'ober-n1',
  searchdomain: 's3.example.net',
  ciuser: 'ops',
  cipassword: '$6$rounds=4096$salt$hash',
  sshkeys: [SSH_KEY],
  nameservers: ['192.0.2.53', '2001:db8::53'],
  nics: [
    { id: 0, mac: MAC0, ip: '192.0.2.11/24', gw: '192.0.2.1', ip6: '2001:db8::11/64', gw6: '2001:db8::1' },
    { id: 1, mac: MAC1, ip: 'dhcp' },
  ],
};

/** cloudinit_userdata: hostname, fqdn, user, password, ssh_authorized_keys, chpasswd, users, package_upgrade. */
export function proxmoxUserData(vm: VmConfig = VM): string {
  const fqdn = vm.name.includes('.') ? vm.name : vm.searchdomain ? `${vm.name}.${vm.searchdomain}` : vm.name;
  let s = `#cloud-config\nhostname: ${vm.name.split('.')[0]}\nmanage_etc_hosts: true\nfqdn: ${fqdn}\n`;
  if (vm.ciuser) s += `user: ${vm.ciuser}\n`;
  if (vm.cipassword) s += `password: ${vm.cipassword}\n`;
  if (vm.sshkeys) s += `ssh_authorized_keys:\n${vm.sshkeys.map((k) => `  - ${k}\n`).join('')}`;
  s += 'chpasswd:\n  expire: False\n';
  if (vm.ciuser !== 'root') s += 'users:\n  - default\n';
  return s + 'package_upgrade: true\n';
}

const MASKS = ['0.0.0.0', ...Array.from({ length: 32 }, (_, i) => {
  const n = (0xffffffff << (31 - i)) >>> 0;
  return [24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.');
})];

/** nocloud_network: network config version 1 with physical entries by MAC and one nameserver entry. */
export function proxmoxNetworkV1(vm: VmConfig = VM): string {
  let s = 'version: 1\nconfig:\n';
  for (const nic of vm.nics) {
    s += `    - type: physical\n      name: eth${nic.id}\n      mac_address: '${nic.mac}'\n      subnets:\n`;
    if (nic.ip === 'dhcp') s += '      - type: dhcp4\n';
    else if (nic.ip) {
      const [addr, prefix] = nic.ip.split('/');
      s += `      - type: static\n        address: '${addr}'\n        netmask: '${MASKS[Number(prefix)]}'\n`;
      if (nic.gw) s += `        gateway: '${nic.gw}'\n`;
    }
    if (nic.ip6 === 'dhcp') s += '      - type: dhcp6\n';
    else if (nic.ip6 === 'auto') s += '      - type: ipv6_slaac\n';
    else if (nic.ip6) {
      s += `      - type: static6\n        address: '${nic.ip6}'\n`;
      if (nic.gw6) s += `        gateway: '${nic.gw6}'\n`;
    }
  }
  s += '    - type: nameserver\n';
  if (vm.nameservers?.length) s += `      address:\n${vm.nameservers.map((n) => `      - '${n}'\n`).join('')}`;
  if (vm.searchdomain) s += `      search:\n      - '${vm.searchdomain}'\n`;
  return s;
}

export function sha1(s: string): string {
  return createHash('sha1').update(s).digest('hex');
}

/** nocloud_gen_metadata: the only key is the instance id, sha1(user-data . network-config). */
export function proxmoxMetaData(user: string, network: string): string {
  return `instance-id: ${sha1(user + network)}\n`;
}

export const OBER_DOC = { version: 1, node: 'ober-n1', cluster: { name: 's3-edge', nodes: ['ober-n1', 'ober-n2'] } };

/** The vendor snippet Herr Ober deploys: cicustom vendor=local:snippets/<node>-ober.yaml. */
export const OBER_VENDOR_SNIPPET = `#cloud-config
ober:
  version: 1
  node: ober-n1
  cluster:
    name: s3-edge
    nodes: [ober-n1, ober-n2]
`;

/** The files of a NoCloud drive as generate_nocloud writes them (vendor-data empty without cicustom vendor=). */
export function nocloudDrive(opts: { user?: string; vendor?: string; network?: string; meta?: string } = {}): Record<string, string> {
  const user = opts.user ?? proxmoxUserData();
  const network = opts.network ?? proxmoxNetworkV1();
  return {
    'user-data': user,
    'network-config': network,
    'meta-data': opts.meta ?? proxmoxMetaData(user, network),
    'vendor-data': opts.vendor ?? OBER_VENDOR_SNIPPET,
  };
}

/** configdrive2_network: ifupdown text by ethN name. */
export function proxmoxEni(vm: VmConfig = VM): string {
  let s = 'auto lo\niface lo inet loopback\n\n';
  if (vm.nameservers?.length) s += `        dns_nameservers ${vm.nameservers.join(' ')}\n`;
  if (vm.searchdomain) s += `        dns_search ${vm.searchdomain}\n`;
  for (const nic of vm.nics) {
    s += `auto eth${nic.id}\n`;
    if (nic.ip === 'dhcp') s += `iface eth${nic.id} inet dhcp\n`;
    else if (nic.ip) {
      const [addr, prefix] = nic.ip.split('/');
      s += `iface eth${nic.id} inet static\n        address ${addr}\n        netmask ${MASKS[Number(prefix)]}\n`;
      if (nic.gw) s += `        gateway ${nic.gw}\n`;
    }
  }
  return s;
}

/** configdrive2_metadata, byte for byte (a Perl heredoc). */
export function proxmoxConfigDriveMeta(uuid: string): string {
  return `{\n     "uuid": "${uuid}",\n     "network_config": { "content_path": "/content/0000" }\n}\n`;
}

export const OBER_VENDOR_JSON = JSON.stringify({ 'cloud-init': OBER_VENDOR_SNIPPET });

/** The files of a ConfigDrive2 drive as generate_configdrive2 writes them for a Linux guest. */
export function configDrive(opts: { user?: string; vendor?: string; meta?: string; networkData?: string } = {}): Record<string, string> {
  const user = opts.user ?? proxmoxUserData();
  const eni = proxmoxEni();
  return {
    'openstack/latest/user_data': user,
    'openstack/content/0000': eni,
    'openstack/latest/meta_data.json': opts.meta ?? proxmoxConfigDriveMeta(sha1(user + eni)),
    'openstack/latest/vendor_data.json': opts.vendor ?? OBER_VENDOR_JSON,
    ...(opts.networkData ? { 'openstack/latest/network_data.json': opts.networkData } : {}),
  };
}

/** A root directory with `dev/<name>` holding an image and, optionally, a by-label link to it. */
export async function rootWithDevice(image: string, name = 'sr0', label?: string): Promise<string> {
  const root = await tempDir();
  await mkdir(path.join(root, 'dev/disk/by-label'), { recursive: true });
  await copyFile(image, path.join(root, 'dev', name));
  if (label) await symlink(`../../${name}`, path.join(root, 'dev/disk/by-label', label));
  return root;
}
