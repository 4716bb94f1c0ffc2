// `ober template create`: turn a built image (out/<id>_<version>.qcow2) into a Proxmox VM template
// that deploy clones. Upload into a storage with `import` content, create the VM with the
// appliance's hardware importing the disk, convert it to a template. Idempotent: the template is
// found again by its image tag, and an already uploaded image is not sent twice.
import { hashFile } from '../image/tree.js';
import semver from 'semver';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import { requests, type ApiRequest, type ClusterVm, type QemuSettings, type StorageInfo } from './api.js';
import type { ProxmoxClient } from './client.js';
import { ProxmoxError } from './errors.js';

export interface ImageRef {
  path: string;
  /** `debian-12_0.1.0.qcow2` */
  fileName: string;
  id: string;
  version: string;
}

/** `out/<id>_<version>.qcow2` → its parts; the version is what follows the last underscore. */
export function imageRef(imagePath: string): ImageRef {
  const fileName = path.basename(imagePath);
  const m = /^([A-Za-z0-9][A-Za-z0-9._+-]*)_([A-Za-z0-9][A-Za-z0-9.+-]*)\.qcow2$/.exec(fileName);
  if (!m) {
    throw new ConfigError('ober template create', [
      { path: '--image', message: `'${fileName}' is not named <id>_<version>.qcow2`, hint: 'pass an image as written by ober build-image into out/' },
    ]);
  }
  return { path: imagePath, fileName, id: m[1] as string, version: m[2] as string };
}

export interface TemplateIdentity {
  /** VM name (a DNS name: letters, digits, hyphens). */
  name: string;
  /** The tag that identifies the template of exactly this image id and version. */
  tag: string;
}

/** Tag marking every VM the tool made, beside the per-image tag. */
export const OBER_TAG = 'ober';

/**
 * Names derived from the image. Proxmox tags are `[a-z0-9_][a-z0-9_+.-]*` (pve-tag, compared
 * case-insensitively) and names are DNS names: anything else becomes `-`. `_` separates id and
 * version in the tag, as in the file name, so `a-1_2` and `a_1-2` stay distinct.
 */
export function templateIdentity(image: Pick<ImageRef, 'id' | 'version'>): TemplateIdentity {
  const tagPart = (s: string): string => s.toLowerCase().replace(/[^a-z0-9_+.-]/g, '-');
  const namePart = (s: string): string => s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return {
    tag: `${OBER_TAG}_${tagPart(image.id)}_${tagPart(image.version)}`,
    name: `ober-${namePart(image.id)}-${namePart(image.version)}`.toLowerCase(),
  };
}

export interface Hardware {
  cores: number;
  /** MiB */
  memory: number;
  bios: 'ovmf' | 'seabios';
  bridge: string;
  /** OVMF only: enroll Proxmox's default Secure Boot keys (Microsoft's, which sign shim). */
  secureBoot: boolean;
}

export const DEFAULT_HARDWARE: Hardware = { cores: 2, memory: 2048, bios: 'ovmf', bridge: 'vmbr0', secureBoot: true };

/** The appliance's VM, as the design fixes it. Pure: used for the real call and for --dry-run. */
export function templateSettings(p: { identity: TemplateIdentity; hardware: Hardware; diskStorage: string; importVolid: string }): QemuSettings {
  const { hardware: hw, diskStorage } = p;
  return {
    name: p.identity.name,
    tags: `${OBER_TAG};${p.identity.tag}`,
    ostype: 'l26',
    machine: 'q35',
    bios: hw.bios,
    // The image boots with either firmware; OVMF needs its variable store. With the keys enrolled
    // (Microsoft's, as Proxmox pre-enrolls them) Secure Boot is on: the image boots the signed shim,
    // GRUB and Debian kernel, and the image tests boot it so. `secureBoot: false` leaves it off.
    ...(hw.bios === 'ovmf' ? { efidisk0: `${diskStorage}:1,efitype=4m,pre-enrolled-keys=${hw.secureBoot ? 1 : 0}` } : {}),
    cpu: 'host',
    cores: hw.cores,
    memory: hw.memory,
    balloon: 0, // HAProxy sizes its buffers at start; memory taken back later would hurt it
    scsihw: 'virtio-scsi-single',
    scsi0: `${diskStorage}:0,import-from=${p.importVolid},discard=on,iothread=1`,
    // Debian's cloud kernel has no AHCI driver: on q35 the cloud-init drive must be SCSI, not IDE/SATA.
    scsi1: `${diskStorage}:cloudinit`,
    boot: 'order=scsi0',
    net0: `virtio,bridge=${hw.bridge},queues=${hw.cores}`, // one queue pair per vCPU
    watchdog: 'model=i6300esb,action=reset',
    serial0: 'socket',
    vga: 'serial0',
    agent: 'enabled=1',
    ciupgrade: false, // an immutable image is never upgraded in place (the server defaults to 1)
  };
}

