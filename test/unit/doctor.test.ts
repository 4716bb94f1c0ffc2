// ober doctor / ober test: each check's logic on fake probes, and the configuration checks with
// the real haproxy, exabgp, bird and keepalived on the rendered example nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import {
  backendsCheck,
  certificatesCheck,
  clockCheck,
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
    run: async (argv) => p.commands?.[argv.join(' ')] ?? { exitCode: 127, output: `${argv[0]}: not found` },
    tcp: p.tcp ?? (async () => undefined),
    now: p.now ?? (() => Date.parse('2026-11-21T00:00:00Z')),
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
