// The simulated cluster: nodes, storages with their volumes, VMs with config and locks, tasks.
// Time is read from an injected clock and tasks finish lazily (`settle()` before every request),
// so tests never wait on timers they did not ask for.
import { createHash, randomBytes } from 'node:crypto';

/** An API failure the way the server raises it: HTTP status, status-line message, per-parameter errors. */
export class PveError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

export const paramError = (errors: Record<string, string>): PveError => new PveError(400, 'Parameter verification failed.', errors);
/** Errors raised by API code with `die` reach the client as HTTP 500 with the message as status line. */
export const fail = (message: string): PveError => new PveError(500, message);

export interface Volume {
  volid: string;
  content: string;
  format: string;
  size: number;
  vmid?: number;
}

export interface Storage {
  id: string;
  type: 'dir' | 'lvmthin' | 'nfs';
  content: string[];
  total: number;
  /** `shared` in storage.cfg: one storage reachable from every node (its volumes map is shared too). */
  shared: boolean;
  volumes: Map<string, Volume>;
  /** A real directory standing for the storage's `snippets` directory (its files are the volumes). */
  snippetsDir?: string;
}

/** A storage every node sees (NFS, Ceph): one object in every node's map. */
export interface SharedStorageSpec {
  id: string;
  content: string[];
  snippetsDir?: string;
}

export interface Vm {
  vmid: number;
  node: string;
  config: Record<string, string>;
  status: 'running' | 'stopped';
  /** `lock` is part of the config file in Proxmox; kept apart here because faults drive it too. */
  lock?: string;
  agentReadyAt?: number;
}

export type TaskOutcome = { exitstatus: string; log?: string[] };

export interface Task {
  upid: string;
  node: string;
  type: string;
  id: string;
  user: string;
  starttime: number;
  pid: number;
  pstart: number;
  doneAt: number;
  log: string[];
  exitstatus?: string;
  /** Runs once when the task finishes: applies the effect and decides the exit status. */
  finish: () => TaskOutcome;
}

export interface TaskPlan {
  durationMs: number;
  /** Overrides the task's own outcome (fault injection: a failing or warning task). */
  outcome?: TaskOutcome;
}

export class Cluster {
  readonly nodes = new Map<string, { storages: Map<string, Storage>; bridges: string[] }>();
  readonly vms = new Map<number, Vm>();
  readonly tasks = new Map<string, Task>();
  /** Bytes of uploaded files by volid (tests read ISOs back). */
  readonly uploads = new Map<string, Buffer>();
  version = { version: '9.0.3', release: '9.0', repoid: 'd4c1e1a2' };
  /** Address of each node as /cluster/status reports it (corosync ring address). */
  readonly nodeIps = new Map<string, string>();
  private pidCounter = 4000;

  constructor(
    readonly now: () => number,
    nodeNames: string[],
    opts: { snippetsDirs?: Record<string, string>; shared?: SharedStorageSpec } = {},
  ) {
    const shared: Storage | undefined = opts.shared
      ? { id: opts.shared.id, type: 'nfs', content: opts.shared.content, total: 1000 * GiB, shared: true, volumes: new Map(), snippetsDir: opts.shared.snippetsDir }
      : undefined;
    for (const node of nodeNames) {
      // `local` and `local-lvm` exist on every node under the same name, but each node's are its own
      // disks: a volume on pve1's `local` does not exist on pve2's.
      this.nodes.set(node, {
        bridges: ['vmbr0'],
        storages: new Map<string, Storage>([
          ['local', { id: 'local', type: 'dir', content: ['iso', 'vztmpl', 'import', 'snippets', 'backup'], total: 100 * GiB, shared: false, volumes: new Map(), snippetsDir: opts.snippetsDirs?.[node] }],
          ['local-lvm', { id: 'local-lvm', type: 'lvmthin', content: ['images', 'rootdir'], total: 500 * GiB, shared: false, volumes: new Map() }],
          ...(shared ? [[shared.id, shared] as [string, Storage]] : []),
        ]),
      });
      this.nodeIps.set(node, '127.0.0.1');
    }
  }

