// What this node is doing, collected from the node itself: the document of `ober status --json`,
// which `ober status --publish` also writes for the node status API (:8404/status).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readRecord, type FirstbootRecord } from '../boot/status-record.js';
import { readNodeConfig } from '../health/node-config.js';
import { run } from '../lib/exec.js';
import { httpGet } from '../lib/http.js';
import { ipv4Addresses } from '../lib/ip.js';
import type { NodeConfig } from '../model/derive.js';
import { describeWeakening, weakenings } from '../model/hardening.js';
import type { Layout } from '../model/layout.js';
import { STATS_PORT, vipHealthPath } from '../render/haproxy.js';
import { vrrpInstanceName } from '../render/keepalived.js';

export interface NodeStatus {
  healthy: boolean;
  problems: string[];
  /** Doubtful choices that do not make the node unhealthy, such as hardening weakened on purpose. */
  warnings: string[];
  node?: string;
  cluster?: string;
  mode?: string;
  imageVersion?: string;
  firstboot?: FirstbootRecord & { thisBoot: boolean };
  maintenance: boolean;
  haproxy: { up: boolean; health?: number };
  vips: { name: string; address: string; backendUp: boolean; heldHere: boolean; vrid?: number; vrrpState?: string; announced?: boolean }[];
  bgp?: { neighbor: string; established: boolean }[];
  bfd?: { neighbor: string; state: string }[];
  backends: { backend: string; server: string; status: string }[];
}

const PROBE_TIMEOUT_MS = 500;

export async function collectStatus(layout: Layout): Promise<NodeStatus> {
  const problems: string[] = [];
  const record = await readRecord(layout);
  const status: NodeStatus = { healthy: false, problems, warnings: [], maintenance: existsSync(layout.maintenanceFlag), haproxy: { up: false }, vips: [], backends: [] };
  if (record) status.firstboot = record;
  if (record?.imageVersion) status.imageVersion = record.imageVersion;
  if (!record) problems.push('first boot has not run (no status record)');
  else if (!record.ok) problems.push(`first boot failed: ${record.error?.message.split('\n')[0] ?? 'unknown'}`);

  let node: NodeConfig | undefined;
  try {
    node = readNodeConfig(layout);
  } catch (e) {
    problems.push(`no usable rendered configuration: ${(e as Error).message.split('\n').join(' ')}`);
  }
  if (!node) return status;
  status.node = node.node.name;
  status.cluster = node.cluster;
  status.mode = node.mode;
  // Read from what was rendered, not from the record: it holds while the release is installed.
  status.warnings.push(...weakenings(node.sysctl ?? []).map((w) => `${describeWeakening(w)}; allowed by allowWeakening`));

  const base = `http://127.0.0.1:${STATS_PORT}`;
  const health = await httpGet(`${base}/health`, PROBE_TIMEOUT_MS).catch(() => undefined);
  status.haproxy = { up: health !== undefined, ...(health ? { health: health.status } : {}) };
  if (!health) problems.push(`HAProxy does not answer on :${STATS_PORT}`);
  else if (health.status !== 200) problems.push('HAProxy reports no backend server up');

  const csv = await httpGet(`${base}/stats;csv`, PROBE_TIMEOUT_MS).catch(() => undefined);
  if (csv?.status === 200) status.backends = parseStatsCsv(csv.body);

  const held = await ipv4Addresses();
  const established = node.bgp ? await establishedBgpPeers() : new Set<string>();
  for (const v of node.vips) {
    const r = await httpGet(`${base}${vipHealthPath(v.name)}`, PROBE_TIMEOUT_MS).catch(() => undefined);
    const entry: NodeStatus['vips'][number] = { name: v.name, address: v.address, backendUp: r?.status === 200, heldHere: held.has(v.address) };
    if (v.vrrp) entry.vrid = v.vrrp.vrid;
    if (node.keepalived) {
      const state = await readFile(path.join(layout.vrrpStateDir, vrrpInstanceName(v.name)), 'utf8').catch(() => undefined);
      if (state) entry.vrrpState = state.split(' ')[0];
    }
    if (node.bgp) entry.announced = entry.backendUp && !status.maintenance && established.size > 0;
    status.vips.push(entry);
  }
  if (node.bgp) {
    status.bgp = node.bgp.neighbors.map((n) => ({ neighbor: n.address, established: established.has(n.address) }));
    if (!status.bgp.some((b) => b.established)) problems.push('no BGP session is established');
    if (node.bgp.bfd.enabled) status.bfd = await bfdSessions(layout);
  }
  if (status.maintenance) problems.push('in maintenance (ober stop): VIPs withdrawn or handed over');
  status.healthy = problems.length === 0;
  return status;
}

/** HAProxy `show stat` CSV → server rows of our backends. */
export function parseStatsCsv(text: string): NodeStatus['backends'] {
  const lines = text.split('\n').filter(Boolean);
  const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
  const col = (n: string) => header.indexOf(n);
  const [px, sv, st] = [col('pxname'), col('svname'), col('status')];
  return lines
    .map((l) => l.split(','))
    .filter((f) => f[px]?.startsWith('be_') && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND')
    .map((f) => ({ backend: (f[px] ?? '').slice(3), server: f[sv] ?? '', status: f[st] ?? '' }));
}

async function establishedBgpPeers(): Promise<Set<string>> {
  const r = await run(['ss', '-Htn', 'state', 'established', '( dport = :179 or sport = :179 )'], { allowFailure: true });
  const peers = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const peer = line.trim().split(/\s+/)[3];
    if (peer) peers.add(peer.replace(/:\d+$/, ''));
  }
  return peers;
}

async function bfdSessions(layout: Layout): Promise<NonNullable<NodeStatus['bfd']>> {
  const r = await run(['birdc', '-s', layout.birdSocket, 'show', 'bfd', 'sessions'], { allowFailure: true });
  const out: NonNullable<NodeStatus['bfd']> = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\s+\S+\s+(\w+)/.exec(line.trim());
    if (m) out.push({ neighbor: m[1] ?? '', state: m[2] ?? '' });
  }
  return out;
}
