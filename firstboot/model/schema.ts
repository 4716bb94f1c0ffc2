// The cluster description (`cluster.yaml`) and the node data (`ober:` in a node's vendor-data) as
// zod schemas. This file holds only the *shape* and the per-field syntax; rules that relate
// fields to each other live in rules.ts. Every string that ends up inside a daemon's config is
// constrained here to characters that cannot break out of its line or token — values are refused,
// never escaped.
import { DEFAULT_VRID_BASE, MAX_HAPROXY_MAXCONN } from './defaults.js';
import { z } from 'zod';
import { isIPv4, isHostname, parseCidr } from './net.js';

// ---------------------------------------------------------------------------------------------
// Field syntax

/** Names of nodes, VIPs, backends, certificates, secrets: used in section names and file names. */
export const NAME_RE = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const name = z
  .string({ error: 'must be a string' })
  .regex(NAME_RE, { error: 'must be 1-32 characters of a-z, 0-9 and inner dashes, starting with a letter (e.g. "ceph-a")' });

const ipv4 = z.string({ error: 'must be an IPv4 address as a string' }).refine(isIPv4, {
  error: (iss) => `'${String(iss.input)}' is not an IPv4 address (dotted quad, no leading zeros)`,
});

/** Node address with its prefix length: the node's LAN address. */
const ipv4WithPrefix = z.string({ error: 'must be a string like 10.0.0.11/24' }).refine((s) => typeof parseCidr(s) !== 'string', {
  error: (iss) => {
    const r = parseCidr(String(iss.input));
    return typeof r === 'string' ? `${r} (write the address with its prefix length, e.g. 10.0.0.11/24)` : 'invalid';
  },
});

/** AS numbers: 1..4294967294; 23456 is AS_TRANS (RFC 6793) and never a real AS. */
const asn = z
  .number({ error: 'must be a number' })
  .int({ error: 'must be a whole number' })
  .min(1, { error: 'AS numbers start at 1' })
  .max(4294967294, { error: 'AS numbers end at 4294967294 (4294967295 is reserved)' })
  .refine((n) => n !== 23456, { error: 'AS 23456 is AS_TRANS (RFC 6793), not a usable AS' });

/** Hostlist source text: only the characters hostlist syntax, addresses, CIDRs and names use. */
const HOSTLIST_CHARS = /^[A-Za-z0-9.,:/[\]\- ]+$/;
const hostlistString = z
  .string({ error: 'must be a hostlist string' })
  .max(4096, { error: 'is longer than 4096 characters' })
  .regex(HOSTLIST_CHARS, {
    error: 'may contain only letters, digits and . , : / [ ] - (hostlist syntax such as rgw[01-04].example.com or 10.0.0.[1-9])',
  });
export const hostlist = z.union([hostlistString, z.array(hostlistString).min(1).max(256)], {
  error: 'must be a hostlist string or a list of them',
});

const hostname = z.string({ error: 'must be a host name' }).max(253).refine(isHostname, {
  error: (iss) => `'${String(iss.input)}' is not a valid host name (RFC 1123 labels: letters, digits, inner dashes)`,
});

/** Absolute HTTP path for health checks: no spaces, quotes, '#', '\' or '$' (HAProxy tokenizer). */
const httpPath = z
  .string({ error: 'must be a path string' })
  .max(200, { error: 'is longer than 200 characters' })
  .regex(/^\/[A-Za-z0-9._~%/?=&+-]*$/, { error: 'must start with / and contain only A-Z a-z 0-9 . _ ~ % / ? = & + -' });

/** Linux interface name (IFNAMSIZ 16 incl. NUL). */
const ifname = z
  .string({ error: 'must be an interface name' })
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, { error: 'must be an interface name of 1-15 characters (letters, digits, _ . -)' });

const ms = (min: number, max: number) =>
  z
    .number({ error: 'must be a number of milliseconds' })
    .int({ error: 'must be a whole number of milliseconds' })
    .min(min, { error: `must be at least ${min} ms` })
    .max(max, { error: `must be at most ${max} ms` });

