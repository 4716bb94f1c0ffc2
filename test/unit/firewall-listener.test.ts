// The node's rendered firewall in front of a VIP whose HAProxy is gone: a client's connection
// attempt must not be refused (an RST fails the S3 request at once, retries and all, while the VIP
// is still here for the seconds keepalived or the BGP health process needs to move it) but dropped,
// so the client's kernel retransmits the SYN and the request goes through once something listens
// again. Two namespaces this test creates, joined by a veth; the rules are the ones first boot renders.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunResult } from '../../firstboot/lib/exec.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize } from '../helpers/materialize.js';
import { execa, type ResultPromise } from 'execa';

const id = randomBytes(3).toString('hex');
const nodeNs = `ober-fw-n-${id}`;
const clientNs = `ober-fw-c-${id}`;
const NODE_ADDRESS = '10.20.0.11';
/** In the example's frontend whitelist (10.0.0.0/8). */
const CLIENT_ADDRESS = '10.20.0.50';
let vip: string;
let cleanup: () => Promise<void>;
let listener: ResultPromise | undefined;

const inNs = (ns: string, argv: string[]) => ['ip', 'netns', 'exec', ns, ...argv];
/** curl's exit code: 0 answered, 7 refused, 28 timed out. */
const connect = (timeoutSec: number): Promise<RunResult> =>
  run(inNs(clientNs, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_connect}', '--connect-timeout', String(timeoutSec), `http://${vip}/`]), { allowFailure: true });

/** Keepalived mode binds the VIPs with `transparent` (IP_TRANSPARENT), which Node cannot set: Python's http.server can. */
const TRANSPARENT_LISTENER = String.raw`
import http.server, socket, sys
class Server(http.server.HTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
        super().server_bind()
class Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('content-length', '2'); self.end_headers(); self.wfile.write(b'ok')
s = Server((sys.argv[1], 80), Ok)
print('listening', flush=True)
s.serve_forever()
`;

async function listen(transparent = false): Promise<void> {
  const script = `require('node:http').createServer((q, r) => r.end('ok')).listen(80, '${vip}', () => console.log('listening'))`;
  const [cmd = 'ip', ...args] = inNs(nodeNs, transparent ? ['python3', '-c', TRANSPARENT_LISTENER, vip] : [process.execPath, '-e', script]);
  const child = execa(cmd, args, { reject: false });
  listener = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    void child.then((r) => reject(new Error(`the listener exited: ${r.stderr}`)));
  });
}
async function stopListening(): Promise<void> {
  listener?.kill('SIGKILL');
  await listener;
  listener = undefined;
}

beforeAll(async () => {
  const s = await scratchDir('firewall-listener');
  cleanup = s.cleanup;
  const cluster = await loadExample(EXAMPLES[0] ?? '');
  vip = cluster.vips[0]?.address ?? '';
  const m = await materialize(cluster, 'ober1', s.dir);
  for (const ns of [nodeNs, clientNs]) await run(['ip', 'netns', 'add', ns]);
  await run(['ip', 'link', 'add', `fw${id}n`, 'netns', nodeNs, 'type', 'veth', 'peer', 'name', `fw${id}c`, 'netns', clientNs]);
  for (const [ns, dev, address] of [[nodeNs, `fw${id}n`, NODE_ADDRESS], [clientNs, `fw${id}c`, CLIENT_ADDRESS]] as const) {
    await run(inNs(ns, ['ip', 'addr', 'add', `${address}/24`, 'dev', dev]));
    await run(inNs(ns, ['ip', 'link', 'set', dev, 'up']));
    await run(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']));
  }
  await run(inNs(nodeNs, ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo']));
  await run(inNs(clientNs, ['ip', 'route', 'add', `${vip}/32`, 'via', NODE_ADDRESS]));
  await run(inNs(nodeNs, ['nft', '-f', m.layout.nftablesRules]));
});

afterAll(async () => {
  await stopListening();
  for (const ns of [nodeNs, clientNs]) await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
  await cleanup?.();
});

describe('the node firewall on a VIP without a listener', () => {
  // a failed test must not leave its listener to the next one
  afterEach(stopListening);

  it('answers while HAProxy listens', async () => {
    await listen();
    const r = await connect(2);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^200 /);
  });

  it('answers a transparent listener too (keepalived mode binds the VIPs so)', async () => {
    await listen(true);
    const r = await connect(2);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^200 /);
  });

  it('does not refuse a connection when nothing listens: the attempt times out instead', async () => {
    const r = await connect(1.5);
    // 7 would be "connection refused": the RST that fails a client at once
    expect(r.exitCode).toBe(28);
  });

  it('a connection attempt made while nothing listens succeeds once HAProxy is back (the SYN retransmitted)', async () => {
    const attempt = connect(6);
    await new Promise((r) => setTimeout(r, 300));
    await listen();
    const r = await attempt;
    expect(r.exitCode).toBe(0);
    const [status, connectSec] = r.stdout.split(' ');
    expect(status).toBe('200');
    // connected by a retransmitted SYN (the first was dropped 300 ms before the listener existed)
    expect(Number(connectSec)).toBeGreaterThanOrEqual(0.9);
  });
});