  /** The reported version (`8.3.5`, `8.4.1`, `9.0.3`); features the tool uses are gated on it below. */
  setVersion(version: string): void {
    const [major, minor] = version.split('.');
    this.version = { version, release: `${major}.${minor}`, repoid: 'd4c1e1a2' };
  }

  /** The reported version is at least major.minor. */
  atLeast(major: number, minor: number): boolean {
    const [ma = 0, mi = 0] = this.version.version.split('.').map(Number);
    return ma > major || (ma === major && mi >= minor);
  }

  node(name: string): { storages: Map<string, Storage>; bridges: string[] } {
    const n = this.nodes.get(name);
    if (!n) throw fail(`hostname lookup '${name}' failed - failed to get address info for: ${name}: Name or service not known`);
    return n;
  }

  storage(node: string, id: string): Storage {
    const s = this.node(node).storages.get(id);
    if (!s) throw fail(`storage '${id}' does not exist`);
    return s;
  }

  /** The storage of a volume id (`local-lvm:vm-100-disk-0`) on a node, and the volume if it exists. */
  volume(node: string, volid: string): { storage: Storage; volume?: Volume } {
    const storeid = volid.split(':')[0] as string;
    const storage = this.storage(node, storeid);
    return { storage, volume: storage.volumes.get(volid) };
  }

  vm(node: string, vmid: number): Vm {
    this.node(node);
    const vm = this.vms.get(vmid);
    if (!vm || vm.node !== node) throw fail(`Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    return vm;
  }

  nextId(): number {
    let id = 100;
    while (this.vms.has(id)) id++;
    return id;
  }

  startTask(node: string, type: string, id: string, user: string, plan: TaskPlan, finish: () => TaskOutcome): Task {
    const starttime = Math.floor(this.now() / 1000);
    const pid = this.pidCounter++;
    const pstart = 100000 + pid;
    const hex = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');
    const upid = `UPID:${node}:${hex(pid)}:${hex(pstart)}:${hex(starttime)}:${type}:${id}:${user}:`;
    const task: Task = { upid, node, type, id, user, starttime, pid, pstart, doneAt: this.now() + plan.durationMs, log: [], finish };
    if (plan.outcome) {
      const forced = plan.outcome;
      task.finish = () => forced;
    }
    this.tasks.set(upid, task);
    return task;
  }

  /** Finish every task whose time has come. Called before each request is answered. */
  settle(): void {
    for (const task of this.tasks.values()) {
      if (task.exitstatus !== undefined || task.doneAt > this.now()) continue;
      let outcome: TaskOutcome;
      try {
        outcome = task.finish();
      } catch (e) {
        outcome = { exitstatus: (e as Error).message, log: [`TASK ERROR: ${(e as Error).message}`] };
      }
      task.log.push(...(outcome.log ?? []));
      if (outcome.exitstatus === 'OK') task.log.push('TASK OK');
      else if (/^WARNINGS: \d+$/.test(outcome.exitstatus)) task.log.push(`TASK ${outcome.exitstatus}`);
      else if (!task.log.some((l) => l.startsWith('TASK ERROR'))) task.log.push(`TASK ERROR: ${outcome.exitstatus}`);
      task.exitstatus = outcome.exitstatus;
    }
  }
}

export const GiB = 1024 ** 3;

/** Proxmox's MAC prefix for generated addresses (BC:24:11, since PVE 8). */
export function randomMac(): string {
  return ['BC', '24', '11', ...[...randomBytes(3)].map((b) => b.toString(16).toUpperCase().padStart(2, '0'))].join(':');
}

export function configDigest(config: Record<string, string>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}`)
    .join('\n');
  return createHash('sha1').update(text).digest('hex');
}
