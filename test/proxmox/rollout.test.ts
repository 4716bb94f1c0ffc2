// `ober rollout` against the double: node by node to template v2, a failed gate rolled back, an
// interrupted rollout resumed or reverted, `upgrade --check`, and the SSH node agent on a real sshd.
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, runProgram } from '../../firstboot/lib/program.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { loadForDeploy } from '../../builder/commands/deploy.js';
import { registerRollout, upgradeCandidates } from '../../builder/commands/rollout.js';
import { sftpSnippets } from '../../builder/deploy/carriers.js';
import { deploy } from '../../builder/deploy/deploy.js';
import type { HealthProbes } from '../../builder/deploy/gates.js';
import { listTemplates } from '../../builder/deploy/templates.js';
import { sshNodeAgent, type NodeAgent } from '../../builder/rollout/node-agent.js';
import { RolloutStopped, planRollout, revertRollout, runRollout, type RolloutDeps } from '../../builder/rollout/rollout.js';
import { readState, type NodeStep } from '../../builder/rollout/state.js';
import { DEFAULT_HARDWARE, createTemplate } from '../../builder/proxmox/template.js';
import { EXAMPLES } from '../helpers/fixtures.js';
import { fakeImage, setup, type Env } from './helpers.js';
import { startSshd, type TestSshd } from './sshd.js';

let env: Env;
let sshd: TestSshd;
let snippetsDir: string;
let bgp: Cluster;
const V1 = 'ober_debian-12_0.1.0';
const V2 = 'ober_debian-12_0.2.0';

beforeAll(async () => {
  sshd = await startSshd();
  snippetsDir = path.join(sshd.dir, 'snippets');
  await mkdir(snippetsDir);
  env = await setup({ agentDelayMs: 20, snippetsDir });
  for (const v of ['0.1.0', '0.2.0']) await createTemplate(env.client, { image: await fakeImage(env.dir, `debian-12_${v}.qcow2`), hardware: DEFAULT_HARDWARE });
  bgp = await loadForDeploy(EXAMPLES[0] ?? '', 'sftp');
}, 30_000);
afterAll(async () => {
  await env.close();
  await sshd.stop();
});

const snippets = () =>
  sftpSnippets({ host: '127.0.0.1', port: sshd.port, username: sshd.user, keyFile: sshd.keyFile, knownHostsFile: sshd.knownHosts, hostKeyPolicy: 'strict' }, snippetsDir);
const ok: HealthProbes = { nodeHealth: async () => ({ ok: true, status: 200 }), announced: async () => ({ ok: true, status: 200 }) };
const timing = { timeoutMs: 2000, intervalMs: 10 };
const statePath = () => path.join(env.dir, '.ober', 'rollout-s3-ingress.json');

/** Every test starts from the cluster deployed on v1. */
beforeEach(async () => {
  const s = snippets();
  try {
    await deploy(env.client, { resolved: bgp, template: '0.1.0', mode: 'sftp', snippets: s, probes: ok, timing });
  } finally {
    await s.close();
  }
  env.pve.requests.length = 0;
});
afterEach(async () => {
  for (const [id, vm] of env.pve.cluster.vms) if (vm.config.template !== '1') env.pve.cluster.vms.delete(id);
  for (const f of await readdir(snippetsDir)) await rm(path.join(snippetsDir, f));
  await rm(path.join(env.dir, '.ober'), { recursive: true, force: true });
});

/** The VMs of a node: [vmid, template tag, status]. */
function vmsOf(node: string): [number, string, string][] {
  return [...env.pve.cluster.vms.values()]
    .filter((vm) => vm.config.template !== '1' && (vm.config.tags ?? '').includes(`ober-node_s3-ingress_${node}`))
    .map((vm) => [vm.vmid, (vm.config.tags ?? '').split(';').find((t) => /^ober_debian/.test(t)) ?? '', vm.status]);
}

/** A fake node agent plus a witness of how many nodes are out of service at once. */
function tracker() {
  const events: string[] = [];
  const out = new Set<string>();
  let maxOut = 0;
  const agent: NodeAgent = {
    async drain(node) {
      events.push(`drain ${node}`);
      out.add(node);
      maxOut = Math.max(maxOut, out.size);
      return { ok: true, detail: 'stopped' };
    },
  };
  const afterStep = (node: string, step: NodeStep) => {
    events.push(`${step} ${node}`);
    if (step === 'healthy' || step === 'rolled-back') out.delete(node);
  };
  return { events, agent, afterStep, maxOut: () => maxOut };
}

