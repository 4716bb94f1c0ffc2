// Keepalived mode: which node owns which VIP, and who backs it up in which order.
//
// Rendezvous (highest-random-weight) hashing: every (VIP, node) pair gets a score from a hash of
// both names; a VIP prefers nodes by descending score. Because a score depends only on the two
// names, the result is the same on every machine and for any order of the node list, and a node
// that joins or leaves only changes the VIPs it wins or held (unlike `index mod N`).
//
// Bounded load (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018):
// VIPs are placed in a fixed order; each goes to its most preferred node that still has room.
// Room is ⌊V/N⌋ per node plus V mod N extra slots, first come first served, so every node ends
// with ⌊V/N⌋ or ⌈V/N⌉ VIPs.
import { createHash } from 'node:crypto';

/** 64-bit score of a (VIP, node) pair. NUL separates the names so ("ab","c") ≠ ("a","bc"). */
export function score(vip: string, node: string): bigint {
  return createHash('sha256').update(`${vip}\0${node}`).digest().readBigUInt64BE(0);
}

/** Nodes by descending score for this VIP; ties (never in practice) broken by name. */
export function preference(vip: string, nodes: readonly string[]): string[] {
  return [...nodes]
    .map((n) => ({ n, s: score(vip, n) }))
    .sort((a, b) => (a.s === b.s ? (a.n < b.n ? -1 : 1) : a.s > b.s ? -1 : 1))
    .map((x) => x.n);
}

export interface VipRanking {
  vip: string;
  /** ranking[0] owns the VIP; the rest back it up in this order. */
  ranking: string[];
}

/** Assign every VIP an owner and a backup order. Input order of either list does not matter. */
export function assignVips(vips: readonly string[], nodes: readonly string[]): Map<string, VipRanking> {
  if (nodes.length === 0) return new Map();
  const uniqueVips = [...new Set(vips)];
  const base = Math.floor(uniqueVips.length / nodes.length);
  let extraSlots = uniqueVips.length % nodes.length;
  // Every (VIP, node) pair, strongest first: a pair is taken when its VIP is still free and its
  // node has room. A joining or leaving node only inserts or removes its own pairs in this order.
  const pairs = uniqueVips
    .flatMap((vip) => nodes.map((node) => ({ vip, node, s: score(vip, node) })))
    .sort((a, b) => (a.s === b.s ? (a.vip + a.node < b.vip + b.node ? -1 : 1) : a.s > b.s ? -1 : 1));
  const load = new Map(nodes.map((n) => [n, 0]));
  const owner = new Map<string, string>();
  for (const { vip, node } of pairs) {
    if (owner.has(vip)) continue;
    const l = load.get(node) ?? 0;
    if (l < base || (l === base && extraSlots > 0)) {
      if (l === base) extraSlots--;
      load.set(node, l + 1);
      owner.set(vip, node);
    }
  }
  const out = new Map<string, VipRanking>();
  for (const vip of [...uniqueVips].sort()) {
    const o = owner.get(vip);
    if (o === undefined) throw new Error('assignVips: a VIP found no node with room (capacity arithmetic broken)');
    out.set(vip, { vip, ranking: [o, ...preference(vip, nodes).filter((n) => n !== o)] });
  }
  return out;
}

/** VRRP priorities: owner 100, backups 90, 89, 88 ... in ranking order (distinct, see lab note 13). */
export const OWNER_PRIORITY = 100;
export const FIRST_BACKUP_PRIORITY = 90;
/** track_file weight: a node whose HAProxy fails drops from 100 to 50, below every backup. */
export const TRACK_WEIGHT = -50;

export function priorityOf(rank: number): number {
  return rank === 0 ? OWNER_PRIORITY : FIRST_BACKUP_PRIORITY - (rank - 1);
}
