// A corpus of hostile and broken cluster input. Each case must be refused by validation with an
// issue naming the field; none may reach derivation or a renderer.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { deriveNode } from '../../firstboot/model/derive.js';
import { loadClusterText, parseYaml, validateNodeData } from '../../firstboot/model/load.js';
import { renderNode } from '../../firstboot/render/index.js';
import { EXAMPLES } from '../helpers/fixtures.js';

type Doc = Record<string, unknown>;
interface Case {
  name: string;
  mutate: (d: Doc) => void;
  /** The reported issue path must start with this. */
  path: string;
  /** Check as node data (resolved secrets) instead of a cluster file. */
  nodeData?: boolean;
  /** The issue at `path` must also say this. */
  message?: RegExp;
  /** The issue at `path` must carry a fix (hint). */
  hint?: boolean;
}

const base = async (i: number): Promise<Doc> => parseYaml(await readFile(EXAMPLES[i] ?? '', 'utf8'), 'x').data as Doc;
const [bgpText, kaText] = await Promise.all(EXAMPLES.map((f) => readFile(f, 'utf8')));
const bgpDoc = parseYaml(bgpText ?? '', 'bgp').data as Doc;
const kaDoc = parseYaml(kaText ?? '', 'ka').data as Doc;

/** set(doc, 'a.b[0].c', v) */
function set(doc: Doc, path: string, value: unknown): void {
  const keys = [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? '')));
  let cur: Record<string | number, unknown> = doc;
  for (const k of keys.slice(0, -1)) {
    cur[k] ??= {};
    cur = cur[k] as Record<string | number, unknown>;
  }
  const last = keys[keys.length - 1];
  if (last === undefined) throw new Error('empty path');
  if (value === undefined) delete cur[last];
  else cur[last] = value;
}

/** Strings that could break out of a config line or token, or run something if ever passed to a shell. */
const HOSTILE = ['a\nb', 'a\r\nglobal', 'a#b', 'a{b', 'a}b', 'a"b', "a'b", 'a b', 'a;b', '$(reboot)', '`id`', 'a|b', 'a&b', 'a\\b', 'x'.repeat(300), '', 'a\u0000b'];

/** Fields whose value lands in a daemon's config, and the issue path expected for each. */
const STRING_FIELDS: { path: string; except?: string[] }[] = [
  { path: 'name' },
  { path: 'nodes[0].name' },
  { path: 'vips[0].name' },
  { path: 'vips[0].backend' },
  { path: 'backends[0].name' },
  { path: 'backends[0].healthCheck.path' },
  { path: 'backends[0].healthCheck.host' },
  { path: 'certificates[0].name' },
  { path: 'bgp.md5PasswordSecret' },
  { path: 'vips[0].address' },
  { path: 'nodes[0].address' },
  { path: 'bgp.neighbors[0].address' },
  // Hostlists: a space after a comma is legitimate there, so 'a b' is checked as a (bad) item below.
  { path: 'whitelists.frontendHttp' },
  { path: 'backends[0].servers' },
];

const cases: Case[] = [];
for (const f of STRING_FIELDS) {
  for (const h of HOSTILE) {
    if (f.except?.includes(h)) continue;
    cases.push({ name: `${f.path} = ${JSON.stringify(h).slice(0, 30)}`, mutate: (d) => set(d, f.path, h), path: f.path });
  }
}

// Keepalived-only string fields (separate base document).
const KA_CASES: Case[] = [
  ...['eth0\nvrrp_instance x {', 'eth 0', 'eth0;', 'a'.repeat(16), '-eth0', ''].map((v) => ({
    name: `keepalived.interface = ${JSON.stringify(v)}`,
    mutate: (d: Doc) => set(d, 'keepalived.interface', v),
    path: 'keepalived.interface',
  })),
  { name: 'duplicate VRID', mutate: (d) => { set(d, 'vips[0].vrid', 7); set(d, 'vips[1].vrid', 7); }, path: 'vips[1].vrid' },
  { name: 'VRID 0', mutate: (d) => set(d, 'vips[0].vrid', 0), path: 'vips[0].vrid' },
  { name: 'VRID 256', mutate: (d) => set(d, 'vips[0].vrid', 256), path: 'vips[0].vrid' },
  { name: 'derived VRID above 255', mutate: (d) => set(d, 'keepalived.vridBase', 254), path: 'vips[2].vrid' },
  { name: 'advert 15 ms (not centiseconds)', mutate: (d) => set(d, 'keepalived.advertIntervalMs', 15), path: 'keepalived.advertIntervalMs' },
  { name: 'transport broadcast', mutate: (d) => set(d, 'keepalived.transport', 'broadcast'), path: 'keepalived.transport' },
  { name: 'node interface override injection', mutate: (d) => set(d, 'nodes[1].overrides', { keepalived: { interface: 'eth0}' } }), path: 'nodes[1].overrides.keepalived.interface' },
];

