// A real HAProxy on 127.0.0.1 for the run-time tests: master-worker mode with the pid file,
// stats socket and master socket of a node layout under a scratch root, plus a slow backend.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { run } from '../../firstboot/lib/exec.js';
import type { Layout } from '../../firstboot/model/layout.js';

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
  /** ACL file of the frontend whitelist (as rendered: `src -f`). */
  acl?: string;
}

/** A config with the same whitelist, TLS bind and socket lines the renderer writes (templates/haproxy.cfg.hbs). */
export function haproxyConfig(layout: Layout, o: HaproxyConfigOptions): string {
  return [
    'global',
    `    stats socket ${layout.haproxySocket} mode 600 level admin expose-fd listeners`,
    '    hard-stop-after 30s',
    'defaults',
    '    mode http',
    '    timeout connect 2s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-keep-alive 30s',
    'frontend fe_s3',
    `    bind 127.0.0.1:${o.httpPort}`,
    ...(o.httpsPort ? [`    bind 127.0.0.1:${o.httpsPort} ssl crt ${layout.haproxyCertDir}/ alpn http/1.1`] : []),
    ...(o.acl ? [`    tcp-request connection reject unless { src -f ${o.acl} }`] : []),
    '    default_backend be_s3',
    'backend be_s3',
    `    server s1 127.0.0.1:${o.backendPort}`,
    '',
  ].join('\n');
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
