// The health feed: polls HAProxy's stats frontend on 127.0.0.1 and turns the answers into a
// debounced up/down state (rise/fall hysteresis). Two consumers:
//   - BGP mode: `ober health <vip>`, spawned by ExaBGP, prints announce/withdraw lines;
//   - keepalived mode: `ober health --track-file F`, writes 0/1 into keepalived's track file.
//
// Polling is fixed-rate (a probe starts every intervalMs, whether or not the previous one has
// finished), and every probe has a hard deadline of timeoutMs on a fresh connection. So a stalled
// HAProxy (SIGSTOP: the kernel still accepts the TCP connection, nobody answers) produces a failure
// every interval, not one per timeout: detection ≈ phase + (fall-1)·interval + timeout.
import { existsSync } from 'node:fs';
import { httpGet } from '../lib/http.js';

export interface HealthSettings {
  intervalMs: number;
  timeoutMs: number;
  fall: number;
  rise: number;
}

/** Rise/fall debouncing. Starts down: nothing is announced before `rise` good answers. */
export class Hysteresis {
  private upState = false;
  private good = 0;
  private bad = 0;

  constructor(
    private readonly rise: number,
    private readonly fall: number,
  ) {}

  get up(): boolean {
    return this.upState;
  }

  /** Feed one probe result; returns the new state when it changed, else undefined. */
  observe(healthy: boolean): boolean | undefined {
    if (healthy) {
      this.bad = 0;
      this.good++;
      if (!this.upState && this.good >= this.rise) return (this.upState = true);
    } else {
      this.good = 0;
      this.bad++;
      if (this.upState && this.bad >= this.fall) return (this.upState = false);
    }
    return undefined;
  }

  /** Maintenance: down at once, and `rise` fresh good answers are needed after it ends. */
  forceDown(): boolean | undefined {
    this.good = 0;
    this.bad = this.fall;
    if (!this.upState) return undefined;
    return (this.upState = false);
  }
}

export type ProbeResult = { ok: true; status: number } | { ok: false; reason: string };

/**
 * One GET on a new connection with a hard deadline (lib/http). 200 is healthy; any other status, a
 * refused connection (HAProxy restarting) or the deadline (HAProxy stalled) is not.
 */
export async function probe(port: number, path: string, timeoutMs: number, host = '127.0.0.1'): Promise<ProbeResult> {
  try {
    const { status } = await httpGet(`http://${host}:${port}${path}`, timeoutMs);
    return status === 200 ? { ok: true, status } : { ok: false, reason: `HTTP ${status}` };
  } catch (e) {
    return { ok: false, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  }
}

/** A change comes from HAProxy's answers, or from the maintenance flag (a planned stop). */
export type ChangeCause = 'probes' | 'maintenance';

export interface FeedOptions {
  port: number;
  path: string;
  settings: HealthSettings;
  /** While this file exists the feed is down (see Layout.maintenanceFlag). */
  maintenanceFile?: string;
  /** Called on every state change (and never twice with the same value); `cause`: what changed it. */
  onChange(up: boolean, why: string, cause: ChangeCause): void;
  /** Called after every tick with the current state (the track file re-asserts itself here). */
  onTick?(up: boolean): void;
}

export interface Feed {
  readonly up: boolean;
  /** Stop polling; probes in flight are abandoned (their results are ignored). */
  stop(): void;
}

export function startFeed(opts: FeedOptions): Feed {
  const { intervalMs, timeoutMs, rise, fall } = opts.settings;
  const h = new Hysteresis(rise, fall);
  // Bound on probes in flight: a stalled HAProxy gets at most this many open connections from us.
  const maxInFlight = Math.ceil(timeoutMs / intervalMs) + 1;
  let inFlight = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const start = Date.now();
  let tick = 0;

  const report = (changed: boolean | undefined, why: string, cause: ChangeCause) => {
    if (changed !== undefined) opts.onChange(changed, why, cause);
  };

  const schedule = () => {
    if (stopped) return;
    tick++;
    // Fixed rate against the start time, so slow ticks do not drift the schedule.
    const due = start + tick * intervalMs;
    timer = setTimeout(run, Math.max(0, due - Date.now()));
  };

  const run = () => {
    if (stopped) return;
    if (opts.maintenanceFile && existsSync(opts.maintenanceFile)) {
      report(h.forceDown(), `maintenance flag ${opts.maintenanceFile}`, 'maintenance');
    } else if (inFlight < maxInFlight) {
      inFlight++;
      void probe(opts.port, opts.path, timeoutMs).then((r) => {
        inFlight--;
        if (stopped) return;
        // A probe that was in flight when maintenance began must not bring the node back.
        if (opts.maintenanceFile && existsSync(opts.maintenanceFile)) return;
        report(h.observe(r.ok), r.ok ? `${rise} good answers from :${opts.port}${opts.path}` : `${fall} failed probes (last: ${r.reason})`, 'probes');
      });
    }
    opts.onTick?.(h.up);
    schedule();
  };

  run();
  return {
    get up() {
      return h.up;
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

/** ExaBGP API lines (text encoder) for a VIP. */
export const announceLine = (address: string) => `announce route ${address}/32 next-hop self`;
export const withdrawLine = (address: string) => `withdraw route ${address}/32 next-hop self`;
