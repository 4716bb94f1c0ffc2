// The writer side of the node status API: `ober status --publish` (ober-status.service) collects
// the node's status every interval and writes it, with the recent failover events, to two files
// in /run that HAProxy's status.lua serves on :8404/status and /events. It listens on nothing.
//
// Events come from three places: every VRRP transition as the notify script logged it (exact
// times, flaps included), the first-boot record, and what changed between two samples of the
// status (BGP announce/withdraw and sessions, BFD, HAProxy, backend servers, maintenance) — those
// carry the time of the sample that saw them, so they are as precise as the interval.
import { readFile } from 'node:fs/promises';
import type { FirstbootRecord } from '../boot/status-record.js';
import { readNodeConfig } from '../health/node-config.js';
import type { Layout } from '../model/layout.js';
import { vrrpInstanceName } from '../render/keepalived.js';
import { OBER_VERSION } from '../version.js';
import { writeFileAtomic } from './atomic.js';
import { collectStatus, type NodeStatus } from './node-status.js';

/** How often the status is published: a split brain shows at :8404/status within about this. */
export const PUBLISH_INTERVAL_MS = 1000;
/** Events kept in the published document. */
export const MAX_EVENTS = 200;

export type NodeEventKind = 'vrrp' | 'bgp-announce' | 'bgp-session' | 'bfd' | 'haproxy' | 'backend' | 'maintenance' | 'firstboot';

export interface NodeEvent {
  /** ISO time. */
  at: string;
  kind: NodeEventKind;
  /** One line for a person. */
  message: string;
  vip?: string;
  /** New state (MASTER, announced, established, up, DOWN, ...). */
  state?: string;
  /** VRRP: a transition a later one overtook before its script ran (see vrrp-notify). */
  superseded?: boolean;
}

/** The document at :8404/status. */
export interface PublishedStatus extends NodeStatus {
  publishedAt: string;
  intervalMs: number;
  oberVersion: string;
}

/** The document at :8404/events: oldest first. */
export interface PublishedEvents {
  node?: string;
  publishedAt: string;
  events: NodeEvent[];
}