const intIn = (min: number, max: number) =>
  z.number({ error: 'must be a number' }).int({ error: 'must be a whole number' }).min(min, { error: `must be at least ${min}` }).max(max, { error: `must be at most ${max}` });

/** A file path on the admin host (read by the tool, never written into a daemon config). */
const adminPath = z
  .string({ error: 'must be a file path' })
  .min(1)
  .max(4096)
  .regex(/^[^\0\n\r]+$/, { error: 'must not contain NUL or line breaks' });

/** Environment variable name. */
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]{0,127}$/, { error: 'must be an environment variable name (A-Z, 0-9, _)' });

/**
 * TCP MD5 key (RFC 2385, at most 80 bytes). The character set leaves out quotes, spaces, ';', '#',
 * braces and '\' so the value cannot end ExaBGP's token or statement.
 */
export const MD5_RE = /^[A-Za-z0-9!@%^*_+=.,:/~-]{1,80}$/;

// ---------------------------------------------------------------------------------------------
// Sections

const secretSource = z.strictObject({
  /** Admin-side: a file holding the secret (trailing newline stripped). */
  file: adminPath.optional(),
  /** Admin-side: an environment variable holding the secret. */
  env: envName.optional(),
  /** Node-side only: the resolved value, filled in by the admin tool when it writes node data. */
  value: z.string().max(4096).optional(),
});

const bfd = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
  /**
   * Desired min TX and required min RX interval (RFC 5880 §6.8.1). 50 ms × 3 = 150 ms detection:
   * the lab measured 100 ms × 3 at 310-380 ms from link cut to the router's FIB (BFD + zebra),
   * above the 250 ms target; 50 ms is within what BIRD and router BFD implementations sustain.
   */
  intervalMs: ms(10, 10_000).default(50),
  /** Detection time = interval × multiplier: 50 ms × 3 detects a dead link in ~150 ms. */
  multiplier: intIn(1, 255).default(3),
});

const neighbor = z.strictObject({
  address: ipv4,
  /** Overrides bgp.peerAs for this router. */
  peerAs: asn.optional(),
  /** Name of a secret (in `secrets`) with this router's TCP MD5 password; overrides bgp.md5PasswordSecret. */
  md5PasswordSecret: name.optional(),
});

const bgp = z.strictObject({
  localAs: asn,
  peerAs: asn,
  neighbors: z.array(neighbor, { error: 'must be a list of routers' }).min(1, { error: 'needs at least one router' }).max(8),
  /** Seconds; 0 or at least 3 (RFC 4271 §4.2). 3 s bounds a hung ExaBGP's time to withdrawal. */
  holdTime: z
    .number({ error: 'must be a number of seconds' })
    .int()
    .refine((n) => n === 0 || (n >= 3 && n <= 65535), { error: 'must be 0 or between 3 and 65535 seconds (RFC 4271)' })
    .default(3),
  bfd: bfd.prefault({}),
  /** Name of a secret (in `secrets`) holding the TCP MD5 password for all routers. Never the password itself. */
  md5PasswordSecret: name.optional(),
});

const keepalived = z.strictObject({
  /** Interface that carries VRRP and the VIPs (overridable per node). */
  interface: ifname.default('eth0'),
  /** unicast (default) sends adverts to the other nodes' addresses; multicast uses 224.0.0.18. */
  transport: z.enum(['unicast', 'multicast'], { error: "must be 'unicast' or 'multicast'" }).default('unicast'),
  /**
   * VRRP advertisement interval. Below 1 s needs VRRPv3 (RFC 5798, centisecond field), so the
   * value must be a multiple of 10 ms. Master_Down_Interval = 3 × advert + skew ((256 − prio) ×
   * advert / 256, RFC 5798 §6.1): 150 ms gives ~0.55 s for a dead node, and a HAProxy stall
   * (health feed ~0.35 s + master-down, the track weight only lowers the priority) stays under
   * 1 s; at 200 ms the lab measured 1.02 s for the stall.
   */
  advertIntervalMs: ms(10, 40_950)
    .refine((n) => n % 10 === 0, { error: 'must be a multiple of 10 ms (VRRPv3 counts centiseconds)' })
    .default(150),
  /** First virtual router id; VIP i (in file order) gets vridBase + i unless it sets its own vrid. */
  vridBase: intIn(1, 255).default(DEFAULT_VRID_BASE),
});

