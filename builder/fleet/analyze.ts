// The fleet view: one row per node from its own status, and what no single node can see — a VIP
// held by two nodes or by none, two VRRP MASTERs for one VRID, nodes on different versions, a
// node that does not answer or whose status stopped being published. Pure: the reports and the
// time come in.
import type { NodeEvent } from '../../firstboot/ops/status-publish.js';
import type { NodeReport } from './collect.js';

export type FlagKind = 'unreachable' | 'stale' | 'unhealthy' | 'vip-on-two' | 'vip-on-none' | 'two-masters' | 'vrrp-mismatch' | 'version-skew';

export interface FleetFlag {
  kind: FlagKind;
  /** True for the flags that mean a split brain (one VIP owned twice). */
  splitBrain: boolean;
  message: string;
  nodes: string[];
  vip?: string;
}

export interface FleetRow {
  node: string;
  address: string;
  reachable: boolean;
  error?: string;
  healthy?: boolean;
  imageVersion?: string;
  oberVersion?: string;
  firstboot?: string;
  haproxy?: 'up' | 'down';
  backendsUp?: number;
  backendsTotal?: number;
  /** VIPs this node holds (keepalived) or announces (BGP). */
  vips: string[];
  bgp?: { established: number; total: number };
  bfd?: { up: number; total: number };
  /** VIP name → VRRP state (keepalived). */
  vrrp?: Record<string, string>;
  problems: string[];
  publishedAt?: string;
  /** Age of the published status when the node answered, ms (by the node's own clock). */
  ageMs?: number;
}

export interface FleetVip {
  name: string;
  address: string;
  vrid?: number;
  /** Nodes that hold (keepalived) or announce (BGP) it. */
  holders: string[];
  masters: string[];
}

export interface FleetEvent extends NodeEvent {
  node: string;
}

export interface FleetView {
  cluster: string;
  mode: string;
  at: string;
  ok: boolean;
  splitBrain: boolean;
  nodes: FleetRow[];
  vips: FleetVip[];
  flags: FleetFlag[];
  /** Every node's recent events, oldest first. */
  events: FleetEvent[];
}

/** A status older than this many publish intervals (and at least STALE_MIN_MS) is stale. */
export const STALE_INTERVALS = 5;
export const STALE_MIN_MS = 5000;
export const FLEET_EVENTS = 100;

