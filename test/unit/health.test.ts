// The health feed's state machine against a local HTTP server on 127.0.0.1 standing in for
// HAProxy's stats frontend: what ExaBGP (stdout lines) and keepalived (track file) get. Timing is
// measured in the lab (test/lab), not asserted here.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hysteresis, probe, startFeed } from '../../firstboot/health/feed.js';
import { deriveNode } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import { EXAMPLES, REPO, loadExample, scratchDir } from '../helpers/fixtures.js';

type Mode = 'ok' | 'fail' | 'hang';

/** A fake stats frontend: answers 200 / 503 / never, switchable; can be closed and reopened. */
class FakeHaproxy {
  mode: Mode = 'ok';
  hits = 0;
  private server?: http.Server;
  port = 0;
  private readonly hung: http.ServerResponse[] = [];

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((_req, res) => {
      this.hits++;
      if (this.mode === 'hang') return void this.hung.push(res);
      res.writeHead(this.mode === 'ok' ? 200 : 503, { 'content-type': 'text/plain' }).end(this.mode);
    });
    await new Promise<void>((r) => this.server?.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const r of this.hung.splice(0)) r.destroy();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

const waitFor = async (cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('Hysteresis', () => {
  it('starts down, goes up after `rise` successes and down after `fall` failures', () => {
    const h = new Hysteresis(3, 2);
    expect([h.observe(true), h.observe(true), h.observe(true), h.observe(true)]).toEqual([undefined, undefined, true, undefined]);
    expect([h.observe(false), h.observe(true), h.observe(false), h.observe(false)]).toEqual([undefined, undefined, undefined, false]);
    expect(h.up).toBe(false);
  });

  it('maintenance forces down and needs `rise` fresh successes afterwards', () => {
    const h = new Hysteresis(2, 2);
    h.observe(true);
    h.observe(true);
    expect(h.forceDown()).toBe(false);
    expect(h.forceDown()).toBeUndefined();
    expect(h.observe(true)).toBeUndefined();
    expect(h.observe(true)).toBe(true);
  });

  it('property: changes alternate, never repeat, and match the run lengths', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 200 }), (rise, fall, xs) => {
        const h = new Hysteresis(rise, fall);
        let state = false;
        let run = 0;
        let last: boolean | undefined;
        for (const x of xs) {
          run = last === x ? run + 1 : 1;
          last = x;
          const c = h.observe(x);
          if (c !== undefined) {
            expect(c).toBe(!state);
            expect(run).toBe(c ? rise : fall);
            state = c;
          }
          expect(h.up).toBe(state);
        }
      }),
    );
  });
});

describe('probe and feed against a local server', () => {
  const fake = new FakeHaproxy();
  beforeAll(() => fake.listen());
  afterAll(() => fake.close());

  it('probe: 200 ok, 503 not, no answer within the deadline not, refused not', async () => {
    fake.mode = 'ok';
    expect((await probe(fake.port, '/health', 200)).ok).toBe(true);
    fake.mode = 'fail';
    expect(await probe(fake.port, '/health', 200)).toEqual({ ok: false, reason: 'HTTP 503' });
    fake.mode = 'hang';
    const t0 = Date.now();
    expect(await probe(fake.port, '/health', 100)).toEqual({ ok: false, reason: 'no answer within 100 ms' });
    expect(Date.now() - t0).toBeLessThan(1000);
    const closed = new FakeHaproxy();
    await closed.listen();
    const port = closed.port;
    await closed.close();
    expect(await probe(port, '/health', 200)).toEqual({ ok: false, reason: 'ECONNREFUSED' });
  });

  it('feed: up after rise, down on 503, on a stall and on refused connections, back after a restart', async () => {
    const changes: boolean[] = [];
    fake.mode = 'ok';
    const feed = startFeed({ port: fake.port, path: '/health/x', settings: { intervalMs: 20, timeoutMs: 60, fall: 2, rise: 3 }, onChange: (up) => changes.push(up) });
    try {
      await waitFor(() => changes.length === 1, 3000, 'up');
      fake.mode = 'fail';
      await waitFor(() => changes.length === 2, 3000, 'down on 503');
      fake.mode = 'ok';
      await waitFor(() => changes.length === 3, 3000, 'up again');
      fake.mode = 'hang';
      await waitFor(() => changes.length === 4, 3000, 'down on a stall');
      fake.mode = 'ok';
      await waitFor(() => changes.length === 5, 3000, 'up after the stall');
      const port = fake.port;
      await fake.close();
      await waitFor(() => changes.length === 6, 3000, 'down while refused');
      await fake.listen(port);
      await waitFor(() => changes.length === 7, 3000, 'up after the restart');
      expect(changes).toEqual([true, false, true, false, true, false, true]);
    } finally {
      feed.stop();
    }
  });
});

