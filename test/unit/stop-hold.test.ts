// keepalived's graceful stop, in front of a real listener behind the node's rendered firewall: the
// hold `ober stop` puts on a VIP's new connections before the hand-over (dropped, not refused: the
// client's SYN comes back after 1 s, to the node that took the VIP) lets established connections
// go on, lifts, and expires by itself; and the socket queues it waits on are the kernel's.
// Two namespaces this test creates, joined by a veth.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { run, type RunResult } from '../../firstboot/lib/exec.js';
import { holdNewConnections, releaseHold, unsettledConnections } from '../../firstboot/ops/sockets.js';
import { realClock, waitUntil } from '../../firstboot/ops/wait.js';
import { EXAMPLES, loadExample } from '../helpers/fixtures.js';
import { CLIENT_ADDRESS, firewallPair, inNs, startListener, type FirewallPair } from '../helpers/firewall-pair.js';

let pair: FirewallPair;
let nodeNs: string;
let clientNs: string;
let vip: string;
let listener: ResultPromise | undefined;
const onNode = (argv: readonly string[]) => run(inNs(nodeNs, argv));
/** curl's exit code: 0 answered, 7 refused, 28 timed out. */
const connect = (timeoutSec: number): Promise<RunResult> =>
  run(inNs(clientNs, ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{time_connect}', '--connect-timeout', String(timeoutSec), `http://${vip}/`]), { allowFailure: true });
/** A download the client reads at 256 KiB/s: its answer sits in the node's send queue meanwhile. */
const slowDownload = (mib: number) =>
  execa('ip', ['netns', 'exec', clientNs, 'curl', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--limit-rate', '256k', `http://${vip}/big?mib=${mib}`], { reject: false });

// `/` answers ok; `/big?mib=N` answers N MiB at once (the kernel paces it to the client).
const SERVER = String.raw`
const http = require('node:http');
http.createServer((q, r) => {
  const m = /mib=(\d+)/.exec(q.url);
  if (!m) return r.end('ok');
  r.writeHead(200, { 'content-length': Number(m[1]) << 20 });
  r.end(Buffer.alloc(Number(m[1]) << 20, 120));
}).listen(80, process.argv[1], () => console.log('listening'));
`;

beforeAll(async () => {
  const cluster = await loadExample(EXAMPLES[1] ?? '');
  expect(cluster.mode).toBe('keepalived');
  pair = await firewallPair('ober-hold', cluster, cluster.nodes[0]?.name ?? '');
  ({ nodeNs, clientNs, vip } = pair);
  listener = (await startListener(nodeNs, [process.execPath, '-e', SERVER, vip])).process;
});

afterAll(async () => {
  listener?.kill('SIGKILL');
  await listener;
  await pair?.teardown();
});

it('a held VIP drops new connections (no refusal) while an established download goes on; lifting the hold lets them in again', async () => {
  const download = slowDownload(1);
  await waitUntil(async () => (await unsettledConnections([vip], [80], onNode)).length > 0, { timeoutMs: 3000, intervalMs: 50, clock: realClock });
  await holdNewConnections([vip], 60, onNode);
  const held = await connect(1.5);
  expect(held.exitCode).toBe(28); // 7 would be a refusal: the client's request failing at once
  await releaseHold(onNode);
  const after = await connect(2);
  expect(after.exitCode).toBe(0);
  expect((await download).stdout).toBe(`200 ${1 << 20}`);
});

it('a hold expires by itself: a connection attempt made during it gets through by a retransmitted SYN', async () => {
  await holdNewConnections([vip], 1, onNode);
  const r = await connect(8);
  expect(r.exitCode).toBe(0);
  const [status, connectSec] = r.stdout.split(' ');
  expect(status).toBe('200');
  expect(Number(connectSec)).toBeGreaterThanOrEqual(0.9);
});

it("unsettledConnections: an answer the client has not acknowledged yet counts, and no longer once the connection is gone", async () => {
  const download = slowDownload(16);
  let found: Awaited<ReturnType<typeof unsettledConnections>> = [];
  try {
    // Until the server has written its answer: the connection shows up (unsettled, nothing sent
    // yet) before that, which on a loaded host can be long enough to be seen.
    const written = await waitUntil(async () => (found = await unsettledConnections([vip], [80], onNode)).some((c) => c.sendQ > 0), { timeoutMs: 5000, intervalMs: 50, clock: realClock });
    expect(written.ok).toBe(true);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ local: `${vip}:80`, peer: expect.stringMatching(new RegExp(`^${CLIENT_ADDRESS.replaceAll('.', '\\.')}:\\d+$`)) });
    // Another address's or port's sockets are not this VIP's.
    expect(await unsettledConnections(['10.20.0.99'], [80], onNode)).toEqual([]);
    expect(await unsettledConnections([vip], [443], onNode)).toEqual([]);
  } finally {
    // Never left running into the next test (16 MiB at 256 KiB/s is a minute).
    download.kill('SIGKILL');
    await download;
  }
  const gone = await waitUntil(async () => (await unsettledConnections([vip], [80], onNode)).length === 0, { timeoutMs: 5000, intervalMs: 100, clock: realClock });
  expect(gone.ok).toBe(true);
});

// A client that connects, then sends one request per line on its stdin over the same connection
// (a pooled keep-alive connection), printing "answered" after each answer.
const CLIENT = String.raw`
const net = require('node:net');
const sock = net.connect(80, process.argv[1], () => console.log('connected'));
sock.on('data', (d) => { if (d.toString().includes('ok')) console.log('answered'); });
require('node:readline').createInterface({ input: process.stdin }).on('line', () => sock.write('GET / HTTP/1.1\r\nHost: s3\r\n\r\n'));
process.stdin.on('end', () => sock.destroy());
`;

it('unsettledConnections: a connection whose client is yet to send its request counts; one idle after an answer does not', async () => {
  const client = execa('ip', ['netns', 'exec', clientNs, process.execPath, '-e', CLIENT, vip], { stdin: 'pipe', reject: false });
  const lines: string[] = [];
  client.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
  try {
    await waitUntil(() => Promise.resolve(lines.includes('connected')), { timeoutMs: 3000, intervalMs: 20, clock: realClock });
    // Connected, no byte sent: its request is on its way, and after a hand-over it would be reset.
    const fresh = await unsettledConnections([vip], [80], onNode);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ state: 'ESTAB', recvQ: 0, sendQ: 0, bytesReceived: 0 });
    client.stdin?.write('\n');
    await waitUntil(() => Promise.resolve(lines.includes('answered')), { timeoutMs: 3000, intervalMs: 20, clock: realClock });
    // Answered and acknowledged, kept open and idle: nothing runs on it.
    const idle = await waitUntil(async () => (await unsettledConnections([vip], [80], onNode)).length === 0, { timeoutMs: 3000, intervalMs: 50, clock: realClock });
    expect(idle.ok).toBe(true);
  } finally {
    client.stdin?.end();
    await client;
  }
});
