// deriveNode(cluster, name) → NodeConfig: everything node-specific, computed once, from a
// validated cluster. Pure: no file system, no DNS, no clock — host names in whitelists are
// resolved beforehand (resolve.ts) and passed in.
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { notAdmitted, parseAddressList, parseServerList, type AddressEntry } from './addresses.js';
import { DEFAULT_SYSCTL, vridOf } from './defaults.js';
import { hostPart, parseCidr } from './net.js';
import { assignVips, priorityOf, TRACK_WEIGHT } from './ownership.js';
import { KEEPALIVED_DEFAULTS, sysctlValueText, type Cluster, type NeighborSpec, type NodeSpec } from './schema.js';

export type Mode = Cluster['mode'];

export interface DerivedVip {
  name: string;
  address: string;
  backend: string;
  /** keepalived mode only */
  vrrp?: {
    vrid: number;
    owner: string;
    /** This node's priority for the VIP. */
    priority: number;
    /** Owner first, then backups in takeover order. */
    ranking: string[];
  };
}

export interface DerivedServer {
  /** Server name in HAProxy: stable, derived from host and port. */
  name: string;
  host: string;
  port: number;
}

export interface DerivedBackend {
  name: string;
  servers: DerivedServer[];
  healthCheck: Cluster['backends'][number]['healthCheck'];
  reuseConnections: boolean;
  tls: { enabled: boolean; verify: 'required' | 'none'; caCertificate?: string };
}

export interface DerivedNeighbor {
  address: string;
  peerAs: number;
  md5Password?: string;
}

/** A whitelist after expansion and resolution: addresses and networks, or `any` when not set. */
export type SourceList = { any: true } | { any: false; entries: string[] };

export interface NodeConfig {
  cluster: string;
  mode: Mode;
  node: {
    name: string;
    address: string;
    prefix: number;
    gateway?: string;
    routerId: string;
    /** Interface carrying the node's LAN address (VRRP in keepalived mode). */
    interface: string;
  };
  /** The other nodes, by name. */
  peers: { name: string; address: string }[];
  vips: DerivedVip[];
  backends: DerivedBackend[];
  certificates: { name: string; pem?: string; acme?: NonNullable<Cluster['certificates'][number]['acme']> }[];
  whitelists: {
    frontendHttp: SourceList;
    monitoring: SourceList;
    admin: SourceList;
    /** BGP/BFD sources: the configured neighbours plus the routers whitelist. */
    routers: string[];
  };
  bgp?: {
    localAs: number;
    holdTime: number;
    neighbors: DerivedNeighbor[];
    bfd: { enabled: boolean; intervalMs: number; multiplier: number };
  };
  keepalived?: {
    interface: string;
    unicast: boolean;
    advertIntervalMs: number;
    trackWeight: number;
  };
  haproxy: Cluster['haproxy'];
  health: Cluster['health'];
  logging: Cluster['logging'];
  sysctl: [string, string][];
}

/** Host names (lower case) → their IPv4 addresses, looked up before derivation. */
export type ResolvedNames = Readonly<Record<string, readonly string[]>>;

export interface DeriveOptions {
  names?: ResolvedNames;
}

