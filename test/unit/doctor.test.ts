// ober doctor / ober test: each check's logic on fake probes, and the configuration checks with
// the real haproxy, exabgp, bird and keepalived on the rendered example nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import {
  backendsCheck,
  backendQuickAckCheck,
  certificatesCheck,
  clockCheck,
  healthResultCheck,
  interfaceCheck,
  vrrpFirewallCheck,
  vrrpPrioritiesCheck,
  vrrpRuleCounter,
  vrrpTrafficCheck,
  metadataCheck,
  parseSysctlFile,
  peersCheck,
  runChecks,
  sysctlCheck,
  TEST_CHECKS,
  vipHolderCheck,
  watchdogCheck,
  type CheckContext,
} from '../../firstboot/ops/checks.js';
import { systemProbes, tcpConnect, type Probes } from '../../firstboot/ops/probes.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize, type Materialized } from '../helpers/materialize.js';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

const layout: Layout = nodeLayout('/node');

function fake(p: Partial<Probes> & { files?: Record<string, string>; commands?: Record<string, { exitCode: number; output: string }> }): Probes {
  return {
    readText: async (f) => p.files?.[f],
    exists: async (f) => p.files?.[f] !== undefined,
    listDir: async (d) =>
      Object.keys(p.files ?? {})
        .filter((f) => f.startsWith(`${d}/`))
        .map((f) => f.slice(d.length + 1)),
    run: p.run ?? (async (argv) => p.commands?.[argv.join(' ')] ?? { exitCode: 127, output: `${argv[0]}: not found` }),
    tcp: p.tcp ?? (async () => undefined),
    resolve: p.resolve ?? (async () => []),
    now: p.now ?? (() => Date.parse('2026-11-21T00:00:00Z')),
    mtimeMs: p.mtimeMs ?? (async (f) => (p.files?.[f] !== undefined ? Date.parse('2026-11-21T00:00:00Z') - 500 : undefined)),
    sleep: p.sleep ?? (async () => undefined),
  };
}

const ctx = (probes: Probes, node?: NodeConfig): CheckContext => ({ layout, probes, procSys: '/proc/sys', ...(node ? { node } : {}) });

let bgp: Materialized;
let ka: Materialized;
const cleanups: (() => Promise<void>)[] = [];
beforeAll(async () => {
  for (const [i, target] of [[0, 'bgp'], [1, 'ka']] as const) {
    const s = await scratchDir(`doctor-${target}`);
    cleanups.push(s.cleanup);
    const m = await materialize(await loadExample(EXAMPLES[i] ?? ''), 'ober1', s.dir);
    if (target === 'bgp') bgp = m;
    else ka = m;
  }
});
afterAll(async () => {
  for (const c of cleanups) await c();
});

