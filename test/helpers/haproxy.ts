// A real HAProxy on 127.0.0.1 for the run-time tests, on the node's RENDERED haproxy.cfg (only its
// addresses moved to loopback): master-worker mode with the pid file, stats socket and master
// socket of a node layout under a scratch root, plus a slow backend.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { run } from '../../firstboot/lib/exec.js';
import { deriveNode } from '../../firstboot/model/derive.js';
import type { Layout } from '../../firstboot/model/layout.js';
import { writeRenderedFiles } from '../../firstboot/render/files.js';
import { renderNode } from '../../firstboot/render/index.js';
import { EXAMPLES, loadExample } from './fixtures.js';

export interface TestHaproxy {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Free TCP ports on 127.0.0.1 (bound and released; good enough for a test run). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<http.Server>((resolve) => { const s = http.createServer(); s.listen(0, '127.0.0.1', () => resolve(s)); })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Backend: `/slow` streams `chunks` × 1 KiB over `chunks` × 100 ms; anything else answers "ok". */
export async function slowBackend(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      let i = 0;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(30 * 1024) });
      const t = setInterval(() => {
        res.write(Buffer.alloc(1024, 120));
        if (++i === 30) {
          clearInterval(t);
          res.end();
        }
      }, 100);
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

export interface HaproxyConfigOptions {
  httpPort: number;
  httpsPort?: number;
  backendPort: number;
  /** Keep the frontend whitelist (as rendered: `src -f` the layout's frontend-http.acl); else any source. */
  acl?: boolean;
  /**
   * Render as the VIP's owner (default: the node that serves it in normal operation) or as its
   * first backup (the node that holds it only while covering for the owner).
   */
  as?: 'owner' | 'backup';
}

/** maxconn of the rendered test config: fits a test process's descriptor limit (here 20000). */
const TEST_MAXCONN = 4000;

/** The frontend the rendered config gives the VIP these tests use (the example's first). */
export const TEST_FRONTEND = 'fe_s3-1';

/**
 * The RENDERED haproxy.cfg of a keepalived example node (its first VIP's owner, or its backup; its TLS
 * certificate entry and whitelists), written for this layout, with only its listen and server
 * addresses moved to loopback: the VIP's :80/:443 to httpPort/httpsPort, the stats frontend to a
 * free port, every RGW to the test backend. Everything else (global, defaults, TLS settings,
 * sockets, ACL lines, checks, retries, timeouts) is what a node runs. The rendered files HAProxy
 * reads besides (status.lua, the ACL files) are written too; certificates are the test's own.
 */
export async function renderedHaproxyConfig(layout: Layout, o: HaproxyConfigOptions): Promise<string> {
  const cluster = await loadExample(EXAMPLES[1] ?? '');
  const [vip] = cluster.vips;
  if (!vip) throw new Error('the keepalived example has no VIP');
  const one = {
    ...cluster,
    vips: [vip],
    whitelists: { ...cluster.whitelists, frontendHttp: o.acl ? cluster.whitelists.frontendHttp : undefined },
    // The default maxconn needs ober-http.service's LimitNOFILE (two descriptors per connection), a
    // hard limit a test process may not raise; a cluster file may set a smaller one, as here.
    haproxy: { ...cluster.haproxy, maxconn: TEST_MAXCONN },
  };
  const vrrp = deriveNode(one, one.nodes[0]?.name ?? '').vips[0]?.vrrp;
  if (!vrrp) throw new Error('the keepalived example has no VRRP ranking');
  const nodeName = o.as === 'backup' ? vrrp.ranking[1] : vrrp.owner;
  if (!nodeName) throw new Error(`the keepalived example has no ${o.as ?? 'owner'} for ${vip.name}`);
  const files = renderNode(deriveNode(one, nodeName), { layout });
  const cfg = files.find((f) => f.path === layout.haproxyCfg);
  if (!cfg) throw new Error('no haproxy.cfg rendered');
  // What HAProxy reads besides its config: the Lua status service and the ACL files.
  await writeRenderedFiles('/', files.filter((f) => f.path.startsWith(`${layout.haproxyDir}/`) && f.path !== layout.haproxyCfg && !f.path.startsWith(`${layout.haproxyCertDir}/`)));
  const [statsPort] = (await freePorts(1)) as [number];
  const listen: Record<string, number | undefined> = { '80': o.httpPort, '443': o.httpsPort, '8404': statsPort };
  const relocated = cfg.content
    .split('\n')
    .flatMap((line) => {
      const bind = /^(\s*bind )\S+:(\d+)(.*)$/.exec(line);
      if (bind) {
        const port = listen[bind[2] ?? ''];
        if (port === undefined) return [];
        return [`${bind[1]}127.0.0.1:${port}${(bind[3] ?? '').replace(' transparent', '')}`];
      }
      const server = /^(\s*server \S+ )\S+(.*)$/.exec(line);
      if (server) return [`${server[1]}127.0.0.1:${o.backendPort}${server[2]}`];
      return [line];
    })
    .join('\n');
  if (!relocated.includes(`frontend ${TEST_FRONTEND}\n`)) throw new Error(`the rendered config has no frontend ${TEST_FRONTEND}`);
  return relocated;
}

export async function startHaproxy(layout: Layout, cfg: string): Promise<TestHaproxy> {
  await mkdir(layout.haproxyDir, { recursive: true });
  await mkdir(layout.runDir, { recursive: true });
  await writeFile(layout.haproxyCfg, cfg);
  await run(['haproxy', '-c', '-q', '-f', layout.haproxyCfg]);
  // -W: master-worker in the foreground, as systemd runs it (-Ws); -p: the master's pid.
  const proc = spawn('haproxy', ['-W', '-f', layout.haproxyCfg, '-p', layout.haproxyPidFile, '-S', layout.haproxyMasterSocket], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100 && !(existsSync(layout.haproxySocket) && existsSync(layout.haproxyPidFile)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(layout.haproxySocket)) throw new Error(`haproxy did not start: ${stderr}`);
  await new Promise((r) => setTimeout(r, 200));
  return {
    proc,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
