// The S3 bench's topology: one network namespace holding a Ceph cluster with two radosgw, HAProxy
// with the appliance's rendered haproxy.cfg, and a HAProxy configured the way Ceph's cephadm ingress
// template configures it (src/pybind/mgr/cephadm/templates/services/ingress/haproxy.cfg.j2), each
// on its own VIP on the namespace's loopback; the clients (wrk, curl, awscli) run in the same
// namespace. Nothing leaves the namespace.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CephCluster, type CephOptions } from '../../builder/lab/ceph.js';
import type { DaemonRoot } from '../../builder/image/image-root.js';
import type { Lab, LabProcess } from '../../builder/lab/netns.js';
import { sleep } from '../../builder/lab/netns.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { maxconnWithin } from '../../firstboot/model/defaults.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { readNodeConfig } from '../../firstboot/health/node-config.js';
import { applyBackendQuickAck } from '../../firstboot/ops/backend-quickack.js';
import { hardFileLimit } from '../../builder/lab/topology.js';
import { materialize } from '../helpers/materialize.js';

export const RGW_ADDRESS = '10.30.0.21';
/** bench:s3-policy's second pair of RGWs, whose beast frontend runs with `tcp_nodelay=1`. */
export const RGW_NODELAY_ADDRESS = '10.30.0.22';
/** RGWs as Ceph runs them, reached through a route with `quickack 1` (s3-policy bench). */
export const RGW_QUICKACK_ADDRESS = '10.30.0.23';
export const RGW_PORTS = [7480, 7481];
export const VIP_OURS = '10.20.0.101';
export const VIP_CEPHADM = '10.20.0.102';

export interface Proxy {
  name: string;
  vip: string;
  proc: LabProcess;
  cfg: string;
}

/** cephadm's ingress template, rendered for this bench (HTTP mode, TLS on the frontend). */
export function cephadmConfig(pem: string, statsPort: number): string {
  const servers = RGW_PORTS.map((p, i) => `    server rgw.${i} ${RGW_ADDRESS}:${p} check weight 100 inter 2s`);
  return `# cephadm ingress template (haproxy.cfg.j2), rendered for the bench; no chroot/daemon (foreground)
global
    log stderr format short local0 notice
    maxconn 8000
defaults
    mode http
    log global
    option httplog
    option dontlognull
    option http-server-close
    option forwardfor except 127.0.0.0/8
    option redispatch
    retries 3
    timeout queue 20s
    timeout connect 5s
    timeout http-request 1s
    timeout http-keep-alive 5s
    timeout client 30s
    timeout server 30s
    timeout check 5s
    maxconn 8000
frontend stats
    bind ${VIP_CEPHADM}:${statsPort}
    stats enable
    stats uri /stats
    http-request use-service prometheus-exporter if { path /metrics }
    monitor-uri /health
frontend frontend
    bind ${VIP_CEPHADM}:80
    bind ${VIP_CEPHADM}:443 ssl crt ${pem}
    default_backend backend
backend backend
    option forwardfor
    balance static-rr
    option httpchk HEAD / HTTP/1.0
${servers.join('\n')}
`;
}

/**
 * The appliance's haproxy.cfg, with its backends pointed at the bench's RGWs, of the node that
 * serves VIP_OURS in steady state: in keepalived mode its VRRP owner. Another node holds it only
 * while covering for the owner and closes every client connection after one answer (a TLS
 * handshake per request over HTTPS), which is not the path to measure.
 */
export async function oursConfig(cluster: Cluster, root: string, opts: { rgwAddress?: string; reuseConnections?: boolean } = {}): Promise<{ cfg: string; pem: string; node: NodeConfig }> {
  const address = opts.rgwAddress ?? RGW_ADDRESS;
  const c: Cluster = {
    ...cluster,
    backends: cluster.backends.map((b) => ({ ...b, servers: RGW_PORTS.map((p) => `${address}:${p}`).join(','), ...(opts.reuseConnections !== undefined ? { reuseConnections: opts.reuseConnections } : {}) })),
    // As cephadm's, or what the bench's descriptor limit holds (lower than the unit's): HAProxy
    // refuses to start above it.
    haproxy: { ...cluster.haproxy, maxconn: Math.min(8000, maxconnWithin(await hardFileLimit())) },
  };
  const first = c.nodes[0]?.name ?? '';
  const vip = deriveNode(c, first).vips.find((v) => v.address === VIP_OURS);
  if (!vip) throw new Error(`the bench's cluster has no VIP ${VIP_OURS}`);
  const m = await materialize(c, vip.vrrp?.owner ?? first, root);
  const certDir = m.layout.haproxyCertDir;
  const pem = path.join(certDir, `${c.certificates[0]?.name ?? 's3'}.pem`);
  return { cfg: m.layout.haproxyCfg, pem, node: readNodeConfig(m.layout) };
}

/**
 * The node's backend routes (first boot's activation, firstboot/ops/backend-quickack.ts) in the
 * bench's namespace while `fn` measures the appliance: quickack on the path to the RGWs, as on a
 * node. Afterwards the kernel's plain routes again, so the other targets (direct, cephadm-style)
 * run as on a host without them.
 */
