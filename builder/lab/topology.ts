// Builds the lab for a cluster:
//
//   client ──p2p── rtr (FRR zebra+bgpd+bfdd in BGP mode: ECMP, BFD, L4 multipath hash)
//                   │ lan0
//             ns "sw": bridge br0 (the nodes' LAN) ── n1 eth0, n2 eth0, ...
//                      bridge br1 (backend net)    ── n1 bk0, n2 bk0, ..., backend ns
//
// The L2 segment lives in its own namespace, so a node-side `ip link set down` is not carrier
// loss at the router (lab note 2). Every node is set up the way a Proxmox VM is: the image's static
// files, then the real first-boot program (`ober firstboot --metadata seed.iso --no-start`) on a
// NoCloud seed ISO carrying the node's vendor-data (lab variant of the cluster, see plan.ts); the
// lab then runs the real HAProxy and the mode's daemons with the files first boot installed: the
// IMAGE's programs (chroot into the newest built image tree, builder/image/image-root.ts) when one
// exists, else the host's; `topology.daemons` says which, and buildLab logs it with the versions.
import { applyBackendQuickAck } from '../../firstboot/ops/backend-quickack.js';
import { parseEnvFile } from '../../firstboot/lib/env-file.js';
import { chmod, copyFile, mkdir, writeFile, readFile } from 'node:fs/promises';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRenderedFiles } from '../../firstboot/render/files.js';
import { readNodeConfig } from '../../firstboot/health/node-config.js';
import { ToolMissingError } from '../../firstboot/lib/errors.js';
import { requireTools, run, type ToolRequirement } from '../../firstboot/lib/exec.js';
import type { NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { renderImageFiles } from '../../firstboot/render/index.js';
import { RESET_S3_CONNECTIONS_ARGS } from '../../firstboot/render/image-files.js';
import { buildSeedIso, SEED_TOOLS } from '../deploy/carriers.js';
import { daemonVersions, formatVersions, resolveDaemons, type DaemonRoot } from '../image/image-root.js';
import { nodeHttpBackend, type BackendProvider } from './apps.js';
import type { Lab, LabProcess } from './netns.js';
import { labCluster, planLab, type LabPlan } from './plan.js';
import { ResilientEcmp } from './resilient-ecmp.js';
import { startFrrRouter, vtysh } from './router.js';

export const LAB_TOOLS: ToolRequirement[] = [
  ...SEED_TOOLS,
  { tool: 'ip', purpose: 'build the lab namespaces and links', debianPackage: 'iproute2' },
  { tool: 'nft', purpose: 'inject silent packet loss and load the node rules', debianPackage: 'nftables' },
  { tool: 'sysctl', purpose: 'set per-namespace kernel settings', debianPackage: 'procps' },
];
/** The node daemons, needed on the host only when no image tree provides them. */
const HOST_DAEMON_TOOLS: Record<Cluster['mode'], ToolRequirement[]> = {
  bgp: [
    { tool: 'haproxy', purpose: 'run the nodes’ HAProxy', debianPackage: 'haproxy' },
    { tool: 'exabgp', purpose: 'run the nodes’ BGP speaker', debianPackage: 'exabgp' },
    { tool: 'bird', purpose: 'run the nodes’ BFD responder', debianPackage: 'bird2' },
  ],
  keepalived: [
    { tool: 'haproxy', purpose: 'run the nodes’ HAProxy', debianPackage: 'haproxy' },
    { tool: 'keepalived', purpose: 'run the nodes’ VRRP', debianPackage: 'keepalived' },
  ],
};
const IMAGE_TOOLS: ToolRequirement[] = [{ tool: 'unshare', purpose: 'run the image’s daemons in a private mount namespace', debianPackage: 'util-linux' }];
const BGP_TOOLS: ToolRequirement[] = [
  { tool: '/usr/lib/frr/bgpd', purpose: 'run the lab router (FRR bgpd)', debianPackage: 'frr' },
  { tool: '/usr/lib/frr/zebra', purpose: 'run the lab router (FRR zebra)', debianPackage: 'frr' },
  { tool: '/usr/lib/frr/bfdd', purpose: 'run the lab router’s BFD (FRR bfdd)', debianPackage: 'frr' },
];

export async function checkLabTools(mode: Cluster['mode'], daemons: DaemonRoot): Promise<void> {
  await requireTools([...LAB_TOOLS, ...(mode === 'bgp' ? BGP_TOOLS : []), ...(daemons.kind === 'image' ? IMAGE_TOOLS : HOST_DAEMON_TOOLS[mode])]);
}

/** "image herr-ober-debian-13 0.1.0 (...): haproxy 3.0.11-1 (OpenSSL 3.5.1), ..." or "HOST ... (why)". */
export async function describeDaemons(daemons: DaemonRoot): Promise<string> {
  const versions = formatVersions(await daemonVersions(daemons));
  return daemons.kind === 'image' ? `the image's daemons, ${daemons.label}: ${versions}` : `the HOST's daemons (${daemons.note}): ${versions}`;
}

/** The node program the lab's nodes run: dist/ober-node.mjs next to the admin bundle or in the repo. */
export function nodeProgram(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.join(here, 'ober-node.mjs'), path.resolve(here, '../../dist/ober-node.mjs')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new ToolMissingError('dist/ober-node.mjs', 'run the node program in the lab (npm run build)', 'npm run build');
  return found;
}

export interface LabNode {
  name: string;
  index: number;
  ns: string;
  address: string;
  backendAddress: string;
  layout: Layout;
  config: NodeConfig;
  /** The LAN interface (the node's VRRP interface). */
  lanIf: string;
  procs: Partial<Record<'haproxy' | 'exabgp' | 'bird' | 'keepalived' | 'track' | 'status', LabProcess>>;
  /** Settles once keepalived exited and its ExecStopPost (`ober vip-release`) ran: the unit's stop is complete. */
  keepalivedStopped?: Promise<void>;
}

export interface LabTopology {
  lab: Lab;
  plan: LabPlan;
  cluster: Cluster;
  ns: { client: string; router: string; sw: string; backend: string };
  nodes: LabNode[];
  routerProcs: LabProcess[];
  /** Set when the router forwards through resilient groups (BuildOptions.resilientEcmp). */
  resilientEcmp?: ResilientEcmp;
  /** Whose HAProxy, keepalived, ExaBGP and BIRD the nodes run (the image's or the host's). */
  daemons: DaemonRoot;
  /** describeDaemons(daemons): which, with their versions. */
  daemonsDescription: string;
  /** vtysh for the router (BGP mode). */
  vtysh(cmd: string): Promise<string>;
}

export interface BuildOptions {
  backend?: BackendProvider;
  /** Default: resolveDaemons() (the newest image tree, else the host's programs). */
  daemons?: DaemonRoot;
  /** Log line sink for progress. */
  log?: (msg: string) => void;
  /**
   * Run each node's status publisher (ober-status.service: the node status API's documents). Off
   * by default: the failover drills do not read it, and on this 2-core host they keep their CPU.
   */
  statusPublisher?: boolean;
  /**
   * BGP mode: the router forwards to the VIPs through kernel resilient next-hop groups (as the
   * README asks of a production router) instead of FRR's plain ECMP (resilient-ecmp.ts).
   */
  resilientEcmp?: boolean;
}

const BACKEND_IF = 'bk0';
/** The router's table for the client's traffic to the VIPs when it forwards through resilient groups. */
const RESILIENT_TABLE = 200;

export async function buildLab(lab: Lab, userCluster: Cluster, opts: BuildOptions = {}): Promise<LabTopology> {
  const log = opts.log ?? (() => {});
  const daemons = opts.daemons ?? (await resolveDaemons());
  const daemonsDescription = await describeDaemons(daemons);
  log(`daemons: ${daemonsDescription}`);
  const plan = planLab(userCluster);
  const backend = opts.backend ?? nodeHttpBackend;
  const cluster = labCluster(userCluster, plan, { maxFiles: await hardFileLimit(), backendPorts: backend.ports });
  const program = nodeProgram();
  const ns = {
    client: await lab.addNs('client'),
    router: await lab.addNs('rtr'),
    sw: await lab.addNs('sw'),
    backend: await lab.addNs('be'),
  };
  // IPv4 conf/all and default are inherited from the root namespace: set them (lab note 8).
  const rpf = (v: number) => ({ 'net.ipv4.conf.all.rp_filter': v, 'net.ipv4.conf.default.rp_filter': v });
  await lab.sysctl(ns.client, rpf(0));
  await lab.sysctl(ns.backend, rpf(0));
  await lab.sysctl(ns.router, { ...rpf(0), 'net.ipv4.ip_forward': 1, 'net.ipv4.fib_multipath_hash_policy': 1 });

  // The switch.
  await lab.exec(ns.sw, ['ip', 'link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
  await lab.exec(ns.sw, ['ip', 'link', 'add', 'br1', 'type', 'bridge', 'forward_delay', '0']);
  await lab.exec(ns.sw, ['ip', 'link', 'set', 'br0', 'up']);
  await lab.exec(ns.sw, ['ip', 'link', 'set', 'br1', 'up']);
  const port = async (peerNs: string, peerIf: string, swIf: string, bridge: string) => {
    await lab.veth(peerNs, peerIf, ns.sw, swIf);
    await lab.exec(ns.sw, ['ip', 'link', 'set', swIf, 'master', bridge, 'up']);
    await lab.exec(peerNs, ['ip', 'link', 'set', peerIf, 'up']);
  };

  // Client ↔ router.
  await lab.veth(ns.client, 'eth0', ns.router, 'cli0');
  await lab.exec(ns.client, ['ip', 'addr', 'add', `${plan.client.address}/${plan.client.prefix}`, 'dev', 'eth0']);
  await lab.exec(ns.client, ['ip', 'link', 'set', 'eth0', 'up']);
  await lab.exec(ns.client, ['ip', 'route', 'add', 'default', 'via', plan.client.routerSide]);
  await lab.exec(ns.router, ['ip', 'addr', 'add', `${plan.client.routerSide}/${plan.client.prefix}`, 'dev', 'cli0']);
  await lab.exec(ns.router, ['ip', 'link', 'set', 'cli0', 'up']);
  // Router on the LAN.
  await port(ns.router, 'lan0', 'pr', 'br0');
  await lab.exec(ns.router, ['ip', 'addr', 'add', `${plan.router}/${plan.lan.prefix}`, 'dev', 'lan0']);
  // Keepalived VIPs outside the LAN subnet: on-link host routes, so the router ARPs for them.
  if (cluster.mode === 'keepalived') {
    for (const v of plan.vips) await lab.exec(ns.router, ['ip', 'route', 'replace', `${v.address}/32`, 'dev', 'lan0']);
  }
  // Backend namespace: one address per backend group.
  await port(ns.backend, 'eth0', 'pb', 'br1');
  for (let k = 0; k < cluster.backends.length; k++) {
    await lab.exec(ns.backend, ['ip', 'addr', 'add', `${plan.backendNet.server(k)}/${plan.backendNet.prefix}`, 'dev', 'eth0']);
  }
  log(`starting the backends (${backend.name})`);
  await backend.start(lab, ns.backend, cluster.backends.map((_, k) => plan.backendNet.server(k)));

  const nodes: LabNode[] = [];
  for (const n of plan.nodes) {
    const nsName = await lab.addNs(`n${n.index + 1}`);
    const root = path.join(lab.dir, 'nodes', n.name);
    const layout = nodeLayout(root);
    // The image: its static files and the node program.
    await writeRenderedFiles('/', renderImageFiles({ layout }));
    await mkdir(layout.programDir, { recursive: true });
    await copyFile(program, path.join(layout.programDir, 'ober-node.mjs'));
    await mkdir(path.dirname(layout.oberBin), { recursive: true });
    // The image's wrapper, plus OBER_ROOT: the lab's nodes live under a scratch root; and
    // OBER_SYSTEMD=0: no systemd here, so the health process resets connections itself (health/reset.ts).
    await writeFile(layout.oberBin, `#!/bin/sh\nOBER_ROOT='${root}' OBER_SYSTEMD=0 exec '${process.execPath}' '${layout.programDir}/ober-node.mjs' "$@"\n`);
    await chmod(layout.oberBin, 0o755);
    await mkdir(layout.runDir, { recursive: true });
    await mkdir(layout.vrrpStateDir, { recursive: true });
    // The VM's boot: first boot reads the seed ISO, validates, renders and installs the release.
    await firstBoot(cluster, n.name, layout);
    const config = readNodeConfig(layout);
    const lanIf = config.node.interface;

    // The product's per-namespace kernel settings (the global ones — vm.*, kernel.*, net.core.*
    // buffers — would change the host, so they stay out).
    const perNs = Object.fromEntries(config.sysctl.filter(([k]) => k.startsWith('net.ipv4.conf.') || k === 'net.ipv4.ip_nonlocal_bind'));
    await lab.sysctl(nsName, perNs);
    await port(nsName, lanIf, `f${n.index}`, 'br0');
    await port(nsName, BACKEND_IF, `b${n.index}`, 'br1');
    await lab.exec(nsName, ['ip', 'addr', 'add', `${n.address}/${plan.lan.prefix}`, 'dev', lanIf]);
    await lab.exec(nsName, ['ip', 'addr', 'add', `${plan.backendNet.nodeAddress(n.index)}/${plan.backendNet.prefix}`, 'dev', BACKEND_IF]);
    await lab.exec(nsName, ['ip', 'route', 'add', 'default', 'via', plan.router]);
    // What ober-routes.service does on a node (ober backend-routes; here with ip route, no
    // networkd): quickack towards the servers whose connections HAProxy keeps.
    const quickAck = await applyBackendQuickAck(config, { runner: (argv) => lab.exec(nsName, argv, { allowFailure: true }), resolve: async () => [] });
    const missed = quickAck.results.filter((r) => !r.ok);
    if (missed.length) throw new Error(`lab node ${n.name}: no quickack route to ${missed.map((r) => r.address).join(', ')}`);
    // BGP mode: VIPs on lo (the product's lo-vip dummy; this kernel has no dummy netdev, note 1).
    if (cluster.mode === 'bgp') for (const v of plan.vips) await lab.exec(nsName, ['ip', 'addr', 'add', `${v.address}/32`, 'dev', 'lo']);
    // The node's own firewall, as rendered.
    await lab.exec(nsName, ['nft', '-f', layout.nftablesRules]);
    nodes.push({ name: n.name, index: n.index, ns: nsName, address: n.address, backendAddress: plan.backendNet.nodeAddress(n.index), layout, config, lanIf, procs: {} });
  }

  const topo: LabTopology = {
    lab,
    plan,
    cluster,
    ns,
    nodes,
    routerProcs: [],
    daemons,
    daemonsDescription,
    vtysh: (cmd) => vtysh(lab, ns.router, path.join(lab.dir, 'rtr'), cmd),
  };
  if (cluster.mode === 'bgp' && cluster.bgp) {
    log('starting the lab router (FRR)');
    const router = await startFrrRouter(lab, {
      ns: ns.router,
      dir: path.join(lab.dir, 'rtr'),
      address: plan.router,
      as: plan.routerAs ?? cluster.bgp.peerAs,
      bfd: cluster.bgp.bfd,
      peers: nodes.map((n) => ({ address: n.address, ...(n.config.bgp?.neighbors[0]?.md5Password ? { md5Password: n.config.bgp.neighbors[0].md5Password } : {}) })),
    });
    topo.routerProcs.push(...router.procs);
    if (opts.resilientEcmp) {
      log('router forwarding through resilient next-hop groups');
      topo.resilientEcmp = new ResilientEcmp(lab, {
        ns: ns.router,
        clientIf: 'cli0',
        lanIf: 'lan0',
        vips: plan.vips.map((v) => v.address),
        table: RESILIENT_TABLE,
        // A returning node gets a bucket once nothing used it for 30 s: a connection in use keeps
        // its node, and under a few new connections a second a node has most of its share back
        // within a minute (1024 buckets: each sees few of them). A pooled connection left idle
        // longer than that can still move, as on a router with the same timer.
        buckets: 1024,
        idleTimerSec: 30,
        unbalancedTimerSec: 0,
      });
      topo.routerProcs.push(await topo.resilientEcmp.start());
    }
  }
  for (const n of nodes) {
    log(`starting ${n.name}`);
    startHaproxy(topo, n);
    if (cluster.mode === 'bgp') {
      if (n.config.bgp?.bfd.enabled) startBird(topo, n);
      await startExabgp(topo, n);
    } else {
      startTrack(topo, n);
      startKeepalived(topo, n);
    }
    if (opts.statusPublisher) startStatusPublisher(topo, n);
  }
  return topo;
}

/**
 * `ober firstboot --no-start` on a NoCloud seed ISO as `ober deploy --snippets iso` builds it:
 * Proxmox-style user-data, meta-data with the instance-id, network-config, the node's vendor-data.
 */
async function firstBoot(cluster: Cluster, node: string, layout: Layout): Promise<void> {
  const iso = await buildSeedIso(
    {
      userData: `#cloud-config\nhostname: ${node}\nmanage_etc_hosts: true\nusers: [default]\npackage_upgrade: false\n`,
      metaData: `instance-id: oberlab-${node}\nlocal-hostname: ${node}\n`,
      networkConfig: 'version: 1\nconfig: []\n',
      vendorData: vendorDataSnippet(nodeData(cluster, node)),
    },
    'seed.iso',
  );
  try {
    const r = await run([process.execPath, path.join(layout.programDir, 'ober-node.mjs'), '--json', 'firstboot', '--metadata', iso.path, '--root', layout.root, '--no-start'], { allowFailure: true });
    if (r.exitCode !== 0) throw new Error(`first boot of lab node ${node} failed:\n${r.stderr.trim()}`);
  } finally {
    await iso.cleanup();
  }
}

// ------------------------------------------------------------------------------------------
// Node daemons (what the ober-* units start on a node, without systemd)

/** argv of a node daemon under the lab's daemon root; it sees the lab's directory (node roots, sockets). */
const daemon = (t: LabTopology, argv: string[]): string[] => t.daemons.wrap(argv, [t.lab.dir]);

export function startHaproxy(t: LabTopology, n: LabNode): LabProcess {
  // Foreground, no master: the PID is the one worker, so SIGKILL/SIGSTOP hit HAProxy itself.
  n.procs.haproxy = t.lab.spawn(n.ns, `${n.name}-haproxy`, daemon(t, ['haproxy', '-db', '-f', n.layout.haproxyCfg]));
  // HAProxy writes no pid file in the foreground; `ober stop --no-systemd` signals the pid in it.
  writeFileSync(n.layout.haproxyPidFile, `${n.procs.haproxy.pid}\n`);
  return n.procs.haproxy;
}

export function startBird(t: LabTopology, n: LabNode): LabProcess {
  n.procs.bird = t.lab.spawn(n.ns, `${n.name}-bird`, daemon(t, ['bird', '-f', '-c', n.layout.birdConf, '-s', n.layout.birdSocket]));
  return n.procs.bird;
}

export async function startExabgp(t: LabTopology, n: LabNode): Promise<LabProcess> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...parseEnvFile(await readFile(n.layout.exabgpEnv, 'utf8')) };
  const p = t.lab.spawn(n.ns, `${n.name}-exabgp`, daemon(t, ['exabgp', n.layout.exabgpConf]), { env });
  n.procs.exabgp = p;
  // ober-bgp.service's ExecStopPost (ss -K on the S3 ports), which systemd runs however ExaBGP
  // stopped: the lab runs it when it sees ExaBGP exit, with the host's ss.
  void p.exited.then(async () => {
    if (t.lab.active) await t.lab.exec(n.ns, ['ss', ...RESET_S3_CONNECTIONS_ARGS], { allowFailure: true }).catch(() => undefined);
  });
  return p;
}

export function startTrack(t: LabTopology, n: LabNode): LabProcess {
  n.procs.track = t.lab.spawn(n.ns, `${n.name}-track`, [n.layout.oberBin, 'health', '--track-file', n.layout.trackFile]);
  return n.procs.track;
}

export function startStatusPublisher(t: LabTopology, n: LabNode): LabProcess {
  n.procs.status = t.lab.spawn(n.ns, `${n.name}-status`, [n.layout.oberBin, 'status', '--publish']);
  return n.procs.status;
}

export function startKeepalived(t: LabTopology, n: LabNode): LabProcess {
  const run = n.layout.runDir;
  // A SIGKILLed keepalived's VRRP child is reparented to this machine's PID 1, which may not reap
  // it: as a zombie it still "runs" for keepalived's pid-file check ("daemon is already running").
  // systemd reaps its services, so on a node the stale pid files are harmless; here, drop them.
  for (const f of ['keepalived.pid', 'keepalived-vrrp.pid', 'keepalived-checkers.pid', 'keepalived-bfd.pid']) rmSync(`${run}/${f}`, { force: true });
  n.procs.keepalived = t.lab.spawn(n.ns, `${n.name}-keepalived`, daemon(t, [
    'keepalived',
    '--dont-fork',
    '--log-console',
    '--log-detail',
    '--use-file',
    n.layout.keepalivedConf,
    '--pid',
    `${run}/keepalived.pid`,
    '--vrrp_pid',
    `${run}/keepalived-vrrp.pid`,
    '--checkers_pid',
    `${run}/keepalived-checkers.pid`,
    '--bfd_pid',
    `${run}/keepalived-bfd.pid`,
  ]));
  // ober-ha.service's ExecStopPost=ober vip-release, which systemd runs however keepalived
  // stopped: the lab runs it when it sees keepalived exit (a SIGKILLed keepalived leaves its VIPs).
  const p = n.procs.keepalived;
  n.keepalivedStopped = p.exited.then(async () => {
    if (t.lab.active) await t.lab.exec(n.ns, [n.layout.oberBin, 'vip-release'], { allowFailure: true }).catch(() => undefined);
  });
  return p;
}

/** PIDs of a running keepalived: parent and VRRP child. */
export async function keepalivedPids(n: LabNode): Promise<number[]> {
  const pids: number[] = [];
  if (n.procs.keepalived?.alive()) pids.push(n.procs.keepalived.pid);
  try {
    pids.push(Number((await readFile(`${n.layout.runDir}/keepalived-vrrp.pid`, 'utf8')).trim()));
  } catch {
    /* not written yet */
  }
  return pids.filter((p) => Number.isInteger(p) && p > 0);
}

/** The hard RLIMIT_NOFILE this process (and so the lab's HAProxy) can raise itself to. */
export async function hardFileLimit(): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8');
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(limits);
  return m?.[1] && m[1] !== 'unlimited' ? Number(m[1]) : 1_048_576;
}