export interface TemplateOptions {
  image: string;
  node?: string;
  /** Storage for the VM's disks (content `images`). */
  storage?: string;
  /** File storage the image is uploaded to (content `import`). */
  importStorage?: string;
  vmid?: number;
  hardware: Hardware;
}

export interface TemplateEvents {
  step?(message: string): void;
  uploadProgress?(sent: number, total: number): void;
}

export interface TemplateResult {
  status: 'created' | 'exists';
  vmid: number;
  node: string;
  name: string;
  tag: string;
  uploaded: boolean;
}

/**
 * `import` content arrived in Proxmox VE 8.2, but its upload call took only `.ova` files until
 * libpve-storage-perl 8.3.6 (Proxmox VE 8.4) added qcow2, raw and vmdk (pve-storage
 * PVE/Storage.pm UPLOAD_IMPORT_EXT_RE_1): the oldest version this tool can upload an image to.
 */
export const MIN_VERSION: [number, number] = [8, 4];
const NEXTID_ATTEMPTS = 3;

/** The calls `createTemplate` makes, in order, with `<placeholders>` for what earlier answers decide. */
export function planTemplate(opts: TemplateOptions, image: ImageRef, sha256: string): { request: ApiRequest; note?: string }[] {
  const node = opts.node ?? '<node>';
  const importStorage = opts.importStorage ?? '<storage with content import>';
  const diskStorage = opts.storage ?? '<storage with content images>';
  const vmid = opts.vmid ?? '<nextid>';
  const identity = templateIdentity(image);
  const importVolid = `${importStorage}:import/${image.fileName}`;
  const poll = { note: `then GET /nodes/${node}/tasks/<upid>/status until the task stops` };
  const upload = requests.upload(node, importStorage, 'import', sha256);
  return [
    { request: requests.version() },
    { request: requests.clusterVms(), note: `stop here if a template tagged ${identity.tag} exists` },
    ...(opts.node ? [] : [{ request: requests.nodes(), note: 'pick the only node' }]),
    { request: requests.storages(node, { enabled: true }) },
    { request: requests.storageContent(node, importStorage, 'import'), note: `skip the upload if ${importVolid} is there` },
    { request: { ...upload, params: { ...upload.params, filename: `@${image.path}` } }, ...poll },
    ...(opts.vmid ? [] : [{ request: requests.nextId() }]),
    { request: requests.createVm(node, vmid, templateSettings({ identity, hardware: opts.hardware, diskStorage, importVolid })), ...poll },
    { request: requests.convertToTemplate(node, vmid), ...poll },
  ];
}