// Semantic errors in the BGP example.
const SEMANTIC: Case[] = [
  { name: 'AS 0', mutate: (d) => set(d, 'bgp.localAs', 0), path: 'bgp.localAs' },
  { name: 'AS 4294967295', mutate: (d) => set(d, 'bgp.peerAs', 4294967295), path: 'bgp.peerAs' },
  { name: 'AS 23456 (AS_TRANS)', mutate: (d) => set(d, 'bgp.localAs', 23456), path: 'bgp.localAs' },
  { name: 'AS as string', mutate: (d) => set(d, 'bgp.localAs', '65100'), path: 'bgp.localAs' },
  { name: 'AS fractional', mutate: (d) => set(d, 'bgp.localAs', 65100.5), path: 'bgp.localAs' },
  { name: 'neighbor peerAs too large', mutate: (d) => set(d, 'bgp.neighbors[0].peerAs', 2 ** 33), path: 'bgp.neighbors[0].peerAs' },
  { name: 'hold time 2', mutate: (d) => set(d, 'bgp.holdTime', 2), path: 'bgp.holdTime' },
  { name: 'hold time 70000', mutate: (d) => set(d, 'bgp.holdTime', 70000), path: 'bgp.holdTime' },
  { name: 'BFD interval 5 ms', mutate: (d) => set(d, 'bgp.bfd.intervalMs', 5), path: 'bgp.bfd.intervalMs' },
  { name: 'BFD multiplier 0', mutate: (d) => set(d, 'bgp.bfd.multiplier', 0), path: 'bgp.bfd.multiplier' },
  { name: 'BFD enabled "yes"', mutate: (d) => set(d, 'bgp.bfd.enabled', 'yes'), path: 'bgp.bfd.enabled' },
  { name: 'no neighbours', mutate: (d) => set(d, 'bgp.neighbors', []), path: 'bgp.neighbors' },
  { name: 'duplicate neighbour', mutate: (d) => set(d, 'bgp.neighbors[1].address', '10.20.0.1'), path: 'bgp.neighbors[1].address' },
  { name: 'neighbour is a node', mutate: (d) => set(d, 'bgp.neighbors[0].address', '10.20.0.11'), path: 'bgp.neighbors[0].address' },
  { name: 'mode bgp without bgp section', mutate: (d) => set(d, 'bgp', undefined), path: 'bgp' },
  { name: 'unknown mode', mutate: (d) => set(d, 'mode', 'ospf'), path: 'mode' },
  { name: 'version 2', mutate: (d) => set(d, 'version', 2), path: 'version' },
  { name: 'IP with octet 256', mutate: (d) => set(d, 'vips[0].address', '10.20.255.256'), path: 'vips[0].address' },
  { name: 'IP with leading zero', mutate: (d) => set(d, 'vips[0].address', '10.020.255.1'), path: 'vips[0].address' },
  { name: 'IP with 3 octets', mutate: (d) => set(d, 'vips[0].address', '10.20.255'), path: 'vips[0].address' },
  { name: 'IPv6 VIP', mutate: (d) => set(d, 'vips[0].address', '2001:db8::1'), path: 'vips[0].address' },
  { name: 'VIP as number', mutate: (d) => set(d, 'vips[0].address', 168034049), path: 'vips[0].address' },
  { name: 'node address without prefix', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.11'), path: 'nodes[0].address' },
  { name: 'node prefix /33', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.11/33'), path: 'nodes[0].address' },
  { name: 'gateway outside the network', mutate: (d) => set(d, 'nodes[0].gateway', '10.99.0.1'), path: 'nodes[0].gateway' },
  { name: 'duplicate VIP address', mutate: (d) => set(d, 'vips[1].address', '10.20.255.10'), path: 'vips[1].address' },
  { name: 'duplicate VIP name', mutate: (d) => set(d, 'vips[1].name', 's3-a'), path: 'vips[1].name' },
  { name: 'VIP is a node address', mutate: (d) => set(d, 'vips[0].address', '10.20.0.12'), path: 'vips[0].address' },
  { name: 'VIP points to a missing backend', mutate: (d) => set(d, 'vips[0].backend', 'ceph-z'), path: 'vips[0].backend' },
  { name: 'no VIPs', mutate: (d) => set(d, 'vips', []), path: 'vips' },
  { name: 'duplicate node name', mutate: (d) => set(d, 'nodes[2].name', 'ober1'), path: 'nodes[2].name' },
  { name: 'duplicate node address', mutate: (d) => set(d, 'nodes[2].address', '10.20.0.11/24'), path: 'nodes[2].address' },
  { name: 'duplicate router id', mutate: (d) => set(d, 'nodes[1].routerId', '10.20.0.11'), path: 'nodes[1].routerId' },
  { name: 'no nodes', mutate: (d) => set(d, 'nodes', []), path: 'nodes' },
  { name: 'whitelist CIDR with host bits', mutate: (d) => set(d, 'whitelists.frontendHttp', '10.0.0.1/8'), path: 'whitelists.frontendHttp' },
  { name: 'whitelist CIDR /40', mutate: (d) => set(d, 'whitelists.admin', '10.0.0.0/40'), path: 'whitelists.admin' },
  { name: 'hostlist unbalanced [', mutate: (d) => set(d, 'whitelists.routers', '10.20.0.[1-2'), path: 'whitelists.routers' },
  { name: 'hostlist unbalanced ]', mutate: (d) => set(d, 'whitelists.routers', '10.20.0.1-2]'), path: 'whitelists.routers' },
  { name: 'hostlist descending range', mutate: (d) => set(d, 'whitelists.routers', '10.20.0.[9-1]'), path: 'whitelists.routers' },
  { name: 'hostlist letters in range', mutate: (d) => set(d, 'whitelists.routers', 'rgw[a-c].example.com'), path: 'whitelists.routers' },
  { name: 'hostlist huge range', mutate: (d) => set(d, 'whitelists.monitoring', 'h[1-99999999].example.com'), path: 'whitelists.monitoring' },
  { name: 'hostlist expands to bad IP', mutate: (d) => set(d, 'whitelists.monitoring', '10.20.5.[250-260]'), path: 'whitelists.monitoring' },
  { name: 'hostlist doubled comma', mutate: (d) => set(d, 'whitelists.monitoring', '10.20.5.10,,10.20.5.11'), path: 'whitelists.monitoring' },
  { name: 'hostlist item with space', mutate: (d) => set(d, 'whitelists.monitoring', 'a b.example.com'), path: 'whitelists.monitoring' },
  { name: 'server port 0', mutate: (d) => set(d, 'backends[1].servers', '10.30.0.21:0'), path: 'backends[1].servers' },
  { name: 'server port 70000', mutate: (d) => set(d, 'backends[1].servers', '10.30.0.21:70000'), path: 'backends[1].servers' },
  { name: 'server listed twice', mutate: (d) => set(d, 'backends[1].servers', ['10.30.0.21:7480', '10.30.0.21:7480']), path: 'backends[1].servers' },
  { name: 'server outside backendHttp', mutate: (d) => set(d, 'backends[1].servers', '10.99.0.21:7480'), path: 'backends[1].servers' },
  { name: 'health check method DELETE', mutate: (d) => set(d, 'backends[0].healthCheck.method', 'DELETE'), path: 'backends[0].healthCheck.method' },
  { name: 'health check status 700', mutate: (d) => set(d, 'backends[0].healthCheck.expectStatus', 700), path: 'backends[0].healthCheck.expectStatus' },
  { name: 'health check relative path', mutate: (d) => set(d, 'backends[0].healthCheck.path', 'health'), path: 'backends[0].healthCheck.path' },
  { name: 'missing secret', mutate: (d) => set(d, 'bgp.md5PasswordSecret', 'nope'), path: 'bgp.md5PasswordSecret' },
  { name: 'inline secret value in cluster file', mutate: (d) => set(d, 'secrets.bgp-md5', { value: 'hunter2' }), path: 'secrets.bgp-md5.value' },
  { name: 'secret with both file and env', mutate: (d) => set(d, 'secrets.bgp-md5', { file: 'a', env: 'B' }), path: 'secrets.bgp-md5' },
  { name: 'secret env lower case', mutate: (d) => set(d, 'secrets.bgp-md5', { env: 'bgp_pw' }), path: 'secrets.bgp-md5.env' },
  { name: 'secret name with newline', mutate: (d) => set(d, 'secrets', { 'a\nb': { env: 'X' } }), path: 'secrets' },
  { name: 'inline private key in cluster file', mutate: (d) => set(d, 'certificates[0]', { name: 's3', pem: 'x' }), path: 'certificates[0].pem' },
  { name: 'certificate with file and acme', mutate: (d) => set(d, 'certificates[0].acme', { email: 'a@b.example', domains: ['s3.example.com'] }), path: 'certificates[0]' },
  { name: 'unknown top-level field', mutate: (d) => set(d, 'vipz', []), path: 'vipz' },
  { name: 'unknown nested field', mutate: (d) => set(d, 'bgp.holdtime', 3), path: 'bgp.holdtime' },
  { name: 'sysctl key injection', mutate: (d) => set(d, 'sysctl', { 'net.core.somaxconn\nkernel.x': '1' }), path: 'sysctl' },
  { name: 'sysctl value with newline', mutate: (d) => set(d, 'sysctl', { 'net.core.somaxconn': '1\nkernel.panic = 0' }), path: 'sysctl.net.core.somaxconn' },
  { name: 'sysctl value with #', mutate: (d) => set(d, 'sysctl', { 'net.core.somaxconn': '1 # x' }), path: 'sysctl.net.core.somaxconn' },
  { name: 'logging retention 0', mutate: (d) => set(d, 'logging.retentionDays', 0), path: 'logging.retentionDays' },
  { name: 'haproxy maxconn negative', mutate: (d) => set(d, 'haproxy.maxconn', -1), path: 'haproxy.maxconn' },
  { name: 'health interval 1 ms', mutate: (d) => set(d, 'health.intervalMs', 1), path: 'health.intervalMs' },
  { name: 'vips not a list', mutate: (d) => set(d, 'vips', 'a'), path: 'vips' },
  { name: 'nodes entry not a map', mutate: (d) => set(d, 'nodes[0]', 'ober1'), path: 'nodes[0]' },
];

// Addresses that parse but make no sense on a network (issue 17): each refused with its field and a fix.
const vip0 = (v: string): Case => ({ name: `VIP ${v}`, mutate: (d) => set(d, 'vips[0].address', v), path: 'vips[0].address', hint: true });
const ADDRESSES: Case[] = [
  ...['0.0.0.0', '0.1.2.3', '255.255.255.255', '224.0.0.18', '239.1.1.1', '127.0.0.1', '127.255.0.1', '169.254.1.1', '240.0.0.1'].map(vip0),
  { name: 'VIP is the gateway', mutate: (d) => set(d, 'vips[0].address', '10.20.0.1'), path: 'vips[0].address', message: /gateway of nodes\[0\]/ },
  { name: 'VIP is a BGP neighbour', mutate: (d) => set(d, 'vips[0].address', '10.20.0.2'), path: 'vips[0].address', message: /BGP neighbour \(bgp\.neighbors\[1\]\)/ },
  { name: 'VIP is a per-node BGP neighbour', mutate: (d) => { set(d, 'nodes[2].overrides', { bgp: { neighbors: [{ address: '10.20.0.3' }] } }); set(d, 'vips[1].address', '10.20.0.3'); }, path: 'vips[1].address', message: /nodes\[2\]\.overrides\.bgp\.neighbors\[0\]/ },
  { name: 'VIP is a backend server', mutate: (d) => set(d, 'vips[0].address', '10.30.0.22'), path: 'vips[0].address', message: /server of backends\[1\]/ },
  { name: 'VIP is the network address of the nodes\' LAN', mutate: (d) => set(d, 'vips[0].address', '10.20.0.0'), path: 'vips[0].address', message: /network address/ },
  { name: 'VIP is the broadcast address of the nodes\' LAN', mutate: (d) => set(d, 'vips[0].address', '10.20.0.255'), path: 'vips[0].address', message: /broadcast address/ },
  { name: 'node address 0.0.0.0/0', mutate: (d) => set(d, 'nodes[0].address', '0.0.0.0/0'), path: 'nodes[0].address', hint: true },
  { name: 'node address /7', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.11/7'), path: 'nodes[0].address', message: /not a LAN prefix/ },
  { name: 'node address /32', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.11/32'), path: 'nodes[0].address', message: /\/32/ },
  { name: 'node address is its network address', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.0/24'), path: 'nodes[0].address', message: /network address/ },
  { name: 'node address is its broadcast address', mutate: (d) => set(d, 'nodes[0].address', '10.20.0.255/24'), path: 'nodes[0].address', message: /broadcast address/ },
  { name: 'node address on loopback', mutate: (d) => { set(d, 'nodes[0].address', '127.0.0.2/8'); set(d, 'nodes[0].gateway', '127.0.0.1'); }, path: 'nodes[0].address', message: /loopback/ },
  { name: 'node address multicast', mutate: (d) => set(d, 'nodes[0].address', '224.0.0.11/24'), path: 'nodes[0].address', message: /multicast/ },
  { name: 'gateway is the network address', mutate: (d) => set(d, 'nodes[0].gateway', '10.20.0.0'), path: 'nodes[0].gateway', message: /network address/ },
  { name: 'gateway is the broadcast address', mutate: (d) => set(d, 'nodes[0].gateway', '10.20.0.255'), path: 'nodes[0].gateway', message: /broadcast address/ },
  { name: 'gateway is the node itself', mutate: (d) => set(d, 'nodes[0].gateway', '10.20.0.11'), path: 'nodes[0].gateway', message: /own address/ },
  { name: 'BGP neighbour 0.0.0.0', mutate: (d) => set(d, 'bgp.neighbors[0].address', '0.0.0.0'), path: 'bgp.neighbors[0].address', hint: true },
  { name: 'BGP neighbour multicast', mutate: (d) => set(d, 'bgp.neighbors[0].address', '224.0.0.5'), path: 'bgp.neighbors[0].address', hint: true },
  { name: 'BGP neighbour loopback', mutate: (d) => set(d, 'bgp.neighbors[0].address', '127.0.0.1'), path: 'bgp.neighbors[0].address', hint: true },
  { name: 'per-node BGP neighbour broadcast', mutate: (d) => set(d, 'nodes[1].overrides', { bgp: { neighbors: [{ address: '255.255.255.255' }] } }), path: 'nodes[1].overrides.bgp.neighbors[0].address', hint: true },
  { name: 'router id 0.0.0.0', mutate: (d) => set(d, 'nodes[1].routerId', '0.0.0.0'), path: 'nodes[1].routerId', hint: true },
  ...[
    ['0x7f.0.0.1:7480', '127.0.0.1'],
    ['0x0a.0x1e.0.0x15:7480', '10.30.0.21'],
    ['0x0A1E0015:7480', '10.30.0.21'],
    ['127.1:7480', '127.0.0.1'],
    ['012.30.0.21:7480', '10.30.0.21'],
    ['0x7f.0.0.1.:7480', '127.0.0.1'],
    ['10.0x1e.0.21', '10.30.0.21'],
  ].map(([v, ip]): Case => ({ name: `backend in inet_aton form ${v}`, mutate: (d) => set(d, 'backends[1].servers', v), path: 'backends[1].servers', message: new RegExp(`reads it as ${ip?.replace(/\./g, '\\.')}`) })),
  { name: 'backend 0x.0x.0x.0x (glibc: 0.0.0.0)', mutate: (d) => set(d, 'backends[1].servers', '0x.0x.0x.0x:7480'), path: 'backends[1].servers', message: /reads it as 0\.0\.0\.0/ },
  { name: 'backend name of numeric labels only (not even inet_aton)', mutate: (d) => set(d, 'backends[1].servers', '0x1ff.1.1.1:7480'), path: 'backends[1].servers' },
  { name: 'backend server 0.0.0.0 (no whitelist)', mutate: (d) => { set(d, 'whitelists.backendHttp', undefined); set(d, 'backends[1].servers', '0.0.0.0:7480'); }, path: 'backends[1].servers', message: /this network/ },
  { name: 'backend server on loopback (no whitelist)', mutate: (d) => { set(d, 'whitelists.backendHttp', undefined); set(d, 'backends[1].servers', '127.0.0.1:8404'); }, path: 'backends[1].servers', message: /loopback/ },
  { name: 'backend server multicast (no whitelist)', mutate: (d) => { set(d, 'whitelists.backendHttp', undefined); set(d, 'backends[1].servers', '224.0.0.1:80'); }, path: 'backends[1].servers', message: /multicast/ },
  { name: 'whitelist entry in inet_aton form', mutate: (d) => set(d, 'whitelists.frontendHttp', '0x7f.0.0.1'), path: 'whitelists.frontendHttp', message: /reads it as 127\.0\.0\.1/ },
  { name: 'whitelist entry with fewer than four parts', mutate: (d) => set(d, 'whitelists.admin', '10.1'), path: 'whitelists.admin', message: /reads it as 10\.0\.0\.1/ },
  { name: '65 secrets', mutate: (d) => set(d, 'secrets', Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`s${i}`, { env: 'X' }]))), path: 'secrets', message: /at most 64 secrets/ },
  { name: '129 sysctl settings', mutate: (d) => set(d, 'sysctl', Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`net.core.k${i}`, 1]))), path: 'sysctl', message: /at most 128 settings/ },
  { name: 'health check Host in inet_aton form', mutate: (d) => set(d, 'backends[0].healthCheck.host', '0x7f.1'), path: 'backends[0].healthCheck.host' },
];
// The same classes in keepalived mode (VRRP hands the VIP over on the nodes' LAN).
const KA_ADDRESSES: Case[] = [
  { name: 'keepalived VIP is the VRRP multicast group', mutate: (d) => set(d, 'vips[0].address', '224.0.0.18'), path: 'vips[0].address', message: /multicast/ },
  { name: 'keepalived VIP is the LAN broadcast', mutate: (d) => set(d, 'vips[2].address', '10.20.0.255'), path: 'vips[2].address', message: /broadcast address/ },
  { name: 'keepalived VIP is the gateway', mutate: (d) => set(d, 'vips[1].address', '10.20.0.1'), path: 'vips[1].address', message: /gateway/ },
  { name: 'keepalived VIP is a backend', mutate: (d) => set(d, 'vips[1].address', '10.30.0.24'), path: 'vips[1].address', message: /server of backends\[0\]/ },
  { name: 'keepalived VIP 0.0.0.0', mutate: (d) => set(d, 'vips[0].address', '0.0.0.0'), path: 'vips[0].address', hint: true },
];

