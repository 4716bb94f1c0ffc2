// The rendered haproxy.cfg's data path, run by the real HAProxy in a network namespace with the
// node's VIP on lo: a dead backend server never fails a request (retries go to another server, and
// it is taken out after three connection errors), large request headers pass, the backend
// connection policy is what backends[].reuseConnections says (and a server's idle timeout stays
// its own), plain-HTTP bodies are spliced and
// intact, a server state change is printed once, and maxconn's bound matches HAProxy's own
// descriptor need. (Real RGW: test/s3.)
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, sleep, type LabProcess } from '../../builder/lab/netns.js';
import { maxconnWithin, MAX_HAPROXY_MAXCONN, HAPROXY_FILE_LIMIT, HAPROXY_PIPE_SIZE } from '../../firstboot/model/defaults.js';
import { haproxySocket } from '../../firstboot/ops/haproxy-cli.js';
import { resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { clusterSchema, type Cluster } from '../../firstboot/model/schema.js';
import { renderImageFiles } from '../../firstboot/render/index.js';
import { readNodeConfig } from '../../firstboot/health/node-config.js';
import type { NodeConfig } from '../../firstboot/model/derive.js';
import { applyBackendQuickAck } from '../../firstboot/ops/backend-quickack.js';
import { EXTRA_CLUSTERS, loadExample } from '../helpers/fixtures.js';
import { materialize } from '../helpers/materialize.js';

const VIP = '10.20.0.101';
const BACKEND = '10.30.0.21';
const LIVE = 8081;
const DEAD = 8082;

// Answers with the number of TCP connections it has accepted so far, the size of the request's
// headers, and the length and sha256 of its body; /blob?mib=N answers N MiB of a fixed pattern.
const SERVER_JS = String.raw`
const http = require('node:http');
const crypto = require('node:crypto');
let conns = 0;
const s = http.createServer({ maxHeaderSize: 65536, requireHostHeader: false }, (req, res) => {
  const mib = /^\/blob\?mib=(\d+)$/.exec(req.url || '');
  if (mib) {
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 255;
    res.writeHead(200, { 'content-length': Number(mib[1]) << 20 });
    let left = Number(mib[1]);
    const more = () => { while (left > 0) { left--; if (!res.write(chunk)) return res.once('drain', more); } res.end(); };
    return more();
  }
  const bytes = Object.entries(req.headers).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (c) => { hash.update(c); length += c.length; });
  req.on('end', () => res.end(JSON.stringify({ conns, bytes, length, sha256: hash.digest('hex') })));
});
s.on('connection', () => conns++);
s.keepAliveTimeout = 60000;
s.listen(Number(process.argv[1]), process.argv[2]);
`;

// Answers like RGW's beast frontend without tcp_nodelay: the headers and the 4 KiB body of each
// answer in two writes, Nagle on, so the body waits until the headers are ACKed.
const NAGLE_JS = String.raw`
const net = require('node:net');
const body = Buffer.alloc(4096, 120);
net.createServer((c) => {
  c.setNoDelay(false);
  c.on('error', () => {});
  let seen = '';
  c.on('data', (d) => {
    seen += d.toString('latin1');
    let i;
    while ((i = seen.indexOf('\r\n\r\n')) >= 0) {
      const head = seen.startsWith('HEAD ');
      seen = seen.slice(i + 4);
      c.write('HTTP/1.1 200 OK\r\nContent-Length: ' + body.length + '\r\n\r\n');
      if (!head) setImmediate(() => c.write(body));
    }
  });
}).listen(Number(process.argv[1]), process.argv[2]);
`;
const NAGLE = 8083;

// Closes idle connections after 1 s and says so in every answer (Node.js's `Keep-Alive: timeout=1`).
const SHORT_IDLE_JS = String.raw`
const http = require('node:http');
const s = http.createServer((req, res) => res.end('ok'));
s.keepAliveTimeout = 1000;
s.listen(Number(process.argv[1]), process.argv[2]);
`;
const SHORT_IDLE = 8084;

// A client with one kept-alive connection (Node.js's agent, which honours a Keep-Alive header's
// timeout): a request, 2.5 s idle, a request. Prints each answer's local port and Keep-Alive header.
const IDLE_CLIENT_JS = String.raw`
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const one = () => new Promise((resolve, reject) => {
  http.get({ host: process.argv[1], path: '/', agent }, (res) => {
    const port = res.socket.localPort;
    res.resume();
    res.on('end', () => resolve({ status: res.statusCode, port, keepAlive: res.headers['keep-alive'] ?? null }));
  }).on('error', reject);
});
(async () => {
  const first = await one();
  await new Promise((r) => setTimeout(r, 2500));
  console.log(JSON.stringify([first, await one()]));
  agent.destroy();
})();
`;

let lab: Lab;
let ns: string;
let base: Cluster;
/** The image's HAProxy (the version a node runs; OBER_DAEMONS=image insists on it), else the host's. */
let daemons: DaemonRoot;

beforeAll(async () => {
  daemons = await resolveDaemons();
  lab = new Lab();
  ns = await lab.addNs('dp');
  for (const a of [VIP, BACKEND]) await lab.exec(ns, ['ip', 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  lab.spawn(ns, 'backend', [process.execPath, '-e', SERVER_JS, String(LIVE), BACKEND]);
  lab.spawn(ns, 'nagle-backend', [process.execPath, '-e', NAGLE_JS, String(NAGLE), BACKEND]);
  lab.spawn(ns, 'short-idle-backend', [process.execPath, '-e', SHORT_IDLE_JS, String(SHORT_IDLE), BACKEND]);
  const one = await loadExample(EXTRA_CLUSTERS[0] ?? '');
  base = {
    ...one,
    // HAProxy here cannot raise its descriptor limit the way ober-http.service's LimitNOFILE= does.
    haproxy: { ...one.haproxy, maxconn: 2000 },
    vips: one.vips.map((v) => ({ ...v, address: VIP })),
    // the dead server first: leastconn picks it whenever both are idle
    backends: one.backends.map((b) => ({ ...b, servers: `${BACKEND}:${DEAD},${BACKEND}:${LIVE}`, healthCheck: { ...b.healthCheck, intervalMs: 30_000 } })),
  };
  for (let i = 0; i < 50 && (await curl([`http://${BACKEND}:${LIVE}/`])).code !== '200'; i++) await sleep(100);
}, 60_000);
afterAll(async () => {
  await lab?.teardown();
});

async function curl(args: string[]): Promise<{ code: string; body: string }> {
  const r = await lab.exec(ns, ['curl', '-s', '-w', '\n%{http_code}', ...args], { allowFailure: true });
  const i = r.stdout.lastIndexOf('\n');
  return { code: r.stdout.slice(i + 1), body: r.stdout.slice(0, i) };
}

async function startRendered(cluster: Cluster, name: string): Promise<{ proc: LabProcess; cfg: string; socket: string; sysctl: string; node: NodeConfig }> {
  const m = await materialize(cluster, cluster.nodes[0]?.name ?? '', path.join(lab.dir, name));
  const cfg = m.layout.haproxyCfg;
  // -W: master-worker in the foreground, as ober-http.service runs it (-Ws)
  const proc = lab.spawn(ns, `haproxy-${name}`, daemons.wrap(['haproxy', '-W', '-f', cfg], [lab.dir]));
  for (let i = 0; i < 100; i++) {
    const r = await lab.exec(ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${VIP}:8404/health`], { allowFailure: true });
    if (r.stdout === '200') break;
    await sleep(100);
  }
  return { proc, cfg, socket: m.layout.haproxySocket, sysctl: m.layout.sysctlFile, node: readNodeConfig(m.layout) };
}

/**
 * Sizes of the kernel pipes HAProxy's worker holds (F_GETPIPE_SZ on /proc/PID/fd/N). The worker
 * is the process of that config that does not run as root.
 */
async function workerPipeSizes(cfg: string): Promise<number[]> {
  const py = String.raw`
import fcntl, os, sys
sizes = []
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        if sys.argv[1] not in open(f'/proc/{pid}/cmdline').read().split(chr(0)): continue
        if os.stat(f'/proc/{pid}').st_uid == 0: continue
        for fd in os.listdir(f'/proc/{pid}/fd'):
            path = f'/proc/{pid}/fd/{fd}'
            if int(fd) > 2 and os.readlink(path).startswith('pipe:'):
                f = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                sizes.append(fcntl.fcntl(f, 1032))  # F_GETPIPE_SZ
                os.close(f)
    except OSError:
        pass
print(' '.join(map(str, sizes)))
`;
  const r = await lab.exec(ns, ['python3', '-c', py, cfg]);
  return r.stdout.trim().split(/\s+/).filter(Boolean).map(Number);
}

async function stopHaproxy(p: LabProcess): Promise<void> {
  process.kill(p.pid, 'SIGTERM');
  await p.exited;
}

describe('the rendered haproxy.cfg in front of one dead and one live server', () => {
  let log: string;
  let results: string[];

  beforeAll(async () => {
    // The server is alive when HAProxy starts (a check that fails at start marks it down at
    // once), then dies: only retries and passive observation can keep its requests from failing.
    const doomed = lab.spawn(ns, 'doomed', [process.execPath, '-e', SERVER_JS, String(DEAD), BACKEND]);
    for (let i = 0; i < 50 && (await curl([`http://${BACKEND}:${DEAD}/`])).code !== '200'; i++) await sleep(100);
    const h = await startRendered(base, 'default');
    await sleep(500);
    process.kill(doomed.pid, 'SIGKILL');
    await doomed.exited;
    results = [];
    // one client connection per request, as many S3 clients do
    for (let i = 0; i < 20; i++) results.push((await curl(['--max-time', '3', `http://${VIP}/`])).code);
    await sleep(300);
    await stopHaproxy(h.proc);
    log = await readFile(h.proc.log, 'utf8');
  }, 120_000);

  it('fails no request: each connection refusal is retried on the other server', () => {
    expect(results.filter((c) => c !== '200')).toEqual([]);
  });

  it('takes the dead server out after three connection errors, long before the checks would', () => {
    // The checks run every 30 s with fall 3 (90 s): only observe layer4 can have marked it down.
    expect(log).toMatch(new RegExp(`Server be_host/\\S+_${DEAD} is DOWN`));
  });

  it('prints each server state change once', () => {
    expect(log.split('\n').filter((l) => l.includes(`_${DEAD} is DOWN`))).toHaveLength(1);
  });
});

describe('request headers', () => {
  it('pass up to RGW’s 16 KiB (HAProxy’s default buffer refused them with its own 400)', async () => {
    const h = await startRendered(base, 'headers');
    const meta = Array.from({ length: 16 }, (_, i) => ['-H', `x-amz-meta-k${i}: ${'v'.repeat(1000)}`]).flat();
    const r = await curl([...meta, `http://${VIP}/`]);
    await stopHaproxy(h.proc);
    expect(r.code).toBe('200');
    expect((JSON.parse(r.body) as { bytes: number }).bytes).toBeGreaterThan(16_000);
  });
});

describe('bodies over plain HTTP (option splice-auto)', () => {
  it('move through kernel pipes, and arrive intact both ways', async () => {
    const cluster = { ...base, backends: base.backends.map((b) => ({ ...b, servers: `${BACKEND}:${LIVE}` })) };
    const h = await startRendered(cluster, 'splice');
    const src = path.join(lab.dir, 'upload.bin');
    await lab.exec(ns, ['dd', 'if=/dev/urandom', `of=${src}`, 'bs=1M', 'count=32', 'status=none']);
    const sent = createHash('sha256').update(await readFile(src)).digest('hex');
    const put = await curl(['-T', src, `http://${VIP}/upload`]);
    const got = await lab.exec(ns, ['sh', '-c', `curl -sf http://${VIP}/blob?mib=32 | sha256sum`]);
    const spliced = /^TotalSplicedBytesOut: (\d+)$/m.exec(await haproxySocket(h.socket)('show info'))?.[1];
    const sizes = await workerPipeSizes(h.cfg);
    await stopHaproxy(h.proc);
    expect(put.code).toBe('200');
    expect(JSON.parse(put.body)).toMatchObject({ length: 32 << 20, sha256: sent });
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31 + 7) & 255;
    const blob = createHash('sha256');
    for (let i = 0; i < 32; i++) blob.update(chunk);
    expect(got.stdout.split(' ')[0]).toBe(blob.digest('hex'));
    // The kernel carried most of the 64 MiB, not HAProxy's buffers,
    expect(Number(spliced)).toBeGreaterThan(32 << 20);
    // through pipes of tune.pipesize (the worker, an unprivileged user, keeps them in its pool),
    expect(sizes).toContain(HAPROXY_PIPE_SIZE);
    // and the node lets that user have all of them at that size.
    const rendered = await readFile(h.cfg, 'utf8');
    const maxpipes = Number(/^\s*maxpipes (\d+)$/m.exec(rendered)?.[1]);
    const pipesize = Number(/^\s*tune\.pipesize (\d+)$/m.exec(rendered)?.[1]);
    const sysctl = await readFile(h.sysctl, 'utf8');
    const soft = Number(/^fs\.pipe-user-pages-soft = (\d+)$/m.exec(sysctl)?.[1]);
    expect(pipesize).toBe(HAPROXY_PIPE_SIZE);
    expect(soft).toBeGreaterThanOrEqual((maxpipes * pipesize) / 4096);
  });
});

describe('backend connections (backends[].reuseConnections)', () => {
  async function backendConnectionsFor(reuse: boolean): Promise<number> {
    const cluster = { ...base, backends: base.backends.map((b) => ({ ...b, servers: `${BACKEND}:${LIVE}`, reuseConnections: reuse })) };
    const h = await startRendered(cluster, `reuse-${reuse}`);
    // 10 requests on one kept-alive client connection
    const urls = Array.from({ length: 10 }, () => `http://${VIP}/`);
    const r = await lab.exec(ns, ['curl', '-s', ...urls]);
    await stopHaproxy(h.proc);
    const counts = (r.stdout.match(/\{[^}]*\}/g) ?? []).map((l) => (JSON.parse(l) as { conns: number }).conns);
    expect(counts).toHaveLength(10);
    return (counts.at(-1) ?? 0) - (counts[0] ?? 0) + 1;
  }

  it('off: a fresh connection to the RGW per request', async () => {
    expect(await backendConnectionsFor(false)).toBe(10);
  });

  it('on (the default, with the node routing each server with quickack): one connection carries them all', async () => {
    expect(clusterSchema.shape.backends.element.parse({ name: 'b', servers: '10.0.0.1:80' }).reuseConnections).toBe(true);
    expect(await backendConnectionsFor(true)).toBe(1);
  });

  it("on: a server's short idle timeout closes only its own connection; the client's kept connection to the VIP stays (its Keep-Alive header is not passed on)", async () => {
    const cluster = { ...base, backends: base.backends.map((b) => ({ ...b, servers: `${BACKEND}:${SHORT_IDLE}`, reuseConnections: true })) };
    const h = await startRendered(cluster, 'short-idle');
    try {
      // Straight to the server: it tells the client it closes after 1 s.
      const direct = await lab.exec(ns, ['curl', '-s', '-D', '-', '-o', '/dev/null', `http://${BACKEND}:${SHORT_IDLE}/`]);
      expect(direct.stdout).toMatch(/^keep-alive: timeout=1\r$/im);
      const r = await lab.exec(ns, [process.execPath, '-e', IDLE_CLIENT_JS, VIP]);
      const [first, second] = JSON.parse(r.stdout) as { status: number; port: number; keepAlive: string | null }[];
      expect([first?.status, second?.status]).toEqual([200, 200]);
      expect([first?.keepAlive, second?.keepAlive]).toEqual([null, null]);
      expect(second?.port, 'the second request on the same client connection').toBe(first?.port);
    } finally {
      await stopHaproxy(h.proc);
    }
  });

  it("kept connections to a server that holds small answers for an ACK (Nagle, as RGW's beast): with the node's quickack route no ACK waits for the delayed-ACK timer", async () => {
    const cluster = { ...base, backends: base.backends.map((b) => ({ ...b, servers: `${BACKEND}:${NAGLE}`, reuseConnections: true })) };
    const h = await startRendered(cluster, 'nagle');
    // The kernel's count of ACKs sent only when the delayed-ACK timer fired (this namespace).
    const delayedAcks = async () => Number(/TcpExtDelayedACKs\s+(\d+)/.exec((await lab.exec(ns, ['nstat', '-asz', 'TcpExtDelayedACKs'])).stdout)?.[1] ?? NaN);
    const twentyGets = async () => {
      const before = await delayedAcks();
      const r = await lab.exec(ns, ['curl', '-s', '-w', '%{http_code} %{size_download}\n', ...Array.from({ length: 20 }, () => ['-o', '/dev/null', `http://${VIP}/`]).flat()]);
      expect(r.stdout.trim().split('\n')).toEqual(Array.from({ length: 20 }, () => '200 4096'));
      return (await delayedAcks()) - before;
    };
    try {
      // Without the route: one kept HAProxy-to-server connection, and each answer's body waited for
      // the timer to ACK its headers.
      expect(await twentyGets()).toBeGreaterThanOrEqual(15);
      const applied = await applyBackendQuickAck(h.node, { runner: (argv) => lab.exec(ns, argv, { allowFailure: true }) });
      expect(applied.results.map((r) => [r.address, r.ok, r.local])).toEqual([[BACKEND, true, true]]);
      expect(await twentyGets()).toBeLessThanOrEqual(2);
    } finally {
      await lab.exec(ns, ['ip', 'route', 'replace', 'table', 'local', 'local', BACKEND, 'dev', 'lo', 'proto', 'kernel', 'scope', 'host', 'src', BACKEND]);
      await stopHaproxy(h.proc);
    }
  });
});

