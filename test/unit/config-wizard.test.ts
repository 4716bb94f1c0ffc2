// `ober config` driven through a real terminal: tmux runs the admin tool, send-keys types, and
// capture-pane reads the screen. A new cluster file from nothing that `ober validate` accepts (a
// wrong answer refused at the prompt with the schema's message), an edit of an example that keeps
// its comments, and the non-interactive path (--answers) with --dry-run.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { REPO } from '../helpers/fixtures.js';

const ADMIN = path.join(REPO, 'dist', 'ober.mjs');
const SESSION = `ober-config-${process.pid}`;
let dir = '';

const tmux = (...args: string[]) => run(['tmux', ...args], { allowFailure: true });
const screen = async () => (await tmux('capture-pane', '-p', '-t', SESSION)).stdout;

async function waitFor(re: RegExp, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await screen();
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`not on the screen within ${timeoutMs} ms: ${re}\n--- screen ---\n${s}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Wait for the question, then type the answer (nothing: accept the default) and press Enter. */
async function answer(question: RegExp, text = ''): Promise<void> {
  await waitFor(question);
  if (text) await tmux('send-keys', '-t', SESSION, '-l', text);
  await tmux('send-keys', '-t', SESSION, 'Enter');
}

async function startWizard(file: string, extra: string[] = []): Promise<void> {
  await tmux('kill-session', '-t', SESSION);
  const cmd = [process.execPath, ADMIN, '--no-color', 'config', '--cluster', file, ...extra].map((a) => `'${a}'`).join(' ');
  const r = await tmux('new-session', '-d', '-s', SESSION, '-x', '160', '-y', '50', `cd '${dir}' && ${cmd}; echo "EXIT=$?"; sleep 600`);
  expect(r.exitCode, r.stderr).toBe(0);
}

const validate = (file: string) => run([process.execPath, ADMIN, 'validate', '--cluster', file], { allowFailure: true, cwd: dir });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ober-config-'));
  await cp(path.join(REPO, 'examples'), path.join(dir, 'examples'), { recursive: true });
});
afterAll(async () => {
  await tmux('kill-session', '-t', SESSION);
  await rm(dir, { recursive: true, force: true });
});

describe('ober config in a terminal (tmux)', () => {
  it('writes a new cluster file from nothing that ober validate accepts; a wrong answer is refused at the prompt', async () => {
    const file = path.join(dir, 'new.yaml');
    await startWizard(file);
    await answer(/Cluster name/, 'lab-vrrp');
    await answer(/HA mode/); // keepalived, the default
    await answer(/VRRP interface/);
    await answer(/VRRP adverts/);
    await answer(/How many VIPs/);
    await answer(/VIP 1: name/);
    await answer(/VIP 1: address/, '10.20.0');
    // The schema's own message, at the prompt; then the answer is corrected.
    await waitFor(/'10\.20\.0' is not an IPv4 address/);
    for (let i = 0; i < 8; i++) await tmux('send-keys', '-t', SESSION, 'BSpace');
    await answer(/VIP 1: address/, '10.20.0.101');
    await answer(/VIP 1: backend group/, 'ceph');
    await answer(/How many backend groups/);
    await answer(/Backend 1: name/);
    await answer(/Backend 1: servers/, '10.30.0.[21-22]:7480');
    await answer(/Backend 1: health check path/);
    await answer(/Check the health URL/);
    await answer(/Serve HTTPS/);
    await answer(/Keep logs for how many days/, '7');
    await answer(/At most how many MB/);
    await answer(/Who may read :8404/, '10.20.5.10');
    await answer(/Who may SSH/, '10.20.9.0/24');
    await answer(/Who may use S3/);
    await answer(/Where the backends may live/);
    await answer(/How many nodes/, '2');
    await answer(/Node 1: name/);
    await answer(/Node 1: address/, '10.20.0.11/24');
    await answer(/Node 1: gateway/, '10.20.0.1');
    await answer(/Node 2: name/);
    await answer(/Node 2: address/, '10.20.0.12/24');
    await answer(/Node 2: gateway/);
    await answer(/Configure where ober deploy puts the nodes/, 'y');
    await answer(/Bridge of the nodes/);
    await answer(/Storage for the disks/);
    await answer(/Cores per node/, '4');
    await answer(/Memory per node/);
    await answer(/Firmware/);
    await answer(/Cloud-init user/);
    await answer(/SSH public key file/, 'examples/does-not-exist.pub');
    await waitFor(/cannot read it/);
    const s = await waitFor(/EXIT=\d+/);
    expect(s).toMatch(/EXIT=0/);
    expect(s).toMatch(/ober validate accepts it/);
    const r = await validate(file);
    expect(r.exitCode, r.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^name: lab-vrrp$/m);
    expect(text).toMatch(/retentionDays: 7/);
    expect(text).not.toMatch(/frontendHttp/);
    expect(text).toMatch(/proxmox:\n {2}bridge: vmbr0\n {2}cores: 4\n {2}memoryMB: 2048\n {2}firmware: ovmf\n {2}ciuser: ober\n/);
  }, 90_000);

  it('edits an example: kept sections and their comments stay, the changed one is written', async () => {
    const file = path.join(dir, 'examples', 'keepalived-3node.yaml');
    const before = await readFile(file, 'utf8');
    await startWizard(file);
    for (const section of ['HA mode', 'keepalived', 'VIPs', 'Backends', 'Certificates']) await answer(new RegExp(`${section}[^\\n]*: already configured; keep it`));
    await answer(/Keep logs for how many days/, '30');
    await answer(/At most how many MB/);
    await answer(/Whitelists[^\n]*: already configured; keep it/);
    await answer(/Nodes: already configured; keep it/);
    await answer(/Proxmox[^\n]*: already configured; keep it/);
    expect(await waitFor(/EXIT=\d+/)).toMatch(/EXIT=0/);
    const after = await readFile(file, 'utf8');
    expect((await validate(file)).exitCode).toBe(0);
    // Every comment of the example is still there, in order; the new section is the only change.
    const comments = (t: string) => t.split('\n').filter((l) => l.includes('#')).map((l) => l.slice(l.indexOf('#')));
    expect(comments(after)).toEqual(comments(before));
    expect(after).toMatch(/logging:\n {2}retentionDays: 30\n {2}maxDiskMB: 1024\n/);
    // yaml re-prints an inline comment one space after its value (the alignment is not kept).
    const norm = (t: string) => t.replace(/[ \t]+#/g, ' #');
    expect(norm(after.replace(/logging:\n(?: {2}.*\n)+/, ''))).toBe(norm(before));
  }, 90_000);
});

describe('ober config without a terminal', () => {
  it('--answers FILE --dry-run: prints the diff, writes nothing; a bad answer names the question', async () => {
    const file = path.join(dir, 'examples', 'bgp-3node.yaml');
    const before = await readFile(file, 'utf8');
    const answers = path.join(dir, 'answers.yaml');
    await writeFile(answers, 'keep.bgp: no\nbgp.localAs: 65020\nbgp.neighbors: 10.20.0.1,10.20.0.2\n');
    const r = await run([process.execPath, ADMIN, '--json', 'config', '--cluster', file, '--answers', answers, '--dry-run'], { allowFailure: true, cwd: dir });
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { dryRun: boolean; diff: string };
    expect(doc.dryRun).toBe(true);
    // The edited value keeps its comment.
    expect(doc.diff).toMatch(/^-\s+localAs: 65100\s+# all nodes share one AS/m);
    expect(doc.diff).toMatch(/^\+\s+localAs: 65020\s+# all nodes share one AS/m);
    expect(await readFile(file, 'utf8')).toBe(before);
    await writeFile(answers, 'keep.bgp: no\nbgp.localAs: 23456\n');
    const bad = await run([process.execPath, ADMIN, '--json', 'config', '--cluster', file, '--answers', answers, '--dry-run'], { allowFailure: true, cwd: dir });
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, error: { issues: [{ path: 'bgp.localAs', message: expect.stringMatching(/AS_TRANS/) }] } });
  });
});