// Proxmox placement: every value lands in a Proxmox API parameter (deploy/rollout).
const PROXMOX_STRING_FIELDS = [
  'proxmox.node', 'proxmox.storage', 'proxmox.snippetStorage', 'proxmox.bridge', 'proxmox.ciuser', 'proxmox.searchdomain',
  'proxmox.sshKeys[0]', 'proxmox.nameservers[0]', 'nodes[0].proxmox.node', 'nodes[0].proxmox.mac',
];
const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfoz3hh3RKeHhKroED1/DY7outZhGYYpcUE1TNcVvey';
const PROXMOX: Case[] = [
  ...PROXMOX_STRING_FIELDS.flatMap((path) =>
    HOSTILE.map((h) => ({ name: `${path} = ${JSON.stringify(h).slice(0, 30)}`, mutate: (d: Doc) => set(d, path, h), path })),
  ),
  { name: 'VLAN 0', mutate: (d) => set(d, 'proxmox.vlan', 0), path: 'proxmox.vlan' },
  { name: 'VLAN 4095', mutate: (d) => set(d, 'proxmox.vlan', 4095), path: 'proxmox.vlan' },
  { name: 'cores 0', mutate: (d) => set(d, 'proxmox.cores', 0), path: 'proxmox.cores' },
  { name: 'cores as string', mutate: (d) => set(d, 'proxmox.cores', '2'), path: 'proxmox.cores' },
  { name: 'memory 100 MB', mutate: (d) => set(d, 'proxmox.memoryMB', 100), path: 'proxmox.memoryMB' },
  { name: 'disk 0 GB', mutate: (d) => set(d, 'proxmox.diskGB', 0), path: 'proxmox.diskGB' },
  { name: 'vmidBase 99', mutate: (d) => set(d, 'proxmox.vmidBase', 99), path: 'proxmox.vmidBase' },
  { name: 'vmid 1e9', mutate: (d) => set(d, 'nodes[1].proxmox', { vmid: 1_000_000_000 }), path: 'nodes[1].proxmox.vmid' },
  { name: 'vmid fractional', mutate: (d) => set(d, 'nodes[1].proxmox', { vmid: 100.5 }), path: 'nodes[1].proxmox.vmid' },
  { name: 'duplicate vmid', mutate: (d) => { set(d, 'nodes[0].proxmox', { vmid: 300 }); set(d, 'nodes[2].proxmox', { vmid: 300 }); }, path: 'nodes[2].proxmox.vmid' },
  { name: 'duplicate MAC (case differs)', mutate: (d) => { set(d, 'nodes[0].proxmox', { mac: 'BC:24:11:00:00:01' }); set(d, 'nodes[1].proxmox', { mac: 'bc:24:11:00:00:01' }); }, path: 'nodes[1].proxmox.mac' },
  { name: 'multicast MAC', mutate: (d) => set(d, 'nodes[0].proxmox', { mac: '01:00:5E:00:00:01' }), path: 'nodes[0].proxmox.mac' },
  { name: 'MAC with dashes', mutate: (d) => set(d, 'nodes[0].proxmox', { mac: 'BC-24-11-00-00-01' }), path: 'nodes[0].proxmox.mac' },
  { name: 'firmware uefi', mutate: (d) => set(d, 'proxmox.firmware', 'uefi'), path: 'proxmox.firmware' },
  { name: 'clone thin', mutate: (d) => set(d, 'proxmox.clone', 'thin'), path: 'proxmox.clone' },
  { name: 'keepMac "yes"', mutate: (d) => set(d, 'proxmox.keepMac', 'yes'), path: 'proxmox.keepMac' },
  { name: 'ciuser root', mutate: (d) => set(d, 'proxmox.ciuser', 'root'), path: 'proxmox.ciuser' },
  { name: 'ssh key blob of another type', mutate: (d) => set(d, 'proxmox.sshKeys', [ED25519.replace('ssh-ed25519', 'ssh-rsa')]), path: 'proxmox.sshKeys[0]' },
  { name: 'ssh key truncated', mutate: (d) => set(d, 'proxmox.sshKeys', [ED25519.slice(0, 40)]), path: 'proxmox.sshKeys[0]' },
  { name: 'ssh key with options', mutate: (d) => set(d, 'proxmox.sshKeys', [`command="id" ${ED25519}`]), path: 'proxmox.sshKeys[0]' },
  { name: 'ssh key comment with quote', mutate: (d) => set(d, 'proxmox.sshKeys', [`${ED25519} a"b`]), path: 'proxmox.sshKeys[0]' },
  { name: 'ssh keys not a list', mutate: (d) => set(d, 'proxmox.sshKeys', ED25519), path: 'proxmox.sshKeys' },
  { name: 'four nameservers', mutate: (d) => set(d, 'proxmox.nameservers', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']), path: 'proxmox.nameservers' },
  { name: 'IPv6 nameserver', mutate: (d) => set(d, 'proxmox.nameservers', ['2001:db8::53']), path: 'proxmox.nameservers[0]' },
  { name: 'unknown proxmox field', mutate: (d) => set(d, 'proxmox.pool', 'x'), path: 'proxmox.pool' },
  { name: 'unknown per-node proxmox field', mutate: (d) => set(d, 'nodes[0].proxmox', { cores: 4 }), path: 'nodes[0].proxmox.cores' },
  { name: 'per-node proxmox without a proxmox section', mutate: (d) => { set(d, 'proxmox', undefined); set(d, 'nodes[0].proxmox', { vmid: 300 }); }, path: 'nodes[0].proxmox' },
];

// Node data: resolved secrets whose value could break ExaBGP's md5-password statement.
const NODE_DATA: Case[] = ['pw word', 'pw;', 'pw"', "pw'", 'pw}', 'pw\nneighbor', 'x'.repeat(81), ''].map((v) => ({
  name: `md5 password ${JSON.stringify(v).slice(0, 20)}`,
  mutate: (d: Doc) => set(d, 'cluster.secrets.bgp-md5', { value: v }),
  path: 'cluster.secrets.bgp-md5.value',
  nodeData: true,
}));

function attempt(doc: Doc, c: Case): ConfigError {
  let reachedRenderer = false;
  try {
    if (c.nodeData) {
      const { value } = validateNodeData(doc, 'node-data');
      reachedRenderer = true;
      renderNode(deriveNode(value.cluster, value.node));
    } else {
      const { value } = loadClusterText(stringify(doc), 'cluster.yaml');
      reachedRenderer = true;
      // Resolve secrets as `ober render` does, so a later failure is the mutation's, not ours.
      const resolved = { ...value, secrets: Object.fromEntries(Object.keys(value.secrets).map((k) => [k, { value: 'resolved' }])), certificates: [] };
      renderNode(deriveNode(resolved, value.nodes[0]?.name ?? ''));
    }
  } catch (e) {
    expect(reachedRenderer, `${c.name}: validation passed, the error came later: ${(e as Error).message}`).toBe(false);
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`${c.name}: accepted`);
}

describe('hostile and broken input is refused with the field named', () => {
  const all = [
    ...cases.map((c) => ({ c, doc: () => structuredClone(bgpDoc) })),
    ...KA_CASES.map((c) => ({ c, doc: () => structuredClone(kaDoc) })),
    ...ADDRESSES.map((c) => ({ c, doc: () => structuredClone(bgpDoc) })),
    ...KA_ADDRESSES.map((c) => ({ c, doc: () => structuredClone(kaDoc) })),
    ...SEMANTIC.map((c) => ({ c, doc: () => structuredClone(bgpDoc) })),
    ...PROXMOX.map((c) => ({ c, doc: () => structuredClone(bgpDoc) })),
    ...NODE_DATA.map((c) => ({
      c,
      doc: () => {
        const cluster = structuredClone(bgpDoc);
        set(cluster, 'secrets', { 'bgp-md5': { value: 'ok-password' } });
        set(cluster, 'certificates', []);
        return { version: 1, node: 'ober1', cluster } as Doc;
      },
    })),
  ];

  it('has at least 100 cases', () => {
    expect(all.length).toBeGreaterThanOrEqual(100);
  });

  it('the unmutated examples are accepted (so every refusal below is caused by its mutation)', async () => {
    for (const i of [0, 1]) expect(() => loadClusterText(stringify(structuredClone(i === 0 ? bgpDoc : kaDoc)), 'x')).not.toThrow();
    expect(await base(0)).toEqual(bgpDoc);
  });

  it.each(all.map(({ c, doc }) => [c.name, c, doc] as const))('%s', (_name, c, doc) => {
    const d = doc();
    c.mutate(d);
    const err = attempt(d, c);
    const paths = err.issues.map((i) => i.path);
    expect(
      paths.some((p) => p.startsWith(c.path)),
      `expected an issue at ${c.path}, got:\n${err.message}`,
    ).toBe(true);
    for (const i of err.issues) expect(i.message.length).toBeGreaterThan(5);
    const at = err.issues.filter((i) => i.path.startsWith(c.path));
    if (c.message) expect(at.some((i) => c.message?.test(i.message)), `expected ${c.message} at ${c.path}, got:\n${err.message}`).toBe(true);
    if (c.hint) expect(at.some((i) => (i.hint ?? '').length > 10), `expected a fix at ${c.path}, got:\n${err.message}`).toBe(true);
  });
});
