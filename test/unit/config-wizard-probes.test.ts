// `ober config`'s reachability checks against real listeners: inside a network namespace this
// test makes, one router answers on TCP 179 and one refuses, one RGW answers its health path with
// 200 and one with 503. The wizard warns about exactly the ones that fail and still writes nothing
// with --dry-run (the checks advise; the schema decides).
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { REPO } from '../helpers/fixtures.js';

const ADMIN = path.join(REPO, 'dist', 'ober.mjs');
const NS = `ober-wizprobe-${process.pid}`;
let dir = '';
let listeners: ChildProcess | undefined;

// Router 10.20.0.1 listens on 179 (10.20.0.2 does not); RGW 10.30.0.21 says 200, 10.30.0.22 says 503.
const SERVERS = `
const net = require('node:net'), http = require('node:http');
net.createServer((s) => s.end()).listen(179, '10.20.0.1');
http.createServer((q, r) => { r.statusCode = 200; r.end('ok'); }).listen(7480, '10.30.0.21');
http.createServer((q, r) => { r.statusCode = 503; r.end('no'); }).listen(7480, '10.30.0.22', () => console.log('ready'));
`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ober-wizprobe-'));
  await cp(path.join(REPO, 'examples'), path.join(dir, 'examples'), { recursive: true });
  await run(['ip', 'netns', 'add', NS]);
  await run(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
  for (const a of ['10.20.0.1', '10.20.0.2', '10.30.0.21', '10.30.0.22']) await run(['ip', '-n', NS, 'addr', 'add', `${a}/32`, 'dev', 'lo']);
  listeners = spawn('ip', ['netns', 'exec', NS, process.execPath, '-e', SERVERS], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    listeners?.stdout?.once('data', () => resolve());
    listeners?.once('exit', (c) => reject(new Error(`listeners exited (${c})`)));
  });
}, 30_000);

afterAll(async () => {
  listeners?.kill();
  await run(['ip', 'netns', 'del', NS], { allowFailure: true });
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('warns about the router and the RGW that fail their check, not about those that pass', async () => {
  const answers = path.join(dir, 'answers.yaml');
  await writeFile(
    answers,
    ['keep.bgp: no', 'bgp.localAs: 65100', 'bgp.neighbors: 10.20.0.1,10.20.0.2', 'check.bgp: yes', 'keep.backends: no', 'backends.count: 2', 'backends.1.servers: 10.30.0.[21-22]:7480', 'backends.1.healthCheck.path: /', 'check.backends.0: no', 'check.backends.1: yes', ''].join('\n'),
  );
  const file = path.join(dir, 'examples', 'bgp-3node.yaml');
  const r = await run(['ip', 'netns', 'exec', NS, process.execPath, ADMIN, '--json', 'config', '--cluster', file, '--answers', answers, '--dry-run'], { allowFailure: true, cwd: dir, timeoutMs: 60_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ dryRun: true });
  expect(r.stderr).toMatch(/router 10\.20\.0\.2: TCP 179 not reachable from here/);
  expect(r.stderr).not.toMatch(/router 10\.20\.0\.1:/);
  expect(r.stderr).toMatch(/backend 10\.30\.0\.22:7480: http:\/\/10\.30\.0\.22:7480\/ answered 503, the check expects 200/);
  expect(r.stderr).not.toMatch(/backend 10\.30\.0\.21:7480:/);
});
