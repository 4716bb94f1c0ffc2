// The upstream router of a lab: FRR zebra + bgpd + bfdd in their own namespace with their own
// paths (lab note 3), passive towards the nodes (ExaBGP connects out), ECMP over all of them, BFD
// with the cluster's timers, as an operator would configure it. Used by the namespace lab and by
// the booted-image BGP drill (the router on the host side of the VM's tap link).
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { ToolMissingError } from '../../firstboot/lib/errors.js';
import { sleep, type Lab, type LabProcess } from './netns.js';

export interface RouterOptions {
  ns: string;
  /** FRR's configuration, pid files, sockets and logs. */
  dir: string;
  /** The router's address (its BGP router-id). */
  address: string;
  as: number;
  bfd: { enabled: boolean; intervalMs: number; multiplier: number };
  peers: { address: string; md5Password?: string }[];
}

export interface Router {
  procs: LabProcess[];
  vtysh(cmd: string): Promise<string>;
}

export function vtysh(lab: Lab, ns: string, dir: string, cmd: string): Promise<string> {
  return lab.exec(ns, ['vtysh', '--vty_socket', dir, '-c', cmd], { allowFailure: true }).then((r) => r.stdout);
}

export async function startFrrRouter(lab: Lab, o: RouterOptions): Promise<Router> {
  const { dir } = o;
  await mkdir(dir, { recursive: true });
  const lines = [
    'frr defaults traditional',
    'hostname lab-router',
    `log file ${dir}/bgpd.log informational`,
    '!',
    `router bgp ${o.as}`,
    ` bgp router-id ${o.address}`,
    // FRR 8.4 eBGP accepts nothing without a policy otherwise (note 4).
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ' bgp bestpath as-path multipath-relax',
    ' neighbor NODES peer-group',
    ' neighbor NODES remote-as external',
    // ExaBGP does not listen (exabgp_tcp_bind=): the nodes connect.
    ' neighbor NODES passive',
    ' neighbor NODES timers 1 3',
    ...(o.bfd.enabled ? [' neighbor NODES bfd profile ober'] : []),
    ...o.peers.flatMap((p) => [` neighbor ${p.address} peer-group NODES`, ...(p.md5Password ? [` neighbor ${p.address} password ${p.md5Password}`] : [])]),
    ' address-family ipv4 unicast',
    '  maximum-paths 8',
    ' exit-address-family',
    '!',
  ];
  await writeFile(`${dir}/bgpd.conf`, lines.join('\n') + '\n');
  await writeFile(`${dir}/zebra.conf`, `hostname lab-router\nlog file ${dir}/zebra.log informational\n!\n`);
  await writeFile(
    `${dir}/bfdd.conf`,
    `hostname lab-router\nlog file ${dir}/bfdd.log informational\n!\nbfd\n profile ober\n  receive-interval ${o.bfd.intervalMs}\n  transmit-interval ${o.bfd.intervalMs}\n  detect-multiplier ${o.bfd.multiplier}\n !\n!\n`,
  );
  // FRR refuses -u root (its vty group check): run as frr and give it the directory.
  const { uid, gid } = await frrIds();
  await chown(dir, uid, gid);
  for (const f of ['bgpd.conf', 'zebra.conf', 'bfdd.conf']) await chown(`${dir}/${f}`, uid, gid);
  const common = (d: string) => ['-f', `${dir}/${d}.conf`, '-i', `${dir}/${d}.pid`, '--vty_socket', dir, '-z', `${dir}/zserv.api`, '-P', '0', '-u', 'frr', '-g', 'frr'];
  const procs = [lab.spawn(o.ns, 'rtr-zebra', ['/usr/lib/frr/zebra', ...common('zebra')], { essential: true })];
  for (let i = 0; i < 100 && !existsSync(`${dir}/zserv.api`); i++) await sleep(50);
  procs.push(lab.spawn(o.ns, 'rtr-bfdd', ['/usr/lib/frr/bfdd', ...common('bfdd'), '--bfdctl', `${dir}/bfdd.sock`], { essential: true }));
  procs.push(lab.spawn(o.ns, 'rtr-bgpd', ['/usr/lib/frr/bgpd', ...common('bgpd')], { essential: true }));
  return { procs, vtysh: (cmd) => vtysh(lab, o.ns, dir, cmd) };
}

async function frrIds(): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('frr:'));
  if (!line) throw new ToolMissingError('frr (user)', 'run the lab router as user frr', 'frr');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
