// The two resets of the clients' S3 connections, as the image renders them, run for real in a
// namespace this test creates: ober-bgp.service's ExecStopPost (every VIP: once ExaBGP is gone the
// router sends the node's clients elsewhere) and ober-reset@<vip>.service (one VIP, which the
// health process withdrew). A reset connection is dropped by its client, not used for a request
// that would fail; connections on other ports, or to other VIPs, are left alone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { run } from '../../firstboot/lib/exec.js';
import { renderImageFiles } from '../../firstboot/render/index.js';
import { realClock, waitUntil } from '../../firstboot/ops/wait.js';

const ns = `ober-bgpreset-${randomBytes(3).toString('hex')}`;
const inNs = (argv: readonly string[]) => ['ip', 'netns', 'exec', ns, ...argv];
const spawnInNs = (argv: readonly string[]) => execa('ip', ['netns', 'exec', ns, ...argv], { reject: false });

/** Listens on every local address at every port given, keeping connections open; says "listening". */
const SERVER = String.raw`
const net = require('node:net');
const ports = process.argv.slice(1).map(Number);
let n = 0;
for (const p of ports) net.createServer((s) => s.on('error', () => {})).listen(p, '0.0.0.0', () => { if (++n === ports.length) console.log('listening'); });
`;
/** One idle connection per address:port; prints "<a:p> connected", then "<a:p> reset" or "<a:p> closed" when it ends. */
const CLIENT = String.raw`
const net = require('node:net');
for (const t of process.argv.slice(1)) {
  const [host, port] = t.split(':');
  const s = net.connect(Number(port), host, () => console.log(t + ' connected'));
  s.on('error', (e) => console.log(t + (e.code === 'ECONNRESET' ? ' reset' : ' ' + e.code)));
  s.on('close', () => console.log(t + ' closed'));
}
`;
const PORTS = ['80', '443', '8404'];
/** Two VIPs on the namespace's loopback (127/8 is local): the node's own and another. */
const [VIP, OTHER] = ['127.0.0.10', '127.0.0.11'];
const TARGETS = [VIP, OTHER].flatMap((a) => PORTS.map((p) => `${a}:${p}`));

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

/** A rendered unit's `<key>=` line as an argv (prefixes off, quotes honoured, %I as `instance`). */
function commandLine(unitFile: string, key: string, instance = ''): string[] {
  const unit = renderImageFiles().find((f) => f.path.endsWith(`/${unitFile}`));
  const line = unit?.content.split('\n').find((l) => l.startsWith(`${key}=`));
  expect(line, `${unitFile} ${key}`).toBeDefined();
  const command = (line ?? '').slice(key.length + 1).replace(/^[-+@:!]+/, '').replaceAll('%I', instance);
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

/** Opens an idle connection to every target, runs argv, and returns the targets that were reset. */
async function resetBy(argv: string[]): Promise<string[]> {
  const client = spawnInNs([process.execPath, '-e', CLIENT, ...TARGETS]);
  const lines: string[] = [];
  client.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
  try {
    const connected = await waitUntil(() => Promise.resolve(lines.filter((l) => l.endsWith('connected')).length === TARGETS.length), { timeoutMs: 5000, intervalMs: 20, clock: realClock });
    expect(connected.ok, lines.join(', ')).toBe(true);
    await run(inNs(argv));
    // Resets arrive at once; give any that should not come time to show.
    await new Promise((r) => setTimeout(r, 300));
    // Anything else than connected, reset, or closed after its reset (a FIN, an error) is wrong.
    const unexpected = lines.filter((l) => !/ (connected|reset)$/.test(l) && !(l.endsWith(' closed') && lines.includes(l.replace(/closed$/, 'reset'))));
    expect(unexpected).toEqual([]);
    return lines.filter((l) => l.endsWith(' reset')).map((l) => l.split(' ')[0] ?? '').sort();
  } finally {
    client.kill('SIGKILL');
    await client;
  }
}

it('the resets of the S3 connections, as rendered: all VIPs at ExaBGP\'s stop, one VIP at its withdrawal; never the stats port', async () => {
  server = spawnInNs([process.execPath, '-e', SERVER, ...PORTS]);
  await new Promise<void>((resolve) => server?.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));

  const stopPost = commandLine('ober-bgp.service', 'ExecStopPost');
  expect(stopPost[0]).toBe('/usr/bin/ss');
  expect(await resetBy(stopPost)).toEqual([`${VIP}:443`, `${VIP}:80`, `${OTHER}:443`, `${OTHER}:80`]);

  const oneVip = commandLine('ober-reset@.service', 'ExecStart', VIP);
  expect(oneVip[0]).toBe('/usr/bin/ss');
  expect(await resetBy(oneVip)).toEqual([`${VIP}:443`, `${VIP}:80`]);
});
