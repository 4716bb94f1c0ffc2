// The API calls the double implements, with the semantic checks the real server makes after
// schema validation: locks, storage content types, disk allocation and import, sshkeys, clones.
// A schema-valid call to a path not listed here is answered 501 so a new client call is noticed.
import { createHash } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Faults } from './faults.js';
import { PveError, configDigest, fail, paramError, randomMac, type Cluster, type Storage, type TaskOutcome, type Vm, type Volume } from './state.js';

export interface Caller {
  /** `user@realm`, the owner of the ticket or token. */
  user: string;
  /** `user@realm!tokenid` when authenticated by API token. */
  tokenId?: string;
}

export interface Upload {
  filename: string;
  data: Buffer;
}

export interface Call {
  params: Record<string, string>;
  caller: Caller;
  upload?: Upload;
}

type Handler = (call: Call) => unknown;

export interface RouteOptions {
  taskDurationMs: number;
  /** Delay between a VM's start and its guest agent answering. */
  agentDelayMs: number;
}

const DISK_KEY = /^(?:(?:scsi|ide|sata|virtio)\d+|efidisk0|tpmstate0)$/;
// PVE/Storage.pm (pve-storage): ISO_EXT_RE_0, VZTMPL_EXT_RE_1, SAFE_CHAR_CLASS_RE and
// UPLOAD_IMPORT_EXT_RE_1; disk images (qcow2, raw, vmdk) joined `ova` in libpve-storage-perl 8.3.6,
// which shipped with Proxmox VE 8.4. `import` content itself arrived with 8.2.
const ISO_EXT = /[^/]+\.(?:iso|img)$/i;
const VZTMPL_EXT = /[^/]+\.(tar\.(?:gz|xz|zst|bz2))$/i;
const IMPORT_EXT = /^[a-zA-Z0-9\-.+=_]+\.(ova|qcow2|raw|vmdk)$/;
const IMPORT_EXT_BEFORE_8_4 = /^[a-zA-Z0-9\-.+=_]+\.(ova)$/;

export class Routes {
  readonly table: Record<string, Handler>;

