// Fault injection for tests, in-process (never over HTTP): each fault matches requests or tasks
// and fires a given number of times.
import type { TaskOutcome, TaskPlan } from './state.js';

export interface RequestMatch {
  method?: string;
  /** The request path below /api2/json (e.g. `/nodes/pve1/qemu`), exact string or pattern. */
  path?: string | RegExp;
}

export type RequestFaultKind = 'drop' | 'deny' | 'proxy-timeout';

interface Counted {
  remaining: number;
}

export class Faults {
  private readonly requestFaults: (Counted & { kind: RequestFaultKind; match: RequestMatch })[] = [];
  private readonly taskFaults: (Counted & { type?: string; plan: Partial<TaskPlan> })[] = [];
  private readonly vmLocks = new Map<number, Counted & { message: string }>();
  private readonly cloneLocks: (Counted & { which: 'source' | 'target' })[] = [];
  private cloneRaces = 0;

  /** Close the connection without an answer, as a crashed proxy or a network cut does. */
  dropConnection(match: RequestMatch = {}, times = 1): void {
    this.requestFaults.push({ kind: 'drop', match, remaining: times });
  }

  /** Answer 403 with Proxmox's message naming the path and privilege the schema requires. */
  denyPermission(match: RequestMatch = {}, times = Infinity): void {
    this.requestFaults.push({ kind: 'deny', match, remaining: times });
  }

  /** Perform the call but answer as pveproxy does when a synchronous call outlives its timeout. */
  proxyTimeout(match: RequestMatch = {}, times = 1): void {
    this.requestFaults.push({ kind: 'proxy-timeout', match, remaining: times });
  }

  /** The VM is locked (e.g. by a backup) for the next `requests` calls that need its lock. */
  lockVm(vmid: number, lock: string, requests: number): void {
    this.vmLocks.set(vmid, { message: `VM is locked (${lock})`, remaining: requests });
  }

  /** flock on the VM's config file times out (another worker holds it) for the next `requests` calls. */
  configLockTimeout(vmid: number, requests: number): void {
    this.vmLocks.set(vmid, { message: `can't lock file '/var/lock/qemu-server/lock-${vmid}.conf' - got timeout`, remaining: requests });
  }

  /**
   * The clone worker cannot take its lock within 1 s (qemu-server's lock_config_shared on the source
   * / lock_config_full on the new VMID): the next `times` clone tasks end in error.
   */
  cloneLockTimeout(which: 'source' | 'target' = 'target', times = 1): void {
    this.cloneLocks.push({ which, remaining: times });
  }

  /** Another client creates a VM with the new VMID between the clone call and its worker (`times` clones). */
  raceCloneVmid(times = 1): void {
    this.cloneRaces += times;
  }

  /** The VMID whose lock times out in this clone worker, if a fault says so. */
  takeCloneLockTimeout(source: number, target: number): number | undefined {
    const f = this.cloneLocks.find((l) => l.remaining > 0);
    if (!f) return undefined;
    f.remaining--;
    return f.which === 'source' ? source : target;
  }

  takeCloneRace(): boolean {
    if (this.cloneRaces <= 0) return false;
    this.cloneRaces--;
    return true;
  }

  failTask(opts: { type?: string; message: string; log?: string[] }, times = 1): void {
    this.taskFaults.push({ type: opts.type, plan: { outcome: { exitstatus: opts.message, log: opts.log } }, remaining: times });
  }

  warnTask(opts: { type?: string; warnings: string[] }, times = 1): void {
    const outcome: TaskOutcome = { exitstatus: `WARNINGS: ${opts.warnings.length}`, log: opts.warnings.map((w) => `WARN: ${w}`) };
    this.taskFaults.push({ type: opts.type, plan: { outcome }, remaining: times });
  }

  slowTask(opts: { type?: string; durationMs: number }, times = 1): void {
    this.taskFaults.push({ type: opts.type, plan: { durationMs: opts.durationMs }, remaining: times });
  }

  takeRequestFault(method: string, path: string): RequestFaultKind | undefined {
    const f = this.requestFaults.find((f) => f.remaining > 0 && matches(f.match, method, path));
    if (!f) return undefined;
    f.remaining--;
    return f.kind;
  }

  takeTaskFault(type: string): Partial<TaskPlan> {
    const f = this.taskFaults.find((f) => f.remaining > 0 && (f.type === undefined || f.type === type));
    if (!f) return {};
    f.remaining--;
    return f.plan;
  }

  /** The message of an injected lock on this VM, consuming one of its requests. */
  takeVmLock(vmid: number): string | undefined {
    const l = this.vmLocks.get(vmid);
    if (!l || l.remaining <= 0) return undefined;
    l.remaining--;
    return l.message;
  }
}

function matches(m: RequestMatch, method: string, path: string): boolean {
  if (m.method && m.method !== method) return false;
  if (m.path === undefined) return true;
  return typeof m.path === 'string' ? m.path === path : m.path.test(path);
}
