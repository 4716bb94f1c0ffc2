// Idle client connections in a network namespace, to see which ones a command resets: the resets
// of the clients' S3 connections (ExaBGP's stop, a withdrawn VIP, a VRRP owner losing its VIP).
import { expect } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { run } from '../../firstboot/lib/exec.js';
import { realClock, waitUntil } from '../../firstboot/ops/wait.js';

/**
 * Listens on every local address at every port given (argv: transparent 0|1, ports), keeping
 * connections open; says "listening". Python, because Node cannot set IP_TRANSPARENT: HAProxy's
 * keepalived-mode binds are transparent, which is what lets a node send on a VIP it no longer holds
 * (an answer it owes, or the reset of a connection).
 */
const SERVER = String.raw`
import selectors, socket, sys
IP_TRANSPARENT = 19
sel, kept = selectors.DefaultSelector(), []
for port in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sys.argv[1] == '1':
        s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    s.bind(('0.0.0.0', int(port)))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
print('listening', flush=True)
while True:
    for key, _ in sel.select():
        kept.append(key.fileobj.accept()[0])
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

const spawnIn = (ns: string, argv: readonly string[]) => execa('ip', ['netns', 'exec', ns, ...argv], { reject: false });

/** A server in `ns` on every address at `ports` (`transparent`: as HAProxy's keepalived-mode binds); stop() ends it. */
export async function startIdleServer(ns: string, ports: readonly string[], opts: { transparent?: boolean } = {}): Promise<{ stop: () => Promise<void> }> {
  const server: ResultPromise = spawnIn(ns, ['python3', '-c', SERVER, opts.transparent ? '1' : '0', ...ports]);
  await new Promise<void>((resolve) => server.stdout?.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  return {
    stop: async () => {
      server.kill('SIGKILL');
      await server.catch(() => undefined);
    },
  };
}

/** Opens an idle connection to every `address:port` target in `ns`, runs `action`, and returns the targets that were reset, sorted. */
export async function resetBy(ns: string, targets: readonly string[], action: () => Promise<unknown>): Promise<string[]> {
  const client = spawnIn(ns, [process.execPath, '-e', CLIENT, ...targets]);
  const lines: string[] = [];
  client.stdout?.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
  try {
    const connected = await waitUntil(() => Promise.resolve(lines.filter((l) => l.endsWith('connected')).length === targets.length), { timeoutMs: 5000, intervalMs: 20, clock: realClock });
    expect(connected.ok, lines.join(', ')).toBe(true);
    await action();
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

/** Runs argv in `ns`. */
export const inNs = (ns: string, argv: readonly string[]) => run(['ip', 'netns', 'exec', ns, ...argv]);
