// Issue 13: the defects the old double hid, each against the double as the real server behaves
// (three PVE nodes with their own `local` storages beside a shared one, per-node snippet hosts,
// uploads, clones, destroys and reboots as qemu-server/pve-storage/pveproxy do them).
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, runProgram } from '../../firstboot/lib/program.js';
import { registerDestroy } from '../../builder/commands/destroy.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { readMetadata } from '../../firstboot/metadata/index.js';
import { loadForDeploy, registerDeploy } from '../../builder/commands/deploy.js';
import { sftpSnippets } from '../../builder/deploy/carriers.js';
import { deploy, type DeployOptions } from '../../builder/deploy/deploy.js';
import type { HealthProbes } from '../../builder/deploy/gates.js';
import { listTemplates } from '../../builder/deploy/templates.js';
import { connect } from '../../builder/proxmox/client.js';
import { DEFAULT_HARDWARE, createTemplate } from '../../builder/proxmox/template.js';
import type { NodeAgent } from '../../builder/rollout/node-agent.js';
import { RolloutStopped, planRollout, runRollout, type RolloutDeps } from '../../builder/rollout/rollout.js';
import { forgetHostKey, verifyHostKey } from '../../builder/ssh/known-hosts.js';
import { EXAMPLES } from '../helpers/fixtures.js';
import { FAST, fakeImage, setup, type Env } from './helpers.js';
import { startSshd, type TestSshd } from './sshd.js';

const PVE_NODES = ['pve1', 'pve2', 'pve3'];
let env: Env;
let hosts: Record<string, TestSshd>;
let base: Cluster;
let knownHosts: string;

beforeAll(async () => {
  // Three hosts, one client key (as an operator's): pve2 and pve3 accept pve1's.
  const first = await startSshd({ chroot: true });
  hosts = { pve1: first, ...Object.fromEntries(await Promise.all(PVE_NODES.slice(1).map(async (n) => [n, await startSshd({ chroot: true, clientKey: first.keyFile })] as const))) };
  knownHosts = path.join(first.dir, 'all_known_hosts');
  await writeFile(knownHosts, (await Promise.all(Object.values(hosts).map((h) => readFile(h.knownHosts, 'utf8')))).join(''));
  env = await setup({
    nodes: PVE_NODES,
    agentDelayMs: 10,
    snippetsDir: Object.fromEntries(PVE_NODES.map((n) => [n, path.join(hosts[n]?.root as string, 'var/lib/vz/snippets')])),
    shared: { id: 'shared', content: ['images', 'iso'] },
  });
  // The templates' disks on the shared storage: clones may then go to any node (`target`).
  for (const v of ['0.1.0', '0.2.0', '0.3.0']) {
    await createTemplate(env.client, { image: await fakeImage(env.dir, `debian-12_${v}.qcow2`), node: 'pve1', storage: 'shared', hardware: DEFAULT_HARDWARE });
  }
  const loaded = await loadForDeploy(EXAMPLES[0] ?? '', 'sftp');
  // One appliance node per Proxmox node.
  base = { ...loaded, nodes: loaded.nodes.map((n, i) => ({ ...n, proxmox: { ...n.proxmox, node: PVE_NODES[i] } })) };
}, 60_000);
afterAll(async () => {
  await env.close();
  for (const h of Object.values(hosts).reverse()) await h.stop();
});
/** Each test starts from the templates alone (VMs and seed ISOs dropped behind the tool's back). */
afterEach(async () => {
  for (const n of PVE_NODES) {
    const dir = path.join(hosts[n]?.root as string, 'var/lib/vz/snippets');
    for (const f of await readdir(dir)) await rm(path.join(dir, f));
  }
  for (const [id, vm] of env.pve.cluster.vms) if (vm.config.template !== '1') env.pve.cluster.vms.delete(id);
  for (const n of PVE_NODES) for (const s of env.pve.cluster.node(n).storages.values()) for (const [volid, v] of s.volumes) if (v.content === 'iso') s.volumes.delete(volid);
  env.pve.requests.length = 0;
});

