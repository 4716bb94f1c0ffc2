// The typed Proxmox API: one request builder and one method per call the tool makes, with the
// parameter and answer shapes of apidata.json.
import type { Method, Params, ProxmoxHttp } from './http.js';
import type { UploadFile } from './multipart.js';
import type { TaskCalls, TaskLogLine, TaskStatus } from './tasks.js';

export interface Version {
  version: string;
  release: string;
  repoid: string;
}

export interface NodeInfo {
  node: string;
  status: 'online' | 'offline' | 'unknown';
}

export interface StorageInfo {
  storage: string;
  type: string;
  /** Comma-separated content types (`images,rootdir`). */
  content: string;
  active?: number;
  enabled?: number;
  shared?: number;
  avail?: number;
  total?: number;
}

export interface ClusterStatusEntry {
  type: 'cluster' | 'node';
  name: string;
  /** Nodes: the node's cluster address. */
  ip?: string;
  /** Nodes: 1 for the node that answered the call. */
  local?: number;
  online?: number;
}

export interface StorageVolume {
  volid: string;
  content: string;
  format: string;
  size: number;
  vmid?: number;
}

export interface VmSummary {
  vmid: number;
  name?: string;
  status: 'running' | 'stopped';
  template?: number;
  /** Semicolon-separated. */
  tags?: string;
  lock?: string;
}

export interface ClusterVm extends VmSummary {
  id: string;
  type: 'qemu' | 'lxc';
  node: string;
}

export interface VmStatus extends VmSummary {
  qmpstatus?: string;
  agent?: number;
}

/** Indexed device keys (`net0`, `scsi1`, `ipconfig0`, ...): property strings. */
type IndexedKey = `net${number}` | `scsi${number}` | `ide${number}` | `sata${number}` | `virtio${number}` | `serial${number}` | `ipconfig${number}` | `unused${number}`;

/** The VM settings the tool writes (create and config update). */
export interface QemuSettings extends Partial<Record<IndexedKey, string>> {
  name?: string;
  tags?: string;
  ostype?: string;
  machine?: string;
  bios?: 'seabios' | 'ovmf';
  cpu?: string;
  cores?: number;
  sockets?: number;
  /** MiB. */
  memory?: number;
  /** MiB; 0 disables the balloon device. */
  balloon?: number;
  scsihw?: string;
  agent?: string;
  watchdog?: string;
  vga?: string;
  boot?: string;
  efidisk0?: string;
  onboot?: boolean;
  template?: boolean;
  ciuser?: string;
  citype?: 'nocloud' | 'configdrive2' | 'opennebula';
  cicustom?: string;
  /** Upgrade packages on first boot; defaults to 1 on the server. */
  ciupgrade?: boolean;
  nameserver?: string;
  searchdomain?: string;
  /** Public keys, one per line, as plain text: encoded here. */
  sshkeys?: string;
}

export type QemuConfig = Record<string, string | number> & { digest?: string };

export interface AgentInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: { 'ip-address': string; 'ip-address-type': 'ipv4' | 'ipv6'; prefix: number }[];
}

export interface CloneOptions {
  newid: number;
  name?: string;
  full?: boolean;
  storage?: string;
  target?: string;
  pool?: string;
}

