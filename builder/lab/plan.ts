// The lab variant of a cluster and its address plan. The lab keeps what the product decides —
// node names and addresses, VIPs, VRRP ownership, timers, health settings, templates — and
// substitutes only what lives outside the appliance: the routers (one lab router), the backends
// (a small HTTP server per backend group), and whitelists (the lab's client and backend networks).
import { ConfigError } from '../../firstboot/lib/errors.js';
import { intToIp, ipToInt, networkOf, parseCidr, type Cidr } from '../../firstboot/model/net.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { maxconnWithin } from '../../firstboot/model/defaults.js';
import { NODE_HTTP_PORT } from './apps.js';

export interface LabPlan {
  mode: Cluster['mode'];
  /** The nodes' shared LAN (an L2 segment in its own bridge namespace). */
  lan: Cidr;
  /** The lab router's address on the LAN (BGP neighbour, default gateway). */
  router: string;
  /** Point-to-point client ↔ router. */
  client: { address: string; routerSide: string; prefix: number; net: string };
  /** Backend network: node side and one address per backend group. */
  backendNet: { net: string; prefix: number; nodeAddress: (i: number) => string; server: (k: number) => string };
  nodes: { name: string; address: string; index: number }[];
  vips: { name: string; address: string; backend: string }[];
  /** Router AS (the nodes' peerAs). */
  routerAs?: number;
}

/** Lab-internal networks, chosen so they cannot overlap the cluster's own addresses. */
const CANDIDATES = ['198.18.0.0', '198.19.0.0', '100.127.0.0', '172.31.254.0'];

export function planLab(cluster: Cluster): LabPlan {
  const nodes = cluster.nodes.map((n, index) => {
    const c = parseCidr(n.address);
    if (typeof c === 'string') throw new ConfigError('lab', [{ path: `nodes[${index}].address`, message: c }]);
    return { name: n.name, address: c.address, index, cidr: c };
  });
  const first = nodes[0];
  if (!first) throw new ConfigError('lab', [{ path: 'nodes', message: 'needs at least one node' }]);
  const lan = { address: intToIp(networkOf(first.cidr)), prefix: first.cidr.prefix };
  for (const n of nodes) {
    if (networkOf(n.cidr) !== networkOf(lan) || n.cidr.prefix !== lan.prefix) {
      throw new ConfigError('lab', [{ path: `nodes.${n.name}.address`, message: `is not in ${lan.address}/${lan.prefix}`, hint: 'the lab puts all nodes on one L2 segment' }]);
    }
  }
  const inLan = (ip: string) => networkOf({ address: ip, prefix: lan.prefix }) === networkOf(lan);
  const used = new Set([...nodes.map((n) => n.address), ...cluster.vips.map((v) => v.address)]);
  const wanted = [cluster.bgp?.neighbors[0]?.address, cluster.nodes[0]?.gateway].find((a): a is string => !!a && inLan(a) && !used.has(a));
  let router = wanted;
  for (let i = 1; !router && i < 2 ** (32 - lan.prefix) - 1; i++) {
    const a = intToIp(networkOf(lan) + i);
    if (!used.has(a)) router = a;
  }
  if (!router) throw new ConfigError('lab', [{ path: 'nodes', message: `no free address for the lab router in ${lan.address}/${lan.prefix}` }]);

  const all = [...used, router, ...(cluster.bgp?.neighbors.map((n) => n.address) ?? [])].map(ipToInt);
  const base = CANDIDATES.map(ipToInt).find((b) => all.every((a) => a < b || a >= b + 512) && (ipToInt(lan.address) + 2 ** (32 - lan.prefix) <= b || ipToInt(lan.address) >= b + 512));
  if (base === undefined) throw new ConfigError('lab', [{ path: '', message: 'every lab-internal network overlaps the cluster' }]);
  return {
    mode: cluster.mode,
    lan,
    router,
    client: { routerSide: intToIp(base + 1), address: intToIp(base + 2), prefix: 30, net: intToIp(base) },
    backendNet: {
      net: intToIp(base + 256),
      prefix: 24,
      nodeAddress: (i) => intToIp(base + 256 + 11 + i),
      server: (k) => intToIp(base + 256 + 200 + k),
    },
    nodes: nodes.map(({ name, address, index }) => ({ name, address, index })),
    vips: cluster.vips.map((v) => ({ name: v.name, address: v.address, backend: v.backend })),
    ...(cluster.bgp ? { routerAs: cluster.bgp.neighbors[0]?.peerAs ?? cluster.bgp.peerAs } : {}),
  };
}

/**
 * The cluster as the lab runs it (see the file comment for what is substituted). `maxFiles`: the
 * lab cannot raise RLIMIT_NOFILE the way ober-http.service's LimitNOFILE= does (no
 * CAP_SYS_RESOURCE in a container), so HAProxy's maxconn is capped to what the limit allows.
 */
export function labCluster(cluster: Cluster, plan: LabPlan, opts: { maxFiles?: number; backendPorts?: readonly number[] } = {}): Cluster {
  const ports = opts.backendPorts ?? [NODE_HTTP_PORT];
  const maxconn = opts.maxFiles ? Math.min(cluster.haproxy.maxconn, maxconnWithin(opts.maxFiles)) : cluster.haproxy.maxconn;
  const clientNet = `${plan.client.net}/${plan.client.prefix}`;
  const backendNet = `${plan.backendNet.net}/${plan.backendNet.prefix}`;
  const md5Secret = cluster.bgp ? (cluster.bgp.neighbors[0]?.md5PasswordSecret ?? cluster.bgp.md5PasswordSecret) : undefined;
  return {
    ...cluster,
    ...(cluster.bgp
      ? {
          bgp: {
            ...cluster.bgp,
            neighbors: [{ address: plan.router, peerAs: plan.routerAs ?? cluster.bgp.peerAs }],
            ...(md5Secret ? { md5PasswordSecret: md5Secret } : {}),
          },
        }
      : {}),
    haproxy: { ...cluster.haproxy, maxconn },
    backends: cluster.backends.map((b, k) => ({
      ...b,
      servers: ports.map((p) => `${plan.backendNet.server(k)}:${p}`).join(','),
      tls: { ...b.tls, enabled: false },
    })),
    whitelists: {
      routers: plan.router,
      frontendHttp: clientNet,
      backendHttp: backendNet,
      monitoring: clientNet,
      admin: clientNet,
    },
    nodes: cluster.nodes.map((n) => {
      const overrides = n.overrides ? { ...n.overrides, ...(n.overrides.bgp ? { bgp: { ...n.overrides.bgp, neighbors: undefined } } : {}) } : undefined;
      return { ...n, gateway: plan.router, ...(overrides ? { overrides } : {}) };
    }),
  };
}
