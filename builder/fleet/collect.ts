// Ask every node of a cluster for its status API documents (:8404/status and /events), all at
// once, each bounded by a timeout: a node that does not answer in time is unreachable, and one slow
// node never holds up the view of the others.
import { httpGet } from '../../firstboot/lib/http.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { EVENTS_PATH, STATS_PORT, STATUS_PATH } from '../../firstboot/render/haproxy.js';
import type { NodeEvent, PublishedEvents, PublishedStatus } from '../../firstboot/ops/status-publish.js';
import { analyzeFleet, type FleetView } from './analyze.js';

/** Per request; the whole round takes at most about this (the nodes are asked in parallel). */
export const FLEET_TIMEOUT_MS = 2000;

export interface FleetTarget {
  name: string;
  /** The node's own address (nodes[].address without its prefix). */
  address: string;
}

export interface NodeReport extends FleetTarget {
  reachable: boolean;
  /** Why not reachable, or what was wrong with its answer. */
  error?: string;
  status?: PublishedStatus;
  events?: NodeEvent[];
  /** The node's clock when it answered (status.lua's x-ober-now), ms since the epoch. */
  nodeNow?: number;
}

export function fleetTargets(cluster: Pick<Cluster, 'nodes'>): FleetTarget[] {
  return cluster.nodes.map((n) => ({ name: n.name, address: n.address.split('/')[0] ?? n.address }));
}

export interface CollectOptions {
  timeoutMs?: number;
  port?: number;
  /** Test seam: the HTTP GET. */
  get?: typeof httpGet;
}

export async function collectFleet(targets: readonly FleetTarget[], opts: CollectOptions = {}): Promise<NodeReport[]> {
  const get = opts.get ?? httpGet;
  const timeout = opts.timeoutMs ?? FLEET_TIMEOUT_MS;
  const port = opts.port ?? STATS_PORT;
  return Promise.all(
    targets.map(async (t): Promise<NodeReport> => {
      const base = `http://${t.address}:${port}`;
      try {
        const [s, e] = await Promise.all([get(`${base}${STATUS_PATH}`, timeout), get(`${base}${EVENTS_PATH}`, timeout).catch(() => undefined)]);
        if (s.status !== 200) return { ...t, reachable: true, error: `${STATUS_PATH} answered HTTP ${s.status}: ${s.body.trim().slice(0, 200)}` };
        let status: PublishedStatus;
        try {
          status = JSON.parse(s.body) as PublishedStatus;
        } catch {
          return { ...t, reachable: true, error: `${STATUS_PATH} is not JSON: ${s.body.trim().slice(0, 200)}` };
        }
        const report: NodeReport = { ...t, reachable: true, status };
        const now = Number(s.headers['x-ober-now']);
        if (Number.isFinite(now) && now > 0) report.nodeNow = now;
        try {
          if (e?.status === 200) report.events = (JSON.parse(e.body) as PublishedEvents).events;
        } catch {
          /* a status without its events is still the status */
        }
        return report;
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        return { ...t, reachable: false, error: e.code ? `${e.code} (${e.message})` : e.message };
      }
    }),
  );
}

/** Ask every node of the cluster and analyze the answers. */
export async function fleetSnapshot(cluster: Pick<Cluster, 'name' | 'mode' | 'vips' | 'nodes'>, timeoutMs = FLEET_TIMEOUT_MS): Promise<FleetView> {
  return analyzeFleet(cluster, await collectFleet(fleetTargets(cluster), { timeoutMs }), new Date());
}