  constructor(
    private readonly cluster: Cluster,
    private readonly faults: Faults,
    private readonly opts: RouteOptions,
  ) {
    const c = cluster;
    this.table = {
      'GET /version': () => c.version,
      'GET /cluster/nextid': ({ params }) => {
        if (params.vmid !== undefined) {
          if (c.vms.has(Number(params.vmid))) throw paramError({ vmid: `VM ${params.vmid} already exists` });
          return Number(params.vmid);
        }
        return c.nextId(); // not reserved: a concurrent create can take it first
      },
      'GET /cluster/resources': ({ params }) => this.resources(params.type),
      // pve-manager PVE/API2/ClusterConfig.pm / Cluster.pm `status`: one entry for the cluster, one per node with its address.
      'GET /cluster/status': () => [
        { id: 'cluster', type: 'cluster', name: 'double', nodes: c.nodes.size, quorate: 1, version: 3 },
        ...[...c.nodes.keys()].map((name, i) => ({ id: `node/${name}`, type: 'node', name, nodeid: i + 1, ip: c.nodeIps.get(name), online: 1, local: i === 0 ? 1 : 0, level: '' })),
      ],
      'GET /nodes': () => [...c.nodes.keys()].map((node) => ({ node, status: 'online', maxcpu: 8, maxmem: 64 * 1024 ** 3 })),
      'GET /nodes/{node}/storage': ({ params }) =>
        [...c.node(params.node as string).storages.values()]
          .filter((s) => !params.content || params.content.split(',').some((ct) => s.content.includes(ct)))
          .filter((s) => !params.storage || s.id === params.storage)
          .map((s) => {
            const used = [...s.volumes.values()].reduce((n, v) => n + v.size, 0);
            return { storage: s.id, type: s.type, content: s.content.join(','), active: 1, enabled: 1, shared: s.shared ? 1 : 0, total: s.total, used, avail: s.total - used };
          }),
      'GET /nodes/{node}/storage/{storage}/content': ({ params }) =>
        [...c.storage(params.node as string, params.storage as string).volumes.values(), ...this.snippetVolumes(params.node as string, params.storage as string)]
          .filter((v) => !params.content || v.content === params.content)
          .filter((v) => !params.vmid || v.vmid === Number(params.vmid))
          .map((v) => ({ volid: v.volid, content: v.content, format: v.format, size: v.size, ...(v.vmid ? { vmid: v.vmid } : {}) })),
      'POST /nodes/{node}/storage/{storage}/upload': (call) => this.upload(call),
      'DELETE /nodes/{node}/storage/{storage}/content/{volume}': (call) => this.deleteVolume(call),
      'GET /nodes/{node}/qemu': ({ params }) => [...c.vms.values()].filter((vm) => vm.node === params.node).map((vm) => this.summary(vm)),
      'POST /nodes/{node}/qemu': (call) => this.create(call),
      'GET /nodes/{node}/qemu/{vmid}/config': ({ params }) => {
        const vm = c.vm(params.node as string, Number(params.vmid));
        return { ...vm.config, ...(vm.lock ? { lock: vm.lock } : {}), digest: configDigest(vm.config) };
      },
      'PUT /nodes/{node}/qemu/{vmid}/config': (call) => {
        this.updateConfig(call);
        return null;
      },
      'POST /nodes/{node}/qemu/{vmid}/config': (call) => {
        this.updateConfig(call);
        const vm = c.vm(call.params.node as string, Number(call.params.vmid));
        return this.task(vm.node, 'qmconfig', vm.vmid, call.caller, () => ({ exitstatus: 'OK' })).upid;
      },
      'POST /nodes/{node}/qemu/{vmid}/clone': (call) => this.clone(call),
      'POST /nodes/{node}/qemu/{vmid}/template': (call) => this.template(call),
      'POST /nodes/{node}/qemu/{vmid}/status/start': (call) => this.power(call, 'qmstart'),
      'POST /nodes/{node}/qemu/{vmid}/status/shutdown': (call) => this.power(call, 'qmshutdown'),
      'POST /nodes/{node}/qemu/{vmid}/status/stop': (call) => this.power(call, 'qmstop'),
      'GET /nodes/{node}/qemu/{vmid}/status/current': ({ params }) => {
        const vm = c.vm(params.node as string, Number(params.vmid));
        return { ...this.summary(vm), qmpstatus: vm.status, agent: agentEnabled(vm) ? 1 : 0, ha: { managed: 0 } };
      },
      'DELETE /nodes/{node}/qemu/{vmid}': (call) => this.destroy(call),
      'PUT /nodes/{node}/qemu/{vmid}/resize': (call) => this.resize(call),
      'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces': ({ params }) => this.agentInterfaces(c.vm(params.node as string, Number(params.vmid))),
      'GET /nodes/{node}/tasks/{upid}/status': ({ params }) => {
        const t = this.findTask(params.node as string, params.upid as string);
        return {
          upid: t.upid, node: t.node, pid: t.pid, pstart: t.pstart, starttime: t.starttime, type: t.type, id: t.id, user: t.user,
          status: t.exitstatus === undefined ? 'running' : 'stopped',
          ...(t.exitstatus === undefined ? {} : { exitstatus: t.exitstatus }),
        };
      },
      'GET /nodes/{node}/tasks/{upid}/log': ({ params }) => {
        const t = this.findTask(params.node as string, params.upid as string);
        const start = Number(params.start ?? 0);
        const limit = Number(params.limit ?? 50);
        return t.log.slice(start, start + limit).map((line, i) => ({ n: start + i + 1, t: line }));
      },
    };
  }

  private summary(vm: Vm): Record<string, unknown> {
    return {
      vmid: vm.vmid,
      name: vm.config.name,
      status: vm.status,
      template: vm.config.template === '1' ? 1 : 0,
      ...(vm.config.tags ? { tags: vm.config.tags } : {}),
      ...(vm.lock ? { lock: vm.lock } : {}),
    };
  }

  private resources(type: string | undefined): unknown[] {
    const vms = [...this.cluster.vms.values()].map((vm) => ({ id: `qemu/${vm.vmid}`, type: 'qemu', node: vm.node, ...this.summary(vm) }));
    const nodes = [...this.cluster.nodes.keys()].map((node) => ({ id: `node/${node}`, type: 'node', node, status: 'online' }));
    const storages = [...this.cluster.nodes].flatMap(([node, n]) =>
      [...n.storages.values()].map((s) => ({ id: `storage/${node}/${s.id}`, type: 'storage', node, storage: s.id, content: s.content.join(','), shared: s.shared ? 1 : 0, status: 'available' })),
    );
    if (type === 'vm') return vms;
    if (type === 'node') return nodes;
    if (type === 'storage') return storages;
    return [...nodes, ...storages, ...vms];
  }

  private findTask(node: string, upid: string): NonNullable<ReturnType<Cluster['tasks']['get']>> {
    this.cluster.node(node);
    const t = this.cluster.tasks.get(upid);
    if (!t || t.node !== node) throw fail(`no such task '${upid}'`);
    return t;
  }

