// The network configuration a drive carries, validated and reduced to what systemd-networkd needs:
// one entry per NIC, matched by MAC address. Accepted: the cloud-init network config version 1
// subset Proxmox writes (nocloud_network in PVE/QemuServer/Cloudinit.pm: `physical` entries with
// name, mac_address and static/dhcp subnets, one `nameserver` entry), and OpenStack
// network_data.json (links, networks, services). Anything else is refused rather than half
// applied. Every value is checked against its grammar (an address, a MAC, a domain), which is
// also what keeps a value from breaking out of its line in the rendered file.
import { isIPv6 } from 'node:net';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { isRecord, kindOf } from './documents.js';
import type { NetworkConfigDoc } from './metadata.js';

export interface LinkPlan {
  /** Lower-case, colon-separated. */
  mac: string;
  /** The name the configuration gives the NIC (e.g. eth0); informational, nothing is renamed. */
  name?: string;
  mtu?: number;
  /** CIDR notation. */
  addresses: string[];
  gateways: string[];
  dhcp4: boolean;
  dhcp6: boolean;
  /** Accept IPv6 router advertisements (SLAAC, DHCPv6). */
  acceptRA: boolean;
  dns: string[];
  domains: string[];
}

export function networkPlan(cfg: NetworkConfigDoc): LinkPlan[] {
  const issues: ConfigIssue[] = [];
  const links =
    cfg.format === 'cloud-init' ? fromCloudInitV1(cfg.doc, issues) : cfg.format === 'openstack' ? fromNetworkData(cfg.doc, issues) : fromEni(issues);
  const seen = new Map<string, number>();
  links.forEach((l, i) => {
    if (seen.has(l.mac)) issues.push({ path: '', message: `MAC address ${l.mac} is configured twice (entries ${seen.get(l.mac)} and ${i})` });
    seen.set(l.mac, i);
  });
  if (issues.length) throw new ConfigError(cfg.file, issues);
  return links;
}

const V1_PHYSICAL_KEYS = new Set(['type', 'name', 'mac_address', 'mtu', 'subnets']);
const V1_SUBNET_KEYS = new Set(['type', 'address', 'netmask', 'gateway', 'dns_nameservers', 'dns_search']);

/** cloud-init network config v1 (cloud-init docs, "Networking config Version 1"). */
function fromCloudInitV1(doc: Record<string, unknown>, issues: ConfigIssue[]): LinkPlan[] {
  // cloud-init also accepts the config wrapped in a top-level `network:` key.
  const root = isRecord(doc.network) && doc.version === undefined ? doc.network : doc;
  const at = root === doc ? '' : 'network.';
  if (root.version !== 1) {
    issues.push({
      path: `${at}version`,
      message: `network config version ${JSON.stringify(root.version)} is not supported, only version 1`,
      hint: 'Proxmox generates version 1 from ipconfig0..n; drop cicustom network= or write version 1',
    });
    return [];
  }
  if (!Array.isArray(root.config)) {
    issues.push({ path: `${at}config`, message: `must be a list, found ${kindOf(root.config)}` });
    return [];
  }
  const links: LinkPlan[] = [];
  const dns: string[] = [];
  const domains: string[] = [];
  root.config.forEach((entry, i) => {
    const p = `${at}config[${i}]`;
    if (!isRecord(entry)) return void issues.push({ path: p, message: `must be a mapping, found ${kindOf(entry)}` });
    if (entry.type === 'nameserver') {
      for (const k of Object.keys(entry)) if (!['type', 'address', 'search'].includes(k)) unsupportedKey(issues, p, k);
      dns.push(...list(entry.address, `${p}.address`, issues).filter((a) => checkIp(a, `${p}.address`, issues)));
      domains.push(...list(entry.search, `${p}.search`, issues).filter((d) => checkDomain(d, `${p}.search`, issues)));
      return;
    }
    if (entry.type !== 'physical') {
      return void issues.push({
        path: `${p}.type`,
        message: `type ${JSON.stringify(entry.type)} is not supported, only physical and nameserver (what Proxmox writes)`,
      });
    }
    for (const k of Object.keys(entry)) if (!V1_PHYSICAL_KEYS.has(k)) unsupportedKey(issues, p, k);
    const link = newLink(entry.mac_address, `${p}.mac_address`, issues);
    if (!link) return;
    setName(link, entry.name, `${p}.name`, issues);
    setMtu(link, entry.mtu, `${p}.mtu`, issues);
    const subnets = entry.subnets ?? [];
    if (!Array.isArray(subnets)) return void issues.push({ path: `${p}.subnets`, message: `must be a list, found ${kindOf(subnets)}` });
    subnets.forEach((s, j) => v1Subnet(link, s, `${p}.subnets[${j}]`, issues));
    links.push(link);
  });
  for (const l of links) {
    l.dns = unique([...l.dns, ...dns]);
    l.domains = unique([...l.domains, ...domains]);
  }
  return links;
}