const ok: HealthProbes = { nodeHealth: async () => ({ ok: true, status: 200 }), announced: async () => ({ ok: true, status: 200 }) };
const timing = { timeoutMs: 2000, intervalMs: 10 };

/** Each Proxmox node's own host (an sshd chrooted into its own root) gets the snippets of its VMs. */
const nodeSnippets = () =>
  sftpSnippets((pveNode) => {
    const h = hosts[pveNode] as TestSshd;
    return { host: '127.0.0.1', port: h.port, username: h.user, keyFile: h.keyFile, knownHostsFile: h.knownHosts, hostKeyPolicy: 'strict' };
  }, '/var/lib/vz/snippets');

async function runDeploy(resolved: Cluster, over: Partial<DeployOptions> = {}) {
  const o: DeployOptions = { resolved, mode: 'sftp', snippets: nodeSnippets(), probes: ok, timing, template: '0.1.0', ...over };
  try {
    return await deploy(env.client, o);
  } finally {
    await o.snippets?.close();
  }
}

function nodeVmsOf(node: string) {
  return [...env.pve.cluster.vms.values()].filter((vm) => vm.config.template !== '1' && (vm.config.tags ?? '').includes(`ober-node_s3-ingress_${node}`));
}

describe('issue 13 defects against the double as the real server behaves', () => {
  it('3. a node placed on another Proxmox node than the SFTP host starts: its snippet is on its own node', async () => {
    const r = await runDeploy(base);
    expect(r.ok).toBe(true);
    for (const [i, n] of base.nodes.entries()) {
      const [vm] = nodeVmsOf(n.name);
      expect(vm?.node).toBe(PVE_NODES[i]);
      expect(vm?.status).toBe('running');
    }
  });

  it('2. refuses a Proxmox VE older than 8.4 before uploading (import content takes disk images since 8.4)', async () => {
    env.pve.cluster.setVersion('8.3.5');
    try {
      await expect(createTemplate(env.client, { image: await fakeImage(env.dir, 'debian-12_0.4.0.qcow2'), node: 'pve1', storage: 'shared', hardware: DEFAULT_HARDWARE })).rejects.toThrow(/8\.3\.5 is too old.*8\.4/);
      expect(env.pve.calls('POST').filter((c) => c.path.endsWith('/upload'))).toEqual([]);
    } finally {
      env.pve.cluster.setVersion('9.0.3');
    }
  });

  it('8. the template boots with Secure Boot on (pre-enrolled keys) unless asked not to', () => {
    const t = listTemplates([...env.pve.cluster.vms.values()].map((vm) => ({ vmid: vm.vmid, node: vm.node, type: 'qemu' as const, id: `qemu/${vm.vmid}`, status: vm.status, template: vm.config.template === '1' ? 1 : 0, tags: vm.config.tags })));
    const efi = env.pve.cluster.vms.get(t[0]?.vmid as number)?.config.efidisk0 ?? '';
    expect(efi).toMatch(/pre-enrolled-keys=1/);
  });

  it('6. a clone whose worker times out on its lock is retried', async () => {
    env.pve.faults.cloneLockTimeout('target', 1);
    const r = await runDeploy(base, { snippets: undefined, mode: 'iso' });
    expect(r.ok).toBe(true);
  });

  it('6. a clone whose VMID was taken while its worker started takes the next VMID', async () => {
    env.pve.faults.raceCloneVmid(1);
    const r = await runDeploy(base, { snippets: undefined, mode: 'iso' });
    expect(r.ok).toBe(true);
    expect(nodeVmsOf('ober1')).toHaveLength(1);
  });

  it('6. refuses `target` for a template on local storage before changing anything, naming the fix', async () => {
    const local = await createTemplate(env.client, { image: await fakeImage(env.dir, 'debian-12_0.0.9.qcow2'), node: 'pve1', storage: 'local-lvm', hardware: DEFAULT_HARDWARE });
    env.pve.requests.length = 0;
    try {
      const err = await runDeploy(base, { snippets: undefined, mode: 'iso', template: '0.0.9' }).then(
        () => new Error('deploy succeeded'),
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/local-lvm.*not shared|shared storage/);
      expect(env.pve.calls('POST')).toEqual([]);
    } finally {
      env.pve.cluster.vms.delete(local.vmid);
    }
  });

  it('7. both modes give the guest the same hostname: the VM name, as Proxmox does', async () => {
    await runDeploy(base, { snippets: undefined, mode: 'iso' });
    const [vm] = nodeVmsOf('ober1');
    const iso = /^([^,]+)/.exec(vm?.config.scsi1 ?? '')?.[1] as string;
    const file = path.join(env.dir, 'seed.iso');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, env.pve.cluster.uploads.get(iso) as Buffer));
    const md = await readMetadata({ path: file });
    expect(md.hostname).toBe(vm?.config.name);
  });

  it('7. logs in again when the ticket expired and retries the call', async () => {
    let skew = 0;
    const saved = env.pve.cluster.now;
    (env.pve.cluster as { now: () => number }).now = () => saved() + skew;
    const client = await connect({ ...env.settings, credentials: { kind: 'password', username: 'root@pam', password: env.pve.rootPassword } }, FAST);
    try {
      await client.api.version();
      skew = 2 * 3600_000 + 1000; // the server's clock says the ticket is over two hours old
      await expect(client.api.version()).resolves.toMatchObject({ version: '9.0.3' });
    } finally {
      (env.pve.cluster as { now: () => number }).now = saved;
      await client.close();
    }
  });
});