  private task(node: string, type: string, vmid: number | string, caller: Caller, finish: () => TaskOutcome): { upid: string } {
    const plan = { durationMs: this.opts.taskDurationMs, ...this.faults.takeTaskFault(type) };
    const user = caller.tokenId ?? caller.user;
    return this.cluster.startTask(node, type, String(vmid), user, plan, finish);
  }

  /** PVE::AbstractConfig::check_lock, plus the config-file flock the API takes around changes. */
  private checkLock(vm: Vm): void {
    const injected = this.faults.takeVmLock(vm.vmid);
    if (injected) throw fail(injected);
    if (vm.lock) throw fail(`VM is locked (${vm.lock})`);
  }

  // --- storage -------------------------------------------------------------------------------

  /**
   * pve-storage PVE/API2/Storage/Status.pm `upload`: the file name's extension must fit the content
   * type (400 on `filename`), an existing file of that name is overwritten ("we simply overwrite the
   * destination file if it already exists"), and the checksum is verified inside the worker, so a
   * mismatch is a failed task, not an HTTP error.
   */
  private upload({ params, upload }: Call): string {
    const node = params.node as string;
    const storage = this.cluster.storage(node, params.storage as string);
    const content = params.content as string;
    if (!upload) throw fail('missing temporary file name');
    const filename = upload.filename;
    if (content === 'iso') {
      if (!ISO_EXT.test(filename)) throw paramError({ filename: 'wrong file extension' });
    } else if (content === 'vztmpl') {
      if (!VZTMPL_EXT.test(filename)) throw paramError({ filename: 'wrong file extension' });
    } else if (content === 'import' && this.cluster.atLeast(8, 2)) {
      if (!(this.cluster.atLeast(8, 4) ? IMPORT_EXT : IMPORT_EXT_BEFORE_8_4).test(filename)) throw paramError({ filename: 'invalid filename or wrong extension' });
    } else throw paramError({ content: `upload content type '${content}' not allowed` });
    if (!storage.content.includes(content)) throw fail(`storage '${storage.id}' does not support '${content}' content`);
    const volid = `${storage.id}:${content}/${filename}`;
    const format = /\.([a-z0-9]+)$/.exec(filename)?.[1] ?? 'raw';
    const tmp = `/var/tmp/pveupload-${createHash('md5').update(volid + this.cluster.now()).digest('hex')}`;
    return this.task(node, 'imgcopy', '', { user: 'root@pam' }, () => {
      const log = [`starting file import from: ${tmp}`];
      const algorithm = params['checksum-algorithm'];
      if (algorithm && params.checksum) {
        const actual = createHash(algorithm).update(upload.data).digest('hex');
        if (actual !== params.checksum.toLowerCase()) throw new Error(`checksum mismatch: got '${actual}' != expect '${params.checksum}'`);
        log.push('calculating checksum...OK, checksum verified');
      }
      storage.volumes.set(volid, { volid, content, format, size: upload.data.length });
      this.cluster.uploads.set(volid, upload.data);
      return { exitstatus: 'OK', log: [...log, `target node: ${node}`, `target file: ${volid}`, `file size is: ${upload.data.length}`, 'finished file import successfully'] };
    }).upid;
  }

  /** pve-storage PVE/API2/Storage/Content.pm `delete`: frees the volume (a snippet: its file) in a worker. */
  private deleteVolume({ params, caller }: Call): string {
    const node = params.node as string;
    const storage = this.cluster.storage(node, params.storage as string);
    const raw = params.volume as string;
    const volid = raw.includes(':') ? raw : `${storage.id}:${raw}`;
    const snippet = this.snippetVolumes(node, storage.id).find((v) => v.volid === volid);
    if (!snippet && !storage.volumes.has(volid)) throw fail(`volume '${volid}' does not exist`);
    return this.task(node, 'imgdel', '', caller, () => {
      if (snippet) rmSync(path.join(storage.snippetsDir as string, volid.slice(volid.indexOf('/') + 1)));
      storage.volumes.delete(volid);
      this.cluster.uploads.delete(volid);
      return { exitstatus: 'OK', log: [`Removed volume '${volid}'`] };
    }).upid;
  }

  // --- VMs ------------------------------------------------------------------------------------

