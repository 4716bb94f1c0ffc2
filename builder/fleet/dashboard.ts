// `ober dashboard`: the fleet view as a local web page. One poller asks the nodes every interval
// (however many browsers are open); the page fetches /api/fleet and redraws in place, so it is
// live without reloads. Everything is in this one page: no external script, style, font or image
// (an admin host need not reach the internet), and a Content-Security-Policy that forbids them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cluster } from '../../firstboot/model/schema.js';
import type { FleetView } from './analyze.js';
import { FLEET_TIMEOUT_MS, fleetSnapshot } from './collect.js';
import { DASHBOARD_HTML } from './dashboard-page.js';

export const DASHBOARD_LISTEN = '127.0.0.1:8405';
export const DASHBOARD_INTERVAL_MS = 1000;

export interface DashboardOptions {
  /** host:port; port 0 picks a free one. */
  listen?: string;
  intervalMs?: number;
  timeoutMs?: number;
  /** Test seam: how a view is made. */
  snapshot?: () => Promise<FleetView>;
}

export interface Dashboard {
  url: string;
  /** The latest view (undefined before the first round ended). */
  latest(): FleetView | undefined;
  close(): Promise<void>;
}

/** "host:port" → parts; ConfigError-free: the command checks the flag. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) return undefined;
  return { host: m[1] ?? m[2] ?? '', port };
}

export async function startDashboard(cluster: Pick<Cluster, 'name' | 'mode' | 'vips' | 'nodes'>, opts: DashboardOptions = {}): Promise<Dashboard> {
  const interval = opts.intervalMs ?? DASHBOARD_INTERVAL_MS;
  const snapshot = opts.snapshot ?? (() => fleetSnapshot(cluster, opts.timeoutMs ?? FLEET_TIMEOUT_MS));
  const where = parseListen(opts.listen ?? DASHBOARD_LISTEN) ?? { host: '127.0.0.1', port: 8405 };
  let latest: FleetView | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const round = async () => {
    const started = Date.now();
    try {
      latest = await snapshot();
    } catch (e) {
      // Never stop polling: the next round may succeed; the page shows the last good view's time.
      process.stderr.write(`dashboard: ${(e as Error).message}\n`);
    }
    if (!stopped) timer = setTimeout(() => void round(), Math.max(100, interval - (Date.now() - started)));
  };
  void round();

  const server = http.createServer((req, res) => {
    const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (url.pathname === '/') {
      res.writeHead(200, {
        ...headers,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
      });
      res.end(req.method === 'HEAD' ? undefined : DASHBOARD_HTML);
    } else if (url.pathname === '/api/fleet') {
      if (!latest) {
        res.writeHead(503, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({ error: 'asking the nodes for the first time' }));
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(latest));
    } else {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}/`,
    latest: () => latest,
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
