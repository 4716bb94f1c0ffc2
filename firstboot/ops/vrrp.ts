// Which VIPs this node holds in keepalived mode: the notify script's state files, and the
// addresses actually present (a keepalived killed hard leaves its VIP behind, lab NOTES §11).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../lib/exec.js';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { vrrpInstanceName } from '../render/keepalived.js';

/** IPv4 addresses configured on this host (`ip -o -4 addr show`: `... inet 10.0.0.5/32 ...`). */
export function parseIpAddrs(text: string): Set<string> {
  return new Set([...text.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1] ?? ''));
}

export async function localAddresses(runner = run): Promise<Set<string>> {
  return parseIpAddrs((await runner(['ip', '-o', '-4', 'addr', 'show'])).stdout);
}

/** State of a VRRP instance as the notify script last wrote it (`MASTER 100 <time>`). */
export async function vrrpState(layout: Layout, vipName: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(layout.vrrpStateDir, vrrpInstanceName(vipName)), 'utf8')).split(/\s+/)[0];
  } catch {
    return undefined;
  }
}

/** Addresses of the VIPs this node is MASTER of, or still carries. */
export async function heldVips(layout: Layout, node: Pick<NodeConfig, 'vips'>, addresses: () => Promise<Set<string>> = localAddresses): Promise<string[]> {
  const local = await addresses();
  const held: string[] = [];
  for (const v of node.vips) {
    if ((await vrrpState(layout, v.name)) === 'MASTER' || local.has(v.address)) held.push(v.address);
  }
  return held;
}