  private create({ params, caller }: Call): string {
    const node = params.node as string;
    this.cluster.node(node);
    const vmid = Number(params.vmid);
    if (this.cluster.vms.has(vmid)) throw fail(`unable to create VM ${vmid} - VM ${vmid} already exists on node '${this.cluster.vms.get(vmid)?.node}'`);
    if (params.archive) throw fail('restore is not supported by the test double');
    const { node: _n, vmid: _v, start, pool: _p, storage: _s, ...config } = params;
    checkSshKeys(config.sshkeys);
    const vm: Vm = { vmid, node, config: {}, status: 'stopped', lock: 'create' };
    const disks = this.planDisks(vm, config, caller);
    this.cluster.vms.set(vmid, vm);
    return this.task(node, 'qmcreate', vmid, caller, () => {
      try {
        vm.config = { ...withMacs(config), ...this.allocate(vm, disks) };
      } catch (e) {
        this.cluster.vms.delete(vmid);
        throw e;
      }
      delete vm.lock;
      if (start === '1') this.markRunning(vm);
      return { exitstatus: 'OK', log: disks.map((d) => `${d.key}: successfully created disk '${d.volid}'`) };
    }).upid;
  }

  private updateConfig({ params, caller }: Call): void {
    const vm = this.cluster.vm(params.node as string, Number(params.vmid));
    const { node: _n, vmid: _v, digest, delete: del, revert: _r, skiplock: _s, background_delay: _b, ...changes } = params;
    this.checkLock(vm);
    if (digest && digest !== configDigest(vm.config)) throw fail('detected modified configuration - file changed by other user? Try again.');
    checkSshKeys(changes.sshkeys);
    const disks = this.planDisks(vm, changes, caller);
    for (const key of del ? del.split(/[,;\s]+/).filter(Boolean) : []) delete vm.config[key];
    Object.assign(vm.config, withMacs(changes), this.allocate(vm, disks));
  }

  /** Check every disk of a create/update up front (the API does so before forking its worker). */
  private planDisks(vm: Vm, config: Record<string, string>, caller: Caller): PlannedDisk[] {
    const planned: PlannedDisk[] = [];
    for (const [key, value] of Object.entries(config)) {
      if (!DISK_KEY.test(key)) continue;
      const disk = parseDisk(value);
      if (disk.file === 'none' || disk.file === 'cdrom') continue;
      if (disk.file.startsWith('/')) throw fail(`${key}: only root@pam may pass a host path as volume`);
      const [storeid, rest] = splitVolid(disk.file);
      const storage = this.cluster.storage(vm.node, storeid);
      if (rest === 'cloudinit') {
        if (key.startsWith('virtio') || key === 'efidisk0') throw fail(`${key}: cloud-init drive must be on an ide, sata or scsi bus`);
        requireContent(storage, 'images');
        planned.push({ key, storage, volid: `${storeid}:vm-${vm.vmid}-cloudinit`, size: 4 * 1024 ** 2, opts: { ...disk.opts, media: 'cdrom' } });
        continue;
      }
      if (/^\d+(\.\d+)?$/.test(rest)) {
        requireContent(storage, 'images');
        const { ['import-from']: source, ...opts } = disk.opts;
        let size = Number(rest) * 1024 ** 3;
        if (key === 'efidisk0') size = disk.opts.efitype === '4m' ? 528 * 1024 : 128 * 1024;
        if (source !== undefined) {
          if (source.startsWith('/')) {
            if (caller.tokenId || caller.user !== 'root@pam') {
              throw new PveError(403, `Permission check failed (${key}: 'import-from' with an absolute path is only allowed for root@pam)`);
            }
            throw fail(`${key}: importing from host paths is not supported by the test double`);
          }
          const { storage: srcStorage, volume } = this.cluster.volume(vm.node, source);
          if (!volume) throw fail(`${key}: volume '${source}' does not exist`);
          if (!['images', 'import'].includes(volume.content)) {
            throw fail(`${key}: '${source}' has content type '${volume.content}', cannot import from it (storage '${srcStorage.id}')`);
          }
          size = volume.size;
        } else if (Number(rest) === 0 && key !== 'efidisk0') {
          throw fail(`${key}: size 0 is only valid with import-from`);
        }
        planned.push({ key, storage, volid: '', size, opts });
        continue;
      }
      if (!storage.volumes.has(disk.file)) throw fail(`volume '${disk.file}' does not exist`);
    }
    return planned;
  }

  /** Allocate planned disks; returns the config values that now point at them. */
  private allocate(vm: Vm, disks: PlannedDisk[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const d of disks) {
      if (!d.volid) d.volid = `${d.storage.id}:vm-${vm.vmid}-disk-${nextDiskIndex(d.storage, vm.vmid)}`;
      d.storage.volumes.set(d.volid, { volid: d.volid, content: 'images', format: 'raw', size: d.size, vmid: vm.vmid });
      out[d.key] = formatDisk(d.volid, { ...d.opts, size: formatSize(d.size) });
    }
    return out;
  }