/** The keepalived section's defaults, for a cluster file without one (the schema is their one source). */
export const KEEPALIVED_DEFAULTS = keepalived.parse({});

const vip = z.strictObject({
  name,
  address: ipv4,
  /** Name of the backend group (Ceph cluster) this VIP sends traffic to. */
  backend: name,
  /** Keepalived mode: the VRRP virtual router id of this VIP (1-255); defaults to vridBase + position. */
  vrid: intIn(1, 255).optional(),
});

const healthCheck = z.strictObject({
  method: z.enum(['GET', 'HEAD', 'OPTIONS'], { error: "must be 'GET', 'HEAD' or 'OPTIONS'" }).default('GET'),
  /** RGW answers an anonymous `GET /` with 200 (an empty bucket list), so `/` works on any RGW. */
  path: httpPath.default('/'),
  /** Host header of the check; default: none (HTTP/1.1 check with the server's address). */
  host: hostname.optional(),
  expectStatus: intIn(100, 599).default(200),
  intervalMs: ms(100, 60_000).default(2000),
  fall: intIn(1, 100).default(3),
  rise: intIn(1, 100).default(2),
});

const backend = z.strictObject({
  name,
  /** host:port entries as a hostlist, e.g. `rgw[01-04].example.com:7480` or `10.0.1.[1-3]:7480`. */
  servers: hostlist,
  healthCheck: healthCheck.prefault({}),
  /**
   * Keep HAProxy's connections to the RGWs open between requests (`http-reuse safe`), and route
   * each server with `quickack 1` (firstboot/ops/backend-quickack.ts): RGW's beast frontend leaves
   * Nagle on unless it runs with `tcp_nodelay=1`, and then each small answer on a kept connection
   * waited ~40 ms for this node's delayed ACK; ACKed at once, kept connections serve more small
   * GETs and PUTs than a fresh connection per request (test/bench/results/s3.json). `false`:
   * `option http-server-close`, a fresh connection per request, for servers that must not see
   * connections kept (or a node that cannot route them with quickack).
   */
  reuseConnections: z.boolean().default(true),
  /** TLS towards the RGWs; verification against a CA file on the node. */
  tls: z
    .strictObject({
      enabled: z.boolean().default(false),
      verify: z.enum(['required', 'none'], { error: "must be 'required' or 'none'" }).default('required'),
      /** Name of a certificate entry whose PEM is the CA bundle to verify against. */
      caCertificate: name.optional(),
    })
    .prefault({}),
});

const acme = z.strictObject({
  /** ACME directory URL. */
  directory: z
    .string()
    .max(500)
    .regex(/^https:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9._~%/-]*)?$/, { error: 'must be an https URL without query or spaces' })
    .default('https://acme-v02.api.letsencrypt.org/directory'),
  email: z
    .string()
    .max(254)
    .regex(/^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, { error: 'must be an e-mail address' }),
  domains: z.array(hostname).min(1).max(100),
});

const certificate = z.strictObject({
  name,
  /** Admin-side: a PEM file with the certificate chain and its private key. */
  file: adminPath.optional(),
  /** Node-side: the PEM content, filled in by the admin tool. */
  pem: z.string().max(1_000_000).optional(),
  /** HAProxy ≥ 3.2 only: let HAProxy obtain the certificate by ACME. */
  acme: acme.optional(),
});