describe('issue 13 rollout defects', () => {
  const statePath = () => path.join(env.dir, '.ober', 'rollout-s3-ingress.json');

  /**
   * A node agent that checks each node's SSH host key the way the real one does (accept-new in a
   * known_hosts file): every VM has its own host key, made at its first boot.
   */
  function hostKeyAgent(knownHosts: string): NodeAgent & { refused: string[] } {
    const refused: string[] = [];
    const keyOf = (vmid: number): Buffer => {
      const type = Buffer.from('ssh-ed25519');
      const blob = Buffer.alloc(32, vmid % 251);
      const len = (b: Buffer) => Buffer.from([0, 0, 0, b.length]);
      return Buffer.concat([len(type), type, len(blob), blob]);
    };
    return {
      refused,
      async drain(node, address) {
        const vm = nodeVmsOf(node).find((v) => v.status === 'running');
        if (!vm) return { ok: false, detail: `${node}: no running VM answers at ${address}` };
        const v = await verifyHostKey(knownHosts, address, 22, keyOf(vm.vmid), 'accept-new');
        if (!v.ok) refused.push(node);
        return v.ok ? { ok: true, detail: 'stopped' } : { ok: false, detail: v.reason };
      },
      async replaced(_node, address) {
        await forgetHostKey(knownHosts, address, 22);
      },
    };
  }

  async function rollout(resolved: Cluster, to: string, over: Partial<RolloutDeps> = {}, keepOld = false) {
    const target = listTemplates(await env.client.api.clusterVms()).find((t) => t.version === to);
    const d: RolloutDeps = { client: env.client, agent: hostKeyAgent(path.join(env.dir, '.ober', 'known_hosts')), probes: ok, timing, mode: 'iso', statePath: statePath(), ...over };
    try {
      return await runRollout(resolved, planRollout(resolved, target as NonNullable<typeof target>, await env.client.api.clusterVms(), d.mode, keepOld), d);
    } finally {
      await d.snippets?.close();
    }
  }

  afterEach(async () => {
    await import('node:fs/promises').then((fs) => fs.rm(path.join(env.dir, '.ober'), { recursive: true, force: true }));
  });

  it('4. a second rollout in ISO mode gives every VM its own fresh seed, and no seed is left behind', async () => {
    await runDeploy(base, { snippets: undefined, mode: 'iso' });
    await rollout(base, '0.2.0');
    await rollout(base, '0.1.0');
    const attached = new Set<string>();
    for (const n of base.nodes) {
      const [vm] = nodeVmsOf(n.name);
      const iso = /^([^,]+)/.exec(vm?.config.scsi1 ?? '')?.[1] as string;
      attached.add(iso);
      const mac = /=([0-9A-F:]{17})/.exec(vm?.config.net0 ?? '')?.[1]?.toLowerCase() as string;
      expect(env.pve.cluster.uploads.get(iso)?.toString('latin1')).toContain(mac);
    }
    const seeds = PVE_NODES.flatMap((n) => [...env.pve.cluster.node(n).storages.values()].flatMap((s) => [...s.volumes.keys()])).filter((v) => v.endsWith('.iso'));
    expect([...new Set(seeds)].sort()).toEqual([...attached].sort());
  });

  it('5. no VM is left stopped with onboot=1, and a host reboot starts no duplicate', async () => {
    await runDeploy(base, { snippets: undefined, mode: 'iso' });
    await rollout(base, '0.2.0', {}, true);
    for (const vm of env.pve.cluster.vms.values()) if (vm.config.template !== '1' && vm.status === 'stopped') expect(vm.config.onboot ?? '0').toBe('0');
    for (const n of PVE_NODES) env.pve.rebootNode(n);
    for (const n of base.nodes) expect(nodeVmsOf(n.name).filter((v) => v.status === 'running')).toHaveLength(1);
  });

  it('5. a node with a pinned VMID is rolled out and keeps its VMID', async () => {
    const pinned: Cluster = { ...base, nodes: base.nodes.map((n, i) => ({ ...n, proxmox: { ...n.proxmox, vmid: 3001 + i } })) };
    await runDeploy(pinned, { snippets: undefined, mode: 'iso' });
    const state = await rollout(pinned, '0.2.0');
    expect(state.status).toBe('done');
    for (const [i, n] of pinned.nodes.entries()) {
      const vms = nodeVmsOf(n.name);
      expect(vms.map((v) => [v.vmid, v.status])).toEqual([[3001 + i, 'running']]);
      expect(vms[0]?.config.tags).toContain('ober_debian-12_0.2.0');
    }
  });

  it('5. an error while starting the new VM leaves the old VM serving', async () => {
    await runDeploy(base, { snippets: undefined, mode: 'iso' });
    const old = nodeVmsOf('ober1')[0]?.vmid;
    env.pve.faults.failTask({ type: 'qmstart', message: 'start failed: QEMU exited with code 1' });
    const err = await rollout(base, '0.2.0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutStopped);
    expect(nodeVmsOf('ober1').map((v) => [v.vmid, v.status])).toEqual([[old, 'running']]);
  });

  it('5. a node with a pinned VMID whose new VM fails to start gets its old VM back, made again under the same VMID with its data', async () => {
    const pinned: Cluster = { ...base, nodes: base.nodes.map((n, i) => ({ ...n, proxmox: { ...n.proxmox, vmid: 3201 + i } })) };
    await runDeploy(pinned, { snippets: undefined, mode: 'iso' });
    const before = nodeVmsOf('ober1')[0]?.config ?? {};
    env.pve.faults.failTask({ type: 'qmstart', message: 'start failed: QEMU exited with code 1' });
    const err = await rollout(pinned, '0.2.0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RolloutStopped);
    expect((err as Error).message).toMatch(/ober1 is back on its old VM 3201 and healthy\.$/);
    const vms = nodeVmsOf('ober1');
    expect(vms.map((v) => [v.vmid, v.status])).toEqual([[3201, 'running']]);
    const after = vms[0]?.config ?? {};
    for (const k of ['net0', 'scsi1', 'tags', 'name', 'onboot']) expect(after[k], k).toBe(before[k]);
    // the seed it boots from is the one it had, still there; the failed new VM's seed is gone
    expect(env.pve.cluster.uploads.has(/^([^,]+)/.exec(after.scsi1 ?? '')?.[1] as string)).toBe(true);
    const isos = PVE_NODES.flatMap((n) => [...env.pve.cluster.node(n).storages.values()].flatMap((st) => [...st.volumes.keys()])).filter((v) => v.includes('-ober1-'));
    expect([...new Set(isos)]).toEqual([/^([^,]+)/.exec(after.scsi1 ?? '')?.[1]]);
  });

  it('5. the second rollout trusts the SSH host key of the VM the first one made', async () => {
    await runDeploy(base, { snippets: undefined, mode: 'iso' });
    await rollout(base, '0.2.0');
    const agent = hostKeyAgent(path.join(env.dir, '.ober', 'known_hosts'));
    const state = await rollout(base, '0.1.0', { agent });
    expect(agent.refused).toEqual([]);
    expect(state.status).toBe('done');
  });
});


describe('issue 13: deploy and two rollouts of a cluster spread over three Proxmox nodes', () => {
  const statePath = () => path.join(env.dir, '.ober', 'rollout-s3-ingress.json');
  const nodesAgent: NodeAgent = { drain: async () => ({ ok: true, detail: 'stopped' }) };

  /** Every carrier file on the hosts and storages: snippets in each host's directory, ISOs in every storage. */
  async function carriersOnDisk(): Promise<string[]> {
    const out: string[] = [];
    for (const n of PVE_NODES) {
      for (const f of await readdir(path.join(hosts[n]?.root as string, 'var/lib/vz/snippets'))) out.push(`${n} local:snippets/${f}`);
      for (const s of env.pve.cluster.node(n).storages.values()) for (const v of s.volumes.keys()) if (v.endsWith('.iso')) out.push(`${s.shared ? '*' : n} ${v}`);
    }
    return [...new Set(out)].sort();
  }

  /** The carriers the cluster's VMs name, in the same form. */
  function carriersNamed(): string[] {
    const out: string[] = [];
    for (const vm of env.pve.cluster.vms.values()) {
      if (vm.config.template === '1') continue;
      const snippet = /vendor=([^,]+)/.exec(vm.config.cicustom ?? '')?.[1];
      if (snippet) out.push(`${vm.node} ${snippet}`);
      const iso = /^([^,]+:iso\/[^,]+)/.exec(vm.config.scsi1 ?? '')?.[1];
      if (iso) out.push(`${env.pve.cluster.storage(vm.node, iso.split(':')[0] as string).shared ? '*' : vm.node} ${iso}`);
    }
    return out.sort();
  }

  /** The node data a VM boots with, read where its node reads it (its host's snippet, or its seed ISO). */
  async function dataOf(vm: { node: string; config: Record<string, string> }): Promise<{ node: string; mac?: string; hostname?: string }> {
    const snippet = /vendor=[^:]+:snippets\/([^,]+)/.exec(vm.config.cicustom ?? '')?.[1];
    if (snippet) {
      const text = await readFile(path.join(hosts[vm.node]?.root as string, 'var/lib/vz/snippets', snippet), 'utf8');
      return { node: /^\s+node: (\S+)$/m.exec(text)?.[1] as string };
    }
    const iso = /^([^,]+)/.exec(vm.config.scsi1 ?? '')?.[1] as string;
    const file = path.join(env.dir, 'data.iso');
    await writeFile(file, env.pve.cluster.uploads.get(iso) as Buffer);
    const md = await readMetadata({ path: file });
    return { node: String((md.ober?.doc as { node?: string } | undefined)?.node), mac: JSON.stringify(md.networkConfig), hostname: md.hostname };
  }

  afterEach(async () => {
    await import('node:fs/promises').then((fs) => fs.rm(path.join(env.dir, '.ober'), { recursive: true, force: true }));
  });

  it.each([
    ['sftp', false],
    ['iso', true],
  ] as const)('--snippets %s (pinned VMIDs: %s): every node ends on 0.3.0 with its own data, nothing left behind, a reboot starts no duplicate', async (mode, pin) => {
    const cluster: Cluster = pin ? { ...base, nodes: base.nodes.map((n, i) => ({ ...n, proxmox: { ...n.proxmox, vmid: 3101 + i } })) } : base;
    const snippets = () => (mode === 'sftp' ? nodeSnippets() : undefined);
    expect((await runDeploy(cluster, { mode, snippets: snippets() })).ok).toBe(true);
    for (const to of ['0.2.0', '0.3.0']) {
      const target = listTemplates(await env.client.api.clusterVms()).find((t) => t.version === to);
      const d: RolloutDeps = { client: env.client, agent: nodesAgent, probes: ok, timing, mode, snippets: snippets(), statePath: statePath() };
      try {
        const state = await runRollout(cluster, planRollout(cluster, target as NonNullable<typeof target>, await env.client.api.clusterVms(), mode, false), d);
        expect(state.status).toBe('done');
      } finally {
        await d.snippets?.close();
      }
    }
    for (const [i, n] of cluster.nodes.entries()) {
      const vms = nodeVmsOf(n.name);
      expect(vms, n.name).toHaveLength(1);
      const vm = vms[0] as NonNullable<(typeof vms)[number]>;
      expect(vm.node).toBe(PVE_NODES[i]);
      expect(vm.status).toBe('running');
      expect(vm.config.tags).toContain('ober_debian-12_0.3.0');
      if (pin) expect(vm.vmid).toBe(3101 + i);
      const data = await dataOf(vm);
      expect(data.node).toBe(n.name);
      if (mode === 'iso') {
        expect(data.mac).toContain(/=([0-9A-F:]{17})/.exec(vm.config.net0 ?? '')?.[1]?.toLowerCase());
        expect(data.hostname).toBe(vm.config.name);
      }
    }
    // no stopped VM that a host reboot would start; no snippet or seed beyond the three in use
    expect([...env.pve.cluster.vms.values()].filter((vm) => vm.config.template !== '1' && vm.status === 'stopped')).toEqual([]);
    expect(await carriersOnDisk()).toEqual(carriersNamed());
    expect(carriersNamed()).toHaveLength(3);
    const before = cluster.nodes.map((n) => nodeVmsOf(n.name)[0]?.vmid);
    for (const n of PVE_NODES) expect(env.pve.rebootNode(n).failed).toEqual([]);
    expect(cluster.nodes.map((n) => nodeVmsOf(n.name).filter((v) => v.status === 'running').map((v) => v.vmid)[0])).toEqual(before);
    expect(cluster.nodes.map((n) => nodeVmsOf(n.name).length)).toEqual([1, 1, 1]);

    // an interrupted rollout (the new VM does not start) leaves the old VM serving
    env.pve.faults.failTask({ type: 'qmstart', message: 'start failed: QEMU exited with code 1' });
    const target = listTemplates(await env.client.api.clusterVms()).find((t) => t.version === '0.2.0');
    const d: RolloutDeps = { client: env.client, agent: nodesAgent, probes: ok, timing, mode, snippets: snippets(), statePath: statePath() };
    const err = await runRollout(cluster, planRollout(cluster, target as NonNullable<typeof target>, await env.client.api.clusterVms(), mode, false), d)
      .then(() => undefined, (e: unknown) => e)
      .finally(() => d.snippets?.close());
    expect(err).toBeInstanceOf(RolloutStopped);
    expect((err as Error).message).toMatch(/^rollout stopped at ober1: starting the new VM \d+ of ober1 failed: .*start failed: QEMU exited with code 1.*ober1 is back on its old VM \d+ and healthy\.$/s);
    expect(nodeVmsOf('ober1').map((v) => [v.vmid, v.status, v.config.onboot])).toEqual([[before[0], 'running', '1']]);
    expect(await carriersOnDisk()).toEqual(carriersNamed());
  });
});

describe('ober deploy --dry-run and ober destroy (CLI)', () => {
  async function ober(argv: string[], env2: Record<string, string | undefined>): Promise<{ code: number; out: string }> {
    const out: string[] = [];
    const saved = { ...process.env };
    for (const [k, v] of Object.entries(env2)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      const code = await runProgram(buildProgram('t', [registerDeploy, registerDestroy]), argv);
      return { code, out: out.join('') };
    } finally {
      spy.mockRestore();
      err.mockRestore();
      process.env = saved;
    }
  }

  it('deploy --dry-run needs neither PROXMOX_URL nor an SSH host, and makes no call', async () => {
    env.pve.requests.length = 0;
    const { code, out } = await ober(['deploy', '--cluster', EXAMPLES[0] ?? '', '--dry-run'], { PROXMOX_URL: undefined, PROXMOX_TOKEN: undefined });
    expect(code, out).toBe(0);
    expect(out).toMatch(/SFTP {3}<node of the template>:\/var\/lib\/vz\/snippets\/s3-ingress-ober1-2101-<sha256 of its content>\.yaml/);
    expect(env.pve.requests).toEqual([]);
  });

  it('destroy --dry-run lists the VMs and carriers and changes nothing; destroy --yes removes them, left-overs included', async () => {
    expect((await runDeploy(base)).ok).toBe(true);
    // a seed left behind by an interrupted run
    env.pve.cluster.storage('pve2', 'local').volumes.set('local:iso/s3-ingress-ober2-2999-0123456789ab.iso', { volid: 'local:iso/s3-ingress-ober2-2999-0123456789ab.iso', content: 'iso', format: 'iso', size: 1 });
    const connection = { PROXMOX_URL: env.pve.url, PROXMOX_TOKEN: env.pve.token, PROXMOX_FINGERPRINT: env.cert.fingerprint };
    const ssh = [...PVE_NODES.flatMap((n) => ['--ssh-host', `${n}=127.0.0.1:${hosts[n]?.port}`]), '--ssh-key', hosts.pve1?.keyFile as string, '--known-hosts', knownHosts];
    env.pve.requests.length = 0;
    const dry = await ober(['destroy', '--cluster', EXAMPLES[0] ?? '', '--dry-run', ...ssh], connection);
    expect(dry.code, dry.out).toBe(0);
    expect(dry.out).toMatch(/ober1: VM 2101 on pve1 \(running\), local:snippets\/s3-ingress-ober1-2101-[0-9a-f]{12}\.yaml/);
    expect(dry.out).toContain('left over: local:iso/s3-ingress-ober2-2999-0123456789ab.iso on pve2');
    expect(env.pve.calls().filter((c) => c.method !== 'GET')).toEqual([]);
    expect((await ober(['destroy', '--cluster', EXAMPLES[0] ?? '', ...ssh], connection)).code).toBe(1); // no --yes

    const real = await ober(['destroy', '--cluster', EXAMPLES[0] ?? '', '--yes', ...ssh], connection);
    expect(real.code, real.out).toBe(0);
    expect(base.nodes.flatMap((n) => nodeVmsOf(n.name))).toEqual([]);
    for (const n of PVE_NODES) expect(await readdir(path.join(hosts[n]?.root as string, 'var/lib/vz/snippets'))).toEqual([]);
    expect([...env.pve.cluster.storage('pve2', 'local').volumes.keys()].filter((v) => v.endsWith('.iso'))).toEqual([]);
  });
});
