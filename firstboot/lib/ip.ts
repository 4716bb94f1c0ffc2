// The node's IPv4 addresses as iproute2 reports them (`ip -j`), for status and VIP release.
import { run } from './exec.js';

/** IPv4 addresses on one interface, or on all when `ifname` is absent; empty when ip fails. */
export async function ipv4Addresses(ifname?: string): Promise<Set<string>> {
  const r = await run(['ip', '-j', '-4', 'addr', 'show', ...(ifname ? ['dev', ifname] : [])], { allowFailure: true });
  if (r.exitCode !== 0) return new Set();
  try {
    const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local?: string }[] }[];
    return new Set(links.flatMap((l) => (l.addr_info ?? []).flatMap((a) => (a.local ? [a.local] : []))));
  } catch {
    return new Set();
  }
}
