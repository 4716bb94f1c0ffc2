// `ober config`: the cluster file by questions, in the seed's order — HA mode, then the BGP or
// keepalived settings, VIPs, backends, certificates, logging (and the whitelists), then the
// nodes. The answers go into a yaml Document, so an existing file keeps its comments, order and
// everything the wizard did not touch. A section already in the file can be kept as it is. Every
// answer is checked at once by the schema's own rule for that field (its message shown at the
// prompt); the whole file is validated as `ober validate` does before anything is written.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Document, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { httpGet } from '../../firstboot/lib/http.js';
import { expandHostlist } from '../../firstboot/model/hostlist.js';
import { checkPem } from '../../firstboot/model/pem.js';
import { CERT_WARN_DAYS } from '../../firstboot/ops/checks.js';
import type { tcpConnect } from '../../firstboot/ops/probes.js';
import type { Asker } from './asker.js';
import { checkField } from './fields.js';

export interface AdminHost {
  address?: string;
  ifname?: string;
}

/** The admin host's own IPv4 address and its interface (the first that is not loopback). */
export function detectAdminHost(ifaces = os.networkInterfaces()): AdminHost {
  for (const [ifname, addrs] of Object.entries(ifaces)) {
    const a = (addrs ?? []).find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return { address: a.address, ifname };
  }
  return {};
}

export interface WizardOptions {
  ask: Asker;
  admin: AdminHost;
  /** Directory of the cluster file: certificate paths are relative to it. */
  baseDir: string;
  now?: number;
  /** Offer the reachability checks (BGP neighbours' TCP 179, backends' health URL). */
  probes?: { tcp: typeof tcpConnect; http: typeof httpGet };
}

type Path = (string | number)[];

const num = (s: string) => (/^-?\d+$/.test(s.trim()) ? Number(s.trim()) : s);
/** A comma list as the YAML value a field takes: one item stays a string. */
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

