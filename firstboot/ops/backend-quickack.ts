// The node's path to each backend server ACKs at once: a route with `quickack 1`.
//
// RGW's beast frontend writes an answer's headers and its body separately with Nagle on (unless it
// runs with `tcp_nodelay=1`), so the body waits until the headers are ACKed. On a connection that
// has carried a request and its answer Linux delays that ACK (request/response "pingpong" mode, at
// least 40 ms), and every small answer on a reused RGW connection waited that long: 4 KiB GETs at a
// third of a fresh connection's rate (test/bench/results/s3-policy.json). With `quickack 1` on the
// route towards a server this node ACKs at once on that path, so HAProxy keeps its RGW connections
// (`http-reuse safe`) without the stall. A route, not a socket option: TCP_QUICKACK does not stick
// (the kernel leaves quickack mode again), HAProxy has no setting for it, and
// `net.ipv4.tcp_pingpong_thresh` only postpones the stall (the quick-ACK credit runs out).
//
// `ober backend-routes` applies them once per boot before HAProxy starts (ober-routes.service, once
// the network is up). Where systemd-networkd manages the interface the routes go into a drop-in
// for its .network file (under /run), so networkd puts them back whenever it configures the link
// again; elsewhere
// (NetworkManager, no manager, the lab's namespaces) `ip route replace`. A server on this host
// (the lab's bench) gets quickack on its local route.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { lookup as dnsLookup } from 'node:dns/promises';
import { run, type RunResult } from '../lib/exec.js';
import type { NodeConfig } from '../model/derive.js';

export type Runner = (argv: string[]) => Promise<RunResult>;

/** What `ip -j route get ADDR` says about the path to one address. */
export interface RouteLookup {
  dst: string;
  type?: string;
  gateway?: string;
  dev: string;
  prefsrc?: string;
  metrics?: Record<string, number>[];
}

/** One server address and the route that gives its path quickack. */
export interface QuickAckRoute {
  address: string;
  dev: string;
  gateway?: string;
  /** The server is on this host: its local route gets the attribute. */
  local: boolean;
}

export interface QuickAckResult extends QuickAckRoute {
  /** How the route was made: a networkd drop-in (networkd keeps it) or `ip route replace`. */
  via: 'networkd' | 'ip';
  /** The path to the address has quickack after applying (`ip route get` shows the metric). */
  ok: boolean;
}

/** How long networkd gets to bring the routes of a reloaded drop-in. */
const NETWORKD_WAIT_MS = 3000;

/** Name of the networkd drop-in written next to the interface's .network file. */
export const NETWORKD_DROP_IN = '60-ober-backend-quickack.conf';

/** The backends whose connections HAProxy keeps (the ones the delayed ACK would stall). */
export function reusedServerHosts(node: Pick<NodeConfig, 'backends'>): string[] {
  return [...new Set(node.backends.filter((b) => b.reuseConnections).flatMap((b) => b.servers.map((s) => s.host)))];
}

/** Server hosts as addresses: literals as they are, names as the resolver answers now. */
export async function serverAddresses(hosts: string[], resolve: (host: string) => Promise<string[]> = resolveAll): Promise<{ addresses: string[]; unresolved: string[] }> {
  const addresses = new Set<string>();
  const unresolved: string[] = [];
  for (const h of hosts) {
    if (isIP(h)) addresses.add(h);
    else {
      const found = await resolve(h).catch(() => []);
      if (!found.length) unresolved.push(h);
      for (const a of found) addresses.add(a);
    }
  }
  return { addresses: [...addresses], unresolved };
}

/** Every address the resolver has for a server name now, both families (ober doctor asks the same). */
export async function resolveAll(host: string): Promise<string[]> {
  return (await dnsLookup(host, { all: true })).map((r) => r.address);
}

export function parseRouteGet(json: string): RouteLookup | undefined {
  try {
    const [r] = JSON.parse(json || '[]') as RouteLookup[];
    return r?.dev ? r : undefined;
  } catch {
    return undefined;
  }
}

export function hasQuickAck(r: RouteLookup | undefined): boolean {
  return (r?.metrics ?? []).some((m) => m.quickack === 1);
}

/** The route for `address` from what the kernel chose for it. */
export function quickAckRoute(address: string, r: RouteLookup): QuickAckRoute {
  const local = r.type === 'local';
  return { address, dev: r.dev, ...(r.gateway && !local ? { gateway: r.gateway } : {}), local };
}

const hostPrefix = (address: string) => `${address}/${isIP(address) === 6 ? 128 : 32}`;
const family = (address: string) => (isIP(address) === 6 ? '-6' : '-4');

/** `ip route replace` for one route: the same path the kernel chose, plus quickack. */
export function ipRouteArgv(r: QuickAckRoute): string[] {
  if (r.local) {
    // The kernel's own local route, as it made it, with the attribute added.
    return ['ip', family(r.address), 'route', 'replace', 'table', 'local', 'local', r.address, 'dev', r.dev, 'proto', 'kernel', 'scope', 'host', ...(isIP(r.address) === 4 ? ['src', r.address] : []), 'quickack', '1'];
  }
  return ['ip', family(r.address), 'route', 'replace', hostPrefix(r.address), ...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev, 'proto', 'static', ...(r.gateway ? [] : ['scope', 'link']), 'quickack', '1'];
}

/** A networkd drop-in holding the routes of one interface. */
export function networkdDropIn(header: string, routes: QuickAckRoute[]): string {
  const blocks = routes.map((r) =>
    ['[Route]', `Destination=${hostPrefix(r.address)}`, ...(r.gateway ? [`Gateway=${r.gateway}`] : ['Scope=link']), 'QuickAck=yes'].join('\n'),
  );
  return `# ${header}\n# Backend servers: ACK their answers at once (firstboot/ops/backend-quickack.ts).\n${blocks.join('\n\n')}\n`;
}