  /**
   * qemu-server PVE/API2/Qemu.pm `clone_vm`: `$load_and_check` runs once before the worker forks
   * (a VMID whose config exists, `target` with a VM on local storage: HTTP 500) and again inside the
   * worker after it took the source's shared lock and the new VMID's lock (1 s each): a lock timeout
   * or a VMID taken meanwhile ends the *task* in error, after the client already got its UPID.
   */
  private clone({ params, caller }: Call): string {
    const node = params.node as string;
    const src = this.cluster.vm(node, Number(params.vmid));
    const newid = Number(params.newid);
    const targetNode = params.target && params.target !== node ? params.target : undefined;
    if (targetNode) this.cluster.node(targetNode);
    const isTemplate = src.config.template === '1';
    const full = params.full === undefined ? !isTemplate : params.full === '1';
    const target = params.storage ? this.cluster.storage(node, params.storage) : undefined;
    const loadAndCheck = (): void => {
      if (target && targetNode && !target.shared) throw fail(`can't clone to non-shared storage '${target.id}'`);
      if (!isTemplate || src.lock) this.checkLock(src);
      if (!full && !isTemplate) throw fail('Linked clone feature is not supported for a VM that is not a template');
      if (target && !full) throw fail("parameter 'storage' not allowed for linked clones");
      if (target) requireContent(target, 'images');
      // check_storage_access_clone: shared only when every disk's storage is shared.
      const shared = this.diskVolumes(src).every((volid) => this.cluster.storage(node, splitVolid(volid)[0]).shared);
      if (targetNode && !shared) throw fail(`can't clone VM to node '${targetNode}' (VM uses local storage)`);
      if (this.cluster.vms.has(newid)) throw fail(`unable to create VM ${newid}: config file already exists`);
    };
    loadAndCheck();
    // The worker's first steps happen as it starts (here, with the request): take the locks, check
    // again, write the new VM's temporary config (`lock: clone`). A failure there fails the task.
    let startError: string | undefined;
    const lockTimeout = this.faults.takeCloneLockTimeout(src.vmid, newid);
    if (lockTimeout !== undefined) startError = `can't lock file '/var/lock/qemu-server/lock-${lockTimeout}.conf' - got timeout`;
    else {
      if (this.faults.takeCloneRace() && !this.cluster.vms.has(newid)) {
        this.cluster.vms.set(newid, { vmid: newid, node, config: { name: 'created-by-someone-else' }, status: 'stopped' });
      }
      try {
        loadAndCheck();
      } catch (e) {
        startError = (e as Error).message;
      }
    }
    const vm: Vm = { vmid: newid, node: targetNode ?? node, config: {}, status: 'stopped', lock: 'clone' };
    if (!startError) {
      this.cluster.vms.set(newid, vm);
      if (!isTemplate) src.lock = 'clone';
    }
    return this.task(node, 'qmclone', src.vmid, caller, () => {
      if (startError) throw new Error(startError);
      if (!isTemplate) delete src.lock;
      const config: Record<string, string> = {};
      for (const [key, value] of Object.entries(src.config)) {
        if (key === 'template') continue;
        if (!DISK_KEY.test(key)) {
          config[key] = /^net\d+$/.test(key) ? value.replace(/=([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}/, `=${randomMac()}`) : value;
          continue;
        }
        const disk = parseDisk(value);
        if (disk.file === 'none' || disk.file === 'cdrom' || isCdrom(disk)) {
          config[key] = value;
          continue;
        }
        const [storeid, name] = splitVolid(disk.file);
        const volume = this.cluster.storage(node, storeid).volumes.get(disk.file);
        const storage = target ?? this.cluster.storage(vm.node, storeid);
        const volid = name.endsWith('-cloudinit')
          ? `${storage.id}:vm-${newid}-cloudinit`
          : full
            ? `${storage.id}:vm-${newid}-disk-${nextDiskIndex(storage, newid)}`
            : `${storeid}:${name}/vm-${newid}-disk-${nextDiskIndex(storage, newid)}`;
        storage.volumes.set(volid, { volid, content: 'images', format: volume?.format ?? 'raw', size: volume?.size ?? 0, vmid: newid });
        config[key] = formatDisk(volid, disk.opts);
      }
      config.name = params.name ?? `Copy-of-VM-${src.config.name ?? src.vmid}`;
      vm.config = config;
      delete vm.lock;
      return { exitstatus: 'OK', log: [`create ${full ? 'full' : 'linked'} clone of drive(s) of VM ${src.vmid}`] };
    }).upid;
  }

  /** The volumes of a VM's disks that belong to it (cd-roms excluded, cloud-init drives included). */
  private diskVolumes(vm: Vm): string[] {
    return Object.entries(vm.config)
      .filter(([k]) => DISK_KEY.test(k))
      .map(([, v]) => parseDisk(v))
      .filter((d) => d.file !== 'none' && d.file !== 'cdrom' && !isCdrom(d))
      .map((d) => d.file);
  }

  private template({ params, caller }: Call): string {
    const vm = this.cluster.vm(params.node as string, Number(params.vmid));
    this.checkLock(vm);
    if (vm.status === 'running') throw fail("you can't convert a running VM to a template");
    if (vm.config.template === '1') throw fail('you can\'t convert a template to a template');
    vm.lock = 'template';
    return this.task(vm.node, 'qmtemplate', vm.vmid, caller, () => {
      for (const [key, value] of Object.entries(vm.config)) {
        if (!DISK_KEY.test(key)) continue;
        const disk = parseDisk(value);
        const [storeid, name] = splitVolid(disk.file);
        if (!name.startsWith(`vm-${vm.vmid}-disk-`)) continue;
        const storage = this.cluster.storage(vm.node, storeid);
        const volume = storage.volumes.get(disk.file);
        const base = `${storeid}:${name.replace(/^vm-/, 'base-')}`;
        storage.volumes.delete(disk.file);
        storage.volumes.set(base, { volid: base, content: 'images', format: volume?.format ?? 'raw', size: volume?.size ?? 0, vmid: vm.vmid });
        vm.config[key] = formatDisk(base, disk.opts);
      }
      vm.config.template = '1';
      delete vm.lock;
      return { exitstatus: 'OK' };
    }).upid;
  }

  private power({ params, caller }: Call, type: 'qmstart' | 'qmshutdown' | 'qmstop'): string {
    const vm = this.cluster.vm(params.node as string, Number(params.vmid));
    if (params.skiplock !== '1') this.checkLock(vm);
    if (vm.config.template === '1') throw fail(`you can't ${type === 'qmstart' ? 'start' : 'stop'} a vm if it's a template`);
    if (type === 'qmstart' && vm.status === 'running') throw fail(`VM ${vm.vmid} already running`);
    return this.task(vm.node, type, vm.vmid, caller, () => {
      if (type === 'qmstart') {
        // PVE::QemuServer::Cloudinit reads the cicustom snippets when it builds the drive at start.
        this.checkStartable(vm);
        this.markRunning(vm);
      }
      else {
        vm.status = 'stopped';
        delete vm.agentReadyAt;
      }
      return { exitstatus: 'OK' };
    }).upid;
  }

  /**
   * The first NIC's address from an attached NoCloud seed ISO (--snippets iso), as the guest would
   * configure it. ISO 9660 stores file data uncompressed, so the network-config text is in the bytes.
   */
  private seedAddress(vm: Vm): [string, string, string] | null {
    for (const value of Object.values(vm.config)) {
      const iso = this.cluster.uploads.get(parseDisk(value).file);
      if (!iso) continue;
      const m = /address: '?(\d+\.\d+\.\d+\.\d+)'?\s+netmask: '?([\d.]+)/.exec(iso.toString('latin1'));
      if (!m) continue;
      const prefix = (m[2] as string).split('.').reduce((n, o) => n + [...Number(o).toString(2)].filter((b) => b === '1').length, 0);
      return [m[0], m[1] as string, String(prefix)];
    }
    return null;
  }

  /**
   * What a start reads besides the config: qemu-server PVE/QemuServer/Cloudinit.pm reads every
   * cicustom snippet from the storage *of the node the VM starts on* when it builds the drive, and
   * every attached volume must exist there (a node's `local` is its own disk).
   */
  checkStartable(vm: Vm): void {
    for (const volid of Object.values(parsePairs(vm.config.cicustom ?? ''))) {
      if (!this.snippetVolumes(vm.node, volid.split(':')[0] as string).some((v) => v.volid === volid)) throw new Error(`volume '${volid}' does not exist`);
    }
    for (const [key, value] of Object.entries(vm.config)) {
      if (!DISK_KEY.test(key)) continue;
      const disk = parseDisk(value);
      if (disk.file === 'none' || disk.file === 'cdrom' || disk.file.startsWith('/')) continue;
      if (!this.cluster.volume(vm.node, disk.file).volume) throw new Error(`volume '${disk.file}' does not exist`);
    }
  }

  /** Snippet volumes of a storage on a node: the files in its snippets directory. */
  private snippetVolumes(node: string, storageId: string): Volume[] {
    const dir = this.cluster.node(node).storages.get(storageId)?.snippetsDir;
    if (!dir) return [];
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    return names
      .filter((n) => !n.startsWith('.'))
      .map((n) => ({ volid: `${storageId}:snippets/${n}`, content: 'snippets', format: 'snippet', size: statSync(path.join(dir, n)).size }));
  }

  /** Grow a disk; Proxmox refuses to shrink one. */
  private resize({ params, caller }: Call): string {
    const vm = this.cluster.vm(params.node as string, Number(params.vmid));
    if (params.skiplock !== '1') this.checkLock(vm);
    const key = params.disk as string;
    const value = vm.config[key];
    if (!value) throw fail(`disk '${key}' does not exist`);
    const disk = parseDisk(value);
    const { volume } = this.cluster.volume(vm.node, disk.file);
    if (!volume) throw fail(`volume '${disk.file}' does not exist`);
    const m = /^(\+)?(\d+(?:\.\d+)?)([KMGT])?$/.exec(params.size as string);
    if (!m) throw paramError({ size: 'invalid size' });
    const bytes = Number(m[2]) * 1024 ** (m[3] ? 'KMGT'.indexOf(m[3]) + 1 : 0);
    const size = m[1] ? volume.size + bytes : bytes;
    if (size < volume.size) throw fail(`shrinking disks is not supported`);
    return this.task(vm.node, 'resize', vm.vmid, caller, () => {
      volume.size = size;
      vm.config[key] = formatDisk(disk.file, { ...disk.opts, size: formatSize(size) });
      return { exitstatus: 'OK' };
    }).upid;
  }

  private markRunning(vm: Vm): void {
    vm.status = 'running';
    vm.agentReadyAt = this.cluster.now() + this.opts.agentDelayMs;
  }

  /**
   * qemu-server PVE/QemuServer.pm `destroy_vm`: frees the VM's own volumes — a drive that is a
   * cd-rom (`drive_is_cdrom($drive, 1)`: cloud-init drives excepted) is skipped, so an ISO attached
   * to the VM stays in its storage after the VM is gone.
   */
  private destroy({ params, caller }: Call): string {
    const vm = this.cluster.vm(params.node as string, Number(params.vmid));
    if (params.skiplock !== '1') this.checkLock(vm);
    if (vm.status === 'running') throw fail(`VM ${vm.vmid} is running - destroy failed`);
    const volumes = this.diskVolumes(vm);
    for (const volid of volumes) {
      const name = splitVolid(volid)[1];
      const users = [...this.cluster.vms.values()].filter((o) => o !== vm && Object.values(o.config).some((v) => v.includes(`${name}/`)));
      if (users.length) throw fail(`base volume '${volid}' is still in use by linked cloned VM ${users[0]?.vmid}`);
    }
    vm.lock = 'destroyed';
    return this.task(vm.node, 'qmdestroy', vm.vmid, caller, () => {
      for (const volid of volumes) this.cluster.volume(vm.node, volid).storage.volumes.delete(volid);
      this.cluster.vms.delete(vm.vmid);
      return { exitstatus: 'OK', log: volumes.map((v) => `Removing image: 100% complete...done. (${v})`) };
    }).upid;
  }

  /**
   * A host reboot as pve-manager does it: every guest of the node stops with the host, then
   * `pve-guests.service` (PVE/API2/Nodes.pm `startall`) starts each VM with `onboot=1`, in VMID
   * order (no startup order set). A VM that cannot start (a missing snippet) stays stopped.
   */
  rebootNode(node: string): { started: number[]; failed: { vmid: number; error: string }[] } {
    this.cluster.node(node);
    const vms = [...this.cluster.vms.values()].filter((vm) => vm.node === node).sort((a, b) => a.vmid - b.vmid);
    for (const vm of vms) {
      vm.status = 'stopped';
      delete vm.agentReadyAt;
      if (vm.lock && vm.lock !== 'create' && vm.lock !== 'clone') delete vm.lock;
    }
    const started: number[] = [];
    const failed: { vmid: number; error: string }[] = [];
    for (const vm of vms) {
      if (vm.config.template === '1' || !/^(1|yes|on|true)$/.test(vm.config.onboot ?? '')) continue;
      try {
        this.checkStartable(vm);
        this.markRunning(vm);
        started.push(vm.vmid);
      } catch (e) {
        failed.push({ vmid: vm.vmid, error: (e as Error).message });
      }
    }
    return { started, failed };
  }

  private agentInterfaces(vm: Vm): unknown {
    if (!agentEnabled(vm)) throw fail('No QEMU guest agent configured');
    if (vm.status !== 'running') throw fail(`VM ${vm.vmid} is not running`);
    if ((vm.agentReadyAt ?? Infinity) > this.cluster.now()) throw fail('QEMU guest agent is not running');
    const interfaces: unknown[] = [
      { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }] },
    ];
    for (const [key, value] of Object.entries(vm.config)) {
      const m = /^net(\d+)$/.exec(key);
      if (!m) continue;
      const mac = /=((?:[0-9A-F]{2}:){5}[0-9A-F]{2})/i.exec(value)?.[1] ?? '';
      const ip = /(?:^|,)ip=([^,/]+)\/(\d+)/.exec(vm.config[`ipconfig${m[1]}`] ?? '') ?? (m[1] === '0' ? this.seedAddress(vm) : null);
      interfaces.push({
        name: `eth${m[1]}`,
        'hardware-address': mac.toLowerCase(),
        'ip-addresses': ip ? [{ 'ip-address': ip[1], 'ip-address-type': 'ipv4', prefix: Number(ip[2]) }] : [],
      });
    }
    return { result: interfaces };
  }
}

