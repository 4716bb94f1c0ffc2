// `ober doctor` and `ober test`: small checks, each a function of the node's layout, its derived
// configuration (when there is one) and the probes. Every failure says how to fix it.
import { parseEnvFile } from '../lib/env-file.js';
import path from 'node:path';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { priorityOf, TRACK_WEIGHT } from '../model/ownership.js';
import { STATS_PORT, vipHealthPath } from '../render/haproxy.js';
import { vrrpInstanceName } from '../render/keepalived.js';
import { checkPem } from '../model/pem.js';
import type { Probes } from './probes.js';
import { parseIpAddrs } from './vrrp.js';
import { reusedServerHosts, routeHasQuickAck, serverAddresses, type Runner } from './backend-quickack.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckOutcome {
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export interface CheckResult extends CheckOutcome {
  id: string;
  title: string;
}

export interface CheckContext {
  layout: Layout;
  /** undefined before first boot (or when node.json is unreadable: see nodeError). */
  node?: NodeConfig;
  nodeError?: string;
  probes: Probes;
  /** Kernel settings directory (/proc/sys on a node). */
  procSys: string;
}

export interface Check {
  id: string;
  title: string;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}

/** Connect timeout of reachability checks: a LAN peer answers in well under a second. */
const TCP_TIMEOUT_MS = 1000;
/** Certificates expiring sooner than this are reported. */
export const CERT_WARN_DAYS = 14;

const ok = (detail: string): CheckOutcome => ({ status: 'ok', detail });
const skip = (detail: string): CheckOutcome => ({ status: 'skip', detail });
const fail = (detail: string, fix: string): CheckOutcome => ({ status: 'fail', detail, fix });
const warn = (detail: string, fix: string): CheckOutcome => ({ status: 'warn', detail, fix });
const noNode = () => skip('no node configuration yet (before first boot)');

export const metadataCheck: Check = {
  id: 'metadata',
  title: 'node configuration present and valid',
  async run({ node, nodeError, layout }) {
    if (node) return ok(`node ${node.node.name} of cluster ${node.cluster}, mode ${node.mode}, ${node.vips.length} VIP(s)`);
    return fail(nodeError ?? `${layout.nodeJson} is missing`, 'check the Proxmox cloud-init drive (ober vendor-data), then run ober firstboot and read journalctl -u ober-firstboot');
  },
};

/** `key = value` lines of a sysctl.d file. */
export function parseSysctlFile(text: string): [string, string][] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#') && !l.startsWith(';') && l.includes('='))
    .map((l) => [l.slice(0, l.indexOf('=')).trim(), l.slice(l.indexOf('=') + 1).trim()]);
}

const normalize = (v: string) => v.trim().split(/\s+/).join(' ');

export const sysctlCheck: Check = {
  id: 'sysctl',
  title: 'kernel settings applied',
  async run({ layout, probes, procSys }) {
    const text = await probes.readText(layout.sysctlFile);
    if (text === undefined) return skip(`${layout.sysctlFile} not rendered yet`);
    const wrong: string[] = [];
    const settings = parseSysctlFile(text);
    for (const [key, want] of settings) {
      const have = await probes.readText(path.join(procSys, ...key.split('.')));
      if (have === undefined || normalize(have) !== normalize(want)) wrong.push(`${key} is ${have === undefined ? 'absent' : normalize(have)}, want ${want}`);
    }
    return wrong.length ? fail(wrong.join('; '), `sysctl -p ${layout.sysctlFile} (a missing key needs its kernel module, e.g. tcp_bbr)`) : ok(`${settings.length} settings as rendered`);
  },
};

