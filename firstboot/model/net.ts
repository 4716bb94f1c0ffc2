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

/**
 * RFC 1123 host name: dot-separated labels, total ≤ 253, and not a number in disguise: when every
 * label is decimal, octal (0-prefixed) or hex (0x), glibc's getaddrinfo reads the name as an
 * address (inet_aton: `0x7f.0.0.1` is 127.0.0.1, `0x0a.0x1e.0.0x15` is 10.30.0.21), which would
 * pass every check made on names.
 */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.replace(/\.$/, '').split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  return !labels.every((l) => NUMERIC_LABEL.test(l));
}

/** A label inet_aton could read as a number (decimal, octal or hex; `0x` alone is 0). */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/i;

/**
 * What glibc's inet_aton (and so getaddrinfo, ping, HAProxy's resolver at start) makes of `s`: the
 * dotted quad it stands for, or undefined when it is not such a number. 1-4 parts; the last part
 * fills the remaining bytes (`127.1` is 127.0.0.1); parts are decimal, 0-octal or 0x-hex.
 */
export function inetAton(s: string): string | undefined {
  const parts = s.split('.');
  if (parts.length < 1 || parts.length > 4) return undefined;
  const values: number[] = [];
  for (const p of parts) {
    let v: number;
    if (/^0x[0-9a-f]*$/i.test(p)) v = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) v = p.length === 1 ? 0 : parseInt(p, 8);
    else if (/^[1-9]\d*$/.test(p)) v = Number(p);
    else return undefined;
    if (!Number.isSafeInteger(v)) return undefined;
    values.push(v);
  }
  const last = values.pop() ?? 0;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  const n = values.reduce((acc, v, i) => acc + v * 2 ** (8 * (3 - i)), 0) + last;
  return intToIp(n);
}

/**
 * IPv4 blocks no service address may be in (RFC 6890's special-purpose registry, the parts that
 * are never a unicast destination on a LAN), with the reason in words.
 */
const NOT_UNICAST: readonly [Cidr, string][] = [
  [{ address: '0.0.0.0', prefix: 8 }, '"this network" (RFC 1122): a source address only, never a destination'],
  [{ address: '127.0.0.0', prefix: 8 }, 'loopback (RFC 1122): it never leaves the host'],
  [{ address: '169.254.0.0', prefix: 16 }, 'link-local (RFC 3927): hosts pick these themselves, routers never forward them'],
  [{ address: '224.0.0.0', prefix: 4 }, 'multicast (RFC 5771), not a host'],
  [{ address: '255.255.255.255', prefix: 32 }, 'the limited broadcast address (RFC 919)'],
  [{ address: '240.0.0.0', prefix: 4 }, 'reserved (RFC 1112): hosts drop it'],
];

/** Why `ip` can never be a host's unicast address, or undefined when it can. */
export function notUnicast(ip: string): string | undefined {
  return NOT_UNICAST.find(([c]) => inCidr(ip, c))?.[1];
}

/** 'network' or 'broadcast' when `ip` is that address of `net` (prefixes up to /30 have both). */
export function edgeOf(ip: string, net: Cidr): 'network' | 'broadcast' | undefined {
  if (net.prefix > 30 || !inCidr(ip, net)) return undefined;
  const n = ipToInt(ip);
  const network = networkOf(net);
  if (n === network) return 'network';
  if (n === network + 2 ** (32 - net.prefix) - 1) return 'broadcast';
  return undefined;
}

/** The address of `a.b.c.d/len` (a node's address is written with its prefix length). */
export function hostPart(addressWithPrefix: string): string {
  return addressWithPrefix.split('/')[0] ?? '';
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
