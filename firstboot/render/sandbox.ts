// systemd sandboxing of the ober-* units (systemd.exec(5)), one source for every unit's set: what
// each daemon may see, write and do. Measured by `systemd-analyze security --offline` of the image's
// own systemd in the unit tests (test/unit/render-consumers.test.ts, exposure bounds below) and in
// the booted image (test/image/boot.test.ts).
//
// The daemons keep uid 0 where their secrets are root's own files (node.json, exabgp.conf with an
// MD5 password, the certificates: 0600 root), but without capabilities beyond what each needs:
// root without CAP_DAC_OVERRIDE reads and writes only what root owns, on a file system that is
// read-only but for the run directory. HAProxy's workers drop to their own user (haproxy.cfg).
import type { Layout } from '../model/layout.js';
import type { TEMPLATE_UNITS, UNIT_NAMES } from './image-files.js';

type Unit = (typeof UNIT_NAMES)[number] | (typeof TEMPLATE_UNITS)[number];

export interface Sandbox {
  directives: string[];
  /** `systemd-analyze security` exposure (0–10) the unit must stay at or below; `why` when above 5 (MEDIUM). */
  maxExposure: number;
  why?: string;
}

/** First boot parses hostile input (vendor-data); a runaway must not take the node's memory. */
export const FIRSTBOOT_MEMORY_MAX = '384M';

/** Safe for every unit, first boot included: none of them loads modules, sets the clock or gains privileges. */
const BASE = [
  'NoNewPrivileges=yes',
  'ProtectHome=yes',
  'ProtectKernelModules=yes',
  'ProtectKernelLogs=yes',
  'ProtectClock=yes',
  'RestrictSUIDSGID=yes',
  'LockPersonality=yes',
  'RestrictNamespaces=yes',
  'SystemCallArchitectures=native',
];

/** What a daemon needs beyond the strict default; everything not named here is denied. */
interface Needs {
  /** Capabilities kept in the bounding set (none: uid 0 without privilege). */
  caps: string[];
  /** Directories it writes; the rest of the file system is read-only. */
  writes: string[];
  families?: 'none' | 'unix' | 'inet' | 'inet+packet';
  /** Node.js (V8's JIT) or a child of it runs in the unit: writable+executable memory is needed. */
  runsNode?: boolean;
  /** setuid/setgid, chown and friends (@privileged) or rlimits and priorities (@resources). */
  privileged?: boolean;
  resources?: boolean;
  /** keepalived may raise its scheduling to real time. */
  realtime?: boolean;
  /** keepalived writes interface sysctls (promote_secondaries on the VIPs' interface). */
  tunables?: boolean;
}

const FAMILIES = {
  none: 'RestrictAddressFamilies=none',
  unix: 'RestrictAddressFamilies=AF_UNIX',
  inet: 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
  'inet+packet': 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET',
} as const;

/** The daemons and their helpers: read-only system, private /tmp and /dev, system-service syscalls only. */
function daemon(n: Needs): string[] {
  const denied = [...(n.privileged ? [] : ['@privileged']), ...(n.resources ? [] : ['@resources']), '@mount @swap @reboot @module @raw-io @obsolete @debug @cpu-emulation'];
  return [
    ...BASE,
    'ProtectSystem=strict',
    ...n.writes.map((w) => `ReadWritePaths=${w}`),
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectControlGroups=yes',
    'ProtectHostname=yes',
    ...(n.tunables ? [] : ['ProtectKernelTunables=yes']),
    'ProtectProc=invisible',
    ...(n.realtime ? [] : ['RestrictRealtime=yes']),
    ...(n.runsNode ? [] : ['MemoryDenyWriteExecute=yes']),
    FAMILIES[n.families ?? 'inet'],
    `CapabilityBoundingSet=${n.caps.join(' ')}`,
    'SystemCallFilter=@system-service',
    `SystemCallFilter=~${denied.join(' ')}`,
    'SystemCallErrorNumber=EPERM',
  ];
}

