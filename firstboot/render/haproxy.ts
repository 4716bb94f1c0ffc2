import { ConfigError } from '../lib/errors.js';
import type { NodeConfig, SourceList } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { HAPROXY_PIPE_SIZE, HAPROXY_USER, haproxyPipes } from '../model/defaults.js';
import { caCertificateNames } from '../model/rules.js';
import { duration, type RenderContext } from './context.js';
import { compile } from './engine.js';
import type { RenderedFile } from './files.js';
import { TEMPLATES } from './templates.js';
import { atLeast } from './target.js';

export interface HaproxyView {
  header: string;
  maxconn: number;
  maxpipes: number;
  pipesize: number;
  user: string;
  bufsize: number;
  statsSocket: string;
  hardStopAfter: string;
  timeouts: { connect: string; client: string; server: string; httpRequest: string; keepAlive: string };
  frontends: { name: string; vipName: string; backend: string; backendId: string; binds: string[]; allowAcl?: string; coveringFor?: string }[];
  closing: { acl: string; pattern: string };
  backends: {
    id: string;
    check: { method: string; path: string; host?: string; expectStatus: number; inter: string; fall: number; rise: number };
    reuseConnections: boolean;
    tls?: string;
    servers: { name: string; address: string }[];
  }[];
  stats: { bind: string; allowAcl?: string; anyUp: string[]; perVip: { path: string; backendId: string }[]; statusLua: string; statusPath: string; eventsPath: string };
}

export interface StatusLuaView {
  header: string;
  statusFile: string;
  eventsFile: string;
}

const template = compile<HaproxyView>(TEMPLATES.haproxyCfg);
const statusLua = compile<StatusLuaView>(TEMPLATES.statusLua);

/** Backend section id; the `be_` prefix keeps backend and frontend names apart in stats. */
export const backendId = (name: string) => `be_${name}`;
export const frontendId = (name: string) => `fe_${name}`;
/** The per-VIP health path on :8404 that `ober health` polls. */
export const vipHealthPath = (vipName: string) => `/health/${vipName}`;
/** The node status API on :8404 (served by status.lua from what `ober status --publish` wrote). */
export const STATUS_PATH = '/status';
export const EVENTS_PATH = '/events';
export const STATS_PORT = 8404;
/** The VIPs' S3 ports: HTTP and, with a certificate, HTTPS. */
export const S3_PORTS = { http: 80, https: 443 } as const;
/** tune.bufsize: room for RGW's 16 KiB of request headers plus HAProxy's 1 KiB rewrite reserve. */
export const HAPROXY_BUFSIZE = 32_768;
/** Whitelist ACL files in layout.haproxyAclDir, by whitelist key: `ober sync` replaces them at run time. */
export const ACL_FILES = { frontendHttp: 'frontend-http.acl', monitoring: 'monitoring.acl' } as const;
/**
 * The pattern file of the VIP frontends' "close every client connection" switch, in
 * layout.haproxyAclDir: rendered without patterns; `ober stop` adds CLOSING_PATTERN through the
 * runtime API (not the file), so a started or reloaded HAProxy keeps connections alive again.
 */
const CLOSING_ACL_FILE = 'closing.acl';
export const CLOSING_PATTERN = 'closing';
/** Where that pattern file is: what haproxy.cfg reads and what `ober stop` names in `add acl`. */
export const closingAclPath = (layout: Pick<Layout, 'haproxyAclDir'>): string => `${layout.haproxyAclDir}/${CLOSING_ACL_FILE}`;

/** HAProxy's own ACME client (the `acme` section) exists from this version on. */
const ACME_SINCE: [number, number] = [3, 2];