interface PlannedDisk {
  key: string;
  storage: Storage;
  volid: string;
  size: number;
  opts: Record<string, string>;
}

/** `key=value,key=value` (cicustom). */
function parsePairs(text: string): Record<string, string> {
  return Object.fromEntries(text.split(',').filter((p) => p.includes('=')).map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)]));
}

/** A cd-rom drive that is not the cloud-init drive (`drive_is_cdrom($drive, 1)`). */
function isCdrom(disk: { file: string; opts: Record<string, string> }): boolean {
  return disk.opts.media === 'cdrom' && !/-cloudinit$/.test(disk.file);
}

function agentEnabled(vm: Vm): boolean {
  return /^(enabled=)?1(,|$)/.test(vm.config.agent ?? '');
}

function requireContent(storage: Storage, content: string): void {
  if (!storage.content.includes(content)) throw fail(`content type '${content}' is not available on storage '${storage.id}'`);
}

function splitVolid(volid: string): [string, string] {
  const i = volid.indexOf(':');
  return [volid.slice(0, i), volid.slice(i + 1)];
}

function nextDiskIndex(storage: Storage, vmid: number): number {
  let n = 0;
  while ([...storage.volumes.keys()].some((v) => v.endsWith(`vm-${vmid}-disk-${n}`) || v.endsWith(`base-${vmid}-disk-${n}`))) n++;
  return n;
}

