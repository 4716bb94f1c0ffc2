// IPv4 addresses, prefixes and host names, parsed strictly. Herr Ober is IPv4-only (as the seed
// says). Anything these functions accept is safe to place in any daemon's config line: digits,
// dots, a slash, or RFC 1123 host-name characters.

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Dotted quad without leading zeros (0-padded octets are read as octal by some parsers). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => OCTET.test(p));
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Cidr {
  address: string;
  prefix: number;
}

/** `a.b.c.d/len`; returns an error message instead of throwing. */
export function parseCidr(s: string): Cidr | string {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return `'${s}' is not in CIDR form a.b.c.d/len`;
  const [, address = '', len = ''] = m;
  if (!isIPv4(address)) return `'${address}' is not an IPv4 address`;
  const prefix = Number(len);
  if (prefix > 32) return `prefix /${prefix} is longer than 32`;
  return { address, prefix };
}

export function networkOf(c: Cidr): number {
  const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
  return (ipToInt(c.address) & mask) >>> 0;
}

export function inCidr(ip: string, c: Cidr): boolean {
  return networkOf({ address: ip, prefix: c.prefix }) === networkOf(c);
}

/** A network written with host bits set (10.0.0.1/8) is almost always a typo. */
export function hasHostBits(c: Cidr): boolean {
  return networkOf(c) !== ipToInt(c.address);
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

/** RFC 1123 host name: dot-separated labels, total ≤ 253, not all-numeric (that would be an IP). */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.replace(/\.$/, '').split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !labels.every((l) => /^\d+$/.test(l));
}

/** The address of `a.b.c.d/len` (a node's address is written with its prefix length). */
export function hostPart(addressWithPrefix: string): string {
  return addressWithPrefix.split('/')[0] ?? '';
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