function v1Subnet(link: LinkPlan, s: unknown, p: string, issues: ConfigIssue[]): void {
  if (!isRecord(s)) return void issues.push({ path: p, message: `must be a mapping, found ${kindOf(s)}` });
  for (const k of Object.keys(s)) if (!V1_SUBNET_KEYS.has(k)) unsupportedKey(issues, p, k);
  switch (s.type) {
    case 'static':
    case 'static6': {
      const cidr = toCidr(s.address, s.netmask, p, issues);
      if (cidr) link.addresses.push(cidr);
      if (s.gateway !== undefined && checkIp(s.gateway, `${p}.gateway`, issues)) link.gateways.push(s.gateway as string);
      break;
    }
    case 'dhcp':
    case 'dhcp4':
      link.dhcp4 = true;
      break;
    case 'dhcp6':
    case 'ipv6_dhcpv6-stateful':
      link.dhcp6 = true;
      link.acceptRA = true;
      break;
    case 'ipv6_slaac':
    case 'ipv6_dhcpv6-stateless':
      link.acceptRA = true;
      break;
    default:
      return void issues.push({ path: `${p}.type`, message: `subnet type ${JSON.stringify(s.type)} is not supported` });
  }
  link.dns.push(...list(s.dns_nameservers, `${p}.dns_nameservers`, issues).filter((a) => checkIp(a, `${p}.dns_nameservers`, issues)));
  link.domains.push(...list(s.dns_search, `${p}.dns_search`, issues).filter((d) => checkDomain(d, `${p}.dns_search`, issues)));
}

/** Link types cloud-init treats as physical NICs (convert_net_json in cloudinit/sources/helpers/openstack.py). */
const OPENSTACK_PHYSICAL = new Set(['phy', 'bridge', 'ethernet', 'hw_veb', 'hyperv', 'ovs', 'tap', 'vhostuser', 'vif']);

