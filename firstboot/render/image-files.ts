// Files that are the same on every node and are baked into the image at build time: the ober-*
// systemd units, the watchdog drop-in, the VRRP notify script, the tmpfiles entry.
import { HAPROXY_FILE_LIMIT } from '../model/defaults.js';
import { nodeLayout, type Layout } from '../model/layout.js';
import { OBER_VERSION } from '../version.js';
import { compile } from './engine.js';
import type { RenderedFile } from './files.js';
import { unitSandbox } from './sandbox.js';
import { DEBIAN_13, type Target } from './target.js';
import { TEMPLATES } from './templates.js';
import { S3_PORTS } from './haproxy.js';

/**
 * `ss` arguments that reset every established connection on the S3 ports (`ss -K`: the kernel
 * sends the client a reset), or only those to one VIP: ober-bgp's ExecStopPost (all), and
 * ober-reset@<vip>.service (one VIP), which the health process starts when it withdraws a VIP
 * because HAProxy stopped answering. Either way the router now sends this node's clients to the
 * other nodes, where the next packet of a connection made here is answered by a reset. Reset at
 * once, a client's idle pooled connection is dropped before the client sends its next request on
 * it; otherwise that request fails, and an SDK's three attempts could all meet such connections. A
 * request still running here was lost with the route anyway. Only HAProxy's VIP listeners serve
 * these ports on a node; its connections to the RGWs have ephemeral source ports.
 */
export function resetS3ConnectionsArgs(vipAddress?: string): string[] {
  const ports = `( ${Object.values(S3_PORTS).map((p) => `sport = :${p}`).join(' or ')} )`;
  // For a server's socket ss calls the local address `src`: the VIP the client connected to.
  return ['-K', '-Htn', 'state', 'established', vipAddress === undefined ? ports : `${ports} and src ${vipAddress}`];
}
export const RESET_S3_CONNECTIONS_ARGS = resetS3ConnectionsArgs();

/** The instance of ober-reset@.service that resets the S3 connections to one VIP (an IPv4 address: a valid instance name as it is). */
export const resetUnitInstance = (vipAddress: string) => `${TEMPLATE_UNITS[0]}${vipAddress}.service`;

/** An argv as one command line, for systemd or sh: arguments with spaces in double quotes. */
const quotedCommand = (argv: readonly string[]) => argv.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ');

export interface ImageFilesOptions {
  target?: Target;
  layout?: Layout;
}

/**
 * systemd's watchdog bounds. `runtime` applies once the node has booted (ober-watchdog.service),
 * `boot` before that (system.conf.d), see that unit; `shutdown` is the seed's. `runtime` is 20 s,
 * not the seed's 10 s: PID 1 does not pet the device while it serves one long call, and root's
 * `systemctl list-unit-files` took 2.6–6.8 s under TCG here (6.8 s with the host loaded; users
 * can no longer make that call, etc/dbus-1/system.d/ober-pid1-limits.conf), a margin of 1.5× at
 * 10 s and 3× at 20 s. What it costs: a hung node resets 10 s later, while its traffic has long
 * moved (VRRP and BFD notice a dead node in about a second, test/bench/results/failover.json).
 */
export const WATCHDOG = { boot: '60s', runtime: '20s', shutdown: '2min' } as const;

export const UNIT_NAMES = ['ober-firstboot', 'ober-routes', 'ober-http', 'ober-bgp', 'ober-bfd', 'ober-ha', 'ober-track', 'ober-certs', 'ober-watchdog', 'ober-status'] as const;
/** Template services (`<name>.service`, started as `<name><instance>.service`; never enabled). */
export const TEMPLATE_UNITS = ['ober-reset@'] as const;
/** Units that are not services, by file name. */
export const OTHER_UNITS = ['ober-certs.path'] as const;

/**
 * Ordering of the units that serve or steer traffic. They start once first boot, the firewall and
 * the network are ready, not after sysinit.target: Debian orders cloud-init's network stage (users,
 * SSH keys and host keys; ~7 s under TCG) before sysinit.target, and HAProxy, keepalived, ExaBGP and
 * BIRD need nothing from it. network-online.target is pulled in but not waited for, because
 * cloud-init.service is ordered before it; the wait-online services of networkd and
 * NetworkManager are waited for instead (ordering on a unit that is not installed is a no-op).
 */
export const SERVING_UNIT_ORDERING = [
  'DefaultDependencies=no',
  'After=local-fs.target systemd-tmpfiles-setup.service systemd-sysctl.service nftables.service',
  'After=network.target systemd-networkd-wait-online.service NetworkManager-wait-online.service',
  'Wants=network-online.target',
  'Conflicts=shutdown.target',
  'Before=shutdown.target',
].join('\n');