async function lookupRoute(runner: Runner, address: string): Promise<RouteLookup | undefined> {
  const r = await runner(['ip', '-j', 'route', 'get', address]);
  return r.exitCode === 0 ? parseRouteGet(r.stdout) : undefined;
}

/** The kernel's path to `address` has quickack now (what ober doctor checks, too). */
export async function routeHasQuickAck(runner: Runner, address: string): Promise<boolean> {
  return hasQuickAck(await lookupRoute(runner, address));
}

/**
 * The .network file networkd configured `dev` from, when networkd manages it: its state file for
 * the link (`NETWORK_FILE=`, what sd_network_link_get_network_file() reads; stable across systemd
 * versions, unlike networkctl's JSON).
 */
async function networkdFile(runner: Runner, netifDir: string, dev: string): Promise<string | undefined> {
  const r = await runner(['ip', '-j', 'link', 'show', 'dev', dev]);
  let index: number | undefined;
  try {
    index = (JSON.parse(r.stdout || '[]') as { ifindex?: number }[])[0]?.ifindex;
  } catch {
    return undefined;
  }
  if (r.exitCode !== 0 || index === undefined) return undefined;
  const state = await readFile(path.join(netifDir, 'links', String(index)), 'utf8').catch(() => '');
  const file = /^NETWORK_FILE=(.+)$/m.exec(state)?.[1]?.trim();
  return file && path.isAbsolute(file) ? file : undefined;
}

export interface ApplyOptions {
  runner?: Runner;
  /** Where networkd drop-ins go (layout.networkdDir: /run/systemd/network). */
  networkdDir?: string;
  header?: string;
  /** Use networkd where it manages the interface (false: `ip route` only, as in the lab). */
  networkd?: boolean;
  /** networkd's state directory (its `links/<ifindex>` files). */
  netifDir?: string;
  /** How long networkd gets to bring the routes of a reloaded drop-in before ip route steps in. */
  networkdWaitMs?: number;
  resolve?: (host: string) => Promise<string[]>;
}

const defaultRunner: Runner = (argv) => run(argv, { allowFailure: true });

/** The routes to make: each kept server's address and the path the kernel chose for it now. */
export async function planBackendQuickAck(node: Pick<NodeConfig, 'backends'>, opts: Pick<ApplyOptions, 'runner' | 'resolve'> = {}): Promise<{ routes: QuickAckRoute[]; unresolved: string[] }> {
  const runner = opts.runner ?? defaultRunner;
  const { addresses, unresolved } = await serverAddresses(reusedServerHosts(node), opts.resolve);
  const routes: QuickAckRoute[] = [];
  for (const a of addresses) {
    const r = await lookupRoute(runner, a);
    if (r) routes.push(quickAckRoute(a, r));
    else unresolved.push(a);
  }
  return { routes, unresolved };
}

/**
 * Gives the path to every server of a backend whose connections are kept quickack, and says per
 * address whether it took. Never throws for a route it could not make: the node still serves, and
 * the result says which path will stall.
 */
export async function applyBackendQuickAck(node: Pick<NodeConfig, 'backends'>, opts: ApplyOptions = {}): Promise<{ results: QuickAckResult[]; unresolved: string[] }> {
  const runner: Runner = opts.runner ?? defaultRunner;
  const { routes, unresolved } = await planBackendQuickAck(node, opts);
  const via = new Map<string, QuickAckResult['via']>();
  let changed = false;
  if (opts.networkd && opts.networkdDir) {
    const byDev = new Map<string, QuickAckRoute[]>();
    for (const r of routes.filter((x) => !x.local)) byDev.set(r.dev, [...(byDev.get(r.dev) ?? []), r]);
    for (const [dev, devRoutes] of byDev) {
      const file = await networkdFile(runner, opts.netifDir ?? '/run/systemd/netif', dev);
      if (!file) continue;
      const dir = path.join(opts.networkdDir, `${path.basename(file)}.d`);
      const target = path.join(dir, NETWORKD_DROP_IN);
      const content = networkdDropIn(opts.header ?? 'Herr Ober', devRoutes);
      if ((await readFile(target, 'utf8').catch(() => undefined)) !== content) {
        await mkdir(dir, { recursive: true });
        await writeFile(target, content, { mode: 0o644 });
        changed = true;
      }
      for (const r of devRoutes) via.set(r.address, 'networkd');
    }
  }
  const fromNetworkd = routes.filter((r) => via.get(r.address) === 'networkd');
  const inPlace = async () => (await Promise.all(fromNetworkd.map((r) => routeHasQuickAck(runner, r.address)))).every(Boolean);
  // A reload makes networkd reconfigure the links whose files changed; a rerun with the same
  // drop-ins and the routes in place (systemctl restart ober-routes) leaves networkd alone.
  if (fromNetworkd.length && (changed || !(await inPlace()))) {
    await runner(['networkctl', 'reload']);
    // networkd applies a reload asynchronously: give it a moment before falling back to ip route.
    for (let i = 0; i < (opts.networkdWaitMs ?? NETWORKD_WAIT_MS) / 100 && !(await inPlace()); i++) await new Promise((res) => setTimeout(res, 100));
  }
  const results: QuickAckResult[] = [];
  for (const r of routes) {
    let how = via.get(r.address) ?? 'ip';
    let ok = how === 'networkd' && (await routeHasQuickAck(runner, r.address));
    if (!ok) {
      how = 'ip';
      await runner(ipRouteArgv(r));
      ok = await routeHasQuickAck(runner, r.address);
    }
    results.push({ ...r, via: how, ok });
  }
  return { results, unresolved };
}
