// Turning hostlists into typed entries: addresses, networks, names, host:port servers. Used by the
// validation rules (to report errors) and by the derivation (to build the node's lists).
import { expandHostlist, HostlistError } from './hostlist.js';
import { hasHostBits, inCidr, inetAton, isHostname, isIPv4, isPort, parseCidr } from './net.js';

export type AddressEntry = { kind: 'ip'; value: string } | { kind: 'cidr'; value: string } | { kind: 'name'; value: string };

export interface ServerEntry {
  host: string;
  hostKind: 'ip' | 'name';
  port: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

/**
 * An address written the way inet_aton reads it (hex or octal parts, fewer than four parts): the
 * system resolver turns it into an address that no check made on names or dotted quads sees.
 */
function disguisedAddress(item: string): string | undefined {
  const ip = inetAton(item.replace(/\.$/, ''));
  return ip === undefined ? undefined : `'${item}' is not a dotted quad, but the system resolver reads it as ${ip} (inet_aton form: hex, octal or fewer than four parts); write ${ip} if that is meant`;
}

/** Hostlist expansion with syntax errors as data. */
function expand(list: string | readonly string[]): Parsed<string[]> {
  try {
    return { ok: true, value: expandHostlist(list) };
  } catch (e) {
    if (e instanceof HostlistError) return { ok: false, errors: [e.message] };
    throw e;
  }
}

/** A whitelist: IPv4 addresses, networks (no host bits) or host names to resolve. */
export function parseAddressList(list: string | readonly string[]): Parsed<AddressEntry[]> {
  const expanded = expand(list);
  if (!expanded.ok) return expanded;
  const items = expanded.value;
  const errors: string[] = [];
  const out: AddressEntry[] = [];
  // A repeated whitelist entry is harmless: keep the first.
  for (const it of [...new Set(items)]) {
    if (it.includes('/')) {
      const c = parseCidr(it);
      if (typeof c === 'string') errors.push(c);
      else if (hasHostBits(c)) errors.push(`'${it}' has host bits set (write the network address, e.g. the first address of the range)`);
      else out.push({ kind: 'cidr', value: it });
    } else if (isIPv4(it)) out.push({ kind: 'ip', value: it });
    else if (disguisedAddress(it)) errors.push(disguisedAddress(it) ?? '');
    else if (/^[\d.]+$/.test(it)) errors.push(`'${it}' is not a valid IPv4 address`);
    else if (isHostname(it)) out.push({ kind: 'name', value: it.replace(/\.$/, '').toLowerCase() });
    else errors.push(`'${it}' is neither an IPv4 address, a network a.b.c.d/len nor a host name`);
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: out };
}

/** Backend servers: `host:port` (port defaults to `defaultPort` when absent). */
export function parseServerList(list: string | readonly string[], defaultPort: number): Parsed<ServerEntry[]> {
  const expanded = expand(list);
  if (!expanded.ok) return expanded;
  const items = expanded.value;
  const errors: string[] = [];
  const out: ServerEntry[] = [];
  const seen = new Set<string>();
  for (const it of items) {
    const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(it);
    if (!m) {
      errors.push(`'${it}' is not host or host:port`);
      continue;
    }
    const [, host = '', portS] = m;
    const port = portS === undefined ? defaultPort : Number(portS);
    if (!isPort(port)) errors.push(`'${it}': port ${port} is outside 1-65535`);
    let hostKind: ServerEntry['hostKind'];
    if (isIPv4(host)) hostKind = 'ip';
    else if (disguisedAddress(host)) {
      errors.push(disguisedAddress(host) ?? '');
      continue;
    } else if (/^[\d.]+$/.test(host)) {
      errors.push(`'${host}' is not a valid IPv4 address`);
      continue;
    } else if (isHostname(host)) hostKind = 'name';
    else {
      errors.push(`'${host}' is neither an IPv4 address nor a host name`);
      continue;
    }
    const key = `${host.toLowerCase()}:${port}`;
    if (seen.has(key)) errors.push(`'${it}' is listed twice`);
    seen.add(key);
    out.push({ host: hostKind === 'name' ? host.toLowerCase() : host, hostKind, port });
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: out };
}

/** Does the address `ip` fall under the whitelist entry (an address or a network; names never match)? */
/**
 * The addresses among `ips` that no entry of a whitelist admits (a name entry admits no address
 * here: names are resolved apart). The one membership test for backends vs whitelists.backendHttp,
 * in the rules (literal addresses) and in derive (resolved names too).
 */
export function notAdmitted(ips: readonly string[], entries: readonly AddressEntry[]): string[] {
  return ips.filter((ip) => !entries.some((e) => addressMatches(ip, e)));
}

export function addressMatches(ip: string, e: AddressEntry): boolean {
  if (e.kind === 'ip') return e.value === ip;
  if (e.kind === 'cidr') {
    const c = parseCidr(e.value);
    return typeof c !== 'string' && inCidr(ip, c);
  }
  return false;
}