export function renderImageFiles(opts: ImageFilesOptions = {}): RenderedFile[] {
  const target = opts.target ?? DEBIAN_13;
  const l = opts.layout ?? nodeLayout();
  const header = `Part of the Herr Ober image (ober ${OBER_VERSION}). Do not edit: the root file system is read-only.`;
  const view = {
    header,
    program: `${l.programDir}/ober-node.mjs`,
    oberBin: l.oberBin,
    haproxyCfg: l.haproxyCfg,
    nodeJson: l.nodeJson,
    haproxyCertDir: l.haproxyCertDir,
    pidFile: l.haproxyPidFile,
    masterSocket: l.haproxyMasterSocket,
    exabgpConf: l.exabgpConf,
    exabgpEnv: l.exabgpEnv,
    birdConf: l.birdConf,
    birdSocket: l.birdSocket,
    keepalivedConf: l.keepalivedConf,
    trackFile: l.trackFile,
    runDir: l.runDir,
    limitNofile: HAPROXY_FILE_LIMIT,
    servingOrdering: SERVING_UNIT_ORDERING,
    watchdogBoot: WATCHDOG.boot,
    watchdogRuntime: WATCHDOG.runtime,
    watchdogRuntimeUsec: String(Number.parseInt(WATCHDOG.runtime, 10) * 1_000_000),
    ...target.bin,
    resetS3Connections: quotedCommand([target.bin.ss, ...RESET_S3_CONNECTIONS_ARGS]),
    // %I: the instance, the VIP's address (resetUnitInstance).
    resetVipConnections: quotedCommand([target.bin.ss, ...resetS3ConnectionsArgs('%I')]),
  };
  const units: Record<(typeof UNIT_NAMES)[number], string> = {
    'ober-firstboot': TEMPLATES.unitFirstboot,
    'ober-routes': TEMPLATES.unitRoutes,
    'ober-http': TEMPLATES.unitHttp,
    'ober-bgp': TEMPLATES.unitBgp,
    'ober-bfd': TEMPLATES.unitBfd,
    'ober-ha': TEMPLATES.unitHa,
    'ober-track': TEMPLATES.unitTrack,
    'ober-certs': TEMPLATES.unitCerts,
    'ober-watchdog': TEMPLATES.unitWatchdog,
    'ober-status': TEMPLATES.unitStatus,
  };
  const files: RenderedFile[] = UNIT_NAMES.map((u) => ({
    path: `${l.unitDir}/${u}.service`,
    mode: 0o644,
    content: compile<typeof view & { sandbox: string }>(units[u])({ ...view, sandbox: unitSandbox(u, l).directives.join('\n') }),
  }));
  const templates: Record<(typeof TEMPLATE_UNITS)[number], string> = { 'ober-reset@': TEMPLATES.unitReset };
  for (const u of TEMPLATE_UNITS) {
    files.push({ path: `${l.unitDir}/${u}.service`, mode: 0o644, content: compile<typeof view & { sandbox: string }>(templates[u])({ ...view, sandbox: unitSandbox(u, l).directives.join('\n') }) });
  }
  const others: Record<(typeof OTHER_UNITS)[number], string> = { 'ober-certs.path': TEMPLATES.unitCertsPath };
  for (const u of OTHER_UNITS) files.push({ path: `${l.unitDir}/${u}`, mode: 0o644, content: compile<typeof view>(others[u])(view) });
  files.push({
    path: `${l.systemConfDir}/50-herr-ober-watchdog.conf`,
    mode: 0o644,
    content: compile<{ header: string; boot: string; runtime: string; shutdown: string }>(TEMPLATES.watchdogConf)({ header, ...WATCHDOG }),
  });
  files.push({
    path: l.notifyScript,
    mode: 0o755,
    content: compile<{ header: string; stateDir: string; eventLog: string; maintenanceFlag: string; resetVipConnections: string }>(TEMPLATES.vrrpNotify)({
      header,
      maintenanceFlag: l.maintenanceFlag,
      stateDir: l.vrrpStateDir,
      eventLog: l.vrrpEventLog,
      // The script's own (validated) $addr: double-quoted, so the shell expands it in the filter.
      resetVipConnections: quotedCommand([target.bin.ss, ...resetS3ConnectionsArgs('$addr')]),
    }),
  });
  files.push({
    path: `${l.root}/usr/lib/tmpfiles.d/ober.conf`,
    mode: 0o644,
    content: compile<{ header: string; runDir: string; vrrpStateDir: string; stateDir: string }>(TEMPLATES.tmpfilesConf)({
      header,
      runDir: l.runDir,
      vrrpStateDir: l.vrrpStateDir,
      stateDir: l.stateDir,
    }),
  });
  return files;
}
