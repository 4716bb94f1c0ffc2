import type { Lab } from './netns.js';

// Small programs the lab runs inside its namespaces with `node -e`: the HTTP backend standing in
// for Ceph RGW, and the client's prober. Self-contained source strings, so they work the same from
// the test suite and from the bundled admin tool.

/**
 * The backend: answers every request with 200 and the peer address (= which node's HAProxy
 * forwarded it), on every address of its namespace; `?delay=MS` (at most 10 s) holds the answer
 * back, so requests are in flight when a drill moves traffic; `?stream=MS` makes it a download of
 * 16 KiB every 10 ms for MS ms (a long transfer, for ECMP rehash effects). Ceph RGW replaces it where S3 matters (ceph-backend.ts).
 */
export const BACKEND_JS = String.raw`
const http = require('node:http');
const port = Number(process.argv[1]);
// RGW answers HAProxy's HTTP/1.1 check without a Host header; Node would say 400.
const srv = http.createServer({ requireHostHeader: false }, (req, res) => {
  req.resume();
  const param = (k) => Math.min(Number(new RegExp('[?&]' + k + '=(\\d+)').exec(req.url || '')?.[1] || 0), 10000);
  const delay = param('delay');
  const stream = param('stream');
  setTimeout(() => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': req.socket.remoteAddress });
    if (!stream) return res.end('ok ' + req.socket.remoteAddress + '\n');
    // A long download: 16 KiB every 10 ms for 'stream' ms.
    const chunk = Buffer.alloc(16384, 120);
    const until = Date.now() + stream;
    const timer = setInterval(() => {
      if (Date.now() >= until) { clearInterval(timer); res.end('\n'); } else res.write(chunk);
    }, 10);
    res.on('close', () => clearInterval(timer));
  }, delay);
});
srv.keepAliveTimeout = 1000;
srv.listen(port, '0.0.0.0');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * The prober: every intervalMs, for every target, one GET of cfg.path (default /probe) on a new
 * TCP connection with a hard timeout. One JSON line per finished request: {vip, s (start ms), e (end ms), ok, by, err}.
 * Bounded: stops by itself after durationMs, or when stdin closes (the lab went away).
 */
export const PROBER_JS = String.raw`
const http = require('node:http');
const cfg = JSON.parse(process.argv[1]);
const end = Date.now() + cfg.durationMs;
let stopped = false;
function one(vip) {
  const s = Date.now();
  let done = false;
  const fin = (ok, by, err) => {
    if (done) return; done = true; clearTimeout(t); req.destroy();
    process.stdout.write(JSON.stringify({ vip, s, e: Date.now(), ok, by, err }) + '\n');
  };
  const req = http.get({ host: vip, port: cfg.port, path: cfg.path || '/probe', agent: false, headers: { connection: 'close' } }, (res) => {
    res.resume();
    const by = (req.by = String(res.headers['x-served-by'] || ''));
    res.on('end', () => fin(res.statusCode === 200, by, res.statusCode === 200 ? undefined : 'HTTP ' + res.statusCode));
    res.on('error', (e) => fin(false, by, e.code || e.message));
    res.on('aborted', () => fin(false, by, 'aborted'));
  });
  req.on('error', (e) => fin(false, req.by || '', e.code || e.message));
  const t = setTimeout(() => fin(false, req.by || '', 'timeout'), cfg.timeoutMs);
}
function tick() {
  if (stopped || Date.now() > end) return setTimeout(() => process.exit(0), cfg.timeoutMs + 50);
  for (const v of cfg.targets) one(v);
  setTimeout(tick, cfg.intervalMs);
}
process.stdin.on('end', () => { stopped = true; });
process.stdin.resume();
process.on('SIGTERM', () => { stopped = true; });
tick();
`;

export interface ProbeRecord {
  vip: string;
  /** Request start / end, ms since the epoch (same clock as the lab). */
  s: number;
  e: number;
  ok: boolean;
  /** Backend-side peer address: the node whose HAProxy served the request (also when it failed after the headers). */
  by: string;
  err?: string;
}

/**
 * Where the lab's backends come from: the node:http server above (default), or Ceph RGW
 * (`CephRgwBackend` in ceph-backend.ts). Every backend group gets one address in the backend
 * namespace; each (address, port) is one server of the group.
 */
export interface BackendProvider {
  name: string;
  /** Ports each backend address serves on. */
  readonly ports: readonly number[];
  /** Start the backends in the backend namespace, serving on every address given. */
  start(lab: Lab, ns: string, addresses: readonly string[]): Promise<void>;
}

export const NODE_HTTP_PORT = 8080;

export const nodeHttpBackend: BackendProvider & { argv(port: number): string[] } = {
  name: 'node:http',
  ports: [NODE_HTTP_PORT],
  argv: (port) => [process.execPath, '-e', BACKEND_JS, String(port)],
  start(lab, ns) {
    // One server on every address of the namespace (it listens on 0.0.0.0).
    lab.spawn(ns, 'backend', nodeHttpBackend.argv(NODE_HTTP_PORT), { stdin: 'pipe', essential: true });
    return Promise.resolve();
  },
};