describe('doctor: the keepalived troubleshooting checks on fake probes', () => {
  const up = (addr: string) => ({
    'ip -o link show dev eth0': { exitCode: 0, output: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP' },
    'ip -o -4 addr show dev eth0': { exitCode: 0, output: `2: eth0    inet ${addr}/24 brd 10.20.0.255 scope global eth0` },
  });
  const chain = (packets: number | undefined, peers = true) => ({
    exitCode: 0,
    output: `table inet ober {\n\tchain input {\n${packets === undefined ? '' : `\t\t${peers ? 'ip saddr @vrrp_peers ' : ''}ip protocol vrrp counter packets ${packets} bytes ${packets * 40}\n`}\t\tct state established,related accept\n\t\ttcp dport 22 accept\n${packets === undefined ? '' : `\t\t${peers ? 'ip saddr @vrrp_peers ' : ''}ip protocol vrrp accept\n`}\t}\n}`,
  });
  const peerSet = (ips: string[]) => ({ 'nft list set inet ober vrrp_peers': { exitCode: 0, output: `set vrrp_peers {\n type ipv4_addr\n elements = { ${ips.join(', ')} }\n}` } });

  it('interface: up with the node address; no carrier and a wrong address fail with a fix', async () => {
    const own = ka.node.node.address;
    expect(await interfaceCheck.run(ctx(fake({ commands: up(own) }), ka.node))).toMatchObject({ status: 'ok' });
    const other = await interfaceCheck.run(ctx(fake({ commands: up('10.20.0.99') }), ka.node));
    expect(other).toMatchObject({ status: 'fail', fix: expect.stringMatching(/ipconfig0/) });
    const down = { 'ip -o link show dev eth0': { exitCode: 0, output: '2: eth0: <BROADCAST,MULTICAST> mtu 1500 state DOWN' } };
    expect(await interfaceCheck.run(ctx(fake({ commands: down }), ka.node))).toMatchObject({ status: 'fail', detail: 'eth0 has no carrier' });
  });

  it('vrrp-firewall: the accept rule and every peer in vrrp_peers; skipped in BGP mode', async () => {
    const peers = ka.node.peers.map((p) => p.address);
    expect(vrrpRuleCounter(chain(7).output)).toEqual({ rule: 'ip saddr @vrrp_peers ip protocol vrrp accept', packets: 7 });
    expect(await vrrpFirewallCheck.run(ctx(fake({ commands: { 'nft list chain inet ober input': chain(7), ...peerSet(peers) } }), ka.node))).toMatchObject({ status: 'ok' });
    const missing = await vrrpFirewallCheck.run(ctx(fake({ commands: { 'nft list chain inet ober input': chain(7), ...peerSet(peers.slice(1)) } }), ka.node));
    expect(missing).toMatchObject({ status: 'fail', detail: expect.stringContaining(peers[0] ?? '?'), fix: expect.stringMatching(/protocol 112/) });
    expect(await vrrpFirewallCheck.run(ctx(fake({ commands: { 'nft list chain inet ober input': chain(undefined) } }), ka.node))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/default-drop/) });
    expect(await vrrpFirewallCheck.run(ctx(fake({}), bgp.node))).toMatchObject({ status: 'skip' });
  });

  it('vrrp-traffic: the rule counter must grow while it watches', async () => {
    let n = 0;
    const counting = (step: number) => fake({ run: async (argv) => (argv.join(' ') === 'nft list chain inet ober input' ? chain((n += step)) : { exitCode: 1, output: '' }) });
    expect(await vrrpTrafficCheck.run(ctx(counting(5), ka.node))).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^5 advert/) });
    const silent = await vrrpTrafficCheck.run(ctx(counting(0), ka.node));
    expect(silent).toMatchObject({ status: 'fail', detail: expect.stringMatching(/split brain/) });
    expect(silent.fix).toMatch(/protocol 112/);
  });

  it('vrrp-priorities: distinct healthy and unhealthy priorities; keepalived.conf must agree with node.json', async () => {
    const conf = await readFile(ka.layout.keepalivedConf, 'utf8');
    expect(await vrrpPrioritiesCheck.run(ctx(fake({ files: { [layout.keepalivedConf]: conf } }), ka.node))).toMatchObject({ status: 'ok' });
    const v = ka.node.vips[0];
    const drifted = conf.replace(new RegExp(`(vrrp_instance vip_${v?.name} \\{[\\s\\S]*?priority )\\d+`), '$1150');
    expect(drifted).not.toBe(conf);
    expect(await vrrpPrioritiesCheck.run(ctx(fake({ files: { [layout.keepalivedConf]: drifted } }), ka.node))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/priority 150/) });
    // 45 nodes: the 42nd backup's 90 − 40 = 50 meets the failed owner's 100 − 50.
    const many = { ...ka.node, vips: ka.node.vips.map((x) => ({ ...x, vrrp: x.vrrp && { ...x.vrrp, ranking: Array.from({ length: 45 }, (_, i) => `n${i}`) } })) };
    expect(await vrrpPrioritiesCheck.run(ctx(fake({}), many))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/n0 \(unhealthy\) and n41 both 50/) });
  });

  it('health-result: the track file says 0 and is fresh (keepalived); every /health/<vip> is 200 (BGP)', async () => {
    const now = () => Date.parse('2026-11-21T00:00:00Z');
    const track = (v: string, ageMs = 500) => fake({ files: { [layout.trackFile]: v }, now, mtimeMs: async () => now() - ageMs });
    expect(await healthResultCheck.run(ctx(track('0\n'), ka.node))).toMatchObject({ status: 'ok' });
    expect(await healthResultCheck.run(ctx(track('1\n'), ka.node))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/unhealthy/) });
    expect(await healthResultCheck.run(ctx(track('0\n', 60_000), ka.node))).toMatchObject({ status: 'fail', fix: expect.stringMatching(/ober-track/) });
    expect(await healthResultCheck.run(ctx(fake({}), ka.node))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/missing/) });
    const curl = (code: string) => fake({ run: async () => ({ exitCode: 0, output: code }) });
    expect(await healthResultCheck.run(ctx(curl('200'), bgp.node))).toMatchObject({ status: 'ok' });
    expect(await healthResultCheck.run(ctx(curl('503'), bgp.node))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/^withdrawn: s3-a \(503\)/) });
  });
});