export const watchdogCheck: Check = {
  id: 'watchdog',
  title: 'hardware watchdog armed',
  async run({ probes }) {
    const device = await probes.exists('/dev/watchdog0');
    const r = await probes.run(['systemctl', 'show', '-p', 'RuntimeWatchdogUSec']);
    const value = /RuntimeWatchdogUSec=(\S*)/.exec(r.output)?.[1] ?? '';
    const armed = value !== '' && value !== '0' && value !== 'infinity';
    if (!device) return fail('/dev/watchdog0 is missing', 'add a watchdog to the VM (qm set <vmid> --watchdog model=i6300esb,action=reset) or load softdog');
    if (!armed) return fail(`systemd RuntimeWatchdogUSec=${value || '?'}`, 'the image ships RuntimeWatchdogSec in system.conf.d; run systemctl daemon-reexec');
    return ok(`/dev/watchdog0, RuntimeWatchdogUSec=${value}`);
  },
};

export const vipHolderCheck: Check = {
  id: 'vip-holder',
  title: 'VIPs on lo-vip (BGP mode)',
  async run({ node, probes }) {
    if (!node) return noNode();
    if (node.mode !== 'bgp') return skip('keepalived mode: keepalived adds the VIPs it owns');
    const r = await probes.run(['ip', '-o', '-4', 'addr', 'show', 'dev', 'lo-vip']);
    if (r.exitCode !== 0) return fail(`lo-vip: ${r.output || 'not present'}`, 'networkctl reload (the lo-vip netdev is rendered under /run/systemd/network)');
    const have = parseIpAddrs(r.output);
    const missing = node.vips.filter((v) => !have.has(v.address)).map((v) => v.address);
    return missing.length ? fail(`missing on lo-vip: ${missing.join(', ')}`, 'networkctl reload') : ok(node.vips.map((v) => v.address).join(', '));
  },
};

export const peersCheck: Check = {
  id: 'peers',
  title: 'BGP neighbours reachable on TCP 179 / VRRP interface up',
  async run({ node, probes }) {
    if (!node) return noNode();
    if (node.bgp) {
      const bad: string[] = [];
      for (const n of node.bgp.neighbors) {
        const why = await probes.tcp(n.address, 179, TCP_TIMEOUT_MS);
        if (why) bad.push(`${n.address}: ${why}`);
      }
      const all = node.bgp.neighbors.map((n) => n.address).join(', ');
      if (bad.length === 0) return ok(`179/tcp open on ${all}`);
      return fail(bad.join('; '), "check the router's neighbour configuration for this node's address and the path to it (a router with passive neighbours must allow this node)");
    }
    const ifname = node.keepalived?.interface ?? node.node.interface;
    const r = await probes.run(['ip', '-o', 'link', 'show', 'dev', ifname]);
    if (r.exitCode !== 0 || !/[<,]LOWER_UP[,>]/.test(r.output)) return fail(`${ifname}: ${r.output || 'absent'}`, `bring ${ifname} up; VRRP adverts need it`);
    return ok(`${ifname} up`);
  },
};

export const certificatesCheck: Check = {
  id: 'certificates',
  title: `certificates valid and not expiring within ${CERT_WARN_DAYS} days`,
  async run({ layout, probes }) {
    const files = (await probes.listDir(layout.haproxyCertDir)).filter((f) => f.endsWith('.pem')).sort();
    if (files.length === 0) return skip(`no certificate in ${layout.haproxyCertDir}`);
    const now = probes.now();
    const bad: string[] = [];
    const soon: string[] = [];
    for (const f of files) {
      const pem = (await probes.readText(path.join(layout.haproxyCertDir, f))) ?? '';
      const problem = checkPem(pem, now);
      if (problem) bad.push(`${f}: ${problem}`);
      else if (checkPem(pem, now + CERT_WARN_DAYS * 86_400_000)) soon.push(f);
    }
    const fix = 'deploy a renewed certificate (ober deploy) or drop a valid PEM into the certs directory: ober-certs reloads it';
    if (bad.length) return fail(bad.join('; '), fix);
    if (soon.length) return warn(`${soon.join(', ')} expire(s) within ${CERT_WARN_DAYS} days`, fix);
    return ok(files.join(', '));
  },
};

