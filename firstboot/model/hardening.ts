// The kernel settings the image's hardening relies on (overlays/base/etc/sysctl.d/10-ober-
// hardening.conf, systemd's fs.protected_* defaults, the rendered rp_filter), and which values of
// each weaken it. A cluster's `sysctl:` is rendered after the image's file, so it could undo any
// of them silently; a weakening value is refused unless written as
// `{ value: ..., allowWeakening: true }`, and then reported by `ober validate` and `ober status`.

export interface HardeningRule {
  /** The key, or a pattern for per-interface keys (net.ipv4.conf.<if>.accept_redirects). */
  key: RegExp;
  /** The value the image sets. */
  image: string;
  /** True when `v` keeps the protection (as strong as the image's value, or stronger). */
  keeps: (v: number) => boolean;
  /** What the setting protects against, for the message. */
  why: string;
}

const exact = (key: string) => new RegExp(`^${key.replace(/\./g, '\\.')}$`);
/** A key for every interface: all, default and any interface name (the kernel ORs or maxes them). */
const anyIf = (family: 'ipv4' | 'ipv6', leaf: string) => new RegExp(`^net\\.${family}\\.conf\\.[^.]+\\.${leaf}$`);

export const HARDENING: readonly HardeningRule[] = [
  { key: exact('kernel.kptr_restrict'), image: '2', keeps: (v) => v >= 2, why: 'hides kernel addresses from every user, a step of most kernel exploits' },
  { key: exact('kernel.dmesg_restrict'), image: '1', keeps: (v) => v >= 1, why: 'keeps the kernel log (addresses, hardware details) from unprivileged users' },
  { key: exact('kernel.unprivileged_bpf_disabled'), image: '1', keeps: (v) => v === 1, why: 'no BPF programs from unprivileged users, and no switching it back on' },
  { key: exact('net.core.bpf_jit_harden'), image: '2', keeps: (v) => v >= 2, why: 'constant blinding in the BPF JIT against JIT spraying' },
  { key: exact('kernel.yama.ptrace_scope'), image: '2', keeps: (v) => v >= 2, why: 'only root may attach to processes: a compromised daemon cannot read another one' },
  { key: exact('kernel.kexec_load_disabled'), image: '1', keeps: (v) => v === 1, why: 'no loading of another kernel at run time' },
  { key: exact('kernel.panic'), image: '10', keeps: (v) => v !== 0, why: 'a panicked node reboots (0 would leave it hung, holding its VIPs in limbo)' },
  { key: exact('kernel.panic_on_oops'), image: '1', keeps: (v) => v === 1, why: 'an oops reboots the node instead of running on with a damaged kernel' },
  { key: anyIf('ipv4', 'accept_redirects'), image: '0', keeps: (v) => v === 0, why: 'routes come from BGP/VRRP, never from ICMP redirects on the wire' },
  { key: anyIf('ipv6', 'accept_redirects'), image: '0', keeps: (v) => v === 0, why: 'routes never come from ICMP redirects on the wire' },
  { key: anyIf('ipv4', 'send_redirects'), image: '0', keeps: (v) => v === 0, why: 'the node is not a router and tells nobody where to send traffic' },
  { key: anyIf('ipv6', 'accept_source_route'), image: '0', keeps: (v) => v <= 0, why: 'no source-routed packets steering around the firewall' },
  { key: anyIf('ipv4', 'log_martians'), image: '1', keeps: (v) => v === 1, why: 'packets with impossible sources (spoofing, misrouting) leave a trace' },
  { key: exact('kernel.perf_event_paranoid'), image: '3', keeps: (v) => v >= 3, why: 'no performance counters for unprivileged users (a side channel and a kernel attack surface)' },
  { key: anyIf('ipv4', 'accept_source_route'), image: '0', keeps: (v) => v === 0, why: 'no source-routed packets steering around the firewall' },
  { key: exact('net.ipv4.tcp_syncookies'), image: '1', keeps: (v) => v >= 1, why: 'SYN floods cannot fill the accept queue' },
  { key: /^net\.ipv4\.conf\.(all|default)\.rp_filter$/, image: '2', keeps: (v) => v >= 1, why: 'spoofed sources from the wrong side are dropped' },
  { key: exact('fs.protected_symlinks'), image: '1', keeps: (v) => v >= 1, why: 'no symlink races in sticky directories such as /tmp' },
  { key: exact('fs.protected_hardlinks'), image: '1', keeps: (v) => v >= 1, why: 'no hard links to files the user cannot write' },
  { key: exact('fs.protected_fifos'), image: '2', keeps: (v) => v >= 2, why: 'no FIFO spoofing in sticky directories, group-writable ones included' },
  { key: exact('fs.protected_regular'), image: '2', keeps: (v) => v >= 2, why: 'no regular-file spoofing in sticky directories, group-writable ones included' },
  { key: exact('fs.suid_dumpable'), image: '0', keeps: (v) => v === 0, why: 'set-uid programs leave no core dumps with their secrets' },
];

export interface Weakening {
  key: string;
  value: string;
  rule: HardeningRule;
}

/** The rule `key = value` weakens, or undefined. A value that is not one integer weakens too: the kernel would refuse it, or read it differently. */
export function weakens(key: string, value: string): Weakening | undefined {
  const rule = HARDENING.find((r) => r.key.test(key));
  if (!rule) return undefined;
  const n = /^-?\d{1,10}$/.test(value.trim()) ? Number(value.trim()) : NaN;
  return Number.isFinite(n) && rule.keeps(n) ? undefined : { key, value, rule };
}

/** Every weakening among rendered settings (`ober status` reads them from node.json). */
export function weakenings(settings: readonly (readonly [string, string])[]): Weakening[] {
  return settings.flatMap(([k, v]) => {
    const w = weakens(k, v);
    return w ? [w] : [];
  });
}

export const describeWeakening = (w: Weakening) => `${w.key} = ${w.value} weakens the image's hardening (it sets ${w.rule.image}: ${w.rule.why})`;