const whitelists = z.strictObject({
  /** BGP/BFD peers allowed to reach 179/tcp and 3784-3785/udp (the configured neighbours always are). */
  routers: hostlist.optional(),
  /** Clients allowed on the VIPs' 80/443. Absent: everyone. */
  frontendHttp: hostlist.optional(),
  /** Networks the backends may live in: every backend server address must fall inside. */
  backendHttp: hostlist.optional(),
  /** Scrapers allowed on :8404 (stats, /metrics, /health). Absent: everyone. */
  monitoring: hostlist.optional(),
  /** SSH clients allowed on 22. Absent: everyone. */
  admin: hostlist.optional(),
});

const logging = z.strictObject({
  /** journald MaxRetentionSec. */
  retentionDays: intIn(1, 3650).default(14),
  /** journald SystemMaxUse. */
  maxDiskMB: intIn(16, 1_048_576).default(1024),
});

/** Whole seconds; HAProxy timeouts. Defaults are upload-friendly: a multi-GB PUT can pause. */
const haproxy = z.strictObject({
  /** Bounded by ober-http.service's file limit: two descriptors per connection and per pipe (haproxyFilesNeeded). */
  maxconn: intIn(100, MAX_HAPROXY_MAXCONN).default(100_000),
  timeouts: z
    .strictObject({
      connectMs: ms(100, 60_000).default(5000),
      clientMs: ms(1000, 3_600_000).default(300_000),
      serverMs: ms(1000, 3_600_000).default(300_000),
      httpRequestMs: ms(1000, 300_000).default(30_000),
      keepAliveMs: ms(100, 600_000).default(60_000),
    })
    .prefault({}),
  /** Bound on draining connections at `ober stop` / reload (hard-stop-after). */
  drainTimeoutSec: intIn(1, 86_400).default(300),
});

/** The health feed: `ober health` for ExaBGP, the track file writer for keepalived. */
const health = z.strictObject({
  intervalMs: ms(20, 10_000).default(100),
  timeoutMs: ms(20, 10_000).default(200),
  /** Consecutive failures before withdrawing: interval × fall + timeout bounds a stall's detection. */
  fall: intIn(1, 20).default(2),
  rise: intIn(1, 20).default(3),
});

/** sysctl key and value: no line breaks, no '=' in keys, no comment characters. */
const sysctlKey = z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/, { error: 'must be a sysctl key such as net.core.somaxconn' });
const sysctlText = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine((v) => /^[A-Za-z0-9 ._:-]{1,64}$/.test(v), { error: 'must be 1-64 characters of letters, digits, spaces and . _ : -' });
/**
 * A value, or `{ value, allowWeakening: true }`: the explicit form is the only way to set a value
 * that weakens the image's hardening (hardening.ts), so such a choice is visible where it is made.
 */
const sysctlValue = z.union([sysctlText, z.strictObject({ value: sysctlText, allowWeakening: z.literal(true, { error: 'must be true (or leave the value plain)' }) })], {
  error: 'must be a value, or { value: ..., allowWeakening: true }',
});
/** Bounded like every list here: a document of 4 MB could otherwise carry 100,000 keys. */
export const MAX_SYSCTL_KEYS = 128;
const sysctl = z.record(sysctlKey, sysctlValue).refine((r) => Object.keys(r).length <= MAX_SYSCTL_KEYS, { error: `at most ${MAX_SYSCTL_KEYS} settings` });

export type SysctlValue = z.output<typeof sysctlValue>;
/** The text a sysctl setting renders as. */
export const sysctlValueText = (v: SysctlValue): string => (typeof v === 'string' ? v : v.value);

// ---------------------------------------------------------------------------------------------
// Proxmox placement (admin side: `ober deploy` / `ober rollout`). Every value here ends up in a
// Proxmox API parameter, so each is held to the syntax the API's schema demands (apidata.json:
// pve-node, pve-storage-id, pve-bridge-id, mac-addr, dns-name, urlencoded sshkeys) and refused
// otherwise. The node ignores this section; it travels in its data only because the data is the
// whole cluster.

