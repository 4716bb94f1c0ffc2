// What one node's VM is given, derived once from the validated cluster: its Proxmox settings
// (hardware, NIC, cloud-init keys), its vendor-data snippet (the node contract's own renderer), or
// for --snippets iso the NoCloud seed documents. Pure: deploy, rollout and --dry-run all use it.
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { intToIp, parseCidr } from '../../firstboot/model/net.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import type { Cluster, NodeSpec, ProxmoxSpec } from '../../firstboot/model/schema.js';
import type { QemuSettings } from '../proxmox/api.js';
import { OBER_TAG } from '../proxmox/template.js';
import { dataTag, nodeTag, vmName } from './identity.js';

export type SnippetMode = 'sftp' | 'iso';

export interface NodeVm {
  node: string;
  /** The node's LAN address without prefix (what the guest agent must report). */
  address: string;
  /** Proxmox node the VM runs on (undefined: the template's node). */
  pveNode?: string;
  /** First VMID to try, and whether it is pinned (nodes[].proxmox.vmid: never another one). */
  vmid?: number;
  vmidPinned: boolean;
  /** The exact vendor-data snippet (secrets included). */
  vendorData: string;
  /** sha256 over everything the VM is given: equal digest = nothing to change. */
  digest: string;
  /** Set on the clone after it is made (tags without the template's, which the clone inherits). */
  settings: QemuSettings;
  /** sftp mode: the snippet's storage; its file is named per VM when the VM exists (carrierFile). */
  snippet?: { storage: string };
  seed?: { storage: string; userData: string; metaData: (vmid: number | string) => string; networkConfig: (mac: string) => string };
}

/** Disk slot of the cloud-init drive in the template (templateSettings puts it on scsi1). */
export const CLOUDINIT_SLOT = 'scsi1';

export function proxmoxOf(cluster: Cluster): ProxmoxSpec {
  if (!cluster.proxmox) {
    throw new ConfigError('cluster', [
      { path: 'proxmox', message: 'ober deploy needs a proxmox section (node, storages, bridge, sizes, cloud-init user and keys)', hint: 'copy the commented proxmox: section from examples/bgp-3node.yaml' },
    ]);
  }
  return cluster.proxmox;
}

export function nodeVm(resolved: Cluster, node: NodeSpec, mode: SnippetMode): NodeVm {
  const px = proxmoxOf(resolved);
  const index = resolved.nodes.findIndex((n) => n.name === node.name);
  const cidr = parseCidr(node.address);
  if (typeof cidr === 'string') throw new ConfigError('cluster', [{ path: `nodes[${index}].address`, message: cidr }]);
  const vendorData = vendorDataSnippet(nodeData(resolved, node.name), 'nocloud');
  const mac = node.proxmox?.mac?.toUpperCase();
  const hardware: QemuSettings = {
    name: vmName(resolved.name, node.name),
    cores: px.cores,
    memory: px.memoryMB,
    onboot: px.onboot,
    net0: [`virtio${mac ? `=${mac}` : ''}`, `bridge=${px.bridge}`, ...(px.vlan ? [`tag=${px.vlan}`] : []), `queues=${px.cores}`].join(','),
  };
  const cloudInit: QemuSettings = {
    ciuser: px.ciuser,
    ...(px.sshKeys.length ? { sshkeys: px.sshKeys.join('\n') } : {}),
    ipconfig0: `ip=${node.address}${node.gateway ? `,gw=${node.gateway}` : ''}`,
    ...(px.nameservers ? { nameserver: px.nameservers.join(' ') } : {}),
    ...(px.searchdomain ? { searchdomain: px.searchdomain } : {}),
    ciupgrade: false, // the server defaults to 1: an immutable image must never upgrade itself
  };
  // ISO mode carries the same user, keys and address in the seed; Proxmox's keys stay unset.
  const given = mode === 'sftp' ? { ...hardware, ...cloudInit } : hardware;
  const digest = createHash('sha256')
    .update(JSON.stringify({ mode, vendorData, settings: given, diskGB: px.diskGB ?? null }))
    .digest('hex');
  const tags = [OBER_TAG, nodeTag(resolved.name, node.name), dataTag(digest)].join(';');
  const common = {
    node: node.name,
    address: cidr.address,
    pveNode: node.proxmox?.node ?? px.node,
    vmid: node.proxmox?.vmid ?? (px.vmidBase !== undefined ? px.vmidBase + index : undefined),
    vmidPinned: node.proxmox?.vmid !== undefined,
    vendorData,
    digest,
  };
  if (mode === 'sftp') return { ...common, settings: { ...given, tags }, snippet: { storage: px.snippetStorage } };
  return {
    ...common,
    settings: { ...given, tags },
    seed: {
      storage: px.snippetStorage,
      // The host name Proxmox's own cloud-init drive gives (PVE/QemuServer/Cloudinit.pm: the VM
      // name), so a node is called the same in both modes.
      userData: seedUserData(px, vmName(resolved.name, node.name)),
      metaData: (vmid) => `instance-id: ober-${digest.slice(0, 16)}-${vmid}\nlocal-hostname: ${vmName(resolved.name, node.name)}\n`,
      networkConfig: (nicMac) => seedNetworkConfig(px, cidr.address, cidr.prefix, node.gateway, nicMac),
    },
  };
}

/** user-data as Proxmox writes it for its own drive (PVE::QemuServer::Cloudinit), without package upgrades. */
function seedUserData(px: ProxmoxSpec, hostname: string): string {
  const doc = {
    hostname,
    manage_etc_hosts: true,
    ...(px.searchdomain ? { fqdn: `${hostname}.${px.searchdomain}` } : {}),
    user: px.ciuser,
    ...(px.sshKeys.length ? { ssh_authorized_keys: px.sshKeys } : {}),
    chpasswd: { expire: false },
    users: ['default'],
    package_upgrade: false,
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/** network-config version 1, the subset Proxmox writes (cloud-init applies it). */
function seedNetworkConfig(px: ProxmoxSpec, address: string, prefix: number, gateway: string | undefined, mac: string): string {
  const netmask = intToIp(2 ** 32 - 2 ** (32 - prefix));
  const config: unknown[] = [
    {
      type: 'physical',
      name: 'eth0',
      mac_address: mac.toLowerCase(),
      subnets: [{ type: 'static', address, netmask, ...(gateway ? { gateway } : {}) }],
    },
  ];
  if (px.nameservers || px.searchdomain) {
    config.push({ type: 'nameserver', address: px.nameservers ?? [], search: px.searchdomain ? [px.searchdomain] : [] });
  }
  return stringify({ version: 1, config }, { lineWidth: 0 });
}

/** The MAC of a `net0` value (`virtio=BC:24:11:..,bridge=..`). */
export function macOf(net: string | number | undefined): string | undefined {
  return /=((?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2})/.exec(String(net ?? ''))?.[1]?.toUpperCase();
}

/** net0 with another MAC (rollout with keepMac). */
export function withMac(net0: string, mac: string): string {
  const parts = net0.split(',');
  parts[0] = `${(parts[0] ?? 'virtio').split('=')[0]}=${mac.toUpperCase()}`;
  return parts.join(',');
}