export const backendsCheck: Check = {
  id: 'backends',
  title: 'backend servers reachable',
  async run({ node, probes }) {
    if (!node) return noNode();
    const down: string[] = [];
    let total = 0;
    for (const b of node.backends) {
      for (const s of b.servers) {
        total++;
        const why = await probes.tcp(s.host, s.port, TCP_TIMEOUT_MS);
        if (why) down.push(`${b.name} ${s.host}:${s.port} (${why})`);
      }
    }
    const fix = 'check the RGW service and the route/firewall from this node to the backend network';
    if (down.length === total) return fail(`no server reachable: ${down.join('; ')}`, fix);
    if (down.length) return warn(`${down.length}/${total} unreachable: ${down.join('; ')}`, fix);
    return ok(`${total} server(s)`);
  },
};

/** Kept RGW connections stall small answers without the node's quickack routes (backend-quickack.ts). */
export const backendQuickAckCheck: Check = {
  id: 'backend-quickack',
  title: 'kept backend connections ACK at once (quickack routes)',
  async run({ node, probes }) {
    if (!node) return noNode();
    const hosts = reusedServerHosts(node);
    if (!hosts.length) return skip('no backend keeps its connections (reuseConnections: false)');
    const runner: Runner = async (argv) => {
      const r = await probes.run(argv);
      return { exitCode: r.exitCode, stdout: r.output, stderr: '' };
    };
    // Names as the resolver answers now, as ober backend-routes resolved them at boot.
    const { addresses, unresolved } = await serverAddresses(hosts, (h) => probes.resolve(h));
    const missing: string[] = [];
    for (const a of addresses) if (!(await routeHasQuickAck(runner, a))) missing.push(a);
    const unnamed = unresolved.length ? `; not resolved: ${unresolved.join(', ')}` : '';
    if (missing.length) {
      return warn(
        `${missing.length}/${addresses.length} without quickack: ${missing.join(', ')}${unnamed}`,
        "small answers on kept RGW connections wait ~40 ms for a delayed ACK: `systemctl restart ober-routes` adds the routes again (`journalctl -u ober-routes` says why one did not take; a name whose address changed since boot gets its route then); or set the backend's reuseConnections: false",
      );
    }
    return ok(`${addresses.length} server address(es) routed with quickack${unnamed}`);
  },
};

export const clockCheck: Check = {
  id: 'clock',
  title: 'clock synchronised',
  async run({ probes }) {
    const t = await probes.run(['timedatectl', 'show', '-p', 'NTPSynchronized', '--value']);
    if (t.exitCode === 0 && t.output.trim() === 'yes') return ok('timedatectl: NTPSynchronized=yes');
    const c = await probes.run(['chronyc', 'tracking']);
    if (c.exitCode === 0 && /Leap status\s*:\s*Normal/.test(c.output)) return ok('chronyc: leap status normal');
    return fail(`not synchronised (timedatectl: ${t.output.trim() || t.exitCode}; chronyc: ${c.exitCode === 0 ? 'not normal' : 'unavailable'})`, 'check NTP servers (systemd-timesyncd or chrony) and UDP 123 to them; TLS and BGP MD5 do not care, but logs and certificate checks do');
  },
};


// --- Keepalived troubleshooting (the phase document's checks when a VIP misbehaves)