/** PVE node name (format pve-node: a DNS label). */
const pveNode = z
  .string({ error: 'must be a Proxmox node name' })
  .regex(/^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/, { error: 'must be a Proxmox node name (letters, digits, inner dashes; at most 63)' });

/** Storage id (format pve-storage-id). */
const storageId = z
  .string({ error: 'must be a storage id' })
  .regex(/^[a-z][a-z0-9\-_.]{0,62}[a-z0-9]$/i, { error: 'must be a Proxmox storage id (letter first, then letters, digits, - _ .)' });

/** Linux bridge (format pve-bridge-id, and a Linux interface name). */
const bridge = z
  .string({ error: 'must be a bridge name' })
  .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,14}$/, { error: 'must be a bridge name of 1-15 characters (letters, digits, _ . -), e.g. vmbr0' });

/** Unicast MAC (format mac-addr; the multicast bit of the first octet must be clear). */
const mac = z
  .string({ error: 'must be a MAC address' })
  .regex(/^[0-9A-Fa-f][02468ACEace](?::[0-9A-Fa-f]{2}){5}$/, { error: 'must be a unicast MAC address such as BC:24:11:12:34:56' });

const vmid = intIn(100, 999_999_999);

/**
 * One OpenSSH public key line: type, base64 blob, optional comment of safe characters. Proxmox
 * checks each line (PVE::Tools::validate_ssh_public_keys); a line break would smuggle in a second key.
 */
const SSH_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]{16,8192}={0,2}(?: [A-Za-z0-9@._+-]{1,100})?$/;
const sshKey = z
  .string({ error: 'must be an SSH public key line' })
  .regex(SSH_KEY_RE, { error: 'must be one OpenSSH public key: "<type> <base64> [comment]" (comment: letters, digits, @ . _ + -)' })
  .refine(
    (k) => {
      // The blob (RFC 4253 §6.6) is length-prefixed fields, the first being the key type: they must
      // use it up exactly. Catches truncated, pasted-over and mislabelled keys.
      const [type, blob] = k.split(' ');
      const bytes = Buffer.from(blob ?? '', 'base64');
      const fields: Buffer[] = [];
      for (let at = 0; at < bytes.length; ) {
        if (at + 4 > bytes.length) return false;
        const end = at + 4 + bytes.readUInt32BE(at);
        if (end > bytes.length) return false;
        fields.push(bytes.subarray(at + 4, end));
        at = end;
      }
      return fields.length >= 2 && fields[0]?.toString('latin1') === type;
    },
    { error: 'is not a valid key: its base64 part does not encode the key type named before it' },
  );

/** Linux user name cloud-init creates (ciuser). */
const userName = z
  .string({ error: 'must be a user name' })
  .regex(/^[a-z_][a-z0-9_-]{0,31}$/, { error: 'must be a user name: a-z, 0-9, _ and -, at most 32, not starting with a digit or dash' })
  .refine((u) => u !== 'root', { error: 'must not be root (the image refuses root logins)' });

const proxmox = z.strictObject({
  /** Proxmox node the VMs run on; default: the node holding the template. */
  node: pveNode.optional(),
  /** Storage of the clones' disks; default: the template's storage (allows linked clones). */
  storage: storageId.optional(),
  /** Storage with content `snippets` (vendor-data snippets) or `iso` (--snippets iso). */
  snippetStorage: storageId.default('local'),
  bridge: bridge.default('vmbr0'),
  /** 802.1Q tag on the bridge port. */
  vlan: intIn(1, 4094).optional(),
  cores: intIn(1, 128).default(2),
  memoryMB: intIn(512, 4 * 1024 * 1024).default(2048),
  /** Grow the system disk to this size (GiB); default: the template's size. */
  diskGB: intIn(1, 65_536).optional(),
  /** Must match the template's firmware (set at `ober template create --bios`). */
  firmware: z.enum(['ovmf', 'seabios'], { error: "must be 'ovmf' or 'seabios'" }).default('ovmf'),
  /** First VMID tried for node i is vmidBase + i; default: Proxmox's next free id. */
  vmidBase: vmid.optional(),
  /** linked: share the template's disk (fast, needs a storage with snapshots); full: copy it. */
  clone: z.enum(['linked', 'full'], { error: "must be 'linked' or 'full'" }).default('linked'),
  /** Keep a node's MAC across rollouts (DHCP reservations, switch port security). */
  keepMac: z.boolean({ error: 'must be true or false' }).default(false),
  /** Start the VM when the Proxmox host boots. */
  onboot: z.boolean({ error: 'must be true or false' }).default(true),
  ciuser: userName.default('ober'),
  sshKeys: z.array(sshKey, { error: 'must be a list of SSH public keys' }).max(32).default([]),
  nameservers: z.array(ipv4, { error: 'must be a list of IPv4 addresses' }).min(1).max(3).optional(),
  searchdomain: hostname.optional(),
});