describe('maxconn and the descriptor limit', () => {
  it('the unit’s LimitNOFILE is the limit the schema bounds maxconn by', () => {
    const unit = renderImageFiles().find((f) => f.path.endsWith('/ober-http.service'));
    expect(unit?.content).toContain(`LimitNOFILE=${HAPROXY_FILE_LIMIT}`);
    const doc = { version: 1, name: 'x', mode: 'keepalived', keepalived: {}, vips: [], backends: [], nodes: [] };
    const r = clusterSchema.safeParse({ ...doc, haproxy: { maxconn: MAX_HAPROXY_MAXCONN + 1 } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('maxconn');
  });

  it('HAProxy starts with the largest maxconn whose connections, pipes and reserve fit a limit, and not with more than the limit holds', async () => {
    const limit = 4000;
    const largest = maxconnWithin(limit);
    const m = await materialize({ ...base, haproxy: { ...base.haproxy, maxconn: largest } }, base.nodes[0]?.name ?? '', path.join(lab.dir, 'fd'));
    const tryStart = async (maxconn: number) => {
      const cfg = (await readFile(m.layout.haproxyCfg, 'utf8')).replace(/maxconn \d+/, `maxconn ${maxconn}`);
      const f = `${m.layout.haproxyCfg}.${maxconn}`;
      await writeFile(f, cfg);
      // -c does not check descriptors; start for real, under the limit, and stop at once
      const r = await lab.exec(ns, ['prlimit', `--nofile=${limit}:${limit}`, 'timeout', '-s', 'USR1', '2', ...daemons.wrap(['haproxy', '-db', '-f', f], [lab.dir])], { allowFailure: true });
      return r.stderr;
    };
    expect(await tryStart(largest)).not.toMatch(/FD limit/);
    expect(await tryStart(limit)).toMatch(/FD limit/);
  });
});