function deps(over: Partial<RolloutDeps> = {}): RolloutDeps {
  return { client: env.client, agent: tracker().agent, probes: ok, timing, mode: 'sftp', snippets: snippets(), statePath: statePath(), ...over };
}

async function start(over: Partial<RolloutDeps> = {}, keepOld = false) {
  const to = listTemplates(await env.client.api.clusterVms()).find((t) => t.tag === V2);
  const d = deps(over);
  try {
    return await runRollout(bgp, planRollout(bgp, to as NonNullable<typeof to>, await env.client.api.clusterVms(), 'sftp', keepOld), d);
  } finally {
    await d.snippets?.close();
  }
}

describe('rollout', () => {
  it('replaces the nodes one at a time, each behind its gate, and destroys the old VMs at the end', async () => {
    const t = tracker();
    const state = await start({ agent: t.agent, afterStep: t.afterStep });
    expect(state.status).toBe('done');
    expect(t.maxOut()).toBe(1);
    const order = t.events.filter((e) => /^(drain|healthy) /.test(e));
    expect(order).toEqual(['drain ober1', 'healthy ober1', 'drain ober2', 'healthy ober2', 'drain ober3', 'healthy ober3']);
    for (const n of ['ober1', 'ober2', 'ober3']) {
      const vms = vmsOf(n);
      expect(vms).toHaveLength(1);
      expect(vms[0]?.[1]).toBe(V2);
      expect(vms[0]?.[2]).toBe('running');
    }
    expect((await readState(statePath()))?.nodes.map((n) => n.step)).toEqual(['done', 'done', 'done']);
    // a second rollout to the same version has nothing to do
    const again = await start();
    expect(again.nodes.every((n) => n.skip)).toBe(true);
  });

  it('keeps the MAC with keepMac', async () => {
    const before = env.pve.cluster.vms.get(vmsOf('ober1')[0]?.[0] as number)?.config.net0;
    const keep = { ...bgp, proxmox: { ...(bgp.proxmox as NonNullable<Cluster['proxmox']>), keepMac: true } };
    const to = listTemplates(await env.client.api.clusterVms()).find((x) => x.tag === V2);
    const d = deps();
    await runRollout(keep, planRollout(keep, to as NonNullable<typeof to>, await env.client.api.clusterVms(), 'sftp', false), d).finally(() => d.snippets?.close());
    const after = env.pve.cluster.vms.get(vmsOf('ober1')[0]?.[0] as number)?.config.net0;
    expect(/=([0-9A-F:]{17})/.exec(after ?? '')?.[1]).toBe(/=([0-9A-F:]{17})/.exec(before ?? '')?.[1]);
  });

  it('rolls a node back when its new VM fails the gate, stops, and says which node, gate and what was seen', async () => {
    const oldOber2 = vmsOf('ober2')[0]?.[0];
    // ober2's address answers 503 while a v2 VM of ober2 runs
    const probes: HealthProbes = {
      nodeHealth: async (a) => (a === '10.20.0.12' && vmsOf('ober2').some((v) => v[1] === V2 && v[2] === 'running') ? { ok: false, reason: 'HTTP 503' } : { ok: true, status: 200 }),
      announced: ok.announced,
    };
    const t = tracker();
    const err = (await start({ probes, agent: t.agent, afterStep: t.afterStep, timing: { timeoutMs: 300, intervalMs: 10 } }).catch((e: unknown) => e)) as RolloutStopped;
    expect(err).toBeInstanceOf(RolloutStopped);
    expect(err.message).toMatch(/^rollout stopped at ober2: ober2 \(VM \d+\) failed its health gate .*last seen: HTTP 503\. ober2 is back on its old VM \d+ and healthy\.$/);
    // ober1 passed on v2; its old VM is kept (stopped) until the whole rollout passed
    expect(vmsOf('ober1').map((v) => [v[1], v[2]]).sort()).toEqual([[V1, 'stopped'], [V2, 'running']]);
    expect(vmsOf('ober2')).toEqual([[oldOber2, V1, 'running']]);
    expect(vmsOf('ober3').map((v) => v[1])).toEqual([V1]);
    expect(t.events).not.toContain('drain ober3');
    const state = await readState(statePath());
    expect(state?.status).toBe('failed');
    expect(state?.nodes.map((n) => n.step)).toEqual(['healthy', 'rolled-back', 'pending']);
    expect(state?.nodes[1]?.failure).toMatchObject({ gate: 'health', saw: 'HTTP 503' });
  });

  it('an interrupted rollout is finished by --resume', async () => {
    const interrupt = (node: string, step: NodeStep) => {
      if (node === 'ober1' && step === 'healthy') throw new Error('admin host lost power');
    };
    await expect(start({ afterStep: interrupt })).rejects.toThrow('admin host lost power');
    expect((await readState(statePath()))?.nodes.map((n) => n.step)).toEqual(['healthy', 'pending', 'pending']);
    const d = deps();
    const state = await runRollout(bgp, (await readState(statePath())) as NonNullable<Awaited<ReturnType<typeof readState>>>, d).finally(() => d.snippets?.close());
    expect(state.status).toBe('done');
    for (const n of ['ober1', 'ober2', 'ober3']) expect(vmsOf(n).map((v) => v[1])).toEqual([V2]);
  });

  it('--revert brings every replaced node back to its old VM', async () => {
    const old = ['ober1', 'ober2', 'ober3'].map((n) => vmsOf(n)[0]?.[0]);
    const interrupt = (node: string, step: NodeStep) => {
      if (node === 'ober2' && step === 'started') throw new Error('interrupted');
    };
    await expect(start({ afterStep: interrupt })).rejects.toThrow('interrupted');
    const d = deps();
    const state = await revertRollout(bgp, (await readState(statePath())) as NonNullable<Awaited<ReturnType<typeof readState>>>, d).finally(() => d.snippets?.close());
    expect(state.status).toBe('reverted');
    expect(['ober1', 'ober2', 'ober3'].map((n) => vmsOf(n))).toEqual(old.map((vmid) => [[vmid, V1, 'running']]));
  });

  it('a failed drain stops the rollout before anything changes on Proxmox', async () => {
    const agent: NodeAgent = { drain: async () => ({ ok: false, detail: 'sudo -n ober stop --json on ober1 exited 1: sudo: a password is required' }) };
    await expect(start({ agent })).rejects.toThrow(/ober1: taking it out of service failed: .*a password is required\. Nothing was changed on Proxmox/);
    expect(env.pve.calls('POST')).toEqual([]);
  });

  it('upgrade --check lists templates newer than what the nodes run', async () => {
    const { running, newer } = upgradeCandidates(await env.client.api.clusterVms(), bgp);
    expect(running).toEqual({ ober1: '0.1.0', ober2: '0.1.0', ober3: '0.1.0' });
    expect(newer.map((t) => t.version)).toEqual(['0.2.0']);
  });

  it('--dry-run makes no request', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    let code: number;
    try {
      code = await runProgram(buildProgram('t', [registerRollout]), ['rollout', '--cluster', EXAMPLES[0] ?? '', '--to', '0.2.0', '--dry-run', '--state', statePath(), '--proxmox-url', env.pve.url]);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(0);
    expect(env.pve.requests).toEqual([]);
    expect(out.join('')).toMatch(/ober1:\n {2}SSH {4}ober@10\.20\.0\.11\n.*\n {2}POST {3}\/nodes\/<node>\/qemu\/<old VM of ober1>\/status\/stop\n[^]*POST {3}\/nodes\/<node>\/qemu\/<template 0\.2\.0>\/clone/);
  });
});

describe('the SSH node agent', () => {
  it('runs the stop command on the node, records its host key on first contact, and reports a failure', async () => {
    const knownHosts = path.join(sshd.dir, 'nodes_known_hosts');
    const agent = (command: string[]) =>
      sshNodeAgent({ port: sshd.port, username: sshd.user, keyFile: sshd.keyFile, knownHostsFile: knownHosts, hostKeyPolicy: 'accept-new', command, timeoutMs: 30_000 }) // generous: the machine may be loaded;
    expect(await agent(['echo', 'stopped']).drain('ober1', '127.0.0.1')).toEqual({ ok: true, detail: 'echo stopped on ober1: done' });
    expect(await readFile(knownHosts, 'utf8')).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 `));
    const r = await agent(['sh', '-c', 'echo no sudo >&2; exit 3']).drain('ober1', '127.0.0.1');
    expect(r).toEqual({ ok: false, detail: "sh -c 'echo no sudo >&2; exit 3' on ober1 exited 3: no sudo" });
  });
});