/** Per node: pin the VMID, the Proxmox node or the MAC. */
const nodeProxmox = z.strictObject({
  vmid: vmid.optional(),
  node: pveNode.optional(),
  mac: mac.optional(),
});

const nodeOverrides = z.strictObject({
  bgp: z
    .strictObject({
      localAs: asn.optional(),
      neighbors: z.array(neighbor).min(1).max(8).optional(),
    })
    .optional(),
  keepalived: z.strictObject({ interface: ifname.optional() }).optional(),
  sysctl: sysctl.optional(),
});

const node = z.strictObject({
  name,
  /** LAN address with prefix length; BGP local-address / VRRP source. */
  address: ipv4WithPrefix,
  gateway: ipv4.optional(),
  /** BGP router id; defaults to the node's address. */
  routerId: ipv4.optional(),
  overrides: nodeOverrides.optional(),
  proxmox: nodeProxmox.optional(),
});

export const MAX_SECRETS = 64;

export const clusterSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1 (the only cluster file version so far)' }),
  name,
  mode: z.enum(['bgp', 'keepalived'], { error: "must be 'bgp' or 'keepalived'" }),
  bgp: bgp.optional(),
  keepalived: keepalived.optional(),
  vips: z.array(vip, { error: 'must be a list of VIPs' }).min(1, { error: 'needs at least one VIP' }).max(64),
  backends: z.array(backend, { error: 'must be a list of backend groups' }).min(1, { error: 'needs at least one backend group' }).max(32),
  certificates: z.array(certificate).max(64).default([]),
  whitelists: whitelists.prefault({}),
  logging: logging.prefault({}),
  haproxy: haproxy.prefault({}),
  health: health.prefault({}),
  sysctl: sysctl.default({}),
  /** At most MAX_SECRETS: each one read from a file costs a bounded read, and a few are all a cluster needs. */
  secrets: z
    .record(name, secretSource)
    .refine((r) => Object.keys(r).length <= MAX_SECRETS, { error: `at most ${MAX_SECRETS} secrets` })
    .default({}),
  /** Where and how `ober deploy` places the nodes on Proxmox (admin side). */
  proxmox: proxmox.optional(),
  nodes: z.array(node, { error: 'must be a list of nodes' }).min(1, { error: 'needs at least one node' }).max(64),
});

/** What a node receives: the cluster with secrets and certificates resolved, plus its own name. */
export const nodeDataSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1' }),
  node: name,
  cluster: clusterSchema,
});

export type Cluster = z.output<typeof clusterSchema>;
export type ClusterInput = z.input<typeof clusterSchema>;
export type NodeData = z.output<typeof nodeDataSchema>;
export type NodeSpec = Cluster['nodes'][number];
export type VipSpec = Cluster['vips'][number];
export type BackendSpec = Cluster['backends'][number];
export type NeighborSpec = z.output<typeof neighbor>;
export type Whitelists = Cluster['whitelists'];
export type ProxmoxSpec = NonNullable<Cluster['proxmox']>;
export type NodeProxmoxSpec = NonNullable<NodeSpec['proxmox']>;