export const interfaceCheck: Check = {
  id: 'interface',
  title: "LAN interface up with this node's address",
  async run({ node, probes }) {
    if (!node) return noNode();
    const ifname = node.keepalived?.interface ?? node.node.interface;
    const link = await probes.run(['ip', '-o', 'link', 'show', 'dev', ifname]);
    if (link.exitCode !== 0) return fail(`${ifname}: ${link.output || 'absent'}`, `the VM has no ${ifname}: check its network device (qm config <vmid>: net0) or set keepalived.interface / nodes[].overrides.keepalived.interface`);
    if (!/[<,]LOWER_UP[,>]/.test(link.output)) return fail(`${ifname} has no carrier`, `ip link set ${ifname} up; check the bridge or VLAN of the VM's net0 in Proxmox`);
    const addrs = parseIpAddrs((await probes.run(['ip', '-o', '-4', 'addr', 'show', 'dev', ifname])).output);
    if (!addrs.has(node.node.address)) {
      return fail(`${ifname} carries ${[...addrs].join(', ') || 'no IPv4 address'}, not ${node.node.address}`, `the node's address comes from Proxmox's ipconfig0 (cloud-init): set it to ${node.node.address}/${node.node.prefix} and reboot`);
    }
    return ok(`${ifname} up, ${node.node.address}/${node.node.prefix}`);
  },
};

/** `nft list chain inet ober input` → the VRRP accept rule, and the packets its counting rule saw. */
export function vrrpRuleCounter(chain: string): { rule?: string; packets?: number } {
  const lines = chain.split('\n').map((l) => l.trim());
  const rule = lines.find((l) => /\bip protocol vrrp\b.*\baccept$/.test(l));
  const m = lines.map((l) => /\bip protocol vrrp counter packets (\d+) bytes \d+$/.exec(l)).find(Boolean);
  return { ...(rule ? { rule } : {}), ...(m ? { packets: Number(m[1]) } : {}) };
}

const NFT_CHAIN = ['nft', 'list', 'chain', 'inet', 'ober', 'input'];

export const vrrpFirewallCheck: Check = {
  id: 'vrrp-firewall',
  title: 'VRRP (IP protocol 112) allowed from every peer',
  async run({ node, layout, probes }) {
    if (!node) return noNode();
    if (!node.keepalived) return skip('BGP mode: no VRRP');
    if (node.keepalived.unicast && node.peers.length === 0) return skip('a one-node cluster: no peer sends VRRP');
    const fix = `nft -f ${layout.nftablesRules} (the rules first boot rendered); a firewall outside the node (Proxmox VM firewall, switch ACL) must pass IP protocol 112 between the nodes too`;
    const chain = await probes.run(NFT_CHAIN);
    if (chain.exitCode !== 0) return fail(`the node's firewall table is not loaded: ${chain.output.split('\n')[0] ?? ''}`, fix);
    const { rule } = vrrpRuleCounter(chain.output);
    if (!rule) return fail('no rule accepts IP protocol 112 (vrrp): adverts are dropped by the default-drop policy', fix);
    if (!node.keepalived.unicast) return ok(rule);
    const set = await probes.run(['nft', 'list', 'set', 'inet', 'ober', 'vrrp_peers']);
    const have = new Set([...set.output.matchAll(/\d+\.\d+\.\d+\.\d+/g)].map((m) => m[0]));
    const missing = node.peers.filter((p) => !have.has(p.address)).map((p) => `${p.name} ${p.address}`);
    return missing.length ? fail(`adverts from ${missing.join(', ')} are dropped (not in set vrrp_peers)`, fix) : ok(`from ${node.peers.map((p) => p.address).join(', ')}`);
  },
};

/** How long vrrp-traffic watches the counter: several advert intervals, at least a second. */
export const vrrpWatchMs = (node: NodeConfig): number => Math.max(1000, 5 * (node.keepalived?.advertIntervalMs ?? 1000));