describe('doctor checks on fake probes', () => {
  it('metadata: fails with a fix before first boot, names the node after', async () => {
    expect(await metadataCheck.run(ctx(fake({})))).toMatchObject({ status: 'fail', fix: expect.stringMatching(/firstboot/) });
    expect((await metadataCheck.run(ctx(fake({}), bgp.node))).detail).toMatch(/node ober1 of cluster s3-ingress, mode bgp/);
  });

  it('sysctl: compares /proc/sys with the rendered file, whitespace-insensitive', async () => {
    const files = { [layout.sysctlFile]: '# x\nnet.core.somaxconn = 65535\nnet.ipv4.tcp_rmem = 4096 87380 134217728\n' };
    expect(parseSysctlFile(files[layout.sysctlFile] ?? '')).toEqual([['net.core.somaxconn', '65535'], ['net.ipv4.tcp_rmem', '4096 87380 134217728']]);
    const good = { ...files, '/proc/sys/net/core/somaxconn': '65535\n', '/proc/sys/net/ipv4/tcp_rmem': '4096\t87380\t134217728\n' };
    expect(await sysctlCheck.run(ctx(fake({ files: good })))).toMatchObject({ status: 'ok' });
    const bad = { ...good, '/proc/sys/net/core/somaxconn': '4096\n' };
    const r = await sysctlCheck.run(ctx(fake({ files: bad })));
    expect(r).toMatchObject({ status: 'fail', detail: 'net.core.somaxconn is 4096, want 65535' });
    expect(r.fix).toMatch(/sysctl -p/);
    expect(await sysctlCheck.run(ctx(fake({})))).toMatchObject({ status: 'skip' });
  });

  it('watchdog: needs the device and a non-zero RuntimeWatchdogUSec', async () => {
    const cmd = (v: string) => ({ 'systemctl show -p RuntimeWatchdogUSec': { exitCode: 0, output: `RuntimeWatchdogUSec=${v}` } });
    expect(await watchdogCheck.run(ctx(fake({ files: { '/dev/watchdog0': '' }, commands: cmd('10s') })))).toMatchObject({ status: 'ok' });
    expect(await watchdogCheck.run(ctx(fake({ files: { '/dev/watchdog0': '' }, commands: cmd('0') })))).toMatchObject({ status: 'fail' });
    expect(await watchdogCheck.run(ctx(fake({ commands: cmd('10s') })))).toMatchObject({ status: 'fail', detail: '/dev/watchdog0 is missing' });
  });

  it('VIP holder: every VIP on lo-vip in BGP mode; skipped in keepalived mode', async () => {
    const argv = 'ip -o -4 addr show dev lo-vip';
    const out = (ips: string[]) => ({ [argv]: { exitCode: 0, output: ips.map((ip) => `5: lo-vip    inet ${ip}/32 scope global lo-vip`).join('\n') } });
    expect(await vipHolderCheck.run(ctx(fake({ commands: out(['10.20.255.10', '10.20.255.11']) }), bgp.node))).toMatchObject({ status: 'ok' });
    expect(await vipHolderCheck.run(ctx(fake({ commands: out(['10.20.255.10']) }), bgp.node))).toMatchObject({ status: 'fail', detail: 'missing on lo-vip: 10.20.255.11' });
    expect(await vipHolderCheck.run(ctx(fake({}), ka.node))).toMatchObject({ status: 'skip' });
  });

  it('peers: connects to exactly the configured neighbours on 179', async () => {
    const tried: string[] = [];
    const tcp = async (h: string, p: number) => (tried.push(`${h}:${p}`), h === '10.20.0.2' ? 'ECONNREFUSED' : undefined);
    const r = await peersCheck.run(ctx(fake({ tcp }), bgp.node));
    expect(tried).toEqual(['10.20.0.1:179', '10.20.0.2:179']);
    expect(r).toMatchObject({ status: 'fail', detail: '10.20.0.2: ECONNREFUSED' });
    const up = { 'ip -o link show dev eth0': { exitCode: 0, output: '2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP' } };
    expect(await peersCheck.run(ctx(fake({ commands: up }), ka.node))).toMatchObject({ status: 'ok', detail: 'eth0 up' });
  });

  it('certificates: fails on a broken or expired one, warns within 14 days', async () => {
    const pem = await readFile(`${bgp.layout.haproxyCertDir}/s3.pem`, 'utf8');
    const { X509Certificate } = await import('node:crypto');
    const notAfter = Date.parse(new X509Certificate(pem).validTo);
    const files = { [`${layout.haproxyCertDir}/s3.pem`]: pem };
    expect(await certificatesCheck.run(ctx(fake({ files, now: () => notAfter - 30 * 86_400_000 })))).toMatchObject({ status: 'ok' });
    expect(await certificatesCheck.run(ctx(fake({ files, now: () => notAfter - 5 * 86_400_000 })))).toMatchObject({ status: 'warn' });
    expect(await certificatesCheck.run(ctx(fake({ files, now: () => notAfter + 1000 })))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/expired/) });
    const broken = { [`${layout.haproxyCertDir}/x.pem`]: pem.replace(/-----BEGIN (EC |RSA )?PRIVATE KEY-----[\s\S]*$/, '') };
    expect(await certificatesCheck.run(ctx(fake({ files: broken })))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/private key/) });
  });

  it('backends: all down fails, some down warns', async () => {
    const down = async (h: string) => (h.startsWith('rgw') ? 'ENOTFOUND' : undefined);
    expect(await backendsCheck.run(ctx(fake({ tcp: down }), bgp.node))).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^3\/6 unreachable/) });
    expect(await backendsCheck.run(ctx(fake({ tcp: async () => 'ETIMEDOUT' }), bgp.node))).toMatchObject({ status: 'fail' });
  });

  it('backend quickack: every kept server address routed with quickack, names as they resolve now, else a warning naming the ones without', async () => {
    const kept = { ...bgp.node, backends: bgp.node.backends.map((b) => ({ ...b, reuseConnections: true })) };
    const hosts = [...new Set(kept.backends.flatMap((b) => b.servers.map((s) => s.host)))];
    const literals = hosts.filter((h) => /^\d/.test(h));
    const names = hosts.filter((h) => !/^\d/.test(h));
    expect(Math.min(literals.length, names.length)).toBeGreaterThan(0);
    // Every name resolves to one address of 10.99.0.0/24.
    const resolved = new Map(names.map((n, i) => [n, `10.99.0.${i + 1}`]));
    const resolve = async (h: string) => (resolved.has(h) ? [resolved.get(h) ?? ''] : []);
    const route = (quickack: boolean) => ({ exitCode: 0, output: JSON.stringify([{ dst: 'x', dev: 'eth0', ...(quickack ? { metrics: [{ quickack: 1 }] } : {}) }]) });
    const addresses = [...literals, ...resolved.values()];
    const all = Object.fromEntries(addresses.map((a) => [`ip -j route get ${a}`, route(true)]));
    expect(await backendQuickAckCheck.run(ctx(fake({ commands: all, resolve }), kept))).toMatchObject({ status: 'ok', detail: `${addresses.length} server address(es) routed with quickack` });
    const nameMissing = { ...all, [`ip -j route get 10.99.0.1`]: route(false) };
    expect(await backendQuickAckCheck.run(ctx(fake({ commands: nameMissing, resolve }), kept))).toMatchObject({ status: 'warn', detail: expect.stringContaining('without quickack: 10.99.0.1') });
    const oneMissing = { ...all, [`ip -j route get ${literals[0]}`]: route(false) };
    expect(await backendQuickAckCheck.run(ctx(fake({ commands: oneMissing, resolve }), kept))).toMatchObject({ status: 'warn', detail: expect.stringContaining(`without quickack: ${literals[0]}`) });
    // Names that do not resolve are said, not counted.
    expect(await backendQuickAckCheck.run(ctx(fake({ commands: all }), kept))).toMatchObject({ status: 'ok', detail: expect.stringMatching(new RegExp(`^${literals.length} server .*not resolved: ${names[0]}`)) });
    const closed = { ...kept, backends: kept.backends.map((b) => ({ ...b, reuseConnections: false })) };
    expect(await backendQuickAckCheck.run(ctx(fake({}), closed))).toMatchObject({ status: 'skip' });
  });

  it('clock: timedatectl, else chronyc', async () => {
    expect(await clockCheck.run(ctx(fake({ commands: { 'timedatectl show -p NTPSynchronized --value': { exitCode: 0, output: 'yes' } } })))).toMatchObject({ status: 'ok' });
    expect(await clockCheck.run(ctx(fake({ commands: { 'chronyc tracking': { exitCode: 0, output: 'Leap status     : Normal' } } })))).toMatchObject({ status: 'ok' });
    expect(await clockCheck.run(ctx(fake({})))).toMatchObject({ status: 'fail' });
  });

  it('a crashing check is a failure, not a crash of doctor', async () => {
    const r = await runChecks([{ id: 'x', title: 'x', run: () => Promise.reject(new Error('boom')) }], ctx(fake({})));
    expect(r).toEqual([{ id: 'x', title: 'x', status: 'fail', detail: 'check crashed: boom', fix: 'report a bug' }]);
  });
});