/** Build an API path; every interpolated value is one path segment, percent-encoded. */
export function apiPath(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce((acc, s, i) => acc + s + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
}

/**
 * Settings → request parameters. `sshkeys` is the one value Proxmox wants URL-encoded inside the
 * form (its schema format is `urlencoded`; the server unescapes it), so it is encoded twice on the wire.
 */
export function settingsParams(settings: QemuSettings): Params {
  const { sshkeys, ...rest } = settings;
  return { ...rest, ...(sshkeys !== undefined ? { sshkeys: encodeURIComponent(sshkeys) } : {}) };
}

export interface ApiRequest {
  method: Method;
  path: string;
  params: Params;
}

/** A VMID, or a placeholder (`<vmid>`) when a dry run describes a call it cannot resolve yet. */
type Id = number | string;

const req = (method: Method, path: string, params: Params = {}): ApiRequest => ({ method, path, params });

/**
 * Every call as data (method, path, parameters): ProxmoxApi sends these, and a dry run prints the
 * very same requests, so the two cannot drift apart.
 */
export const requests = {
  version: () => req('GET', '/version'),
  nextId: () => req('GET', '/cluster/nextid'),
  nodes: () => req('GET', '/nodes'),
  clusterVms: () => req('GET', '/cluster/resources', { type: 'vm' }),
  storages: (node: string, opts: { content?: string; enabled?: boolean } = {}) => req('GET', apiPath`/nodes/${node}/storage`, opts),
  storageContent: (node: string, storage: string, content?: string) => req('GET', apiPath`/nodes/${node}/storage/${storage}/content`, { content }),
  /**
   * The form fields of an upload; the file itself is the multipart part `filename`. Their order is
   * part of the protocol: pveproxy (pve-http-server PVE/APIServer/AnyEvent.pm) reads `content`,
   * then `checksum-algorithm`, then `checksum`, and fails any other order with "wrong
   * Content-Disposition" (multipart bodies keep the order of this object's keys).
   */
  upload: (node: string, storage: string, content: 'iso' | 'vztmpl' | 'import', sha256?: string) =>
    req('POST', apiPath`/nodes/${node}/storage/${storage}/upload`, {
      content,
      ...(sha256 ? { 'checksum-algorithm': 'sha256', checksum: sha256 } : {}),
    }),
  /** Remove a volume (a seed ISO, a snippet) from a storage; answers with a UPID. */
  deleteVolume: (node: string, storage: string, volid: string) => req('DELETE', apiPath`/nodes/${node}/storage/${storage}/content/${volid}`),
  clusterStatus: () => req('GET', '/cluster/status'),
  vms: (node: string) => req('GET', apiPath`/nodes/${node}/qemu`),
  createVm: (node: string, vmid: Id, settings: QemuSettings) => req('POST', apiPath`/nodes/${node}/qemu`, { vmid, ...settingsParams(settings) }),
  vmConfig: (node: string, vmid: Id) => req('GET', apiPath`/nodes/${node}/qemu/${vmid}/config`),
  /**
   * The asynchronous variant (POST → task): a synchronous PUT that allocates or imports a disk
   * can outlive pveproxy's 30 s limit and leave its outcome unknown.
   */
  updateVmConfig: (node: string, vmid: Id, settings: QemuSettings, opts: { delete?: string[]; digest?: string } = {}) =>
    req('POST', apiPath`/nodes/${node}/qemu/${vmid}/config`, {
      ...settingsParams(settings),
      delete: opts.delete?.length ? opts.delete.join(',') : undefined,
      digest: opts.digest,
    }),
  cloneVm: (node: string, vmid: Id, opts: CloneOptions) => req('POST', apiPath`/nodes/${node}/qemu/${vmid}/clone`, { ...opts }),
  convertToTemplate: (node: string, vmid: Id) => req('POST', apiPath`/nodes/${node}/qemu/${vmid}/template`),
  startVm: (node: string, vmid: Id) => req('POST', apiPath`/nodes/${node}/qemu/${vmid}/status/start`),
  shutdownVm: (node: string, vmid: Id, opts: { timeout?: number; forceStop?: boolean } = {}) =>
    req('POST', apiPath`/nodes/${node}/qemu/${vmid}/status/shutdown`, opts),
  stopVm: (node: string, vmid: Id) => req('POST', apiPath`/nodes/${node}/qemu/${vmid}/status/stop`),
  destroyVm: (node: string, vmid: Id, opts: { purge?: boolean; 'destroy-unreferenced-disks'?: boolean } = {}) =>
    req('DELETE', apiPath`/nodes/${node}/qemu/${vmid}`, opts),
  /** Grow a disk (`size` like `20G`; Proxmox never shrinks). Answers with a UPID. */
  resizeDisk: (node: string, vmid: Id, disk: string, size: string) => req('PUT', apiPath`/nodes/${node}/qemu/${vmid}/resize`, { disk, size }),
  vmStatus: (node: string, vmid: Id) => req('GET', apiPath`/nodes/${node}/qemu/${vmid}/status/current`),
  agentNetworkInterfaces: (node: string, vmid: Id) => req('GET', apiPath`/nodes/${node}/qemu/${vmid}/agent/network-get-interfaces`),
  taskStatus: (node: string, upid: string) => req('GET', apiPath`/nodes/${node}/tasks/${upid}/status`),
  taskLog: (node: string, upid: string, start = 0, limit = 50) => req('GET', apiPath`/nodes/${node}/tasks/${upid}/log`, { start, limit }),
};

/** The typed API over HTTP. Calls that start a worker return its UPID (wait with TaskRunner). */
export class ProxmoxApi implements TaskCalls {
  constructor(readonly http: ProxmoxHttp) {}

  private send<T>(r: ApiRequest): Promise<T> {
    return this.http.call<T>(r.method, r.path, r.params);
  }

  version(): Promise<Version> {
    return this.send(requests.version());
  }

  /** A free VMID now; not reserved, so a create can still race another client for it. */
  async nextId(): Promise<number> {
    return Number(await this.send<number | string>(requests.nextId()));
  }

  nodes(): Promise<NodeInfo[]> {
    return this.send(requests.nodes());
  }

  clusterVms(): Promise<ClusterVm[]> {
    return this.send(requests.clusterVms());
  }

  storages(node: string, opts: { content?: string; enabled?: boolean } = {}): Promise<StorageInfo[]> {
    return this.send(requests.storages(node, opts));
  }

  storageContent(node: string, storage: string, content?: string): Promise<StorageVolume[]> {
    return this.send(requests.storageContent(node, storage, content));
  }

  /** Upload a file into a storage; with `sha256` the server verifies what it received. Returns the UPID. */
  upload(
    node: string,
    storage: string,
    opts: { content: 'iso' | 'vztmpl' | 'import'; file: UploadFile; sha256?: string },
    onProgress?: (sent: number, total: number) => void,
  ): Promise<string> {
    const r = requests.upload(node, storage, opts.content, opts.sha256);
    const fields = Object.fromEntries(Object.entries(r.params).map(([k, v]) => [k, String(v)]));
    return this.http.upload(r.path, fields, opts.file, onProgress);
  }

  deleteVolume(node: string, storage: string, volid: string): Promise<string> {
    return this.send(requests.deleteVolume(node, storage, volid));
  }

  /** The cluster and its nodes, each with the address corosync knows it by. */
  clusterStatus(): Promise<ClusterStatusEntry[]> {
    return this.send(requests.clusterStatus());
  }

  vms(node: string): Promise<VmSummary[]> {
    return this.send(requests.vms(node));
  }

  createVm(node: string, vmid: number, settings: QemuSettings): Promise<string> {
    return this.send(requests.createVm(node, vmid, settings));
  }

  vmConfig(node: string, vmid: number): Promise<QemuConfig> {
    return this.send(requests.vmConfig(node, vmid));
  }

  updateVmConfig(node: string, vmid: number, settings: QemuSettings, opts: { delete?: string[]; digest?: string } = {}): Promise<string> {
    return this.send(requests.updateVmConfig(node, vmid, settings, opts));
  }

  cloneVm(node: string, vmid: number, opts: CloneOptions): Promise<string> {
    return this.send(requests.cloneVm(node, vmid, opts));
  }

  convertToTemplate(node: string, vmid: number): Promise<string> {
    return this.send(requests.convertToTemplate(node, vmid));
  }

  startVm(node: string, vmid: number): Promise<string> {
    return this.send(requests.startVm(node, vmid));
  }

  shutdownVm(node: string, vmid: number, opts: { timeout?: number; forceStop?: boolean } = {}): Promise<string> {
    return this.send(requests.shutdownVm(node, vmid, opts));
  }

  stopVm(node: string, vmid: number): Promise<string> {
    return this.send(requests.stopVm(node, vmid));
  }

  destroyVm(node: string, vmid: number, opts: { purge?: boolean; 'destroy-unreferenced-disks'?: boolean } = {}): Promise<string> {
    return this.send(requests.destroyVm(node, vmid, opts));
  }

  resizeDisk(node: string, vmid: number, disk: string, size: string): Promise<string> {
    return this.send(requests.resizeDisk(node, vmid, disk, size));
  }

  vmStatus(node: string, vmid: number): Promise<VmStatus> {
    return this.send(requests.vmStatus(node, vmid));
  }

  async agentNetworkInterfaces(node: string, vmid: number): Promise<AgentInterface[]> {
    return (await this.send<{ result: AgentInterface[] }>(requests.agentNetworkInterfaces(node, vmid))).result;
  }

  taskStatus(node: string, upid: string): Promise<TaskStatus> {
    return this.send(requests.taskStatus(node, upid));
  }

  taskLog(node: string, upid: string, start = 0, limit = 50): Promise<TaskLogLine[]> {
    return this.send(requests.taskLog(node, upid, start, limit));
  }
}