/** OpenStack network_data.json. OpenStack adds many informational keys; only the ones used are checked. */
function fromNetworkData(doc: Record<string, unknown>, issues: ConfigIssue[]): LinkPlan[] {
  const byId = new Map<string, LinkPlan>();
  records(doc.links, 'links', issues).forEach(([link, p]) => {
    if (!OPENSTACK_PHYSICAL.has(link.type as string)) {
      return void issues.push({ path: `${p}.type`, message: `link type ${JSON.stringify(link.type)} is not supported (bonds and VLANs are not)` });
    }
    const plan = newLink(link.ethernet_mac_address, `${p}.ethernet_mac_address`, issues);
    if (!plan) return;
    setName(plan, link.name, `${p}.name`, issues);
    setMtu(plan, link.mtu ?? undefined, `${p}.mtu`, issues);
    if (typeof link.id !== 'string') return void issues.push({ path: `${p}.id`, message: 'must be a string' });
    byId.set(link.id, plan);
  });
  records(doc.networks, 'networks', issues).forEach(([net, p]) => {
    const link = byId.get(net.link as string);
    if (!link) return void issues.push({ path: `${p}.link`, message: `refers to no known link: ${JSON.stringify(net.link)}` });
    switch (net.type) {
      case 'ipv4':
      case 'ipv6': {
        const cidr = toCidr(net.ip_address, net.netmask, p, issues, 'ip_address');
        if (cidr) link.addresses.push(cidr);
        records(net.routes ?? [], `${p}.routes`, issues).forEach(([r, rp]) => {
          if (!isDefaultRoute(r)) return void issues.push({ path: rp, message: 'only default routes are supported' });
          if (checkIp(r.gateway, `${rp}.gateway`, issues)) link.gateways.push(r.gateway as string);
        });
        break;
      }
      case 'ipv4_dhcp':
        link.dhcp4 = true;
        break;
      case 'ipv6_dhcp':
      case 'ipv6_dhcpv6-stateful':
        link.dhcp6 = true;
        link.acceptRA = true;
        break;
      case 'ipv6_slaac':
      case 'ipv6_dhcpv6-stateless':
        link.acceptRA = true;
        break;
      default:
        return void issues.push({ path: `${p}.type`, message: `network type ${JSON.stringify(net.type)} is not supported` });
    }
    link.dns.push(...dnsServices(net.services, `${p}.services`, issues));
  });
  const dns = dnsServices(doc.services, 'services', issues);
  const links = [...byId.values()];
  for (const l of links) l.dns = unique([...l.dns, ...dns]);
  return links;
}

function fromEni(issues: ConfigIssue[]): LinkPlan[] {
  issues.push({
    path: '',
    message: 'ifupdown network configuration names NICs eth0, eth1, ... without MAC addresses, so it cannot be matched to the VM\'s NICs',
    hint: 'use citype nocloud (the Proxmox default for Linux guests), whose network-config matches NICs by MAC',
  });
  return [];
}

function newLink(mac: unknown, p: string, issues: ConfigIssue[]): LinkPlan | undefined {
  if (typeof mac !== 'string' || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) {
    issues.push({ path: p, message: `must be a MAC address like 52:54:00:12:34:56, found ${describe(mac)}`, hint: 'NICs are matched by MAC address' });
    return undefined;
  }
  return { mac: mac.toLowerCase(), addresses: [], gateways: [], dhcp4: false, dhcp6: false, acceptRA: false, dns: [], domains: [] };
}

function setName(link: LinkPlan, name: unknown, p: string, issues: ConfigIssue[]): void {
  if (name === undefined) return;
  // Kernel interface names: at most 15 bytes (IFNAMSIZ - 1), no slash, no whitespace.
  if (typeof name === 'string' && /^[A-Za-z0-9_.-]{1,15}$/.test(name)) link.name = name;
  else issues.push({ path: p, message: `must be an interface name (letters, digits, _ . -, at most 15), found ${describe(name)}` });
}

function setMtu(link: LinkPlan, mtu: unknown, p: string, issues: ConfigIssue[]): void {
  if (mtu === undefined) return;
  // 68 is the IPv4 minimum MTU (RFC 791); 65535 the largest a link can take.
  if (Number.isInteger(mtu) && (mtu as number) >= 68 && (mtu as number) <= 65535) link.mtu = mtu as number;
  else issues.push({ path: p, message: `must be an integer from 68 to 65535, found ${describe(mtu)}` });
}

/** "a.b.c.d/nn", or an address plus a netmask ("255.255.255.0", or a prefix length). */
function toCidr(address: unknown, netmask: unknown, p: string, issues: ConfigIssue[], key = 'address'): string | undefined {
  if (typeof address !== 'string') return void issues.push({ path: `${p}.${key}`, message: `must be an IP address, found ${describe(address)}` });
  const [ip, prefixText, ...rest] = address.split('/');
  if (rest.length || !checkIp(ip, `${p}.${key}`, issues)) return undefined;
  const max = isIPv6(ip!) ? 128 : 32;
  const prefix = prefixText !== undefined ? prefixLength(prefixText, max) : netmask !== undefined ? prefixLength(String(netmask), max) : undefined;
  if (prefix === undefined) {
    issues.push({
      path: prefixText !== undefined ? `${p}.${key}` : `${p}.netmask`,
      message: `needs a valid prefix length (0-${max}) or netmask, found ${describe(prefixText ?? netmask)}`,
    });
    return undefined;
  }
  return `${ip}/${prefix}`;
}

