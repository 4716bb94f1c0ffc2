// The two health feed processes, one per HA mode (the `ober health` command runs them):
//   runBgpHealth   — ExaBGP's per-VIP process: announce/withdraw lines on stdout;
//   runTrackFeed   — keepalived's track file: 0 (healthy) or 1, written atomically.
// Both honour the maintenance flag and end cleanly on SIGTERM/SIGINT (and, for ExaBGP, stdin EOF).
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../ops/atomic.js';
import { ConfigError } from '../lib/errors.js';
import type { NodeConfig } from '../model/derive.js';
import { readNodeConfig } from './node-config.js';
import type { Layout } from '../model/layout.js';
import { STATS_PORT, vipHealthPath } from '../render/haproxy.js';
import { announceLine, startFeed, withdrawLine, type HealthSettings } from './feed.js';
import { RESET_AFTER_WITHDRAW_MS, type ResetConnections } from './reset.js';

// node.json is read through its schema, which fills the cluster schema's health defaults.
const settingsOf = (node: NodeConfig): HealthSettings => node.health;

/** Resolve a VIP by name or address. */
export function findVip(node: NodeConfig, key: string): NodeConfig['vips'][number] {
  const v = node.vips.find((x) => x.name === key || x.address === key);
  if (!v) {
    throw new ConfigError('ober health', [{ path: '<vip>', message: `no VIP '${key}' on this node`, hint: `known VIPs: ${node.vips.map((x) => `${x.name} (${x.address})`).join(', ')}` }]);
  }
  return v;
}

const writeAtomic = (file: string, value: string) => writeFileAtomicSync(file, value, 0o644);

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Resolves when the process should exit: on SIGTERM/SIGINT, or `extra` (stdin EOF). */
function untilStopped(onStop: (why: string) => void, watchStdin: boolean): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const stop = (why: string) => {
      if (done) return;
      done = true;
      // The handlers stay: execa's signal-exit, installed while a child runs (a connection reset),
      // re-sends a signal to this process when it sees no other handler for it, and a death by
      // SIGTERM would replace the clean exit.
      if (watchStdin) process.stdin.destroy();
      onStop(why);
      // Safety net: an unref'd timer fires only if something else still holds the loop open.
      setTimeout(() => process.exit(0), 2000).unref();
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
    if (watchStdin) {
      // ExaBGP sends nothing we need (exabgp_api_ack=false); drain and watch for EOF.
      process.stdin.on('data', () => {});
      process.stdin.on('end', () => stop('stdin closed'));
      process.stdin.on('error', () => stop('stdin error'));
    }
    // ExaBGP gone while we write: EPIPE on stdout.
    process.stdout.on('error', () => stop('stdout closed'));
  });
}

export interface BgpFeedOptions {
  layout: Layout;
  vip: string;
  port?: number;
  /** Exit on stdin EOF (default: when stdin is not a terminal). */
  watchStdin?: boolean;
  /** After a withdraw because HAProxy stopped answering (not a planned stop): reset the VIP's connections. */
  resetConnections?: ResetConnections;
  resetAfterMs?: number;
}

export async function runBgpHealth(opts: BgpFeedOptions): Promise<void> {
  const node = readNodeConfig(opts.layout);
  const vip = findVip(node, opts.vip);
  const log = (m: string) => process.stderr.write(`ober health ${vip.name}: ${m}\n`);
  const emit = (line: string) => process.stdout.write(`${line}\n`);
  const feed = startFeed({
    port: opts.port ?? STATS_PORT,
    path: vipHealthPath(vip.name),
    settings: settingsOf(node),
    maintenanceFile: opts.layout.maintenanceFlag,
    onChange: (up, why, cause) => {
      emit(up ? announceLine(vip.address) : withdrawLine(vip.address));
      log(`${up ? 'announce' : 'withdraw'}: ${why}`);
      // A planned stop (maintenance) drains instead: its running requests are left to finish.
      if (!up && cause === 'probes' && opts.resetConnections) resetSoon(opts.resetConnections);
    },
  });
  let resetTimer: NodeJS.Timeout | undefined;
  const resetSoon = (reset: ResetConnections) => {
    clearTimeout(resetTimer);
    resetTimer = setTimeout(() => {
      // HAProxy answered again meanwhile: its route is back, its connections are good.
      if (feed.up) return;
      void reset(vip.address).then((failure) => log(failure ? `could not reset the connections to ${vip.address}: ${failure}` : `reset the clients' connections to ${vip.address}`));
    }, opts.resetAfterMs ?? RESET_AFTER_WITHDRAW_MS);
  };
  const stopped = untilStopped((why) => {
    const wasUp = feed.up;
    clearTimeout(resetTimer);
    feed.stop();
    if (wasUp) emit(withdrawLine(vip.address));
    log(`stopping (${why})${wasUp ? ', withdrawn' : ''}`);
  }, opts.watchStdin ?? !process.stdin.isTTY);
  await stopped;
}

export interface TrackFeedOptions {
  layout: Layout;
  trackFile: string;
  port?: number;
}

export async function runTrackFeed(opts: TrackFeedOptions): Promise<void> {
  const node = readNodeConfig(opts.layout);
  const log = (m: string) => process.stderr.write(`ober health --track-file: ${m}\n`);
  const value = (up: boolean) => (up ? '0\n' : '1\n');
  // Start unhealthy: keepalived gets no VIP from us before HAProxy has answered `rise` times.
  writeAtomic(opts.trackFile, value(false));
  let ticks = 0;
  const heartbeatTicks = Math.max(1, Math.round(1000 / settingsOf(node).intervalMs));
  const feed = startFeed({
    port: opts.port ?? STATS_PORT,
    path: '/health',
    settings: settingsOf(node),
    maintenanceFile: opts.layout.maintenanceFlag,
    onChange: (up, why) => {
      writeAtomic(opts.trackFile, value(up));
      log(`${up ? 'healthy (0)' : 'unhealthy (1)'}: ${why}`);
    },
    // keepalived's `init_file 1 overwrite` rewrites the file when keepalived (re)starts: put our
    // state back, or a restarted keepalived would see 1 until the next state change. And rewrite
    // it once a second anyway: a rewrite that lands between keepalived's init write and its
    // inotify watch would go unseen (the suspected cause of one lab run in which a restarted
    // keepalived never preempted).
    onTick: (up) => {
      ticks++;
      if (ticks % heartbeatTicks === 0 || readOrUndefined(opts.trackFile) !== value(up)) writeAtomic(opts.trackFile, value(up));
    },
  });
  const stopped = untilStopped((why) => {
    feed.stop();
    writeAtomic(opts.trackFile, value(false));
    log(`stopping (${why}), track file ${opts.trackFile} = 1`);
  }, false);
  log(`polling :${opts.port ?? STATS_PORT}/health for ${node.vips.map((v) => v.name).join(', ')} → ${opts.trackFile}`);
  await stopped;
}