export function analyzeFleet(cluster: { name: string; mode: string; vips: readonly { name: string; address: string }[] }, reports: readonly NodeReport[], now: Date, maxEvents = FLEET_EVENTS): FleetView {
  const flags: FleetFlag[] = [];
  const flag = (kind: FlagKind, message: string, nodes: string[], vip?: string) =>
    flags.push({ kind, splitBrain: kind === 'vip-on-two' || kind === 'two-masters', message, nodes, ...(vip ? { vip } : {}) });
  const bgp = cluster.mode === 'bgp';

  const rows: FleetRow[] = reports.map((r) => {
    const s = r.status;
    const row: FleetRow = { node: r.name, address: r.address, reachable: r.reachable && !!s, vips: [], problems: s?.problems ?? [] };
    if (r.error) row.error = r.error;
    if (!s) {
      flag('unreachable', `${r.name} (${r.address}) ${r.reachable ? 'answers, but' : 'is unreachable'}: ${r.error ?? 'no status'}`, [r.name]);
      return row;
    }
    row.healthy = s.healthy;
    if (s.imageVersion) row.imageVersion = s.imageVersion;
    if (s.oberVersion) row.oberVersion = s.oberVersion;
    if (s.firstboot) row.firstboot = s.firstboot.result;
    row.haproxy = s.haproxy.up ? 'up' : 'down';
    row.backendsTotal = s.backends.length;
    row.backendsUp = s.backends.filter((b) => b.status.startsWith('UP')).length;
    row.vips = s.vips.filter((v) => (bgp ? v.announced : v.heldHere)).map((v) => v.name);
    if (s.bgp) row.bgp = { established: s.bgp.filter((b) => b.established).length, total: s.bgp.length };
    if (s.bfd) row.bfd = { up: s.bfd.filter((b) => b.state === 'Up').length, total: s.bfd.length };
    if (!bgp) row.vrrp = Object.fromEntries(s.vips.map((v) => [v.name, v.vrrpState ?? '?']));
    row.publishedAt = s.publishedAt;
    const age = (r.nodeNow ?? now.getTime()) - Date.parse(s.publishedAt);
    row.ageMs = Math.max(0, age);
    const bound = Math.max(STALE_MIN_MS, STALE_INTERVALS * (s.intervalMs || 1000));
    if (age > bound) flag('stale', `${r.name}: its status was published ${(age / 1000).toFixed(1)} s ago (ober-status.service not running?)`, [r.name]);
    if (!s.healthy) flag('unhealthy', `${r.name} reports: ${s.problems.join('; ') || 'not healthy'}`, [r.name]);
    return row;
  });

  const live = reports.filter((r) => r.status);
  const vips: FleetVip[] = cluster.vips.map((v) => {
    const entries = live.map((r) => ({ node: r.name, v: r.status?.vips.find((x) => x.name === v.name) }));
    const vrid = entries.find((e) => e.v?.vrid !== undefined)?.v?.vrid;
    return {
      name: v.name,
      address: v.address,
      ...(vrid !== undefined ? { vrid } : {}),
      holders: entries.filter((e) => (bgp ? e.v?.announced : e.v?.heldHere)).map((e) => e.node),
      masters: entries.filter((e) => e.v?.vrrpState === 'MASTER').map((e) => e.node),
    };
  });
  if (live.length) {
    for (const v of vips) {
      // BGP: every healthy node announces every VIP (ECMP); only "nobody" is wrong there.
      if (!bgp && v.holders.length > 1) flag('vip-on-two', `split brain: VIP ${v.name} (${v.address}) is held by ${v.holders.join(' and ')}`, v.holders, v.name);
      if (v.holders.length === 0) flag('vip-on-none', `VIP ${v.name} (${v.address}) is ${bgp ? 'announced' : 'held'} by no reachable node`, [], v.name);
      // keepalived: the address on a node and its VRRP state disagree. A stray address (keepalived
      // killed without releasing it) attracts traffic VRRP no longer accounts for; a MASTER without
      // the address serves nothing. Also seen for the moment between keepalived adding the address
      // and its notify script recording MASTER, so a hand-over in progress shows here briefly.
      if (!bgp) {
        const heldNotMaster = v.holders.filter((n) => !v.masters.includes(n));
        const masterNotHeld = v.masters.filter((n) => !v.holders.includes(n));
        if (heldNotMaster.length) flag('vrrp-mismatch', `VIP ${v.name} (${v.address}) is on ${heldNotMaster.join(' and ')} without VRRP MASTER there (a stray address, or a hand-over in progress)`, heldNotMaster, v.name);
        if (masterNotHeld.length) flag('vrrp-mismatch', `VIP ${v.name} (${v.address}): ${masterNotHeld.join(' and ')} ${masterNotHeld.length > 1 ? 'are' : 'is'} VRRP MASTER without the address on the interface (or a hand-over in progress)`, masterNotHeld, v.name);
      }
    }
    // Two MASTERs of one VRID: by VRID, so two VIPs configured with one VRID show too.
    const byVrid = new Map<number, Set<string>>();
    for (const r of live) for (const v of r.status?.vips ?? []) if (v.vrid !== undefined && v.vrrpState === 'MASTER') byVrid.set(v.vrid, (byVrid.get(v.vrid) ?? new Set()).add(r.name));
    for (const [vrid, nodes] of [...byVrid].sort((a, b) => a[0] - b[0])) {
      if (nodes.size > 1) flag('two-masters', `split brain: VRID ${vrid} has ${nodes.size} MASTERs: ${[...nodes].join(' and ')}`, [...nodes], vips.find((v) => v.vrid === vrid)?.name);
    }
    const versions = new Map<string, string[]>();
    for (const r of live) {
      const key = `image ${r.status?.imageVersion ?? '?'}, ober ${r.status?.oberVersion ?? '?'}`;
      versions.set(key, [...(versions.get(key) ?? []), r.name]);
    }
    if (versions.size > 1) flag('version-skew', `version skew: ${[...versions].map(([k, n]) => `${n.join(', ')} on ${k}`).join('; ')}`, live.map((r) => r.name));
  }

  const events = reports
    .flatMap((r) => (r.events ?? []).map((e) => ({ ...e, node: r.name })))
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.node < b.node ? -1 : 1))
    .slice(-maxEvents);
  return {
    cluster: cluster.name,
    mode: cluster.mode,
    at: now.toISOString(),
    ok: flags.length === 0,
    splitBrain: flags.some((f) => f.splitBrain),
    nodes: rows,
    vips,
    flags,
    events,
  };
}