export const vrrpTrafficCheck: Check = {
  id: 'vrrp-traffic',
  title: 'VRRP adverts arriving from peers',
  async run({ node, probes }) {
    if (!node) return noNode();
    if (!node.keepalived) return skip('BGP mode: no VRRP');
    if (node.peers.length === 0) return skip('a one-node cluster: no peer sends VRRP');
    const before = vrrpRuleCounter((await probes.run(NFT_CHAIN)).output).packets;
    if (before === undefined) return skip('no VRRP counting rule loaded (see vrrp-firewall; rules of an older release)');
    const watch = vrrpWatchMs(node);
    await probes.sleep(watch);
    const after = vrrpRuleCounter((await probes.run(NFT_CHAIN)).output).packets ?? before;
    if (after > before) return ok(`${after - before} advert(s) in ${(watch / 1000).toFixed(1)} s`);
    return fail(
      `no VRRP advert from a peer in ${(watch / 1000).toFixed(1)} s: this node then claims every VIP whose master it cannot hear (split brain)`,
      `check that keepalived runs on the other nodes (ober status there), that IP protocol 112 passes between the nodes (Proxmox VM firewall, switch), and that the peers' addresses are their nodes[].address`,
    );
  },
};

export const vrrpPrioritiesCheck: Check = {
  id: 'vrrp-priorities',
  title: 'VRRP priorities distinct, also with a failed health check',
  async run({ node, layout, probes }) {
    if (!node) return noNode();
    if (!node.keepalived) return skip('BGP mode: no VRRP');
    const conf = (await probes.readText(layout.keepalivedConf)) ?? '';
    const problems: string[] = [];
    for (const v of node.vips) {
      if (!v.vrrp) continue;
      // Every node's priority for this VIP, healthy and with the track file's weight applied.
      const prios = v.vrrp.ranking.flatMap((n, rank) => [
        { who: n, p: priorityOf(rank) },
        { who: `${n} (unhealthy)`, p: priorityOf(rank) + TRACK_WEIGHT },
      ]);
      for (let i = 0; i < prios.length; i++) {
        const a = prios[i];
        if (!a) continue;
        if (a.p < 1 || a.p > 254) problems.push(`${v.name}: ${a.who} would have priority ${a.p}, outside 1-254`);
        for (const b of prios.slice(i + 1)) if (b.p === a.p && a.who.split(' ')[0] !== b.who.split(' ')[0]) problems.push(`${v.name}: ${a.who} and ${b.who} both ${a.p}`);
      }
      const block = conf.slice(conf.indexOf(`vrrp_instance ${vrrpInstanceName(v.name)} {`));
      const running = /^\s*priority (\d+)$/m.exec(block)?.[1];
      if (running !== undefined && Number(running) !== v.vrrp.priority) problems.push(`${v.name}: keepalived.conf has priority ${running}, the derivation ${v.vrrp.priority}`);
    }
    return problems.length
      ? fail(problems.join('; '), 'equal priorities leave the election to the higher IP address; fewer nodes per cluster, or re-run first boot so keepalived.conf matches node.json')
      : ok(`${node.vips.length} VIP(s): owner ${priorityOf(0)}, backups ${priorityOf(1)} down, ${TRACK_WEIGHT} when unhealthy`);
  },
};

/** The track file is rewritten every second by ober-track: older than this, the feed has stopped. */
export const TRACK_FILE_MAX_AGE_MS = 5000;