describe('ober test: configuration checks with the real programs', () => {
  const config = (r: Awaited<ReturnType<typeof runChecks>>) => Object.fromEntries(r.filter((x) => x.id.endsWith('-config')).map((x) => [x.id, x.status]));
  const probes: Probes = { ...systemProbes, tcp: async () => undefined };

  it('BGP node: haproxy, exabgp and bird accept the rendered files; keepalived is skipped', async () => {
    const r = await runChecks(TEST_CHECKS, { layout: bgp.layout, node: bgp.node, probes, procSys: '/proc/sys' });
    expect(config(r)).toEqual({ 'haproxy-config': 'ok', 'exabgp-config': 'ok', 'bird-config': 'ok', 'keepalived-config': 'skip' });
  });

  it('keepalived node: haproxy and keepalived accept the rendered files', async () => {
    const r = await runChecks(TEST_CHECKS, { layout: ka.layout, node: ka.node, probes, procSys: '/proc/sys' });
    expect(config(r)).toEqual({ 'haproxy-config': 'ok', 'exabgp-config': 'skip', 'bird-config': 'skip', 'keepalived-config': 'ok' });
  });

  it('a broken haproxy.cfg fails with haproxy\'s own message', async () => {
    const { writeFile } = await import('node:fs/promises');
    const cfg = await readFile(bgp.layout.haproxyCfg, 'utf8');
    await writeFile(bgp.layout.haproxyCfg, cfg + '\nfrontend broken\n    bind :1\n    no-such-keyword\n');
    try {
      const r = await runChecks(TEST_CHECKS, { layout: bgp.layout, node: bgp.node, probes, procSys: '/proc/sys' });
      expect(r.find((x) => x.id === 'haproxy-config')).toMatchObject({ status: 'fail', detail: expect.stringMatching(/no-such-keyword/) });
    } finally {
      await writeFile(bgp.layout.haproxyCfg, cfg);
    }
  });

  it('the TCP probe tells an open port from a closed one (loopback)', async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    expect(await tcpConnect('127.0.0.1', port, 500)).toBeUndefined();
    await new Promise((r) => server.close(r));
    expect(await tcpConnect('127.0.0.1', port, 500)).toBe('ECONNREFUSED');
  });
});
