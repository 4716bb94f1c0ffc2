// Where things live on a node. One table, used by the renderer (paths inside configs and the
// paths of rendered files), the first-boot installer and the node CLI. `root` prefixes every path:
// '' on a real node, a temporary directory in tests (so `haproxy -c` finds the certificates).
//
// The root file system is read-only. Node-specific configuration is rendered at boot into a new
// release directory under /var/lib/ober/releases and switched into place by moving the `current`
// symlink (atomic); systemd, networkd, sysctl and journald drop-ins go to /run, which their
// daemons read before /usr/lib.

export interface Layout {
  root: string;
  /** Persistent state of the node program. */
  stateDir: string;
  /** The active rendered configuration (a symlink to a release directory). */
  current: string;
  haproxyDir: string;
  haproxyCfg: string;
  haproxyCertDir: string;
  haproxyAclDir: string;
  haproxySocket: string;
  haproxyMasterSocket: string;
  haproxyPidFile: string;
  exabgpConf: string;
  exabgpEnv: string;
  birdConf: string;
  birdSocket: string;
  keepalivedConf: string;
  nftablesRules: string;
  nodeJson: string;
  /** Written by the health feed in keepalived mode: 0 = HAProxy healthy, 1 = not (keepalived track_file). */
  trackFile: string;
  runDir: string;
  /**
   * Maintenance flag: while this file exists the health feeds report the node unhealthy (BGP:
   * withdraw every VIP; keepalived: track file 1). `ober stop` creates it before draining HAProxy,
   * `ober start` / a reboot (it lives in /run) removes it.
   */
  maintenanceFlag: string;
  /** VRRP state per instance, written by the notify script. */
  vrrpStateDir: string;
  /** Every VRRP transition, one JSON line each, appended by the notify script (bounded by it). */
  vrrpEventLog: string;
  /** The node's status document, rewritten every second by `ober status --publish`; HAProxy serves it at :8404/status. */
  statusFile: string;
  /** Recent failover events, rewritten with the status; HAProxy serves them at :8404/events. */
  eventsFile: string;
  /** HAProxy's Lua service that serves statusFile and eventsFile (rendered with haproxy.cfg). */
  statusLua: string;
  sysctlFile: string;
  networkdDir: string;
  nmConnectionsDir: string;
  unitDir: string;
  runtimeUnitDir: string;
  systemConfDir: string;
  journaldConfDir: string;
  /** The node program and its wrapper, installed by the image build. */
  programDir: string;
  oberBin: string;
  notifyScript: string;
}

export function nodeLayout(root = ''): Layout {
  root = root.replace(/\/+$/, '');
  const r = (p: string) => `${root}${p}`;
  const current = r('/var/lib/ober/current');
  return {
    root,
    stateDir: r('/var/lib/ober'),
    current,
    haproxyDir: `${current}/haproxy`,
    haproxyCfg: `${current}/haproxy/haproxy.cfg`,
    haproxyCertDir: `${current}/haproxy/certs`,
    haproxyAclDir: `${current}/haproxy/acl`,
    haproxySocket: r('/run/ober/haproxy.sock'),
    haproxyMasterSocket: r('/run/ober/haproxy-master.sock'),
    haproxyPidFile: r('/run/ober/haproxy.pid'),
    exabgpConf: `${current}/exabgp/exabgp.conf`,
    exabgpEnv: `${current}/exabgp/exabgp.env`,
    birdConf: `${current}/bird/bird.conf`,
    birdSocket: r('/run/ober/bird.ctl'),
    keepalivedConf: `${current}/keepalived/keepalived.conf`,
    nftablesRules: `${current}/nftables/ober.nft`,
    nodeJson: `${current}/node.json`,
    trackFile: r('/run/ober/haproxy.track'),
    runDir: r('/run/ober'),
    maintenanceFlag: r('/run/ober/maintenance'),
    vrrpStateDir: r('/run/ober/vrrp'),
    vrrpEventLog: r('/run/ober/vrrp/events.jsonl'),
    statusFile: r('/run/ober/status.json'),
    eventsFile: r('/run/ober/events.json'),
    statusLua: `${current}/haproxy/status.lua`,
    sysctlFile: r('/run/sysctl.d/99-herr-ober.conf'),
    networkdDir: r('/run/systemd/network'),
    nmConnectionsDir: r('/run/NetworkManager/system-connections'),
    unitDir: r('/usr/lib/systemd/system'),
    runtimeUnitDir: r('/run/systemd/system'),
    systemConfDir: r('/usr/lib/systemd/system.conf.d'),
    journaldConfDir: r('/run/systemd/journald.conf.d'),
    programDir: r('/usr/lib/ober'),
    oberBin: r('/usr/bin/ober'),
    notifyScript: r('/usr/lib/ober/vrrp-notify'),
  };
}
