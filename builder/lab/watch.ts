// What the lab observes, with times on the lab's clock:
//   RouteWatch   — the router's FIB for each VIP (`ip -o monitor route` events, state from `ip -j route`)
//   AddressWatch — which node holds which keepalived VIP (`ip -o monitor address` in every node)
//   Prober       — the client's requests (apps.ts PROBER_JS)
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { PROBER_JS, type ProbeRecord } from './apps.js';
import type { Lab, LabProcess } from './netns.js';
import { sleep } from './netns.js';

function lines(child: ChildProcess, onLine: (l: string) => void): void {
  if (!child.stdout) return;
  createInterface({ input: child.stdout }).on('line', onLine);
}

/**
 * A client program in a namespace that prints one JSON record per line (the prober, the S3
 * workloads): started with a stdin pipe, so closing it asks the program to finish.
 */
export function spawnRecorder<T>(lab: Lab, ns: string, name: string, argv: readonly string[], records: T[]): LabProcess {
  const proc = lab.spawn(ns, name, argv, { stdout: 'pipe', stdin: 'pipe' });
  lines(proc.child, (l) => {
    try {
      records.push(JSON.parse(l) as T);
    } catch {
      /* partial line at exit */
    }
  });
  return proc;
}

export interface RouteState {
  t: number;
  vip: string;
  /** Gateways of the route (the nodes the router sends this VIP to); empty = no route. */
  via: string[];
}

/** Waits on a changing state: resolves with the time of the first state satisfying `pred`. */
async function waitUntil<T extends { t: number }>(history: () => T | undefined, pred: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return history()?.t ?? Date.now();
}

/**
 * The gateways of a host route in a namespace's routing table, sorted (`ip -j route`: one gateway,
 * or a multipath route's next hops, a nexthop group's included); [] when there is no route,
 * undefined when `ip` said nothing usable.
 */
export async function routeGateways(lab: Lab, ns: string, address: string, table: string | number = 'main'): Promise<string[] | undefined> {
  const r = await lab.exec(ns, ['ip', '-j', 'route', 'show', 'table', String(table), `${address}/32`], { allowFailure: true });
  let routes: { gateway?: string; nexthops?: { gateway?: string }[] }[];
  try {
    routes = JSON.parse(r.stdout || '[]') as typeof routes;
  } catch {
    return undefined;
  }
  return routes
    .flatMap((x) => (x.nexthops ? x.nexthops.map((n) => n.gateway ?? '') : [x.gateway ?? '']))
    .filter(Boolean)
    .sort();
}

export class RouteWatch {
  readonly history: RouteState[] = [];
  private readonly state = new Map<string, RouteState>();
  private proc?: LabProcess;
  private poller?: NodeJS.Timeout;
  private lastChange?: RouteState;

  constructor(
    private readonly lab: Lab,
    private readonly ns: string,
    private readonly vips: readonly string[],
    /** The table that forwards the client's traffic (the resilient forwarding's own, when the lab has it). */
    private readonly table: string | number = 'main',
  ) {}

  async start(): Promise<void> {
    // Another table than main is the resilient forwarding's: its routes point at nexthop groups
    // whose members change without a route event, so nexthop events count too.
    const objects = this.table === 'main' ? ['route'] : ['route', 'nexthop'];
    this.proc = this.lab.spawn(this.ns, 'rtr-monitor-route', ['ip', '-o', 'monitor', ...objects], { stdout: 'pipe' });
    lines(this.proc.child, (l) => {
      const t = Date.now();
      const group = this.table !== 'main' && /\bgroup\b/.test(l);
      for (const v of this.vips) if (group || l.includes(`${v} `)) void this.refresh(v, t);
    });
    for (const v of this.vips) await this.refresh(v, Date.now());
    // Backstop for a missed event; event times stay the precise ones.
    this.poller = setInterval(() => {
      for (const v of this.vips) void this.refresh(v, Date.now());
    }, 500);
  }

  stop(): void {
    if (this.poller) clearInterval(this.poller);
    this.proc?.child.kill('SIGTERM');
  }

  private async refresh(vip: string, t: number): Promise<void> {
    const via = await routeGateways(this.lab, this.ns, vip, this.table);
    if (!via) return;
    const prev = this.state.get(vip);
    if (prev && prev.via.join() === via.join()) return;
    // A slow refresh must not overwrite a newer one.
    if (prev && prev.t > t) return;
    const s = { t, vip, via };
    this.state.set(vip, s);
    this.history.push(s);
    this.lastChange = s;
  }