/** keepalived's notify script writes `date +%N%z` times (`...T20:50:00.123456789+0000`): to ISO. */
export function normalizeTime(t: string): string | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?([+-]\d\d):?(\d\d)$/.exec(t.trim());
  if (!m) {
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  const d = new Date(`${m[1]}.${(m[2] ?? '0').padEnd(3, '0').slice(0, 3)}${m[3]}:${m[4]}`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The notify script's JSON lines → events; lines that do not parse are skipped (a trim in flight). */
export function parseVrrpEventLog(text: string, vipOfInstance: (instance: string) => string | undefined): NodeEvent[] {
  const out: NodeEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let e: { at?: string; instance?: string; state?: string; priority?: number; vip?: string; superseded?: boolean };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    const at = e.at ? normalizeTime(e.at) : undefined;
    if (!at || !e.instance || !e.state) continue;
    const vip = vipOfInstance(e.instance);
    out.push({
      at,
      kind: 'vrrp',
      message: `VRRP ${vip ?? e.instance} (${e.vip ?? '?'}) -> ${e.state}, priority ${e.priority ?? '?'}${e.superseded ? ' (superseded by a later transition)' : ''}`,
      ...(vip ? { vip } : {}),
      state: e.state,
      ...(e.superseded ? { superseded: true } : {}),
    });
  }
  return out;
}

export function firstbootEvent(r: FirstbootRecord): NodeEvent {
  const why = r.error ? `: ${r.error.message.split('\n')[0] ?? ''}` : '';
  return { at: normalizeTime(r.at) ?? r.at, kind: 'firstboot', message: `first boot ${r.result}${r.release ? `, release ${r.release}` : ''}${why}`, state: r.result };
}

/** What changed between two samples, stamped with the time of the later one. Pure. */
export function diffEvents(prev: NodeStatus | undefined, next: NodeStatus, at: string): NodeEvent[] {
  if (!prev) return [];
  const ev: NodeEvent[] = [];
  const add = (kind: NodeEventKind, message: string, state: string, vip?: string) => ev.push({ at, kind, message, state, ...(vip ? { vip } : {}) });
  if (prev.haproxy.up !== next.haproxy.up) add('haproxy', `HAProxy ${next.haproxy.up ? 'answers again' : 'stopped answering'} on :8404`, next.haproxy.up ? 'up' : 'down');
  if (prev.maintenance !== next.maintenance) add('maintenance', next.maintenance ? 'maintenance on (ober stop)' : 'maintenance off', next.maintenance ? 'on' : 'off');
  const prevVip = new Map(prev.vips.map((v) => [v.name, v]));
  for (const v of next.vips) {
    const p = prevVip.get(v.name);
    if (v.announced !== undefined && p?.announced !== undefined && p.announced !== v.announced) {
      add('bgp-announce', `${v.announced ? 'announce' : 'withdraw'} ${v.name} (${v.address})`, v.announced ? 'announced' : 'withdrawn', v.name);
    }
  }
  const prevBgp = new Map((prev.bgp ?? []).map((b) => [b.neighbor, b.established]));
  for (const b of next.bgp ?? []) {
    const p = prevBgp.get(b.neighbor);
    if (p !== undefined && p !== b.established) add('bgp-session', `BGP session with ${b.neighbor} ${b.established ? 'established' : 'down'}`, b.established ? 'established' : 'down');
  }
  const prevBfd = new Map((prev.bfd ?? []).map((b) => [b.neighbor, b.state]));
  for (const b of next.bfd ?? []) {
    const p = prevBfd.get(b.neighbor);
    if (p !== b.state) add('bfd', `BFD with ${b.neighbor}: ${p ?? 'none'} -> ${b.state}`, b.state);
  }
  // Only the first word of HAProxy's status: "UP 1/3" while it rises is no event.
  const word = (s: string) => s.split(' ')[0] ?? s;
  const prevSrv = new Map(prev.backends.map((b) => [`${b.backend}/${b.server}`, word(b.status)]));
  for (const b of next.backends) {
    const p = prevSrv.get(`${b.backend}/${b.server}`);
    if (p !== undefined && p !== word(b.status)) add('backend', `backend ${b.backend}/${b.server}: ${p} -> ${word(b.status)}`, word(b.status));
  }
  return ev;
}

/** Oldest first, at most `max`, without duplicates (the same event read twice from the log). */
export function mergeEvents(events: NodeEvent[], max = MAX_EVENTS): NodeEvent[] {
  const seen = new Set<string>();
  const unique = events.filter((e) => {
    const key = `${e.at}|${e.kind}|${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return unique.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0)).slice(-max);
}

export interface Publisher {
  /** Collect once and write both files. */
  publishOnce(now?: Date): Promise<{ status: PublishedStatus; events: PublishedEvents }>;
}

export async function createPublisher(layout: Layout, intervalMs = PUBLISH_INTERVAL_MS): Promise<Publisher> {
  // Events seen by sampling survive a restart of the publisher: read back what it published last.
  let sampled: NodeEvent[] = [];
  try {
    const old = JSON.parse(await readFile(layout.eventsFile, 'utf8')) as PublishedEvents;
    sampled = old.events.filter((e) => e.kind !== 'vrrp' && e.kind !== 'firstboot');
  } catch {
    /* first run */
  }
  let prev: NodeStatus | undefined;
  return {
    async publishOnce(now = new Date()) {
      const s = await collectStatus(layout);
      const at = now.toISOString();
      sampled = mergeEvents([...sampled, ...diffEvents(prev, s, at)]);
      prev = s;
      let instances = new Map<string, string>();
      try {
        instances = new Map(readNodeConfig(layout).vips.map((v) => [vrrpInstanceName(v.name), v.name]));
      } catch {
        /* no configuration: the status says so */
      }
      const log = await readFile(layout.vrrpEventLog, 'utf8').catch(() => '');
      const events = mergeEvents([...(s.firstboot ? [firstbootEvent(s.firstboot)] : []), ...parseVrrpEventLog(log, (i) => instances.get(i)), ...sampled]);
      const status: PublishedStatus = { ...s, publishedAt: at, intervalMs, oberVersion: OBER_VERSION };
      const doc: PublishedEvents = { ...(s.node ? { node: s.node } : {}), publishedAt: at, events };
      // Events first: a reader that sees the new status finds its events already there.
      await writeFileAtomic(layout.eventsFile, JSON.stringify(doc) + '\n', 0o644);
      await writeFileAtomic(layout.statusFile, JSON.stringify(status) + '\n', 0o644);
      return { status, events: doc };
    },
  };
}

/** Publish every interval until the process is stopped. A failed round is reported and retried. */
export async function publishStatusLoop(layout: Layout, opts: { intervalMs: number; warn: (msg: string) => void; signal?: AbortSignal }): Promise<void> {
  const p = await createPublisher(layout, opts.intervalMs);
  let failing = false;
  while (!opts.signal?.aborted) {
    const started = Date.now();
    try {
      await p.publishOnce();
      failing = false;
    } catch (e) {
      // Once per failure streak: a full /run must not also fill the journal.
      if (!failing) opts.warn(`status not published: ${(e as Error).message}`);
      failing = true;
    }
    await new Promise((r) => setTimeout(r, Math.max(50, opts.intervalMs - (Date.now() - started))));
  }
}