/** A prefix length ("24") or a contiguous netmask ("255.255.255.0", "ffff:ffff::"). */
function prefixLength(text: string, max: number): number | undefined {
  if (/^\d{1,3}$/.test(text)) return Number(text) <= max ? Number(text) : undefined;
  const bits = max === 32 ? ipv4Bits(text) : ipv6Bits(text);
  if (bits === undefined || !/^1*0*$/.test(bits)) return undefined;
  return bits.indexOf('0') === -1 ? max : bits.indexOf('0');
}

function ipv4Bits(text: string): string | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').map((o) => Number(o).toString(2).padStart(8, '0')).join('');
}

function ipv6Bits(text: string): string | undefined {
  if (!isIPv6(text) || text.includes('.') || text.includes('%')) return undefined;
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16).toString(2).padStart(16, '0')).join('');
}

function isDefaultRoute(r: Record<string, unknown>): boolean {
  const zero = ['0.0.0.0', '::', '0', '::0'];
  return zero.includes(String(r.network)) && zero.includes(String(r.netmask ?? '0'));
}

function dnsServices(services: unknown, p: string, issues: ConfigIssue[]): string[] {
  return records(services ?? [], p, issues)
    .filter(([s]) => s.type === 'dns')
    .filter(([s, sp]) => checkIp(s.address, `${sp}.address`, issues))
    .map(([s]) => s.address as string);
}

function isIPv4(s: string): boolean {
  return /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(s);
}

function checkIp(v: unknown, p: string, issues: ConfigIssue[]): v is string {
  // node's isIPv6 accepts zone ids ("fe80::1%eth0"); networkd's Address=/DNS= do not need them.
  if (typeof v === 'string' && (isIPv4(v) || (isIPv6(v) && !v.includes('%')))) return true;
  issues.push({ path: p, message: `must be an IPv4 or IPv6 address, found ${describe(v)}` });
  return false;
}

/** A DNS name (RFC 1123 labels), optionally with the root dot. */
function checkDomain(v: unknown, p: string, issues: ConfigIssue[]): v is string {
  const label = '[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
  if (typeof v === 'string' && v.length <= 253 && new RegExp(`^${label}(\\.${label})*\\.?$`).test(v)) return true;
  issues.push({ path: p, message: `must be a domain name, found ${describe(v)}` });
  return false;
}

/** A value that may be one string or a list of strings (v1 nameserver address/search). */
function list(v: unknown, p: string, issues: ConfigIssue[]): unknown[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return v.split(/\s+/).filter(Boolean);
  if (Array.isArray(v)) return v;
  issues.push({ path: p, message: `must be a string or a list, found ${kindOf(v)}` });
  return [];
}

function records(v: unknown, p: string, issues: ConfigIssue[]): [Record<string, unknown>, string][] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    issues.push({ path: p, message: `must be a list, found ${kindOf(v)}` });
    return [];
  }
  return v.flatMap((item, i): [Record<string, unknown>, string][] => {
    if (isRecord(item)) return [[item, `${p}[${i}]`]];
    issues.push({ path: `${p}[${i}]`, message: `must be a mapping, found ${kindOf(item)}` });
    return [];
  });
}

function unsupportedKey(issues: ConfigIssue[], p: string, key: string): void {
  issues.push({ path: `${p}.${key}`, message: 'is not supported here (Proxmox does not write it); refusing rather than ignoring it' });
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v)?.slice(0, 60) ?? String(v);
}