export function renderHaproxy(node: NodeConfig, ctx: RenderContext): RenderedFile[] {
  const { layout } = ctx;
  const caNames = caCertificateNames(node);
  const acme = node.certificates.findIndex((c) => c.acme);
  if (acme >= 0) {
    const version = ctx.target.haproxyVersion.join('.');
    const why = atLeast(ctx.target.haproxyVersion, ACME_SINCE) ? `HAProxy ${version} has an ACME client, which the renderer does not drive yet` : `this image has HAProxy ${version}; HAProxy's ACME client needs ${ACME_SINCE.join('.')} or later`;
    throw new ConfigError('cluster', [
      {
        path: `certificates[${acme}].acme`,
        message: `ACME certificates are not rendered yet (${why})`,
        hint: 'provide the certificate as a PEM file (file:) for now',
      },
    ]);
  }
  const serverCerts = node.certificates.filter((c) => c.pem !== undefined && !caNames.has(c.name));
  const caFile = (name: string) => `${layout.haproxyDir}/ca/${name}.pem`;
  const aclFile = (list: SourceList, file: string) => (list.any ? undefined : `${layout.haproxyAclDir}/${file}`);
  const frontendAcl = aclFile(node.whitelists.frontendHttp, ACL_FILES.frontendHttp);
  const monitoringAcl = aclFile(node.whitelists.monitoring, ACL_FILES.monitoring);
  const closingAcl = closingAclPath(layout);

  // Keepalived: a node that hands its VIP over (ober stop, preempt) must still be able to answer
  // the requests it already accepted. Without IP_TRANSPARENT the kernel refuses to send from an
  // address that is no longer local (the VIP left with VRRP), and those clients hang until their
  // timeout; with it, the answers leave through the router as usual. BGP keeps the VIPs on lo.
  const vipBindOpts = node.mode === 'keepalived' ? ' transparent' : '';
  const view: HaproxyView = {
    header: ctx.header,
    maxconn: node.haproxy.maxconn,
    maxpipes: haproxyPipes(node.haproxy.maxconn),
    pipesize: HAPROXY_PIPE_SIZE,
    user: HAPROXY_USER,
    bufsize: HAPROXY_BUFSIZE,
    statsSocket: layout.haproxySocket,
    hardStopAfter: `${node.haproxy.drainTimeoutSec}s`,
    timeouts: {
      connect: duration(node.haproxy.timeouts.connectMs),
      client: duration(node.haproxy.timeouts.clientMs),
      server: duration(node.haproxy.timeouts.serverMs),
      httpRequest: duration(node.haproxy.timeouts.httpRequestMs),
      keepAlive: duration(node.haproxy.timeouts.keepAliveMs),
    },
    frontends: node.vips.map((v) => ({
      name: frontendId(v.name),
      vipName: v.name,
      backend: v.backend,
      backendId: backendId(v.backend),
      binds: [`${v.address}:${S3_PORTS.http}${vipBindOpts}`, ...(serverCerts.length ? [`${v.address}:${S3_PORTS.https}${vipBindOpts} ssl crt ${layout.haproxyCertDir}/ alpn http/1.1`] : [])],
      ...(frontendAcl ? { allowAcl: frontendAcl } : {}),
      // Keepalived: a VIP another node owns is here only while this node covers for that owner
      // (haproxy.cfg says why its client connections are not kept alive).
      ...(v.vrrp && v.vrrp.owner !== node.node.name ? { coveringFor: v.vrrp.owner } : {}),
    })),
    closing: { acl: closingAcl, pattern: CLOSING_PATTERN },
    backends: node.backends.map((b) => ({
      id: backendId(b.name),
      check: {
        method: b.healthCheck.method,
        path: b.healthCheck.path,
        ...(b.healthCheck.host ? { host: b.healthCheck.host } : {}),
        expectStatus: b.healthCheck.expectStatus,
        inter: duration(b.healthCheck.intervalMs),
        fall: b.healthCheck.fall,
        rise: b.healthCheck.rise,
      },
      reuseConnections: b.reuseConnections,
      ...(b.tls.enabled
        ? { tls: b.tls.verify === 'none' || !b.tls.caCertificate ? 'ssl verify none' : `ssl verify required ca-file ${caFile(b.tls.caCertificate)}` }
        : {}),
      servers: b.servers.map((s) => ({ name: s.name, address: `${s.host}:${s.port}` })),
    })),
    stats: {
      bind: `*:${STATS_PORT}`,
      ...(monitoringAcl ? { allowAcl: monitoringAcl } : {}),
      anyUp: node.backends.map((b) => backendId(b.name)),
      perVip: node.vips.map((v) => ({ path: vipHealthPath(v.name), backendId: backendId(v.backend) })),
      statusLua: layout.statusLua,
      statusPath: STATUS_PATH,
      eventsPath: EVENTS_PATH,
    },
  };

  const files: RenderedFile[] = [
    { path: layout.haproxyCfg, mode: 0o644, content: template(view) },
    { path: layout.statusLua, mode: 0o644, content: statusLua({ header: ctx.header, statusFile: layout.statusFile, eventsFile: layout.eventsFile }) },
  ];
  for (const c of serverCerts) files.push({ path: `${layout.haproxyCertDir}/${c.name}.pem`, mode: 0o600, content: ensureNewline(c.pem ?? '') });
  for (const c of node.certificates.filter((x) => caNames.has(x.name) && x.pem)) {
    files.push({ path: caFile(c.name), mode: 0o644, content: ensureNewline(c.pem ?? '') });
  }
  files.push({ path: closingAcl, mode: 0o644, content: `# ${ctx.header}\n# No pattern here: \`ober stop\` adds "${CLOSING_PATTERN}" at run time (haproxy.cfg says why).\n` });
  if (frontendAcl && !node.whitelists.frontendHttp.any) files.push(aclList(frontendAcl, node.whitelists.frontendHttp.entries));
  if (monitoringAcl && !node.whitelists.monitoring.any) files.push(aclList(monitoringAcl, node.whitelists.monitoring.entries));
  return files;
}

function aclList(path: string, entries: string[]): RenderedFile {
  return { path, mode: 0o644, content: entries.map((e) => `${e}\n`).join('') };
}

function ensureNewline(s: string): string {
  return s.endsWith('\n') ? s : `${s}\n`;
}
