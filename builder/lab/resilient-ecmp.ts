// The lab router's forwarding the way the README asks of a production router in BGP mode:
// resilient next-hop groups, so a node that comes or goes moves only its own flows. FRR 8.4
// programs plain (hash-threshold) ECMP for BGP routes, which also moves flows between the nodes
// that stay, and it does not drive resilient groups (lab note 9). So this mirrors each VIP route
// zebra installs in the main table into a table of its own as a kernel resilient group, and the
// client's traffic is routed by that table (`ip rule iif <client link>`); the drill's route watch
// reads that table too, so its fault and repair times are when the client's forwarding changed.
//
// Zebra adopts kernel nexthop objects it did not make and re-installs one that is deleted (lab
// note 9): these ids stay far above zebra's, and nothing is deleted while zebra runs — a group is
// replaced with its new members, a VIP without nodes loses only its route.
import { createInterface } from 'node:readline';
import type { Lab, LabProcess } from './netns.js';
import { routeGateways } from './watch.js';

export interface ResilientEcmpOptions {
  ns: string;
  /** The router's link towards the clients: its traffic to the VIPs is routed by `table`. */
  clientIf: string;
  /** The router's link towards the nodes (the next hops' device). */
  lanIf: string;
  vips: readonly string[];
  table: number;
  /** Hash buckets per group: flows move only in the buckets of the next hop that came or went. */
  buckets: number;
  /** A bucket moves to a returning next hop only after this long without a packet. */
  idleTimerSec: number;
  /** 0: a group may stay unbalanced (a returning node fills up as buckets go idle, never by force). */
  unbalancedTimerSec: number;
}

/** Nexthop ids far above zebra's own (it counts up from a few dozen). */
const NEXTHOP_ID_BASE = 1_000_000;
const GROUP_ID_BASE = 2_000_000;
/** Backstop for a missed `ip monitor` event. */
const POLL_MS = 500;

export class ResilientEcmp {
  private readonly nexthopIds = new Map<string, number>();
  private readonly programmed = new Map<string, string>();
  private proc?: LabProcess;
  private poller?: NodeJS.Timeout;
  private queue: Promise<void> = Promise.resolve();
  /** Every change applied, with its time: what the drill report can show. */
  readonly changes: { t: number; vip: string; via: string[] }[] = [];

  constructor(
    private readonly lab: Lab,
    private readonly o: ResilientEcmpOptions,
  ) {}

  /** The table the client's traffic to the VIPs is routed by. */
  get table(): number {
    return this.o.table;
  }

  async start(): Promise<LabProcess> {
    const { ns, clientIf, table } = this.o;
    await this.lab.exec(ns, ['ip', 'rule', 'add', 'iif', clientIf, 'lookup', String(table), 'pref', '100']);
    this.proc = this.lab.spawn(ns, 'rtr-resilient-ecmp', ['ip', '-o', 'monitor', 'route'], { stdout: 'pipe', essential: true });
    if (this.proc.child.stdout) createInterface({ input: this.proc.child.stdout }).on('line', (l) => {
      if (this.o.vips.some((v) => l.includes(`${v} `))) this.sync();
    });
    this.sync();
    await this.queue;
    this.poller = setInterval(() => this.sync(), POLL_MS);
    this.poller.unref();
    return this.proc;
  }

  stop(): void {
    if (this.poller) clearInterval(this.poller);
    this.proc?.child.kill('SIGTERM');
  }

  /** Resolves once every change seen so far is programmed. */
  settled(): Promise<void> {
    return this.queue;
  }

  private sync(): void {
    this.queue = this.queue.then(() => this.syncNow()).catch((e: unknown) => {
      console.error(`resilient ECMP: ${e instanceof Error ? e.message : String(e)}`);
    });
  }

  private async syncNow(): Promise<void> {
    for (const [i, vip] of this.o.vips.entries()) {
      const via = await routeGateways(this.lab, this.o.ns, vip);
      if (!via || this.programmed.get(vip) === via.join()) continue;
      await this.program(i, vip, via);
      this.programmed.set(vip, via.join());
      this.changes.push({ t: Date.now(), vip, via });
    }
  }

  private async program(index: number, vip: string, via: string[]): Promise<void> {
    const { ns, lanIf, table } = this.o;
    const ip = (args: string[]) => this.lab.exec(ns, ['ip', ...args]);
    if (!via.length) {
      await this.lab.exec(ns, ['ip', 'route', 'del', `${vip}/32`, 'table', String(table)], { allowFailure: true });
      return;
    }
    const ids: number[] = [];
    for (const gw of via) {
      let id = this.nexthopIds.get(gw);
      if (id === undefined) {
        id = NEXTHOP_ID_BASE + this.nexthopIds.size;
        await ip(['nexthop', 'replace', 'id', String(id), 'via', gw, 'dev', lanIf]);
        this.nexthopIds.set(gw, id);
      }
      ids.push(id);
    }
    const group = String(GROUP_ID_BASE + index);
    await ip([
      'nexthop', 'replace', 'id', group, 'group', ids.join('/'), 'type', 'resilient',
      'buckets', String(this.o.buckets), 'idle_timer', String(this.o.idleTimerSec), 'unbalanced_timer', String(this.o.unbalancedTimerSec),
    ]);
    await ip(['route', 'replace', `${vip}/32`, 'nhid', group, 'table', String(table)]);
  }
}
