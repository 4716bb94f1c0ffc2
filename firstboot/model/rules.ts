// Rules that relate fields to each other, run after the schema accepted the shape. They collect
// every problem (errors) and every doubtful choice (warnings), each with the path of the field.
import type { ConfigIssue } from '../lib/errors.js';
import { notAdmitted, parseAddressList, parseServerList } from './addresses.js';
import { checkAddresses } from './address-rules.js';
import { inspectCaPem, inspectPem } from './pem.js';
import { describeWeakening, weakens } from './hardening.js';
import { routerIdOf } from './derive.js';
import { DEFAULT_VRID_BASE, vridOf } from './defaults.js';
import { hostPart, inCidr, parseCidr, type Cidr } from './net.js';
import { MD5_RE, type Cluster } from './schema.js';

/** Where a cluster document comes from decides how secrets and certificates must be given. */
export type Origin = 'cluster-file' | 'node-data';

export interface RuleResult {
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

/** keepalived mode: owner 100, backups 90 and down; more nodes would push backups to ≤ 50 = a failed owner. */
export const MAX_KEEPALIVED_NODES = 40;

export interface RuleOptions {
  /** Clock for certificate expiry checks (ms since epoch); without it expiry is not checked. */
  now?: number;
}

export function checkCluster(c: Cluster, origin: Origin, opts: RuleOptions = {}): RuleResult {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const err = (path: string, message: string, hint?: string) => errors.push({ path, message, ...(hint ? { hint } : {}) });
  const warn = (path: string, message: string, hint?: string) => warnings.push({ path, message, ...(hint ? { hint } : {}) });

  unique(c.nodes.map((n) => n.name), 'nodes', 'name', err);
  unique(c.vips.map((v) => v.name), 'vips', 'name', err);
  unique(c.backends.map((b) => b.name), 'backends', 'name', err);
  unique(c.certificates.map((x) => x.name), 'certificates', 'name', err);
  unique(c.vips.map((v) => v.address), 'vips', 'address', err);

  // --- nodes
  const nodeCidrs = new Map<string, Cidr>();
  c.nodes.forEach((n, i) => {
    const cidr = parseCidr(n.address);
    if (typeof cidr === 'string') return; // the schema reported it
    nodeCidrs.set(n.name, cidr);
    if (n.gateway && !inCidr(n.gateway, cidr)) err(`nodes[${i}].gateway`, `${n.gateway} is not inside the node's network ${n.address}`);
  });
  unique(c.nodes.map((n) => hostPart(n.address)), 'nodes', 'address', err);

  // --- Proxmox placement: ids and MACs are per VM, so two nodes cannot share one.
  uniqueSet(c.nodes.map((n) => (n.proxmox?.vmid === undefined ? undefined : String(n.proxmox.vmid))), 'nodes', 'proxmox.vmid', err);
  uniqueSet(c.nodes.map((n) => n.proxmox?.mac?.toUpperCase()), 'nodes', 'proxmox.mac', err);
  c.nodes.forEach((n, i) => {
    if (n.proxmox && !c.proxmox) err(`nodes[${i}].proxmox`, 'per-node Proxmox settings without a proxmox section', 'add a proxmox: section (see examples/)');
  });
  const nodeIps = new Set([...nodeCidrs.values()].map((x) => x.address));

  // --- VIPs
  const backendNames = new Set(c.backends.map((b) => b.name));
  c.vips.forEach((v, i) => {
    if (!backendNames.has(v.backend)) err(`vips[${i}].backend`, `no backend group named '${v.backend}'`, `use one of: ${[...backendNames].join(', ')}`);
    if (nodeIps.has(v.address)) err(`vips[${i}].address`, `${v.address} is also a node's own address`, 'a VIP must be an address of its own');
  });
  const usedBackends = new Set(c.vips.map((v) => v.backend));
  c.backends.forEach((b, i) => {
    if (!usedBackends.has(b.name)) warn(`backends[${i}]`, `backend group '${b.name}' is not used by any VIP`);
  });

  // --- backends and the backend whitelist
  const backendNets = c.whitelists.backendHttp ? parseAddressList(c.whitelists.backendHttp) : undefined;
  c.backends.forEach((b, i) => {
    const servers = parseServerList(b.servers, b.tls.enabled ? 443 : 80);
    if (!servers.ok) {
      for (const e of servers.errors) err(`backends[${i}].servers`, e);
      return;
    }
    if (servers.value.length > 256) err(`backends[${i}].servers`, `${servers.value.length} servers; at most 256 per group`);
    if (backendNets?.ok) {
      // Names are checked once resolved (derive).
      const literal = servers.value.filter((s) => s.hostKind === 'ip').map((s) => s.host);
      for (const ip of notAdmitted(literal, backendNets.value)) {
        err(`backends[${i}].servers`, `${ip} is outside whitelists.backendHttp`, 'add its network to whitelists.backendHttp or fix the address');
      }
    }
    if (b.tls.caCertificate && !c.certificates.some((x) => x.name === b.tls.caCertificate)) {
      err(`backends[${i}].tls.caCertificate`, `no certificate named '${b.tls.caCertificate}'`);
    }
    if (b.tls.enabled && b.tls.verify === 'required' && !b.tls.caCertificate) {
      err(`backends[${i}].tls`, 'verify is required but no caCertificate is named', "name the CA certificate entry, or set verify: 'none' knowingly");
    }
  });

  // --- whitelists
  for (const key of ['routers', 'frontendHttp', 'backendHttp', 'monitoring', 'admin'] as const) {
    const v = c.whitelists[key];
    if (v === undefined) continue;
    const r = parseAddressList(v);
    if (!r.ok) for (const e of r.errors) err(`whitelists.${key}`, e);
  }
  if (!c.whitelists.monitoring) warn('whitelists.monitoring', 'not set: stats and /metrics on :8404 answer any address', 'list your Prometheus hosts');
  if (!c.whitelists.admin) warn('whitelists.admin', 'not set: SSH on :22 is open to any address', 'list your admin networks');

  // --- secrets
  for (const [key, s] of Object.entries(c.secrets)) {
    const given = [s.file !== undefined, s.env !== undefined, s.value !== undefined].filter(Boolean).length;
    if (given !== 1) err(`secrets.${key}`, 'must have exactly one of file, env or value');
    if (origin === 'cluster-file' && s.value !== undefined) {
      err(`secrets.${key}.value`, 'secrets are never written into the cluster file', 'put the secret in a file (file: path) or an environment variable (env: NAME)');
    }
    if (origin === 'node-data' && s.value === undefined) err(`secrets.${key}`, 'node data must carry the resolved value', 'deploy with `ober deploy`, which resolves secrets');
  }

  // --- certificates (those named as a backend's caCertificate are CA bundles: no key)
  const caNames = caCertificateNames(c);
  c.certificates.forEach((x, i) => {
    const given = [x.file !== undefined, x.pem !== undefined, x.acme !== undefined].filter(Boolean).length;
    if (given !== 1) err(`certificates[${i}]`, 'must have exactly one of file, pem or acme');
    if (origin === 'cluster-file' && x.pem !== undefined) {
      err(`certificates[${i}].pem`, 'a private key does not belong in the cluster file', 'reference the PEM file with file: path');
    }
    if (origin === 'node-data' && x.file !== undefined) err(`certificates[${i}].file`, 'node data must carry the PEM content (pem), not a path on the admin host');
    if (x.acme !== undefined && caNames.has(x.name)) err(`certificates[${i}].acme`, 'a CA bundle cannot come from ACME');
    if (x.pem !== undefined) {
      const report = caNames.has(x.name) ? inspectCaPem(x.pem, opts.now) : inspectPem(x.pem, opts.now);
      for (const e of report.errors) err(`certificates[${i}].pem`, e.message, e.hint);
      for (const w of report.warnings) warn(`certificates[${i}].pem`, w.message, w.hint);
    }
  });

  // --- what each address may be (unicast, not another role's address)
  checkAddresses(c, err);

  // --- kernel settings that would undo the image's hardening
  const sysctls: [string, Cluster['sysctl']][] = [['sysctl', c.sysctl], ...c.nodes.map((n, i): [string, Cluster['sysctl']] => [`nodes[${i}].overrides.sysctl`, n.overrides?.sysctl ?? {}])];
  for (const [at, settings] of sysctls) {
    for (const [key, v] of Object.entries(settings)) {
      const allowed = typeof v !== 'string';
      const w = weakens(key, allowed ? v.value : v);
      if (w && allowed) warn(`${at}.${key}`, `${describeWeakening(w)}; allowed by allowWeakening`);
      else if (w) err(`${at}.${key}`, describeWeakening(w), `remove it, or, knowing the cost, write ${key}: { value: ${w.value}, allowWeakening: true }`);
      else if (allowed) warn(`${at}.${key}.allowWeakening`, `${key} = ${v.value} weakens nothing the image relies on`, 'write the value plainly');
    }
  }

  // --- mode
  if (c.mode === 'bgp') checkBgp(c, origin, nodeIps, err, warn);
  else checkKeepalived(c, nodeCidrs, err, warn);
  if (c.mode === 'bgp' && c.keepalived) warn('keepalived', "ignored in mode 'bgp'");
  if (c.mode === 'keepalived' && c.bgp) warn('bgp', "ignored in mode 'keepalived'");

  return { errors, warnings };
}

type Report = (path: string, message: string, hint?: string) => void;

function checkBgp(c: Cluster, origin: Origin, nodeIps: Set<string>, err: Report, warn: Report): void {
  if (!c.bgp) {
    err('bgp', "mode 'bgp' needs a bgp section", 'add bgp: { localAs, peerAs, neighbors: [{ address }] }');
    return;
  }
  const bgp = c.bgp;
  unique(bgp.neighbors.map((n) => n.address), 'bgp.neighbors', 'address', err);
  bgp.neighbors.forEach((n, i) => {
    if (nodeIps.has(n.address)) err(`bgp.neighbors[${i}].address`, `${n.address} is a node's own address, not a router`);
  });
  const secretRefs: [string, string | undefined][] = [
    ['bgp.md5PasswordSecret', bgp.md5PasswordSecret],
    ...bgp.neighbors.map((n, i): [string, string | undefined] => [`bgp.neighbors[${i}].md5PasswordSecret`, n.md5PasswordSecret]),
  ];
  for (const [path, ref] of secretRefs) {
    if (ref === undefined) continue;
    const s = c.secrets[ref];
    if (!s) err(path, `no secret named '${ref}'`, `define it under secrets: { ${ref}: { file: path } }`);
    else if (origin === 'node-data' && s.value !== undefined && !MD5_RE.test(s.value)) {
      err(`secrets.${ref}.value`, 'a TCP MD5 password must be 1-80 characters of letters, digits and ! @ % ^ * _ + = . , : / ~ -');
    }
  }
  unique(
    c.nodes.map(routerIdOf),
    'nodes',
    'routerId',
    err,
  );
  if (bgp.holdTime === 0) warn('bgp.holdTime', '0 disables keepalives: a hung ExaBGP is never detected', 'use 3');
  if (!bgp.bfd.enabled) warn('bgp.bfd.enabled', 'BFD is off: a cut link is detected only by the hold timer');
  if (bgp.localAs === bgp.peerAs) warn('bgp.localAs', 'iBGP (localAs = peerAs): the router needs next-hop-self/multipath settings for ECMP');
  c.nodes.forEach((n, i) => {
    n.overrides?.bgp?.neighbors?.forEach((nb, j) => {
      if (nb.md5PasswordSecret && !c.secrets[nb.md5PasswordSecret]) {
        err(`nodes[${i}].overrides.bgp.neighbors[${j}].md5PasswordSecret`, `no secret named '${nb.md5PasswordSecret}'`);
      }
    });
    if (n.overrides?.keepalived) warn(`nodes[${i}].overrides.keepalived`, "ignored in mode 'bgp'");
  });
}

function checkKeepalived(c: Cluster, nodeCidrs: Map<string, Cidr>, err: Report, warn: Report): void {
  const ka = c.keepalived;
  if (c.nodes.length > MAX_KEEPALIVED_NODES) {
    err('nodes', `${c.nodes.length} nodes; keepalived mode supports at most ${MAX_KEEPALIVED_NODES}`, 'split the cluster or use mode bgp');
  }
  const vrids = c.vips.map((v, i) => vridOf(v, i, ka?.vridBase));
  vrids.forEach((id, i) => {
    if (id > 255) err(`vips[${i}].vrid`, `the derived VRID ${id} (vridBase ${ka?.vridBase ?? DEFAULT_VRID_BASE} + ${i}) is above 255`, 'lower keepalived.vridBase or set vrid on the VIP');
  });
  unique(vrids.map(String), 'vips', 'vrid', err);
  if (c.vips.length < c.nodes.length) {
    warn('vips', `${c.vips.length} VIP(s) for ${c.nodes.length} nodes: some nodes will own no VIP and serve only as backups`, 'one VIP per node is recommended');
  }
  // VRRP hands a VIP over by gratuitous ARP on the LAN: the VIP must be inside the nodes' network.
  const nets = [...nodeCidrs.values()];
  c.vips.forEach((v, i) => {
    if (nets.length && !nets.some((n) => inCidr(v.address, n))) {
      warn(`vips[${i}].address`, `${v.address} is outside every node's network: the router must route it to the nodes`);
    }
  });
  const first = nets[0];
  if (first && nets.some((n) => !inCidr(n.address, first))) {
    warn('nodes', 'the nodes are not all in one network; VRRP needs a shared L2 segment');
  }
  c.nodes.forEach((n, i) => {
    if (n.overrides?.bgp) warn(`nodes[${i}].overrides.bgp`, "ignored in mode 'keepalived'");
  });
}

function unique(values: string[], listPath: string, field: string, err: Report): void {
  const first = new Map<string, number>();
  values.forEach((v, i) => {
    const j = first.get(v);
    if (j === undefined) first.set(v, i);
    else err(`${listPath}[${i}].${field}`, `'${v}' is already used by ${listPath}[${j}]`, `each ${field} must be unique`);
  });
}

/** unique() for optional fields: absent values are not compared. */
function uniqueSet(values: (string | undefined)[], listPath: string, field: string, err: Report): void {
  const first = new Map<string, number>();
  values.forEach((v, i) => {
    if (v === undefined) return;
    const j = first.get(v);
    if (j === undefined) first.set(v, i);
    else err(`${listPath}[${i}].${field}`, `'${v}' is already used by ${listPath}[${j}]`, `each ${field} must be unique`);
  });
}

/** Names of the certificate entries that backends use as CA bundles. */
export function caCertificateNames(c: { backends: readonly { tls: { caCertificate?: string | undefined } }[] }): Set<string> {
  return new Set(c.backends.flatMap((b) => (b.tls.caCertificate ? [b.tls.caCertificate] : [])));
}
