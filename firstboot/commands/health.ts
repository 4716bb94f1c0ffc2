// `ober health <vip>`: the process ExaBGP runs per VIP (exabgp.conf `process health-<vip>`, text
// encoder). It polls HAProxy's /health/<vip> on 127.0.0.1:8404 and prints
//   announce route <vip>/32 next-hop self     after `rise` good answers
//   withdraw route <vip>/32 next-hop self     after `fall` failures
// on state changes only (it starts withdrawn). After a withdraw because HAProxy stopped answering
// (not a planned stop) it resets the clients' connections to the VIP (health/reset.ts). It exits when ExaBGP goes away (stdin EOF; else a
// SIGKILLed ExaBGP would leave it orphaned), and on SIGTERM/SIGINT prints a last withdraw.
//
// `ober health --track-file F`: keepalived mode (ober-track.service). Polls /health and writes
// `0` (healthy) or `1` (unhealthy, or maintenance) into keepalived's track_file, atomically.
//
// Both honour the maintenance flag (Layout.maintenanceFlag = <runDir>/maintenance, created by
// `ober stop`): while it exists the node is unhealthy.
import type { Command } from 'commander';
import { ConfigError } from '../lib/errors.js';
import type { Register } from '../lib/program.js';
import { STATS_PORT } from '../render/haproxy.js';
import { runBgpHealth, runTrackFeed } from '../health/processes.js';
import { resetDirectly, resetThroughSystemd, systemdManaged } from '../health/reset.js';
import { registerVipRelease } from './vip-release.js';
import { registerBackendRoutes } from './backend-routes.js';

export const registerHealth: Register = (program, ctx) => {
  program
    .command('health')
    .description("health feed: for ExaBGP (announce/withdraw lines for <vip>) or, with --track-file, keepalived's track file")
    .argument('[vip]', 'VIP name or address (ExaBGP mode)')
    .option('--track-file <path>', "keepalived mode: write 0 (healthy) / 1 (not) into this file, for all of the node's VIPs")
    .option('--stats-port <port>', "HAProxy's stats port (tests)", String(STATS_PORT))
    .option('--no-systemd', "ExaBGP mode: reset a withdrawn VIP's connections with ss itself (needs CAP_NET_ADMIN), not through ober-reset@.service; also OBER_SYSTEMD=0")
    .action(async (vip: string | undefined, opts: { trackFile?: string; statsPort: string; systemd: boolean }, cmd: Command) => {
      const layout = ctx.layout(cmd);
      if (ctx.output(cmd).json) {
        throw new ConfigError('ober health', [{ path: '--json', message: "the health feed's output is ExaBGP's text protocol (or the track file), not JSON", hint: 'drop --json; ober status --json shows the health' }]);
      }
      const port = Number(opts.statsPort);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw new ConfigError('ober health', [{ path: '--stats-port', message: `'${opts.statsPort}' is not a TCP port` }]);
      }
      if (opts.trackFile) {
        if (vip) throw new ConfigError('ober health', [{ path: '<vip>', message: 'give either a VIP (ExaBGP) or --track-file (keepalived), not both' }]);
        await runTrackFeed({ layout, trackFile: opts.trackFile, port });
        return;
      }
      if (!vip) throw new ConfigError('ober health', [{ path: '<vip>', message: 'is required (or --track-file)', hint: 'ober health s3-a   |   ober health --track-file /run/ober/haproxy.track' }]);
      await runBgpHealth({ layout, vip, port, resetConnections: opts.systemd && systemdManaged() ? resetThroughSystemd : resetDirectly });
    });
};

/** `health` and `vip-release`: the node's HA feed commands. */
export const healthRegisters: Register[] = [registerHealth, registerVipRelease, registerBackendRoutes];