  via(vip: string): string[] {
    return this.state.get(vip)?.via ?? [];
  }

  /** Time of the route change that made `pred` true (for every VIP). */
  waitAll(pred: (via: string[], vip: string) => boolean, timeoutMs: number, what: string): Promise<number> {
    return waitUntil(
      () => this.lastChange,
      () => this.vips.every((v) => pred(this.via(v), v)),
      timeoutMs,
      what,
    );
  }
}

export interface AddressEvent {
  t: number;
  node: string;
  vip: string;
  added: boolean;
}

/** An address event on a VIP → holders map. */
function applyEvent(holders: Map<string, Set<string>>, e: AddressEvent): void {
  if (e.added) holders.get(e.vip)?.add(e.node);
  else holders.get(e.vip)?.delete(e.node);
}

export class AddressWatch {
  readonly events: AddressEvent[] = [];
  private readonly holders = new Map<string, Set<string>>();
  private readonly procs: LabProcess[] = [];

  constructor(
    private readonly lab: Lab,
    private readonly nodes: readonly { name: string; ns: string }[],
    private readonly vips: readonly string[],
  ) {
    for (const v of vips) this.holders.set(v, new Set());
  }

  async start(): Promise<void> {
    for (const n of this.nodes) {
      const p = this.lab.spawn(n.ns, `${n.name}-monitor-address`, ['ip', '-o', '-4', 'monitor', 'address'], { stdout: 'pipe' });
      this.procs.push(p);
      lines(p.child, (l) => {
        const m = /inet (\d+\.\d+\.\d+\.\d+)\/32/.exec(l);
        const vip = m?.[1];
        if (!vip || !this.vips.includes(vip)) return;
        this.apply({ t: Date.now(), node: n.name, vip, added: !l.startsWith('Deleted') });
      });
    }
    await this.resync();
  }

  /** Re-read the truth from every node (after a burst, or to check the final state). */
  async resync(): Promise<void> {
    const truth = new Map<string, Set<string>>(this.vips.map((v) => [v, new Set()]));
    const seen = this.events.length;
    for (const n of this.nodes) {
      const r = await this.lab.exec(n.ns, ['ip', '-j', '-4', 'addr', 'show'], { allowFailure: true });
      const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[];
      for (const a of links.flatMap((l) => l.addr_info ?? [])) if (a.local && truth.has(a.local)) truth.get(a.local)?.add(n.name);
    }
    // The snapshot is read node by node while events keep arriving: an event seen during the read
    // may be newer than that node's snapshot (a VRRP flap at start). Replaying them in order on top
    // is exact, because per node and VIP the last event wins and it is never older than the read.
    for (const e of this.events.slice(seen)) applyEvent(truth, e);
    for (const [v, s] of truth) this.holders.set(v, s);
  }

  private apply(e: AddressEvent): void {
    this.events.push(e);
    applyEvent(this.holders, e);
  }

  holdersOf(vip: string): string[] {
    return [...(this.holders.get(vip) ?? [])].sort();
  }

  stop(): void {
    for (const p of this.procs) p.child.kill('SIGTERM');
  }

  /** Time of the address event that made `pred` true. */
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<number> {
    return waitUntil(() => this.events[this.events.length - 1], pred, timeoutMs, what);
  }
}

export interface ProbeOptions {
  intervalMs: number;
  timeoutMs: number;
  durationMs: number;
  port: number;
  /** Request path (default /probe); `?delay=MS` makes the backend hold the answer. */
  path?: string;
}

export class Prober {
  readonly records: ProbeRecord[] = [];
  private proc?: LabProcess;

  constructor(
    private readonly lab: Lab,
    private readonly ns: string,
    private readonly targets: readonly string[],
    private readonly opts: ProbeOptions,
  ) {}

  start(): void {
    this.proc = spawnRecorder(this.lab, this.ns, 'client-prober', [process.execPath, '-e', PROBER_JS, JSON.stringify({ ...this.opts, targets: this.targets })], this.records);
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    this.proc.child.stdin?.end();
    await Promise.race([this.proc.exited, sleep(this.opts.timeoutMs + 1000)]);
    if (this.proc.alive()) this.proc.child.kill('SIGKILL');
  }
}
