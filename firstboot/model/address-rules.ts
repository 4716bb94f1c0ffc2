// What each address in a cluster may be, beyond its syntax: a VIP is a unicast address of its own
// (not the gateway, a router, a backend or a node), a node address is a host address in a real
// LAN prefix, a BGP-announced VIP is never a default or martian route. Each refusal names the
// field and says what to write instead.
import { parseServerList } from './addresses.js';
import { edgeOf, notUnicast, parseCidr, type Cidr } from './net.js';
import type { Cluster } from './schema.js';

type Report = (path: string, message: string, hint?: string) => void;

/** Shortest LAN prefix accepted for a node: /0-/7 would put a quarter of the internet on-link. */
export const MIN_NODE_PREFIX = 8;

export function checkAddresses(c: Cluster, err: Report): void {
  const nets: { path: string; cidr: Cidr; text: string }[] = [];
  c.nodes.forEach((n, i) => {
    const cidr = parseCidr(n.address);
    if (typeof cidr === 'string') return; // the schema reported it
    nets.push({ path: `nodes[${i}]`, cidr, text: n.address });
    const at = `nodes[${i}].address`;
    const why = notUnicast(cidr.address);
    if (why) err(at, `${cidr.address} is ${why}: it cannot be a node's address`, 'write the address the node has on its LAN, e.g. 10.20.0.11/24');
    if (cidr.prefix < MIN_NODE_PREFIX) err(at, `/${cidr.prefix} is not a LAN prefix (it spans ${2 ** (32 - cidr.prefix)} addresses)`, 'write the prefix length of the node\'s LAN, e.g. /24');
    else if (cidr.prefix === 32) err(at, '/32 puts no other host on the node\'s link: neither the gateway nor a peer would be reachable', 'write the prefix length of the node\'s LAN, e.g. /24');
    const edge = edgeOf(cidr.address, cidr);
    if (edge) err(at, `${cidr.address} is the ${edge} address of its /${cidr.prefix}`, 'a node needs a host address: neither the first nor the last address of its network');
    if (n.gateway) {
      const gw = `nodes[${i}].gateway`;
      const gwWhy = notUnicast(n.gateway);
      if (gwWhy) err(gw, `${n.gateway} is ${gwWhy}: it cannot be a gateway`, "write the router's address on the node's LAN");
      const gwEdge = edgeOf(n.gateway, cidr);
      if (gwEdge) err(gw, `${n.gateway} is the ${gwEdge} address of the node's network ${n.address}`, "write the router's address on the node's LAN");
      if (n.gateway === cidr.address) err(gw, `${n.gateway} is the node's own address`, "write the router's address on the node's LAN");
    }
    if (n.routerId === '0.0.0.0') err(`nodes[${i}].routerId`, 'a BGP identifier must not be 0.0.0.0 (RFC 6286)', 'leave routerId out (the node address is used) or write a unique non-zero address');
  });

  // Addresses a VIP may not take, each with the field that holds it.
  const taken = new Map<string, string>();
  const take = (ip: string, what: string) => {
    if (!taken.has(ip)) taken.set(ip, what);
  };
  c.nodes.forEach((n, i) => {
    if (n.gateway) take(n.gateway, `the gateway of nodes[${i}] (${n.name})`);
    n.overrides?.bgp?.neighbors?.forEach((nb, j) => take(nb.address, `a BGP neighbour (nodes[${i}].overrides.bgp.neighbors[${j}])`));
  });
  if (c.mode === 'bgp') c.bgp?.neighbors.forEach((nb, j) => take(nb.address, `a BGP neighbour (bgp.neighbors[${j}])`));
  c.backends.forEach((b, i) => {
    const servers = parseServerList(b.servers, 80);
    if (!servers.ok) return; // reported with the backend
    for (const s of servers.value) {
      if (s.hostKind !== 'ip') continue;
      take(s.host, `a server of backends[${i}] (${b.name})`);
      const why = notUnicast(s.host);
      if (why) err(`backends[${i}].servers`, `${s.host} is ${why}: it cannot be a backend server`, 'write the address or the name of an RGW');
    }
  });

  c.vips.forEach((v, i) => {
    const at = `vips[${i}].address`;
    const why = notUnicast(v.address);
    if (why) {
      const bgp = c.mode === 'bgp' ? `; in BGP mode it would be announced to the routers as ${v.address}/32` : '';
      err(at, `${v.address} is ${why}${bgp}`, 'a VIP must be a unicast address of its own that clients can reach');
      return;
    }
    for (const n of nets) {
      const edge = edgeOf(v.address, n.cidr);
      if (edge) {
        err(at, `${v.address} is the ${edge} address of the network of ${n.path} (${n.text})`, 'pick a host address inside the network for the VIP');
        return;
      }
    }
    const clash = taken.get(v.address);
    if (clash) err(at, `${v.address} is also ${clash}`, 'a VIP must be an address of its own: pick an unused one');
  });

  const neighbours = [
    ...(c.mode === 'bgp' ? (c.bgp?.neighbors ?? []).map((nb, j) => [`bgp.neighbors[${j}].address`, nb.address] as const) : []),
    ...c.nodes.flatMap((n, i) => (n.overrides?.bgp?.neighbors ?? []).map((nb, j) => [`nodes[${i}].overrides.bgp.neighbors[${j}].address`, nb.address] as const)),
  ];
  for (const [at, ip] of neighbours) {
    const why = notUnicast(ip);
    if (why) err(at, `${ip} is ${why}: it cannot be a BGP router`, "write the router's address on the node's LAN");
  }
}
