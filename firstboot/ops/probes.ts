// The node's observable state, behind one interface so every check can be fed fakes in tests.
import { access, readdir, readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import { OberError } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import { resolveAll } from './backend-quickack.js';

export interface RunOutcome {
  exitCode: number;
  output: string;
}

export interface Probes {
  readText(file: string): Promise<string | undefined>;
  exists(file: string): Promise<boolean>;
  listDir(dir: string): Promise<string[]>;
  /** Never throws: a missing program is exit code 127 with a message. */
  run(argv: readonly string[], env?: Record<string, string>): Promise<RunOutcome>;
  /** TCP connect; undefined when it connected, else why not. */
  tcp(host: string, port: number, timeoutMs: number): Promise<string | undefined>;
  /** A host name's addresses as the resolver answers now (none when it does not resolve). */
  resolve(host: string): Promise<string[]>;
  now(): number;
  /** Last modification, ms since the epoch; undefined when absent. */
  mtimeMs(file: string): Promise<number | undefined>;
  sleep(ms: number): Promise<void>;
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host, port });
    const done = (why: string | undefined) => {
      sock.destroy();
      resolve(why);
    };
    sock.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    sock.on('connect', () => done(undefined));
    sock.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

export const systemProbes: Probes = {
  readText: (f) => readFile(f, 'utf8').catch(() => undefined),
  exists: (f) =>
    access(f).then(
      () => true,
      () => false,
    ),
  listDir: (d) => readdir(d).catch(() => []),
  async run(argv, env) {
    try {
      const r = await run(argv, { allowFailure: true, timeoutMs: 30_000, ...(env ? { env: { ...process.env, ...env } } : {}) });
      return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}`.trim() };
    } catch (e) {
      return { exitCode: 127, output: e instanceof OberError ? e.message : String(e) };
    }
  },
  tcp: tcpConnect,
  resolve: (host) => resolveAll(host).catch(() => []),
  now: () => Date.now(),
  mtimeMs: (f) => stat(f).then(
    (s) => s.mtimeMs,
    () => undefined,
  ),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