export async function runWizard(doc: Document, o: WizardOptions): Promise<void> {
  const { ask } = o;
  const get = (p: Path): unknown => {
    const v = doc.getIn(p);
    return v && typeof v === 'object' && 'toJSON' in v ? (v as { toJSON(): unknown }).toJSON() : v;
  };
  // A scalar already there is changed in place: its comment (`localAs: 65100  # why`) stays.
  const set = (p: Path, v: unknown) => {
    const n = doc.getIn(p, true);
    if (isScalar(n) && (v === null || typeof v !== 'object')) n.value = v;
    else doc.setIn(p, doc.createNode(v));
  };
  const str = (p: Path, fallback?: string): string | undefined => {
    const v = get(p);
    return v === undefined || v === null ? fallback : Array.isArray(v) ? v.join(',') : String(v);
  };
  /** Ask for one field, its current value (or `fallback`) as the default, checked by the schema. */
  const field = async (p: Path, message: string, opts: { fallback?: string; convert?: (s: string) => unknown; optional?: boolean } = {}) => {
    const convert = opts.convert ?? num;
    const def = str(p, opts.fallback);
    const answer = await ask.input({
      id: p.join('.'),
      message,
      ...(def !== undefined ? { default: def } : {}),
      ...(opts.optional ? { optional: true } : {}),
      validate: (v) => (opts.optional && v.trim() === '' ? true : checkField(p, convert(v))),
    });
    if (opts.optional && answer.trim() === '') doc.deleteIn(p);
    else set(p, convert(answer));
    return answer;
  };
  /** A section present in the file may be kept untouched. */
  const keep = async (key: string, label: string): Promise<boolean> => {
    ask.note(`— ${label} —`);
    if (!doc.hasIn([key])) return false;
    return ask.confirm({ id: `keep.${key}`, message: `${label}: already configured; keep it as it is?`, default: true });
  };
  const count = async (id: string, message: string, current: number, min: number, max: number) =>
    Number(
      await ask.input({
        id,
        message,
        default: String(Math.max(current, min)),
        validate: (v) => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? true : `a whole number from ${min} to ${max}`),
      }),
    );
  const length = (key: string) => {
    const n = doc.getIn([key]);
    return isSeq(n) ? n.items.length : 0;
  };
  /** Shorten a list to n items (items beyond stay only if kept). */
  const truncate = (key: string, n: number) => {
    const s = doc.getIn([key]);
    if (isSeq(s)) s.items.splice(n);
  };

  if (!doc.contents || !isMap(doc.contents)) doc.contents = doc.createNode({}) as typeof doc.contents;
  if (!doc.hasIn(['version'])) set(['version'], 1);

  // --- HA mode
  if (!(await keep('mode', 'HA mode'))) {
    await field(['name'], 'Cluster name', { fallback: 's3-ingress' });
    const mode = await ask.select({ id: 'mode', message: 'HA mode: BGP (ECMP to the routers) or keepalived (VRRP, one VIP per node)', choices: ['bgp', 'keepalived'] as const, default: (str(['mode']) ?? 'keepalived') as 'bgp' | 'keepalived' });
    set(['mode'], mode);
    // A switch of mode leaves no settings of the other mode behind (the rules refuse them).
    doc.deleteIn([mode === 'bgp' ? 'keepalived' : 'bgp']);
  }
  const mode = str(['mode']);

  // --- BGP or keepalived settings
  if (mode === 'bgp') {
    if (!(await keep('bgp', 'BGP'))) {
      await field(['bgp', 'localAs'], 'Our AS number', { fallback: '65010' });
      await field(['bgp', 'peerAs'], "The routers' AS number", { fallback: '65000' });
      const current = (get(['bgp', 'neighbors']) as { address: string }[] | undefined)?.map((n) => n.address).join(',');
      const answer = await ask.input({
        id: 'bgp.neighbors',
        message: 'Routers (BGP neighbours), comma-separated addresses',
        ...(current ? { default: current } : {}),
        validate: (v) => checkField(['bgp', 'neighbors'], list(v).map((address) => ({ address }))),
      });
      // Unchanged: left alone (comments and per-router settings stay); changed: routers already there keep their settings.
      if (list(answer).join(',') !== current) {
        const had = new Map(((get(['bgp', 'neighbors']) as { address: string }[] | undefined) ?? []).map((n) => [n.address, n]));
        set(['bgp', 'neighbors'], list(answer).map((address) => had.get(address) ?? { address }));
      }
      if (o.probes && (await ask.confirm({ id: 'check.bgp', message: 'Check TCP 179 to each router now?', default: false }))) {
        for (const a of list(answer)) {
          const why = await o.probes.tcp(a, 179, 2000);
          if (why) ask.warn(`router ${a}: TCP 179 not reachable from here (${why}); the nodes may still reach it — check its neighbour configuration`);
        }
      }
    }
  } else if (mode === 'keepalived') {
    if (!(await keep('keepalived', 'keepalived'))) {
      await field(['keepalived', 'interface'], `Nodes' VRRP interface${o.admin.ifname ? ` (this admin host uses ${o.admin.ifname})` : ''}`, { fallback: 'eth0', convert: (s) => s });
      const t = await ask.select({ id: 'keepalived.transport', message: 'VRRP adverts: unicast to the other nodes, or multicast', choices: ['unicast', 'multicast'] as const, default: (str(['keepalived', 'transport']) ?? 'unicast') as 'unicast' | 'multicast' });
      set(['keepalived', 'transport'], t);
    }
  }

  // --- VIPs
  if (!(await keep('vips', 'VIPs'))) {
    const n = await count('vips.count', 'How many VIPs?', length('vips'), 1, 64);
    truncate('vips', n);
    const firstBackend = str(['backends', 0, 'name'], 'ceph');
    for (let i = 0; i < n; i++) {
      await field(['vips', i, 'name'], `VIP ${i + 1}: name`, { fallback: `s3-${i + 1}`, convert: (s) => s });
      await field(['vips', i, 'address'], `VIP ${i + 1}: address`, { convert: (s) => s });
      await field(['vips', i, 'backend'], `VIP ${i + 1}: backend group`, { fallback: firstBackend, convert: (s) => s });
    }
  }

  // --- Backends
  if (!(await keep('backends', 'Backends (Ceph RGW)'))) {
    const names = new Set(((get(['vips']) as { backend?: string }[] | undefined) ?? []).map((v) => v.backend).filter((b): b is string => !!b));
    const n = await count('backends.count', 'How many backend groups?', Math.max(length('backends'), names.size), 1, 32);
    truncate('backends', n);
    const wanted = [...names];
    for (let i = 0; i < n; i++) {
      await field(['backends', i, 'name'], `Backend ${i + 1}: name`, { fallback: wanted[i] ?? `ceph-${i + 1}`, convert: (s) => s });
      const servers = await field(['backends', i, 'servers'], `Backend ${i + 1}: servers, host:port (hostlist, e.g. rgw[01-04].example.com:7480)`, { convert: (s) => s });
      const p = await field(['backends', i, 'healthCheck', 'path'], `Backend ${i + 1}: health check path`, { fallback: '/', convert: (s) => s });
      if (o.probes && (await ask.confirm({ id: `check.backends.${i}`, message: 'Check the health URL of each server now?', default: false }))) {
        for (const s of expandHostlist(servers).slice(0, 16)) {
          const r = await o.probes.http(`http://${s}${p}`, 2000).catch((e: Error) => e);
          if (r instanceof Error) ask.warn(`backend ${s}: http://${s}${p} not reachable from here (${r.message})`);
          else if (r.status !== 200) ask.warn(`backend ${s}: http://${s}${p} answered ${r.status}, the check expects 200`);
        }
      }
    }
  }

  // --- Certificates
  if (!(await keep('certificates', 'Certificates (TLS on :443)'))) {
    const add = await ask.confirm({ id: 'certificates.add', message: 'Serve HTTPS with a certificate (PEM file: chain and key)?', default: length('certificates') > 0 });
    if (!add) doc.deleteIn(['certificates']);
    else {
      truncate('certificates', 1);
      await field(['certificates', 0, 'name'], 'Certificate name', { fallback: 's3', convert: (s) => s });
      await field(['certificates', 0, 'file'], 'PEM file (relative to the cluster file)', {
        convert: (s) => s,
      });
      const file = str(['certificates', 0, 'file']) ?? '';
      const pem = await readFile(path.resolve(o.baseDir, file), 'utf8').catch((e: Error) => e);
      if (pem instanceof Error) ask.warn(`${file}: cannot read it (${pem.message}); ober validate will refuse the file until it is there`);
      else {
        const problem = checkPem(pem, o.now);
        if (problem) ask.warn(`${file}: ${problem}`);
        else if (checkPem(pem, (o.now ?? Date.now()) + CERT_WARN_DAYS * 86_400_000)) ask.warn(`${file}: expires within ${CERT_WARN_DAYS} days`);
      }
    }
  }

  // --- Logging and whitelists
  if (!(await keep('logging', 'Logging (journald on the node)'))) {
    await field(['logging', 'retentionDays'], 'Keep logs for how many days?', { fallback: '14' });
    await field(['logging', 'maxDiskMB'], 'At most how many MB of logs?', { fallback: '1024' });
  }
  if (!(await keep('whitelists', 'Whitelists (hostlists; empty = anyone)'))) {
    const me = o.admin.address;
    const ask1 = (k: string, message: string, fallback?: string) => field(['whitelists', k], message, { ...(fallback ? { fallback } : {}), convert: (s) => s, optional: true });
    await ask1('monitoring', `Who may read :8404 (stats, the status API)${me ? ` — this admin host is ${me}` : ''}`, me);
    await ask1('admin', 'Who may SSH to the nodes', me);
    await ask1('frontendHttp', 'Who may use S3 on the VIPs');
    await ask1('backendHttp', 'Where the backends may live');
  }

  // --- Nodes
  if (!(await keep('nodes', 'Nodes'))) {
    const n = await count('nodes.count', 'How many nodes?', length('nodes'), 1, 64);
    truncate('nodes', n);
    for (let i = 0; i < n; i++) {
      await field(['nodes', i, 'name'], `Node ${i + 1}: name`, { fallback: `ober${i + 1}`, convert: (s) => s });
      await field(['nodes', i, 'address'], `Node ${i + 1}: address with prefix (e.g. 10.20.0.11/24)`, { convert: (s) => s });
      await field(['nodes', i, 'gateway'], `Node ${i + 1}: gateway (empty: none)`, { fallback: str(['nodes', 0, 'gateway']), convert: (s) => s, optional: true });
    }
  }

  // --- Proxmox (where ober deploy puts the nodes)
  if (!(await keep('proxmox', 'Proxmox (ober deploy)'))) {
    if (!(await ask.confirm({ id: 'proxmox.add', message: 'Configure where ober deploy puts the nodes on Proxmox?', default: false }))) {
      doc.deleteIn(['proxmox']);
      return;
    }
    await field(['proxmox', 'bridge'], 'Bridge of the nodes\' network', { fallback: 'vmbr0', convert: (s) => s });
    await field(['proxmox', 'storage'], 'Storage for the disks (empty: the template\'s)', { convert: (s) => s, optional: true });
    await field(['proxmox', 'cores'], 'Cores per node', { fallback: '2' });
    await field(['proxmox', 'memoryMB'], 'Memory per node, MB', { fallback: '2048' });
    const fw = await ask.select({ id: 'proxmox.firmware', message: 'Firmware (must match the template)', choices: ['ovmf', 'seabios'] as const, default: (str(['proxmox', 'firmware']) ?? 'ovmf') as 'ovmf' | 'seabios' });
    set(['proxmox', 'firmware'], fw);
    await field(['proxmox', 'ciuser'], 'Cloud-init user (gets sudo)', { fallback: 'ober', convert: (s) => s });
    const keyFile = await ask.input({
      id: 'proxmox.sshKeyFile',
      message: 'SSH public key file for that user (empty: keep the keys as they are)',
      optional: true,
      validate: (v) => (v.trim() === '' ? true : /\.pub$/.test(v.trim()) ? true : 'a public key file ends in .pub'),
    });
    if (keyFile.trim()) {
      const text = await readFile(path.resolve(o.baseDir, keyFile.trim().replace(/^~(?=\/)/, os.homedir())), 'utf8').catch((e: Error) => e);
      if (text instanceof Error) ask.warn(`${keyFile}: cannot read it (${text.message}); no key added`);
      else {
        const key = text.trim().split('\n')[0] ?? '';
        const okKey = checkField(['proxmox', 'sshKeys', 0], key);
        if (okKey !== true) ask.warn(`${keyFile}: ${okKey}; no key added`);
        else set(['proxmox', 'sshKeys'], [...new Set([...(((get(['proxmox', 'sshKeys']) as string[] | undefined) ?? [])), key])]);
      }
    }
  }
}

/** The file's text as a Document (an empty one for a new file). */
export function documentOf(text: string | undefined): Document {
  return text === undefined || text.trim() === '' ? new Document({}) : parseDocument(text);
}
