// Starting, stopping and reloading the node's services behind one small interface: systemd on a
// real node, HAProxy's master process signalled directly where there is no systemd (a rescue
// shell, --no-systemd, tests and the lab under --root).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { OberError } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import type { Layout } from '../model/layout.js';
import { realClock, waitUntil, type Clock } from './wait.js';

export const SERVICES = ['http', 'bgp', 'bfd', 'ha', 'track', 'firstboot', 'certs'] as const;
export type Service = (typeof SERVICES)[number];

export const unitName = (s: Service) => `ober-${s}.service`;
export type StopHow = 'graceful' | 'immediate';

export interface ServiceControl {
  readonly kind: 'systemd' | 'direct';
  start(s: Service): Promise<void>;
  /**
   * Graceful stop: for HAProxy a soft stop (listeners close, running requests finish).
   * `immediate`: HAProxy's hard stop, closing what is still open (after `ober stop`'s drain bound).
   */
  stop(s: Service, how?: StopHow): Promise<void>;
  /** Re-read configuration without dropping connections (HAProxy: check, then reload). */
  reload(s: Service): Promise<void>;
  isActive(s: Service): Promise<boolean>;
}

type Runner = typeof run;

export function systemdControl(runner: Runner = run): ServiceControl {
  return {
    kind: 'systemd',
    start: async (s) => void (await runner(['systemctl', 'start', unitName(s)])),
    // ober-http's KillSignal=SIGUSR1 makes this HAProxy's soft stop, bounded by hard-stop-after.
    // Immediate: queue that stop (so Restart= does not apply), then SIGTERM the master = hard stop.
    stop: async (s, how = 'graceful') => {
      if (how === 'graceful') return void (await runner(['systemctl', 'stop', unitName(s)]));
      await runner(['systemctl', 'stop', '--no-block', unitName(s)]);
      await runner(['systemctl', 'kill', '--kill-whom=main', '--signal=SIGTERM', unitName(s)], { allowFailure: true });
      await runner(['systemctl', 'stop', unitName(s)]);
    },
    // ober-http's ExecReload checks the configuration before signalling the master.
    reload: async (s) => void (await runner(['systemctl', 'reload', unitName(s)])),
    isActive: async (s) => (await runner(['systemctl', 'is-active', '--quiet', unitName(s)], { allowFailure: true })).exitCode === 0,
  };
}

export interface DirectOptions {
  haproxy?: string;
  /** How long a soft-stopped HAProxy may take to exit (its own hard-stop-after bounds it too). */
  stopTimeoutMs?: number;
  clock?: Clock;
  runner?: Runner;
}

/**
 * HAProxy in master-worker mode, driven through the master's pid file (management guide §4:
 * SIGUSR2 reloads, SIGUSR1 soft-stops, SIGTERM hard-stops; the master forwards them to its workers and exits when
 * the last worker is gone). Only `http` can be controlled this way.
 */
export function directControl(layout: Layout, opts: DirectOptions = {}): ServiceControl {
  const haproxy = opts.haproxy ?? 'haproxy';
  const runner = opts.runner ?? run;
  const clock = opts.clock ?? realClock;
  const only = (s: Service) => {
    if (s !== 'http') throw new OberError(`ober-${s} can only be controlled through systemd (this node runs without it, or --no-systemd was given)`);
  };
  const masterPid = async (): Promise<number | undefined> => {
    try {
      const pid = Number((await readFile(layout.haproxyPidFile, 'utf8')).split('\n')[0]);
      return Number.isInteger(pid) && pid > 1 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  };
  const check = () => runner([haproxy, '-c', '-f', layout.haproxyCfg]);
  return {
    kind: 'direct',
    async start(s) {
      only(s);
      if (await masterPid()) return;
      await check();
      // -W master-worker, -D daemon: the pid file holds the master, as under systemd.
      await runner([haproxy, '-W', '-D', '-f', layout.haproxyCfg, '-p', layout.haproxyPidFile, '-S', layout.haproxyMasterSocket]);
    },
    async stop(s, how = 'graceful') {
      only(s);
      const pid = await masterPid();
      if (!pid) return;
      // SIGUSR1: soft stop; SIGTERM: hard stop (management guide §4).
      process.kill(pid, how === 'graceful' ? 'SIGUSR1' : 'SIGTERM');
      const r = await waitUntil(async () => !alive(pid), { timeoutMs: opts.stopTimeoutMs ?? 330_000, intervalMs: 100, clock });
      if (!r.ok) throw new OberError(`HAProxy master ${pid} still runs ${Math.round(r.elapsedMs / 1000)} s after the soft stop; check its hard-stop-after`);
    },
    async reload(s) {
      only(s);
      const pid = await masterPid();
      if (!pid) throw new OberError(`HAProxy is not running (no live master in ${layout.haproxyPidFile}); start it with ober start`);
      await check();
      process.kill(pid, 'SIGUSR2');
    },
    async isActive(s) {
      only(s);
      return (await masterPid()) !== undefined;
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** systemd when the node runs it (sd_booted(3): /run/systemd/system exists) and we act on the real root. */
export function chooseServiceControl(layout: Layout, opts: { noSystemd?: boolean } = {}): ServiceControl {
  const booted = existsSync('/run/systemd/system');
  return booted && layout.root === '' && !opts.noSystemd ? systemdControl() : directControl(layout);
}
