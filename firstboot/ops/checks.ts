// `ober doctor` and `ober test`: small checks, each a function of the node's layout, its derived
// configuration (when there is one) and the probes. Every failure says how to fix it.
import { parseEnvFile } from '../lib/env-file.js';
import path from 'node:path';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { checkPem } from '../model/pem.js';
import type { Probes } from './probes.js';
import { parseIpAddrs } from './vrrp.js';

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

export const DOCTOR_CHECKS: readonly Check[] = [metadataCheck, sysctlCheck, watchdogCheck, vipHolderCheck, peersCheck, certificatesCheck, backendsCheck, clockCheck];
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
