// The operating commands through the bundled node program (Node 18 target), on a node root
// materialized from the example clusters: what an operator types and what comes back.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { EXAMPLES, loadExample, REPO, scratchDir } from '../helpers/fixtures.js';
import { materialize } from '../helpers/materialize.js';

let root = '';
let cleanup: () => Promise<void> = async () => {};
// Commands that probe the network run in a namespace of their own: only loopback, so the
// example's neighbour addresses are unreachable and no packet leaves the host.
const ns = `ober-cli-${randomBytes(3).toString('hex')}`;
const ober = (...args: string[]) =>
  run(['ip', 'netns', 'exec', ns, 'node', path.join(REPO, 'dist', 'ober-node.mjs'), '--root', root, ...args], { allowFailure: true, cwd: REPO });

beforeAll(async () => {
  ({ dir: root, cleanup } = await scratchDir('ops-cli'));
  await materialize(await loadExample(EXAMPLES[0] ?? ''), 'ober1', root);
  await run(['ip', 'netns', 'add', ns]);
  await run(['ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
});
afterAll(async () => {
  await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
  await cleanup();
});

describe('node program: operating commands', () => {
  it('ober stop --dry-run lists the BGP steps and changes nothing', async () => {
    const r = await ober('stop', '--dry-run', '--drain-timeout', '20', '--json');
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { dryRun: boolean; steps: { name: string; description: string }[] };
    expect(doc.steps.map((s) => s.name)).toEqual(['maintenance', 'close-connections', 'withdraw', 'traffic-moved', 'drain', 'stop-http']);
    expect(doc.steps.find((s) => s.name === 'drain')?.description).toMatch(/at most 20 s/);
    const text = await ober('stop', '--dry-run');
    expect(text.stdout).toMatch(/^1\. maintenance: /m);
  });

  it('ober stop refuses a bad --drain-timeout', async () => {
    const r = await ober('stop', '--dry-run', '--drain-timeout', 'soon');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--drain-timeout: must be a whole number of seconds/);
  });

  it('ober sync prints the whitelists; --dry-run shows a change without applying it', async () => {
    const shown = await ober('sync');
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^routers\s+10\.20\.0\.1, 10\.20\.0\.2$/m);
    expect(shown.stdout).toMatch(/^frontendHttp\s+10\.0\.0\.0\/8, 192\.168\.10\.0\/24$/m);
    const dry = await ober('sync', '--admin', '10.20.[8-9].0/24', '--dry-run', '--json');
    expect(dry.exitCode, dry.stderr).toBe(0);
    const doc = JSON.parse(dry.stdout) as { changes: { key: string; added: string[]; removed: string[] }[] };
    expect(doc.changes).toEqual([expect.objectContaining({ key: 'admin', added: ['10.20.8.0/24'], removed: [] })]);
    const again = await ober('sync', '--json');
    expect((JSON.parse(again.stdout) as { synced: object }).synced).toEqual({});
  });

  it('ober sync names an unresolvable host and a bad entry', async () => {
    const r = await ober('sync', '--monitoring', 'no-such-host.invalid', '--admin', '10.0.0.1/8');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--monitoring: host name 'no-such-host\.invalid' does not resolve/);
    expect(r.stderr).toMatch(/--admin: '10\.0\.0\.1\/8' has host bits set/);
  });

  it('ober logs refuses an unknown service', async () => {
    const r = await ober('logs', '--service', 'nginx');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/--service: 'nginx' is not a service/);
  });

  it('ober test --json validates the rendered configuration with the real daemons', async () => {
    const r = await ober('test', '--json');
    const doc = JSON.parse(r.stdout) as { checks: { id: string; status: string }[] };
    const status = Object.fromEntries(doc.checks.map((c) => [c.id, c.status]));
    expect(status).toMatchObject({ metadata: 'ok', 'haproxy-config': 'ok', 'exabgp-config': 'ok', 'bird-config': 'ok', 'keepalived-config': 'skip' });
    // The example's neighbours (10.20.0.1/2) have no route in the namespace: a failure with exit 1.
    expect(status.peers).toBe('fail');
    expect(doc.checks.find((c) => c.id === 'peers')).toMatchObject({ detail: expect.stringMatching(/10\.20\.0\.1: ENETUNREACH/) });
    expect(r.exitCode).toBe(1);
  }, 30_000);
});