export const healthResultCheck: Check = {
  id: 'health-result',
  title: 'health feed result (what keepalived or ExaBGP act on)',
  async run({ node, layout, probes }) {
    if (!node) return noNode();
    if (node.bgp) {
      const down: string[] = [];
      for (const v of node.vips) {
        const r = await probes.run(['curl', '-s', '-o', '/dev/null', '-m', '2', '-w', '%{http_code}', `http://127.0.0.1:${STATS_PORT}${vipHealthPath(v.name)}`]);
        if (r.output !== '200') down.push(`${v.name} (${r.output || `exit ${r.exitCode}`})`);
      }
      return down.length
        ? fail(`withdrawn: ${down.join(', ')}`, 'the VIPs of a backend with no server up are withdrawn: ober status lists the backends; check the RGWs and the path to them')
        : ok(`${node.vips.length} VIP(s) healthy: announced`);
    }
    const text = await probes.readText(layout.trackFile);
    if (text === undefined) return fail(`${layout.trackFile} is missing: keepalived counts the node as unhealthy`, 'systemctl status ober-track (the health feed writes it)');
    const age = probes.now() - ((await probes.mtimeMs(layout.trackFile)) ?? 0);
    if (age > TRACK_FILE_MAX_AGE_MS) return fail(`${layout.trackFile} not rewritten for ${Math.round(age / 1000)} s: the health feed has stopped`, 'systemctl restart ober-track; journalctl -u ober-track');
    if (text.trim() !== '0') return fail(`${layout.trackFile} = ${text.trim()}: unhealthy, priority lowered by ${-TRACK_WEIGHT}, VIPs handed over`, 'HAProxy has no backend server up, or the node is in maintenance (ober stop): ober status says which');
    return ok(`${layout.trackFile} = 0 (healthy), rewritten ${(age / 1000).toFixed(1)} s ago`);
  },
};

const configCheck = (id: string, title: string, applies: (n: NodeConfig) => boolean, argv: (l: Layout) => string[], envFile?: (l: Layout) => string): Check => ({
  id,
  title,
  async run({ node, layout, probes }) {
    if (!node) return noNode();
    if (!applies(node)) return skip(`not used in this node's mode (${node.mode})`);
    const env = envFile ? parseEnvFile((await probes.readText(envFile(layout))) ?? '') : undefined;
    const a = argv(layout);
    const r = await probes.run(a, env);
    // keepalived reports some configuration errors and still exits 0.
    if (r.exitCode !== 0 || /unknown keyword|configuration error/i.test(r.output)) {
      return fail(`${a.join(' ')}: exit ${r.exitCode}${r.output ? `: ${r.output.split('\n').slice(-3).join(' / ')}` : ''}`, 'the rendered file is wrong: run ober firstboot again and report a bug with ober render output');
    }
    return ok(a.join(' '));
  },
});

export const haproxyConfigCheck = configCheck('haproxy-config', 'haproxy.cfg valid', () => true, (l) => ['haproxy', '-c', '-f', l.haproxyCfg]);
export const exabgpConfigCheck = configCheck('exabgp-config', 'exabgp.conf valid', (n) => n.mode === 'bgp', (l) => ['exabgp', '--test', l.exabgpConf], (l) => l.exabgpEnv);
export const birdConfigCheck = configCheck('bird-config', 'BFD responder config valid', (n) => !!n.bgp?.bfd.enabled, (l) => ['bird', '-p', '-c', l.birdConf]);
export const keepalivedConfigCheck = configCheck('keepalived-config', 'keepalived.conf valid', (n) => n.mode === 'keepalived', (l) => ['keepalived', '--config-test', '--use-file', l.keepalivedConf]);

export const DOCTOR_CHECKS: readonly Check[] = [
  metadataCheck,
  sysctlCheck,
  watchdogCheck,
  vipHolderCheck,
  peersCheck,
  interfaceCheck,
  vrrpFirewallCheck,
  vrrpTrafficCheck,
  vrrpPrioritiesCheck,
  healthResultCheck,
  certificatesCheck,
  backendsCheck,
  backendQuickAckCheck,
  clockCheck,
];
/** `ober test`: configuration and neighbours only; nothing is started. */
export const TEST_CHECKS: readonly Check[] = [metadataCheck, haproxyConfigCheck, exabgpConfigCheck, birdConfigCheck, keepalivedConfigCheck, peersCheck];

export async function runChecks(checks: readonly Check[], ctx: CheckContext): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const c of checks) {
    let r: CheckOutcome;
    try {
      r = await c.run(ctx);
    } catch (e) {
      r = { status: 'fail', detail: `check crashed: ${(e as Error).message}`, fix: 'report a bug' };
    }
    out.push({ id: c.id, title: c.title, ...r });
  }
  return out;
}