describe('ober health (the bundled node program)', () => {
  const fake = new FakeHaproxy();
  let root = '';
  let layout: Layout;
  let cleanup: () => Promise<void> = async () => {};
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    await fake.listen();
    ({ dir: root, cleanup } = await scratchDir('health'));
    layout = nodeLayout(root);
    const node = deriveNode(await loadExample(EXAMPLES[0] ?? ''), 'ober1', { names: {} });
    await mkdir(path.dirname(layout.nodeJson), { recursive: true });
    await mkdir(layout.runDir, { recursive: true });
    await writeFile(layout.nodeJson, JSON.stringify(node));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await fake.close();
    await cleanup();
  });

  const start = (...args: string[]) => startWith({}, ...args);
  const startWith = (env: NodeJS.ProcessEnv, ...args: string[]) => {
    const c = spawn('node', [path.join(REPO, 'dist', 'ober-node.mjs'), '--root', root, 'health', '--stats-port', String(fake.port), ...args], { stdio: 'pipe', env: { ...process.env, ...env } });
    children.push(c);
    const lines: string[] = [];
    let buf = '';
    c.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      lines.push(...parts);
    });
    // What it printed on stderr, for a failure's message; a death by signal is that signal's name.
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | string | null>((r) => c.on('exit', (code, signal) => r(code ?? signal)));
    return { c, lines, exited, stderr: () => stderr };
  };

  it('prints announce/withdraw on changes only, honours maintenance, withdraws and exits 0 on SIGTERM', async () => {
    fake.mode = 'ok';
    const { c, lines, exited, stderr } = start('s3-a');
    const A = 'announce route 10.20.255.10/32 next-hop self';
    const W = 'withdraw route 10.20.255.10/32 next-hop self';
    await waitFor(() => lines.length === 1, 10_000, 'announce');
    fake.mode = 'fail';
    await waitFor(() => lines.length === 2, 5000, 'withdraw');
    fake.mode = 'ok';
    await waitFor(() => lines.length === 3, 5000, 'announce again');
    await writeFile(layout.maintenanceFlag, '');
    await waitFor(() => lines.length === 4, 5000, 'withdraw in maintenance');
    await new Promise((r) => setTimeout(r, 500));
    expect(lines.length).toBe(4);
    await rm(layout.maintenanceFlag);
    await waitFor(() => lines.length === 5, 5000, 'announce after maintenance');
    c.kill('SIGTERM');
    expect(await exited, stderr()).toBe(0);
    expect(lines).toEqual([A, W, A, W, A, W]);
  });

  it("after a withdraw on failed probes, not on maintenance, resets the VIP's connections: through ober-reset@<vip>.service, or with ss itself (OBER_SYSTEMD=0); a SIGTERM during the reset still exits 0", async () => {
    // Stand-ins for systemctl and ss on PATH that record their arguments.
    const bin = path.join(root, 'fake-bin');
    const calls = path.join(root, 'calls.log');
    await mkdir(bin, { recursive: true });
    // They take a second: the SIGTERM below arrives while the reset still runs.
    for (const tool of ['systemctl', 'ss']) await writeFile(path.join(bin, tool), `#!/bin/sh\necho "${tool} $*" >> '${calls}'\nsleep 1\n`, { mode: 0o755 });
    const logged = async () => (await readFile(calls, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    const env = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    for (const [extra, expected] of [
      [{}, 'systemctl start ober-reset@10.20.255.10.service'],
      [{ OBER_SYSTEMD: '0' }, 'ss -K -Htn state established ( sport = :80 or sport = :443 ) and src 10.20.255.10'],
    ] as const) {
      await rm(calls, { force: true });
      fake.mode = 'ok';
      const { c, lines, exited, stderr } = startWith({ ...env, ...extra }, 's3-a');
      await waitFor(() => lines.length === 1, 10_000, 'announce');
      // A planned stop: withdrawn, nothing reset (its requests drain).
      await writeFile(layout.maintenanceFlag, '');
      await waitFor(() => lines.length === 2, 5000, 'withdraw in maintenance');
      await new Promise((r) => setTimeout(r, 800));
      expect(await logged()).toEqual([]);
      await rm(layout.maintenanceFlag);
      await waitFor(() => lines.length === 3, 5000, 'announce after maintenance');
      // HAProxy stops answering: withdrawn, then reset once.
      fake.mode = 'hang';
      await waitFor(() => lines.length === 4, 5000, 'withdraw on a stall');
      const reset = async () => (await logged()).length > 0;
      for (let i = 0; i < 100 && !(await reset()); i++) await new Promise((r) => setTimeout(r, 20));
      expect(await logged()).toEqual([expected]);
      c.kill('SIGTERM');
      expect(await exited, stderr()).toBe(0);
    }
    fake.mode = 'ok';
  });

  it('accepts the VIP address, and exits when stdin closes (ExaBGP died)', async () => {
    fake.mode = 'ok';
    const { c, lines, exited } = start('10.20.255.11');
    await waitFor(() => lines.length === 1, 10_000, 'announce');
    expect(lines[0]).toBe('announce route 10.20.255.11/32 next-hop self');
    c.stdin.end();
    expect(await exited).toBe(0);
  });

  it('refuses an unknown VIP with exit 1', async () => {
    const { exited, stderr } = start('nope');
    expect(await exited).toBe(1);
    expect(stderr()).toMatch(/no VIP 'nope'.*\n.*known VIPs: s3-a/);
  });

  it('--track-file writes 1 at start, 0 when healthy, 1 on failure, 1 on SIGTERM; re-asserts after an overwrite', async () => {
    fake.mode = 'ok';
    const track = path.join(layout.runDir, 'haproxy.track');
    const { c, exited } = start('--track-file', track);
    const content = () => readFile(track, 'utf8').catch(() => '');
    let seen = '';
    await waitFor(() => {
      void content().then((x) => (seen = x));
      return seen === '0\n';
    }, 10_000, 'track 0');
    // keepalived's `init_file 1 overwrite` at its restart: the feed puts its state back.
    await writeFile(track, '1\n');
    await waitFor(() => {
      void content().then((x) => (seen = x));
      return seen === '0\n';
    }, 5000, 'track re-asserted');
    fake.mode = 'fail';
    await waitFor(() => {
      void content().then((x) => (seen = x));
      return seen === '1\n';
    }, 5000, 'track 1');
    fake.mode = 'ok';
    await waitFor(() => {
      void content().then((x) => (seen = x));
      return seen === '0\n';
    }, 5000, 'track 0 again');
    c.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(await content()).toBe('1\n');
  });
});
