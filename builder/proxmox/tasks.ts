// Proxmox worker tasks: most changing calls answer at once with a UPID while a worker does the
// work. A task is done when its status is `stopped`; its `exitstatus` is `OK`, `WARNINGS: n`
// (done, with warnings in the log), or the error message. A failed task's log says why.
import { ProxmoxError } from './errors.js';

export interface Upid {
  raw: string;
  node: string;
  type: string;
  /** The object the task works on, usually the VMID; may be empty. */
  id: string;
  user: string;
  starttime: number;
}

/** `UPID:node:pid:pstart:starttime:type:id:user:` (pid, pstart, starttime in hex). */
export function parseUpid(raw: string): Upid {
  const m = /^UPID:([a-zA-Z0-9][a-zA-Z0-9-]*):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.exec(raw);
  if (!m) throw new ProxmoxError(`the server returned '${raw}' where a task id (UPID) was expected`, 'server');
  return { raw, node: m[1] as string, type: m[5] as string, id: m[6] as string, user: m[7] as string, starttime: parseInt(m[4] as string, 16) };
}

export interface TaskStatus {
  status: 'running' | 'stopped';
  exitstatus?: string;
}

export interface TaskLogLine {
  n: number;
  t: string;
}

/** The calls task handling needs (implemented by ProxmoxApi). */
export interface TaskCalls {
  taskStatus(node: string, upid: string): Promise<TaskStatus>;
  taskLog(node: string, upid: string, start?: number, limit?: number): Promise<TaskLogLine[]>;
}

export interface TaskResult {
  upid: Upid;
  exitstatus: string;
  /** Log lines of a `WARNINGS: n` task that carry the warnings. */
  warnings: string[];
}

export interface WaitOptions {
  pollMs?: number;
  timeoutMs?: number;
}

const LOG_TAIL = 20;
const LOG_FETCH_LIMIT = 1000;

export function taskSucceeded(exitstatus: string): boolean {
  return exitstatus === 'OK' || /^WARNINGS: \d+$/.test(exitstatus);
}

export class TaskRunner {
  constructor(
    private readonly calls: TaskCalls,
    private readonly defaults: Required<WaitOptions> = { pollMs: 1000, timeoutMs: 30 * 60 * 1000 },
  ) {}

  /** Poll until the task stops; throws a `task` ProxmoxError with the log tail when it failed. */
  async wait(upidText: string, opts: WaitOptions = {}): Promise<TaskResult> {
    const upid = parseUpid(upidText);
    const { pollMs, timeoutMs } = { ...this.defaults, ...opts };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.calls.taskStatus(upid.node, upid.raw);
      if (status.status === 'stopped') {
        const exitstatus = status.exitstatus ?? 'unknown exit status';
        if (exitstatus === 'OK') return { upid, exitstatus, warnings: [] };
        const log = await this.log(upid);
        if (taskSucceeded(exitstatus)) return { upid, exitstatus, warnings: log.filter((l) => /^WARN/i.test(l)) };
        const tail = log.slice(-LOG_TAIL);
        throw new ProxmoxError(
          `task ${upid.type}${upid.id ? ` ${upid.id}` : ''} on node ${upid.node} failed: ${exitstatus}\n` +
            `  task log (${upid.raw}):\n${tail.map((l) => `    ${l}`).join('\n')}`,
          'task',
          {},
          {},
          tail,
        );
      }
      if (Date.now() > deadline) {
        throw new ProxmoxError(
          `task ${upid.type} ${upid.id} on node ${upid.node} still running after ${Math.round(timeoutMs / 1000)} s (${upid.raw}); ` +
            `it continues on the server: check it in the task list before retrying`,
          'timeout',
        );
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  private async log(upid: Upid): Promise<string[]> {
    const lines = await this.calls.taskLog(upid.node, upid.raw, 0, LOG_FETCH_LIMIT);
    return lines.map((l) => l.t);
  }
}
