// The lab's footprint on the host: network namespaces, processes, a scratch directory. Everything
// the lab creates is recorded here and removed by teardown(), also on failure and on SIGINT/SIGTERM.
// Nothing is created in the root namespace: veths are born inside their namespaces
// (`ip link add A netns X type veth peer name B netns Y`).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { run, type RunResult } from '../../firstboot/lib/exec.js';

/** Every lab namespace name starts with this, so leftovers are easy to find. */
export const NS_PREFIX = 'oberlab-';
/** Scratch base: root-owned, not world-writable (keepalived's script security), on tmpfs. */
export const LAB_BASE = '/run/ober-lab';

export interface LabProcess {
  name: string;
  ns: string;
  child: ChildProcess;
  pid: number;
  log: string;
  /** Resolves with the exit code or signal when the process ends. */
  exited: Promise<string>;
  alive(): boolean;
  /** The exit code or signal, once it ended. */
  exitStatus(): string | undefined;
  /** Must run for the lab's whole life (the backend, the router): its end breaks every test after it. */
  essential: boolean;
}

export class Lab {
  readonly id: string;
  readonly dir: string;
  private readonly namespaces: string[] = [];
  private readonly procs: LabProcess[] = [];
  private readonly streams: WriteStream[] = [];
  private tornDown = false;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    void this.teardown().finally(() => process.kill(process.pid, sig));
  };
  private readonly onExit = () => this.teardownSync();

  /** veths in the root namespace before the lab started (a lab must never add one). */
  readonly rootVethsBefore: string[] = rootVeths();

  constructor() {
    this.id = `${process.pid.toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
    this.dir = path.join(LAB_BASE, this.id);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    process.once('exit', this.onExit);
  }

  /** False once teardown has begun. */
  get active(): boolean {
    return !this.tornDown;
  }

  ns(role: string): string {
    return `${NS_PREFIX}${this.id}-${role}`;
  }

  async addNs(role: string): Promise<string> {
    const name = this.ns(role);
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.exec(name, ['ip', 'link', 'set', 'lo', 'up']);
    return name;
  }

  /** Run to completion inside a namespace. */
  exec(ns: string, argv: readonly string[], opts: { allowFailure?: boolean; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(['ip', 'netns', 'exec', ns, ...argv], { timeoutMs: opts.timeoutMs ?? 30_000, ...opts });
  }

  async sysctl(ns: string, settings: Record<string, string | number>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    if (args.length) await this.exec(ns, ['sysctl', '-q', '-w', ...args]);
  }

  /** A veth pair whose ends are created directly inside their namespaces. */
  async veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
    await run(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  }

  /** Start a long-running process inside a namespace, output to <dir>/logs/<name>.log. */
  spawn(ns: string, name: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'log'; essential?: boolean } = {}): LabProcess {
    const logDir = path.join(this.dir, 'logs');
    mkdirSync(logDir, { recursive: true });
    const log = path.join(logDir, `${name}.log`);
    const stream = createWriteStream(log, { flags: 'a' });
    this.streams.push(stream);
    // `ip netns exec` execs in place: the child's PID is the program's PID (lab note 15).
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      env: opts.env ?? process.env,
      stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')} in ${ns}`);
    if (opts.stdout !== 'pipe') child.stdout?.pipe(stream, { end: false });
    child.stderr?.pipe(stream, { end: false });
    let code: string | undefined;
    const exited = new Promise<string>((resolve) =>
      child.on('exit', (c, s) => {
        code = s ?? String(c);
        resolve(code);
      }),
    );
    const p: LabProcess = { name, ns, child, pid: child.pid, log, exited, alive: () => code === undefined, exitStatus: () => code, essential: opts.essential ?? false };
    this.procs.push(p);
    return p;
  }

  processes(): readonly LabProcess[] {
    return this.procs;
  }

  /**
   * Essential processes that ended while the lab runs, each with its exit status and the end of its
   * log: when every request fails on every node, this says whether the lab itself broke.
   */
  essentialsDown(): string[] {
    if (this.tornDown) return [];
    return this.procs
      .filter((p) => p.essential && !p.alive())
      .map((p) => {
        let tail = '';
        try {
          tail = readFileSync(p.log, 'utf8').trimEnd().split('\n').slice(-8).join(' | ');
        } catch {
          /* no log */
        }
        return `lab process ${p.name} (${p.pid}) ended (${p.exitStatus() ?? '?'})${tail ? `; its log ends: ${tail}` : ''}`;
      });
  }

  /** PIDs of every process inside our namespaces (daemons' children included). */
  async pidsInNamespaces(): Promise<number[]> {
    const pids: number[] = [];
    for (const ns of this.namespaces) {
      const r = await run(['ip', 'netns', 'pids', ns], { allowFailure: true });
      pids.push(...r.stdout.split('\n').filter(Boolean).map(Number));
    }
    return pids;
  }

  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    // Processes we started, then whatever they started inside our namespaces: by PID only.
    const pids = new Set<number>([...this.procs.filter((p) => p.alive()).map((p) => p.pid), ...(await this.pidsInNamespaces())]);
    for (const pid of pids) signal(pid, 'SIGCONT');
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + 2000;
    while ([...pids].some(isAlive) && Date.now() < deadline) await sleep(50);
    for (const pid of pids) if (isAlive(pid)) signal(pid, 'SIGKILL');
    // A second sweep: children forked during the first one.
    for (const pid of await this.pidsInNamespaces()) signal(pid, 'SIGKILL');
    await Promise.race([Promise.all(this.procs.map((p) => p.exited)), sleep(2000)]);
    for (const ns of this.namespaces.splice(0)) await run(['ip', 'netns', 'del', ns], { allowFailure: true });
    for (const s of this.streams) s.end();
    if (!process.env.OBER_LAB_KEEP) rmSync(this.dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }

  /** Last resort on process exit (no async possible): kill and delete synchronously. */
  private teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const ns of this.namespaces) {
      try {
        const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
        for (const pid of out.split('\n').filter(Boolean).map(Number)) signal(pid, 'SIGKILL');
      } catch {
        /* namespace gone */
      }
    }
    for (const p of this.procs) if (p.alive()) signal(p.pid, 'SIGKILL');
    for (const ns of this.namespaces) {
      try {
        execFileSync('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function rootVeths(): string[] {
  try {
    const out = execFileSync('ip', ['-o', 'link', 'show', 'type', 'veth'], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? '')
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** What a lab left behind: namespaces, veths in the root namespace, processes, its directory. */
export async function labLeftovers(lab?: Lab): Promise<{ namespaces: string[]; veths: string[]; processes: string[]; dir: boolean }> {
  const r = await run(['ip', 'netns', 'list'], { allowFailure: true });
  const prefix = lab ? lab.ns('') : NS_PREFIX;
  const namespaces = r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
  const processes = lab ? lab.processes().filter((p) => isAlive(p.pid) && p.alive()).map((p) => `${p.name} (${p.pid})`) : [];
  const before = new Set(lab?.rootVethsBefore ?? []);
  const veths = lab ? rootVeths().filter((v) => !before.has(v)) : [];
  return { namespaces, veths, processes, dir: lab ? existsSync(lab.dir) : false };
}

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
