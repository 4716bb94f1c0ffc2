/**
 * RLIMIT_NOFILE of ober-http.service (LimitNOFILE=). HAProxy needs two descriptors per connection
 * (client and server side) plus listeners, checks and pipes (haproxyFilesNeeded), and refuses to
 * start when maxconn does not fit ("Cannot raise FD limit"): maxconn is bounded by it in the schema.
 */
export const HAPROXY_FILE_LIMIT = 1_048_576;
/** HAProxy's workers run as this user (the image's haproxy package creates it); the master stays root. */
export const HAPROXY_USER = 'haproxy';
/** Descriptors HAProxy keeps besides connections and pipes (HAProxy 2.6 asked 2 × maxconn + 36 here). */
export const HAPROXY_FD_RESERVE = 1000;
/**
 * Most kernel pipes for splicing plain-HTTP bodies (HAProxy's `maxpipes`; its own default is
 * maxconn / 4). A pipe holds up to HAPROXY_PIPE_SIZE of kernel memory and two descriptors; with
 * none free HAProxy copies through its buffers instead, so the cap bounds memory (256 MiB), not
 * what can be served.
 */
export const HAPROXY_MAX_PIPES = 1024;
/**
 * Capacity of each pipe (`tune.pipesize`; the kernel's default is 64 KiB). Larger pipes move a
 * PUT's body in fewer, larger splices: HAProxy CPU per GiB of single-stream PUT 0.29 → 0.18 s in
 * an interleaved bench:s3 run (1 MiB: 0.14 s, at four times the memory bound); GETs arrive from
 * RGW in smaller pieces and did not change.
 */
export const HAPROXY_PIPE_SIZE = 256 * 1024;
/** `maxpipes` rendered for a maxconn. */
export const haproxyPipes = (maxconn: number): number => Math.min(HAPROXY_MAX_PIPES, Math.floor(maxconn / 4));
/** The kernel's fs.pipe-user-pages-soft, which every other user keeps. */
const KERNEL_PIPE_USER_PAGES_SOFT = 16_384;
/**
 * fs.pipe-user-pages-soft: the kernel gives a user without CAP_SYS_RESOURCE (HAProxy's workers)
 * pipes of 2 pages, and refuses to enlarge them, once its pipes hold this many pages in total
 * (64 MiB by default: 256 pipes of 256 KiB). HAProxy's pipes at their cap must fit, besides what
 * other users may have.
 */
export const PIPE_USER_PAGES_SOFT = (HAPROXY_MAX_PIPES * HAPROXY_PIPE_SIZE) / 4096 + KERNEL_PIPE_USER_PAGES_SOFT;
/** Descriptors HAProxy asks for at a maxconn: two per connection (client and server side), two per pipe, the reserve. */
export const haproxyFilesNeeded = (maxconn: number): number => 2 * maxconn + 2 * haproxyPipes(maxconn) + HAPROXY_FD_RESERVE;
/** The largest maxconn whose descriptors fit in a file limit. */
export function maxconnWithin(files: number): number {
  // Pipes at their cap (large limits) or at maxconn / 4, whichever the answer falls under.
  const capped = Math.floor((files - HAPROXY_FD_RESERVE - 2 * HAPROXY_MAX_PIPES) / 2);
  if (capped >= 4 * HAPROXY_MAX_PIPES) return capped;
  let m = Math.floor(((files - HAPROXY_FD_RESERVE) * 2) / 5);
  while (haproxyFilesNeeded(m + 1) <= files) m++;
  return m;
}
export const MAX_HAPROXY_MAXCONN = maxconnWithin(HAPROXY_FILE_LIMIT);

// Kernel settings every node gets (/etc/sysctl.d/99-herr-ober.conf in the seed's design), in the
// order they are written. Cluster `sysctl:` and node `overrides.sysctl` replace or extend them.
export const DEFAULT_SYSCTL: ReadonlyArray<readonly [string, string, string]> = [
  // [key, value, why]
  ['net.core.netdev_max_backlog', '250000', 'absorb micro-bursts at high packet rates'],
  ['net.core.somaxconn', '65535', 'accept queue for connection storms'],
  ['net.core.rmem_max', '134217728', '128 MiB socket buffers for long fat S3 transfers'],
  ['net.core.wmem_max', '134217728', ''],
  ['net.ipv4.tcp_rmem', '4096 87380 134217728', ''],
  ['net.ipv4.tcp_wmem', '4096 65536 134217728', ''],
  ['net.core.default_qdisc', 'fq', 'BBR paces with fq'],
  ['net.ipv4.tcp_congestion_control', 'bbr', ''],
  ['net.ipv4.ip_local_port_range', '1024 65535', 'more source ports towards the RGWs'],
  ['vm.panic_on_oom', '1', 'an OOM panics, and kernel.panic reboots: faster than a limping node'],
  ['kernel.panic', '10', 'reboot 10 s after a panic'],
  ['net.ipv4.ip_nonlocal_bind', '1', 'HAProxy binds VIPs the node does not hold (keepalived backups)'],
  ['net.ipv4.conf.all.arp_ignore', '1', 'answer ARP only for addresses on the asking interface: VIPs on lo-vip stay silent'],
  ['net.ipv4.conf.all.arp_announce', '2', 'use the interface address as ARP source, never a VIP'],
  ['net.ipv4.conf.all.rp_filter', '2', 'loose reverse-path filter: VIP traffic arrives on a different interface than the VIP'],
  ['net.ipv4.conf.default.rp_filter', '2', ''],
  ['net.ipv4.tcp_fin_timeout', '15', ''],
  ['net.ipv4.tcp_tw_reuse', '1', 'reuse TIME_WAIT sockets for new backend connections'],
  ['fs.pipe-user-pages-soft', String(PIPE_USER_PAGES_SOFT), "HAProxy's splice pipes at their cap (maxpipes × tune.pipesize) keep their size"],
];

/** First VRRP virtual router id of a keepalived cluster (`keepalived.vridBase`). */
export const DEFAULT_VRID_BASE = 50;

/** VRRP virtual router id of VIP number `index` (file order): its own `vrid`, else vridBase + index. */
export function vridOf(vip: { vrid?: number | undefined }, index: number, vridBase: number | undefined): number {
  return vip.vrid ?? (vridBase ?? DEFAULT_VRID_BASE) + index;
}
