// The health gate a started node must pass: the guest agent reports the node's address (the VM
// booted and took its network config), the node's own health endpoint answers 200 (first boot
// rendered and HAProxy serves), and in BGP mode every VIP's health is up (what ExaBGP announces).
// Probes are injected: tests pass fakes, the CLI passes HTTP probes to the node's :8404.
import { probe, type ProbeResult } from '../../firstboot/health/feed.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { STATS_PORT, vipHealthPath } from '../../firstboot/render/haproxy.js';
import type { ProxmoxApi } from '../proxmox/api.js';
import { ProxmoxError } from '../proxmox/errors.js';

export type { ProbeResult };

export interface HealthProbes {
  /** The node as a whole (`/health` on :8404). */
  nodeHealth(address: string): Promise<ProbeResult>;
  /** BGP mode: is this VIP announced by the node? */
  announced(address: string, vip: { name: string; address: string }): Promise<ProbeResult>;
}

/** Default probes: HAProxy's monitoring frontend on the node (the admin host must be in whitelists.monitoring). */
export function httpProbes(timeoutMs = 2000): HealthProbes {
  return {
    nodeHealth: (address) => probe(STATS_PORT, '/health', timeoutMs, address),
    // /health/<vip> is what the node's `ober health` feeds to ExaBGP: up there = announced.
    announced: (address, vip) => probe(STATS_PORT, vipHealthPath(vip.name), timeoutMs, address),
  };
}

export interface GateTiming {
  /** For all gates of one node together. */
  timeoutMs: number;
  intervalMs: number;
}

export const DEFAULT_GATE_TIMING: GateTiming = { timeoutMs: 10 * 60_000, intervalMs: 3000 };

export type GateName = 'agent' | 'health' | 'announce';

export type GateResult = { ok: true; elapsedMs: number } | { ok: false; gate: GateName; saw: string; elapsedMs: number };

export interface GateTarget {
  api: ProxmoxApi;
  pveNode: string;
  vmid: number;
  node: string;
  address: string;
  cluster: Pick<Cluster, 'mode' | 'vips'>;
}

export async function waitHealthy(t: GateTarget, probes: HealthProbes, timing: GateTiming, onGate?: (gate: GateName) => void): Promise<GateResult> {
  const start = Date.now();
  const deadline = start + timing.timeoutMs;
  const gates: { name: GateName; check: () => Promise<string | undefined> }[] = [
    { name: 'agent', check: () => agentAddress(t) },
    { name: 'health', check: async () => failure(await probes.nodeHealth(t.address)) },
  ];
  if (t.cluster.mode === 'bgp') {
    gates.push({
      name: 'announce',
      check: async () => {
        for (const vip of t.cluster.vips) {
          const why = failure(await probes.announced(t.address, vip));
          if (why) return `${vip.name} (${vip.address}): ${why}`;
        }
        return undefined;
      },
    });
  }
  for (const gate of gates) {
    onGate?.(gate.name);
    for (;;) {
      const saw = await gate.check();
      if (saw === undefined) break;
      if (Date.now() + timing.intervalMs > deadline) return { ok: false, gate: gate.name, saw, elapsedMs: Date.now() - start };
      await new Promise((r) => setTimeout(r, timing.intervalMs));
    }
  }
  return { ok: true, elapsedMs: Date.now() - start };
}

function failure(r: ProbeResult): string | undefined {
  return r.ok ? undefined : r.reason;
}

/** undefined when the guest agent reports the node's address; else what it saw. */
async function agentAddress(t: GateTarget): Promise<string | undefined> {
  try {
    const ifaces = await t.api.agentNetworkInterfaces(t.pveNode, t.vmid);
    const addresses = ifaces.flatMap((i) => (i['ip-addresses'] ?? []).map((a) => a['ip-address'])).filter((a) => a !== '127.0.0.1' && a !== '::1');
    return addresses.includes(t.address) ? undefined : `guest agent reports ${addresses.join(', ') || 'no address'}, not ${t.address}`;
  } catch (e) {
    // A missing privilege does not heal by waiting; an agent that is not up yet does.
    if (e instanceof ProxmoxError && (e.kind === 'permission' || e.kind === 'auth')) throw e;
    return `guest agent: ${((e as Error).message.split('\n')[0] ?? '').trim()}`;
  }
}

export function describeGateFailure(node: string, vmid: number, r: Extract<GateResult, { ok: false }>): string {
  const what = { agent: 'the guest agent did not report the node address', health: 'the node health check did not pass', announce: 'a VIP was not announced' }[r.gate];
  return `${node} (VM ${vmid}) failed its ${r.gate} gate after ${Math.round(r.elapsedMs / 1000)} s: ${what}; last seen: ${r.saw}`;
}
