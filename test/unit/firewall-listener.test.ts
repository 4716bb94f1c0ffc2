// The node's rendered firewall in front of a VIP whose HAProxy is gone: a client's connection
// attempt must not be refused (an RST fails the S3 request at once, retries and all, while the VIP
// is still here for the seconds keepalived or the BGP health process needs to move it) but dropped,
// so the client's kernel retransmits the SYN and the request goes through once something listens
// again. Two namespaces this test creates, joined by a veth; the rules are the ones first boot renders.
import type { ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunResult } from '../../firstboot/lib/exec.js';
import { EXAMPLES, loadExample } from '../helpers/fixtures.js';
import { firewallPair, inNs, startListener, type FirewallPair } from '../helpers/firewall-pair.js';

let pair: FirewallPair;
let nodeNs: string;
let clientNs: string;
let vip: string;
let listener: ResultPromise | undefined;
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
  listener = (await startListener(nodeNs, transparent ? ['python3', '-c', TRANSPARENT_LISTENER, vip] : [process.execPath, '-e', script])).process;
}
async function stopListening(): Promise<void> {
  listener?.kill('SIGKILL');
  await listener;
  listener = undefined;
}

beforeAll(async () => {
  pair = await firewallPair('ober-fw', await loadExample(EXAMPLES[0] ?? ''), 'ober1');
  ({ nodeNs, clientNs, vip } = pair);
});

afterAll(async () => {
  await stopListening();
  await pair?.teardown();
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