export async function withNodeRoutes<T>(lab: Lab, ns: string, node: Pick<NodeConfig, 'backends'>, fn: () => Promise<T>): Promise<T> {
  const runner = (argv: string[]) => lab.exec(ns, argv, { allowFailure: true });
  const applied = await applyBackendQuickAck(node, { runner, resolve: async () => [] });
  const missed = applied.results.filter((r) => !r.ok);
  if (missed.length) throw new Error(`bench: no quickack route to ${missed.map((r) => r.address).join(', ')}`);
  try {
    return await fn();
  } finally {
    for (const r of applied.results) {
      if (r.local) await lab.exec(ns, ['ip', 'route', 'replace', 'table', 'local', 'local', r.address, 'dev', r.dev, 'proto', 'kernel', 'scope', 'host', 'src', r.address]);
      else await lab.exec(ns, ['ip', 'route', 'del', `${r.address}/32`, 'proto', 'static']);
    }
  }
}

/**
 * Makes the namespace's kernel ACK at once what arrives from `address` (a local address of the
 * bench's namespace): its local route gets `quickack 1`, so a sender's Nagle never waits for a
 * delayed ACK.
 */
export async function quickackRoute(lab: Lab, ns: string, address: string): Promise<void> {
  await lab.exec(ns, ['ip', 'route', 'replace', 'table', 'local', 'local', address, 'dev', 'lo', 'proto', 'kernel', 'scope', 'host', 'src', address, 'quickack', '1']);
}

export async function startBenchBackends(lab: Lab, ns: string, opts: { rgw?: CephOptions['rgw']; memstoreGiB?: number } = {}): Promise<CephCluster> {
  const rgw = opts.rgw ?? RGW_PORTS.map((port) => ({ address: RGW_ADDRESS, port }));
  for (const a of new Set([...rgw.map((r) => r.address), VIP_OURS, VIP_CEPHADM])) await lab.exec(ns, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  return CephCluster.start(lab, { ns, dir: path.join(lab.dir, 'ceph'), rgw, memstoreGiB: opts.memstoreGiB ?? 6, ...(process.env.OBER_BENCH_RGW_FRONTEND ? { rgwFrontendOptions: process.env.OBER_BENCH_RGW_FRONTEND } : {}), log: (m) => process.stderr.write(`[ceph] ${m}\n`) });
}

/**
 * A HAProxy on `cfg`: the image's own binary when an image tree is built (`daemons`, as the lab
 * runs it: the product ships that HAProxy, not the host's), with `binds` (the config, certificates
 * and maps under the lab directory) visible inside its root.
 */
export async function startProxy(lab: Lab, ns: string, name: string, vip: string, cfg: string, daemons: DaemonRoot, binds: string[]): Promise<Proxy> {
  await lab.exec(ns, daemons.wrap(['haproxy', '-c', '-q', '-f', cfg], binds));
  const proc = lab.spawn(ns, `haproxy-${name}`, daemons.wrap(['haproxy', '-db', '-f', cfg], binds));
  // until the proxy answers and sees a backend up
  let last = '';
  for (let i = 0; i < 200; i++) {
    const r = await lab.exec(ns, ['curl', '-s', '-m', '2', '-o', '/dev/null', '-w', '%{http_code}', `http://${vip}/`], { allowFailure: true });
    if (r.stdout === '200') return { name, vip, proc, cfg };
    last = `HTTP ${r.stdout || '-'}, curl exit ${r.exitCode}`;
    await sleep(100);
  }
  const log = (await readFile(proc.log, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ');
  throw new Error(`${name}: HAProxy on ${vip} did not answer 200 (last: ${last}; its log: ${log || 'empty'})`);
}

/** CPU seconds (user + system) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const f = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  // fields after "(comm) ": state is [0]; utime [11], stime [12] (proc(5), 1-based 14 and 15)
  return (Number(f[11]) + Number(f[12])) / 100;
}

/**
 * The whole host's CPU time so far (/proc/stat, every CPU): busy (user, nice, system, irq,
 * softirq, steal) and idle (idle, iowait) seconds. A transfer's busy seconds per GiB include
 * what no single process is charged with (the kernel's loopback TCP work in softirq), and its idle
 * share says whether the host had CPU left at all.
 */
export async function hostCpu(): Promise<{ busy: number; idle: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  // USER_HZ: 100 on Linux everywhere this runs (proc(5))
  return { busy: (user + nice + system + irq + softirq + steal) / 100, idle: (idle + iowait) / 100 };
}

export async function writeWrkPutScript(dir: string, bytes: number): Promise<string> {
  await mkdir(dir, { recursive: true });
  const f = path.join(dir, `put-${bytes}.lua`);
  await writeFile(f, `wrk.method = "PUT"\nwrk.body = string.rep("x", ${bytes})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  return f;
}

export interface WrkResult {
  rps: number;
  /** Median latency in milliseconds. */
  p50Ms?: number;
  non2xx: number;
  errors?: string;
  requests: number;
}

const WRK_UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** A wrk duration ("812.00us", "44.01ms", "1.20s") in milliseconds. */
export function wrkMilliseconds(text: string | undefined): number | undefined {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '');
  return m ? Number(m[1]) * (WRK_UNIT_MS[m[2] ?? ''] ?? NaN) : undefined;
}

/** wrk's summary: 2 threads, `connections` connections, `seconds` long, with the latency distribution. */
export async function runWrk(exec: (argv: string[]) => Promise<{ stdout: string }>, args: string[], seconds: number, connections = 16): Promise<WrkResult> {
  const r = await exec(['wrk', '-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--latency', ...args]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  // the latency distribution's own line (a "…50%" of the thread stats above it matched before)
  const p50Ms = wrkMilliseconds(/^\s*50%\s+(\S+)$/m.exec(r.stdout)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(r.stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(r.stdout)?.[1];
  return { rps, ...(p50Ms !== undefined ? { p50Ms } : {}), non2xx, ...(errors ? { errors } : {}), requests: Number(/(\d+) requests in/.exec(r.stdout)?.[1]) };
}