export function parseDisk(value: string): { file: string; opts: Record<string, string> } {
  let file = '';
  const opts: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) file = part;
    else if (part.slice(0, eq) === 'file' || part.slice(0, eq) === 'volume') file = part.slice(eq + 1);
    else opts[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return { file, opts };
}

function formatDisk(volid: string, opts: Record<string, string>): string {
  return [volid, ...Object.entries(opts).map(([k, v]) => `${k}=${v}`)].join(',');
}

/** PVE::JSONSchema::format_size. */
function formatSize(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let n = bytes;
  let u = 0;
  while (u < units.length - 1 && n % 1024 === 0 && n >= 1024) {
    n /= 1024;
    u++;
  }
  return `${n}${units[u]}`;
}

/** Give every NIC without a MAC one, as the server does on create and update. */
function withMacs(config: Record<string, string>): Record<string, string> {
  const out = { ...config };
  for (const [key, value] of Object.entries(config)) {
    if (!/^net\d+$/.test(key) || /=(?:[0-9A-F]{2}:){5}[0-9A-F]{2}/i.test(value)) continue;
    // `virtio,bridge=vmbr0` or `model=virtio,...` becomes `virtio=BC:24:11:..,bridge=vmbr0`
    const parts = value.split(',');
    const i = parts.findIndex((p) => !p.includes('=') || p.startsWith('model='));
    if (i >= 0) parts[i] = `${(parts[i] as string).replace(/^model=/, '')}=${randomMac()}`;
    out[key] = parts.join(',');
  }
  return out;
}

const KEY_TYPES = /^(ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/**
 * PVE::Tools::validate_ssh_public_keys after the API's uri_unescape: the value arrived URL-encoded
 * (the schema's `urlencoded` format), and each decoded line must be a public key.
 */
function checkSshKeys(encoded: string | undefined): void {
  if (encoded === undefined) return;
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    throw fail('SSH public key validation error');
  }
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const at = fields.findIndex((f) => KEY_TYPES.test(f));
    const type = fields[at];
    const blob = fields[at + 1];
    if (at < 0 || !type || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) throw fail('SSH public key validation error');
    const bytes = Buffer.from(blob, 'base64');
    const len = bytes.length >= 4 ? bytes.readUInt32BE(0) : -1;
    if (len <= 0 || bytes.subarray(4, 4 + len).toString('latin1') !== type) throw fail('SSH public key validation error');
  }
}