export function deriveNode(cluster: Cluster, nodeName: string, opts: DeriveOptions = {}): NodeConfig {
  const self = cluster.nodes.find((n) => n.name === nodeName);
  if (!self) {
    throw new ConfigError('cluster', [
      { path: 'nodes', message: `no node named '${nodeName}'`, hint: `known nodes: ${cluster.nodes.map((n) => n.name).join(', ')}` },
    ]);
  }
  const issues: ConfigIssue[] = [];
  const cidr = parseCidr(self.address);
  if (typeof cidr === 'string') throw new ConfigError('cluster', [{ path: `nodes.${nodeName}.address`, message: cidr }]);

  const resolve = (path: string, list: AddressEntry[]): string[] =>
    list.flatMap((e) => {
      if (e.kind !== 'name') return [e.value];
      const ips = opts.names?.[e.value];
      if (!ips || ips.length === 0) {
        issues.push({ path, message: `host name '${e.value}' could not be resolved`, hint: 'make it resolvable from the admin host and the node, or write its address' });
        return [];
      }
      return [...ips];
    });
  const sourceList = (key: 'frontendHttp' | 'monitoring' | 'admin' | 'routers'): SourceList => {
    const v = cluster.whitelists[key];
    if (v === undefined) return { any: true };
    const parsed = parseAddressList(v);
    if (!parsed.ok) throw new ConfigError('cluster', parsed.errors.map((m) => ({ path: `whitelists.${key}`, message: m })));
    return { any: false, entries: dedupe(resolve(`whitelists.${key}`, parsed.value)) };
  };

  const mode = cluster.mode;
  const vrrp = cluster.keepalived ?? KEEPALIVED_DEFAULTS;
  const ifname = self.overrides?.keepalived?.interface ?? vrrp.interface;
  const address = cidr.address;

  // --- backends (names stay names: HAProxy resolves them itself and follows DNS changes)
  const backendNets = cluster.whitelists.backendHttp ? parseAddressList(cluster.whitelists.backendHttp) : undefined;
  const backends: DerivedBackend[] = cluster.backends.map((b) => {
    const parsed = parseServerList(b.servers, b.tls.enabled ? 443 : 80);
    if (!parsed.ok) throw new ConfigError('cluster', parsed.errors.map((m) => ({ path: `backends.${b.name}.servers`, message: m })));
    if (backendNets?.ok) {
      for (const s of parsed.value) {
        const ips = s.hostKind === 'ip' ? [s.host] : (opts.names?.[s.host] ?? []);
        for (const ip of notAdmitted(ips, backendNets.value)) {
          issues.push({ path: `backends.${b.name}.servers`, message: `${s.host} (${ip}) is outside whitelists.backendHttp` });
        }
      }
    }
    return {
      name: b.name,
      servers: parsed.value.map((s) => ({ name: serverName(s.host, s.port), host: s.host, port: s.port })),
      healthCheck: b.healthCheck,
      reuseConnections: b.reuseConnections,
      tls: { enabled: b.tls.enabled, verify: b.tls.verify, ...(b.tls.caCertificate ? { caCertificate: b.tls.caCertificate } : {}) },
    };
  });

  // --- VIPs and, in keepalived mode, who owns them
  const nodeNames = cluster.nodes.map((n) => n.name);
  const ownership = mode === 'keepalived' ? assignVips(cluster.vips.map((v) => v.name), nodeNames) : undefined;
  const vips: DerivedVip[] = cluster.vips.map((v, i) => {
    const base: DerivedVip = { name: v.name, address: v.address, backend: v.backend };
    const r = ownership?.get(v.name);
    if (!r) return base;
    const rank = r.ranking.indexOf(nodeName);
    return {
      ...base,
      vrrp: {
        vrid: vridOf(v, i, vrrp.vridBase),
        owner: r.ranking[0] ?? '',
        priority: priorityOf(rank),
        ranking: r.ranking,
      },
    };
  });

  // --- BGP
  let bgp: NodeConfig['bgp'];
  if (mode === 'bgp' && cluster.bgp) {
    const spec = cluster.bgp;
    const neighbors: NeighborSpec[] = self.overrides?.bgp?.neighbors ?? spec.neighbors;
    bgp = {
      localAs: self.overrides?.bgp?.localAs ?? spec.localAs,
      holdTime: spec.holdTime,
      neighbors: neighbors.map((n) => {
        const secretName = n.md5PasswordSecret ?? spec.md5PasswordSecret;
        const md5 = secretName ? cluster.secrets[secretName]?.value : undefined;
        if (secretName && md5 === undefined) {
          issues.push({ path: `secrets.${secretName}`, message: 'has no resolved value', hint: 'resolve secrets before deriving (ober render does this)' });
        }
        return { address: n.address, peerAs: n.peerAs ?? spec.peerAs, ...(md5 !== undefined ? { md5Password: md5 } : {}) };
      }),
      bfd: { ...spec.bfd },
    };
  }

  const routersList = sourceList('routers');
  const routers = dedupe([...(bgp?.neighbors.map((n) => n.address) ?? []), ...(routersList.any ? [] : routersList.entries)]);

  const whitelists = {
    frontendHttp: sourceList('frontendHttp'),
    monitoring: sourceList('monitoring'),
    admin: sourceList('admin'),
    routers,
  };
  if (issues.length) throw new ConfigError('cluster', issues);

  // --- sysctl: defaults, then cluster-wide, then this node's overrides (later wins, order kept)
  const sysctl = new Map<string, string>(DEFAULT_SYSCTL.map(([k, v]) => [k, v]));
  for (const [k, v] of Object.entries(cluster.sysctl)) sysctl.set(k, sysctlValueText(v));
  for (const [k, v] of Object.entries(self.overrides?.sysctl ?? {})) sysctl.set(k, sysctlValueText(v));

  return {
    cluster: cluster.name,
    mode,
    node: {
      name: self.name,
      address,
      prefix: cidr.prefix,
      ...(self.gateway ? { gateway: self.gateway } : {}),
      routerId: routerIdOf(self),
      interface: ifname,
    },
    peers: cluster.nodes.filter((n) => n.name !== nodeName).map((n) => ({ name: n.name, address: hostPart(n.address) })),
    vips,
    backends,
    certificates: cluster.certificates.map((c) => ({ name: c.name, ...(c.pem !== undefined ? { pem: c.pem } : {}), ...(c.acme ? { acme: c.acme } : {}) })),
    whitelists,
    ...(bgp ? { bgp } : {}),
    ...(mode === 'keepalived'
      ? {
          keepalived: {
            interface: ifname,
            unicast: vrrp.transport === 'unicast',
            advertIntervalMs: vrrp.advertIntervalMs,
            trackWeight: TRACK_WEIGHT,
          },
        }
      : {}),
    haproxy: cluster.haproxy,
    health: cluster.health,
    logging: cluster.logging,
    sysctl: [...sysctl.entries()],
  };
}

/** BGP router id of a node: its own, or its address. */
export function routerIdOf(n: Pick<NodeSpec, 'routerId' | 'address'>): string {
  return n.routerId ?? hostPart(n.address);
}

/** HAProxy server name: `rgw01.example.com:7480` → `rgw01.example.com_7480` (names allow . _ -). */
export function serverName(host: string, port: number): string {
  return `${host}_${port}`;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}
