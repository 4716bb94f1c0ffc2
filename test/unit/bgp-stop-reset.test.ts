// ober-bgp.service's ExecStopPost, as the image renders it, run for real in a namespace this test
// creates: once ExaBGP is gone the router sends the node's clients elsewhere, so their connections
// on the S3 ports are reset at once (an idle pooled connection is then dropped by its client, not
// used for a request that would fail); connections on other ports are left alone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { run } from '../../firstboot/lib/exec.js';
import { renderImageFiles } from '../../firstboot/render/index.js';
import { realClock, waitUntil } from '../../firstboot/ops/wait.js';

const ns = `ober-bgpreset-${randomBytes(3).toString('hex')}`;
const inNs = (argv: readonly string[]) => ['ip', 'netns', 'exec', ns, ...argv];
const spawnInNs = (argv: readonly string[]) => execa('ip', ['netns', 'exec', ns, ...argv], { reject: false });

/** Listens on 127.0.0.1 at every port given, keeping connections open; says "listening". */
const SERVER = String.raw`
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let n = 0;
for (const p of ports) net.createServer((s) => s.on('error', () => {})).listen(p, '127.0.0.1', () => { if (++n === ports.length) console.log('listening'); });
`;
/** One idle connection per port; prints "<port> connected", then "<port> reset" or "<port> closed" when it ends. */
const CLIENT = String.raw`
const net = require('node:net');
for (const p of process.argv.slice(1).map(Number)) {
  const s = net.connect(p, '127.0.0.1', () => console.log(p + ' connected'));
  s.on('error', (e) => console.log(p + (e.code === 'ECONNRESET' ? ' reset' : ' ' + e.code)));
  s.on('close', () => console.log(p + ' closed'));
}
`;

let server: ResultPromise | undefined;

beforeAll(async () => {
  await run(['ip', 'netns', 'add', ns]);
  await run(inNs(['ip', 'link', 'set', 'lo', 'up']));
});

afterAll(async () => {
  server?.kill('SIGKILL');
  await server?.catch(() => undefined);
  await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
});

/** The rendered `ExecStopPost=` line of ober-bgp.service as an argv (prefixes off, quotes honoured). */
function execStopPost(): string[] {
  const unit = renderImageFiles().find((f) => f.path.endsWith('/ober-bgp.service'));
  const line = unit?.content.split('\n').find((l) => l.startsWith('ExecStopPost='));
  expect(line).toBeDefined();
  const command = (line ?? '').slice('ExecStopPost='.length).replace(/^[-+@:!]+/, '');
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

it("ober-bgp's ExecStopPost resets the clients' connections on the S3 ports, and only those", async () => {
  const argv = execStopPost();
  expect(argv[0]).toBe('/usr/bin/ss');
  server = spawnInNs([process.execPath, '-e', SERVER, '80', '443', '8404']);
  await new Promise<void>((resolve) => server?.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  const client = spawnInNs([process.execPath, '-e', CLIENT, '80', '443', '8404']);
  const lines: string[] = [];
  client.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
  try {
    await waitUntil(() => Promise.resolve(lines.filter((l) => l.endsWith('connected')).length === 3), { timeoutMs: 5000, intervalMs: 20, clock: realClock });
    await run(inNs(argv));
    const ended = await waitUntil(() => Promise.resolve(lines.includes('80 reset') && lines.includes('443 reset')), { timeoutMs: 3000, intervalMs: 20, clock: realClock });
    expect(ended.ok, lines.join(', ')).toBe(true);
    // The stats port's connection (monitoring, not S3) is still open.
    expect(lines.filter((l) => l.startsWith('8404 ') && !l.endsWith('connected'))).toEqual([]);
  } finally {
    client.kill('SIGKILL');
    await client;
  }
});