export async function createTemplate(client: ProxmoxClient, opts: TemplateOptions, events: TemplateEvents = {}): Promise<TemplateResult> {
  const { api, tasks } = client;
  const step = events.step ?? (() => {});
  const image = imageRef(opts.image);
  const size = await fileSize(image.path);
  const identity = templateIdentity(image);

  const { version } = await api.version();
  if (!versionAtLeast(version, MIN_VERSION)) {
    throw new ApiError(
      `Proxmox VE ${version} is too old: uploading a qcow2 image as import content needs ${MIN_VERSION.join('.')} or newer ` +
        `(8.2 and 8.3 take only .ova there). Upgrade the Proxmox nodes (apt full-upgrade) and run again.`,
    );
  }

  const existing = findTagged(await api.clusterVms(), identity.tag);
  if (existing) {
    if (!existing.template) {
      throw new ApiError(
        `VM ${existing.vmid} on ${existing.node} carries tag ${identity.tag} but is not a template ` +
          `(left over from an interrupted run?). Remove it (qm destroy ${existing.vmid}) and run again.`,
      );
    }
    step(`template ${existing.vmid} (${identity.tag}) already exists on ${existing.node}: nothing to do`);
    return { status: 'exists', vmid: existing.vmid, node: existing.node, name: existing.name ?? identity.name, tag: identity.tag, uploaded: false };
  }

  const node = opts.node ?? (await onlyNode(client));
  const storages = await api.storages(node, { enabled: true });
  const importStorage = pickStorage(storages, 'import', opts.importStorage, '--import-storage', node);
  const diskStorage = pickStorage(storages, 'images', opts.storage, '--storage', node);
  const importVolid = `${importStorage}:import/${image.fileName}`;

  const present = (await api.storageContent(node, importStorage, 'import')).find((v) => v.volid === importVolid);
  if (present && present.size !== size) {
    throw new ApiError(
      `${importVolid} exists with ${present.size} bytes but ${image.path} has ${size}: an image version must not change. ` +
        `Build a new version, or delete the stale upload from storage '${importStorage}'.`,
    );
  }
  if (present) step(`${importVolid} already uploaded`);
  else {
    step(`uploading ${image.fileName} (${size} bytes) to ${importStorage} on ${node}`);
    const upid = await api.upload(
      node,
      importStorage,
      { content: 'import', file: { path: image.path, name: image.fileName, size }, sha256: await sha256File(image.path) },
      events.uploadProgress,
    );
    await tasks.wait(upid);
  }

  const settings = templateSettings({ identity, hardware: opts.hardware, diskStorage, importVolid });
  const vmid = await createVm(client, node, opts.vmid, settings, step);
  step(`converting VM ${vmid} to a template`);
  await tasks.wait(await api.convertToTemplate(node, vmid));
  return { status: 'created', vmid, node, name: identity.name, tag: identity.tag, uploaded: !present };
}

/** Create the VM; without a fixed VMID, take the next free one and try again if another client took it first. */
async function createVm(client: ProxmoxClient, node: string, fixed: number | undefined, settings: QemuSettings, step: (m: string) => void): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const vmid = fixed ?? (await client.api.nextId());
    step(`creating VM ${vmid} on ${node} (importing the disk)`);
    let upid: string;
    try {
      upid = await client.api.createVm(node, vmid, settings);
    } catch (e) {
      const taken = e instanceof ProxmoxError && e.kind === 'server' && /already exists/.test(e.message);
      if (taken && fixed === undefined && attempt < NEXTID_ATTEMPTS) continue;
      throw e;
    }
    await client.tasks.wait(upid);
    return vmid;
  }
}

function findTagged(vms: ClusterVm[], tag: string): ClusterVm | undefined {
  const tagged = vms.filter((vm) => vm.type === 'qemu' && (vm.tags ?? '').split(/[;,\s]+/).some((t) => t.toLowerCase() === tag));
  return tagged.find((vm) => vm.template) ?? tagged[0];
}

async function onlyNode(client: ProxmoxClient): Promise<string> {
  const online = (await client.api.nodes()).filter((n) => n.status === 'online');
  if (online.length === 1) return (online[0] as { node: string }).node;
  throw new ConfigError('ober template create', [
    { path: '--node', message: `the cluster has ${online.length} online nodes (${online.map((n) => n.node).join(', ')}): say which one` },
  ]);
}

function pickStorage(storages: StorageInfo[], content: string, wanted: string | undefined, flag: string, node: string): string {
  const fit = storages.filter((s) => s.content.split(',').includes(content));
  if (wanted) {
    const s = storages.find((x) => x.storage === wanted);
    if (!s) throw new ConfigError('ober template create', [{ path: flag, message: `storage '${wanted}' does not exist or is disabled on ${node}` }]);
    if (!fit.includes(s)) {
      throw new ConfigError('ober template create', [
        { path: flag, message: `storage '${wanted}' has content ${s.content}, not ${content}`, hint: `add it: pvesm set ${wanted} --content ${s.content},${content}` },
      ]);
    }
    return wanted;
  }
  const first = fit[0];
  if (!first) {
    throw new ConfigError('ober template create', [
      { path: flag, message: `no storage on ${node} holds content '${content}'`, hint: `enable it on a storage (pvesm set <storage> --content ...,${content}) or pass ${flag}` },
    ]);
  }
  return first.storage;
}

/** `8.2.4`, `8.2` or `8.2-1` (as Proxmox reports its version) at least major.minor. */
export function versionAtLeast(version: string, min: [number, number]): boolean {
  const v = semver.coerce(version);
  return v !== null && semver.gte(v, `${min[0]}.${min[1]}.0`);
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch (e) {
    throw new ConfigError('ober template create', [{ path: '--image', message: `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
}

/** The image's sha256 (the same streaming hash the image build uses). */
export const sha256File = hashFile;