export function unitSandbox(unit: Unit, l: Layout): Sandbox {
  const run = l.runDir;
  switch (unit) {
    case 'ober-http':
      // The master (root) binds the listeners, reads the certificates and re-executes itself on
      // reload; the workers run as the haproxy user (haproxy.cfg). setuid/setgid for that drop, kill
      // to signal workers of another uid, sys_resource to raise the descriptor limit for maxconn,
      // net_admin for the keepalived mode's transparent binds (IP_TRANSPARENT).
      return { directives: daemon({ caps: ['CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_SYS_RESOURCE'], writes: [run], privileged: true, resources: true }), maxExposure: 3.5 };
    case 'ober-bgp':
      // ExaBGP never listens (tcp.bind is empty): outbound BGP needs no privilege, nor does the TCP
      // MD5 option. Its health processes are `ober health` (Node.js). It always "drops" to its
      // daemon user, root here: setgid(0)/setuid(0), which a root without capabilities may call
      // for its own ids, but which the @privileged filter refused, and ExaBGP then "refusing to
      // run as root" exited (reactor/loop.py, reactor/daemon.py drop_privileges).
      return { directives: daemon({ caps: [], writes: [run], runsNode: true, privileged: true }), maxExposure: 3 };
    case 'ober-bfd':
      // BIRD: BFD's UDP ports 3784/3785 are below 1024; raw and admin for its sockets and the
      // interface scan (the three capabilities Debian's bird2 unit grants).
      return { directives: daemon({ caps: ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'], writes: [run] }), maxExposure: 3.5 };
    case 'ober-ha':
      // keepalived: VRRP is a raw IP protocol, gratuitous ARP a packet socket, the VIPs netlink
      // writes, promote_secondaries a sysctl; it may raise its own priority. It sets the notify
      // script's uid and groups before exec even for root (setgroups: "Couldn't setgroups: 0" in the
      // booted node without CAP_SETGID, and the script never ran). ExecStopPost runs `ober vip-release` (Node.js).
      return {
        directives: daemon({ caps: ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_KILL', 'CAP_SYS_NICE', 'CAP_SETUID', 'CAP_SETGID'], writes: [run], families: 'inet+packet', runsNode: true, privileged: true, resources: true, realtime: true, tunables: true }),
        maxExposure: 4,
      };
    case 'ober-routes':
      // `ober backend-routes` (Node.js): ip route (netlink, CAP_NET_ADMIN), a drop-in under
      // networkd's /run directory, networkctl reload (D-Bus: uid 0 is enough).
      return { directives: daemon({ caps: ['CAP_NET_ADMIN'], writes: [`-${l.networkdDir}`], runsNode: true }), maxExposure: 3.5 };
    case 'ober-track':
    case 'ober-status':
      // Node.js polling HAProxy on 127.0.0.1 and writing small files in the run directory; the
      // publisher also asks ss (netlink) and birdc (a unix socket).
      return { directives: daemon({ caps: [], writes: [run], runsNode: true }), maxExposure: 3 };
    case 'ober-certs':
      // Writes the certificate directories of the current release, checks with haproxy -c, and
      // reloads ober-http through systemd (D-Bus: uid 0 is enough).
      return { directives: daemon({ caps: [], writes: [run, l.stateDir], runsNode: true }), maxExposure: 3 };
    case 'ober-reset@':
      // ss -K: sock_diag over netlink, and CAP_NET_ADMIN to destroy sockets; it writes nothing.
      return { directives: daemon({ caps: ['CAP_NET_ADMIN'], writes: [] }), maxExposure: 3 };
    case 'ober-watchdog':
      // busctl on the system bus.
      return { directives: [...daemon({ caps: [], writes: [], families: 'unix' }), 'PrivateNetwork=yes'], maxExposure: 2 };
    case 'ober-firstboot':
      return {
        // Its work is the system's configuration: sysctls, the firewall, network and unit files in
        // /run, its release on /var, the seed device. So no read-only system, no device or network
        // isolation, and the capabilities that work needs; but bounded memory and tasks.
        directives: [...BASE, `MemoryMax=${FIRSTBOOT_MEMORY_MAX}`, 'TasksMax=64', 'RestrictRealtime=yes'],
        maxExposure: 7.5,
        why: 'first boot configures the system itself (sysctl, nftables, network and unit files, the seed device): it keeps root',
      };
  }
}
