// `ober deploy` against the schema-checking double, with the vendor data written over SFTP to a
// real OpenSSH sshd on 127.0.0.1 whose directory the double reads as storage local's snippets.
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { buildProgram, runProgram } from '../../firstboot/lib/program.js';
import { validateNodeData } from '../../firstboot/model/load.js';
import { nodeData, vendorDataSnippet } from '../../firstboot/model/node-data.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { readMetadata } from '../../firstboot/metadata/index.js';
import { loadForDeploy, registerDeploy } from '../../builder/commands/deploy.js';
import { sftpSnippets } from '../../builder/deploy/carriers.js';
import { deploy, type DeployOptions } from '../../builder/deploy/deploy.js';
import type { HealthProbes } from '../../builder/deploy/gates.js';
import { compareVersions, parseTemplateTag } from '../../builder/deploy/identity.js';
import { selectTemplate, listTemplates } from '../../builder/deploy/templates.js';
import { ProxmoxError } from '../../builder/proxmox/errors.js';
import { DEFAULT_HARDWARE, createTemplate } from '../../builder/proxmox/template.js';
import { EXAMPLES } from '../helpers/fixtures.js';
import { fakeImage, setup, type Env } from './helpers.js';
import { startSshd, type TestSshd } from './sshd.js';

let env: Env;
let sshd: TestSshd;
let snippetsDir: string;
let templateVmid: number;

beforeAll(async () => {
  sshd = await startSshd();
  snippetsDir = path.join(sshd.dir, 'snippets');
  await mkdir(snippetsDir);
  env = await setup({ agentDelayMs: 30, snippetsDir });
  templateVmid = (await createTemplate(env.client, { image: await fakeImage(env.dir, 'debian-12_0.1.0.qcow2'), hardware: DEFAULT_HARDWARE })).vmid;
}, 30_000);
afterAll(async () => {
  await env.close();
  await sshd.stop();
});

/** Each test starts from the template alone. */
afterEach(async () => {
  for (const [id, vm] of env.pve.cluster.vms) if (vm.config.template !== '1') env.pve.cluster.vms.delete(id);
  for (const f of await import('node:fs/promises').then((fs) => fs.readdir(snippetsDir))) await rm(path.join(snippetsDir, f));
  env.pve.requests.length = 0;
});

const okProbes = (): HealthProbes & { seen: string[] } => {
  const seen: string[] = [];
  return {
    seen,
    nodeHealth: async (a) => (seen.push(`health ${a}`), { ok: true, status: 200 }),
    announced: async (a, v) => (seen.push(`announce ${a} ${v.name}`), { ok: true, status: 200 }),
  };
};

function options(resolved: Cluster, over: Partial<DeployOptions> = {}): DeployOptions {
  return {
    resolved,
    mode: 'sftp',
    snippets: sftpSnippets({ host: '127.0.0.1', port: sshd.port, username: sshd.user, keyFile: sshd.keyFile, knownHostsFile: sshd.knownHosts, hostKeyPolicy: 'strict' }, snippetsDir),
    probes: okProbes(),
    timing: { timeoutMs: 3000, intervalMs: 10 },
    ...over,
  };
}

async function run(resolved: Cluster, over: Partial<DeployOptions> = {}) {
  const o = options(resolved, over);
  try {
    return await deploy(env.client, o);
  } finally {
    await o.snippets?.close();
  }
}

describe.each(EXAMPLES.map((f) => [path.basename(f), f]))('deploy %s', (_name, file) => {
  it('clones one VM per node with its cloud-init data and snippet, waits healthy; a second run changes nothing', async () => {
    const resolved = await loadForDeploy(file, 'sftp');
    const probes = okProbes();
    const result = await run(resolved, { probes });
    expect(result.ok).toBe(true);
    expect(result.nodes.map((n) => n.status)).toEqual(['created', 'created', 'created']);
    const base = resolved.proxmox?.vmidBase as number;
    expect(result.nodes.map((n) => n.vmid)).toEqual([base, base + 1, base + 2]);

    for (const [i, node] of resolved.nodes.entries()) {
      const c = env.pve.cluster.vms.get(base + i)?.config ?? {};
      const snippet = new RegExp(`^vendor=local:snippets/(${resolved.name}-${node.name}-${base + i}-[0-9a-f]{12}\\.yaml)$`).exec(c.cicustom ?? '')?.[1];
      expect(snippet, c.cicustom).toBeDefined();
      expect(c.ipconfig0).toBe(`ip=${node.address},gw=${node.gateway}`);
      expect(c.ciupgrade).toBe('0');
      expect(c.ciuser).toBe('ober');
      expect(c.nameserver).toBe('10.20.0.1');
      // stored as the server keeps it: URL-encoded once (the client encodes it twice on the wire)
      expect(c.sshkeys).toBe(encodeURIComponent(resolved.proxmox?.sshKeys.join('\n') ?? ''));
      const tags = (c.tags ?? '').split(';');
      expect(tags).toEqual(expect.arrayContaining(['ober', 'ober_debian-12_0.1.0', `ober-node_${resolved.name}_${node.name}`]));
      expect(tags.some((t) => /^ober-data_[0-9a-f]{16}$/.test(t))).toBe(true);
      expect(c.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,queues=2$/);
      expect(c.scsi0).toMatch(new RegExp(`^local-lvm:base-${templateVmid}-disk-\\d+/vm-${base + i}-disk-\\d+,`)); // linked clone
      expect(env.pve.cluster.vms.get(base + i)?.status).toBe('running');

      // the snippet on the "host": exactly the contract's rendering, 0600, valid for the node
      const onDisk = path.join(snippetsDir, snippet as string);
      const text = await readFile(onDisk, 'utf8');
      expect(text).toBe(vendorDataSnippet(nodeData(resolved, node.name), 'nocloud'));
      expect((await stat(onDisk)).mode & 0o777).toBe(0o600);
      const { value } = validateNodeData((parse(text) as { ober: unknown }).ober, snippet as string);
      expect(value.node).toBe(node.name);
    }
    expect(probes.seen.filter((s) => s.startsWith('health'))).toHaveLength(3);
    expect(probes.seen.some((s) => s.startsWith('announce'))).toBe(resolved.mode === 'bgp');

    env.pve.requests.length = 0;
    const again = await run(resolved);
    expect(again.nodes.map((n) => n.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(env.pve.calls('POST')).toEqual([]);
  });
});

describe('deploy decisions and faults', () => {
  let bgp: Cluster;
  beforeAll(async () => {
    bgp = await loadForDeploy(EXAMPLES[0] ?? '', 'sftp');
  });

  it('takes the next VMID when one is taken (nextid/vmidBase are not reservations)', async () => {
    const base = bgp.proxmox?.vmidBase as number;
    await env.client.tasks.wait(await env.client.api.createVm('pve1', base + 1, { name: 'someone-else' }));
    const logs: string[] = [];
    const r = await run(bgp, { log: (n, m) => logs.push(`${n}: ${m}`) });
    expect(r.nodes.map((n) => n.vmid)).toEqual([base, base + 2, base + 3]);
    expect(logs).toContain(`ober2: VMID ${base + 1} was taken meanwhile; trying ${base + 2}`);
  });

  it('refuses a node whose VM runs other data, before changing anything', async () => {
    await run(bgp);
    const changed = { ...bgp, proxmox: { ...(bgp.proxmox as NonNullable<Cluster['proxmox']>), memoryMB: 4096 } };
    env.pve.requests.length = 0;
    await expect(run(changed)).rejects.toThrow(/runs other data.*\n.*ober rollout --cluster <file> --to debian-12_0.1.0/);
    expect(env.pve.calls('POST')).toEqual([]);
  });

  it('a failed node health gate is reported with node, gate and what the probe saw', async () => {
    const probes: HealthProbes = { nodeHealth: async (a) => (a === '10.20.0.12' ? { ok: false, reason: 'HTTP 503' } : { ok: true, status: 200 }), announced: async () => ({ ok: true, status: 200 }) };
    const r = await run(bgp, { probes, timing: { timeoutMs: 100, intervalMs: 10 } });
    expect(r.ok).toBe(false);
    expect(r.nodes.find((n) => n.node === 'ober2')?.message).toMatch(/^ober2 \(VM \d+\) failed its health gate after \d+ s: .*last seen: HTTP 503$/);
  });

  it('retries a locked VM and succeeds', async () => {
    env.pve.faults.lockVm(bgp.proxmox?.vmidBase as number, 'backup', 2);
    expect((await run(bgp)).ok).toBe(true);
  });

  it('a failed clone task stops the deploy with the task log', async () => {
    env.pve.faults.failTask({ type: 'qmclone', message: "clone failed: no space left on device", log: ['create full clone of drive scsi0'] });
    const err = (await run(bgp).catch((e: unknown) => e)) as ProxmoxError;
    expect(err).toBeInstanceOf(ProxmoxError);
    expect(err.kind).toBe('task');
    expect(err.message).toMatch(/task qmclone .* failed: clone failed: no space left on device/);
  });

  it('403 on clone names the privilege and how to grant it', async () => {
    env.pve.faults.denyPermission({ method: 'POST', path: /\/clone$/ }, 1);
    const err = (await run(bgp).catch((e: unknown) => e)) as ProxmoxError;
    expect(err.kind).toBe('permission');
    expect(err.message).toMatch(/permission denied: API token ober@pve!deploy lacks privilege VM.Clone on \/vms\/\d+/);
  });

  it('a dropped read is retried; a dropped clone is reported as possibly applied', async () => {
    env.pve.faults.dropConnection({ method: 'GET', path: '/cluster/resources' }, 1);
    expect((await run(bgp)).ok).toBe(true);
    for (const [id, vm] of env.pve.cluster.vms) if (vm.config.template !== '1') env.pve.cluster.vms.delete(id);
    env.pve.faults.dropConnection({ method: 'POST', path: /\/clone$/ }, 1);
    await expect(run(bgp)).rejects.toThrow(/connection .* lost before an answer arrived; the call may or may not have been applied/);
  });

  it('refuses a host key that is not in known_hosts, before any VM exists', async () => {
    const other = path.join(sshd.dir, 'empty_known_hosts');
    await writeFile(other, '');
    const snippets = sftpSnippets({ host: '127.0.0.1', port: sshd.port, username: sshd.user, keyFile: sshd.keyFile, knownHostsFile: other, hostKeyPolicy: 'strict' }, snippetsDir);
    await expect(run(bgp, { snippets })).rejects.toThrow(/SSH to .* failed: \[127\.0\.0\.1\]:\d+ is not in .*empty_known_hosts/);
    expect([...env.pve.cluster.vms.values()].filter((v) => v.config.template !== '1')).toEqual([]);
  });

  it('--snippets iso: a NoCloud seed replaces the cloud-init drive; the node reads its data and network from it', async () => {
    const resolved = await loadForDeploy(EXAMPLES[0] ?? '', 'iso');
    const r = await run(resolved, { mode: 'iso', snippets: undefined });
    expect(r.ok).toBe(true);
    const vmid = r.nodes[0]?.vmid as number;
    const c = env.pve.cluster.vms.get(vmid)?.config ?? {};
    // named per VM and content: a later VM with this VMID never finds this seed under its name
    const volid = new RegExp(`^local:iso/s3-ingress-ober1-${vmid}-[0-9a-f]{12}\\.iso$`).exec(c.scsi1?.replace(/,media=cdrom$/, '') ?? '')?.[0];
    expect(volid, c.scsi1).toBeDefined();
    expect(c.cicustom).toBeUndefined();
    expect(c.ipconfig0).toBeUndefined();
    const iso = path.join(env.dir, 'seed.iso');
    await writeFile(iso, env.pve.cluster.uploads.get(volid as string) as Buffer);
    const md = await readMetadata({ path: iso });
    expect(validateNodeData(md.ober?.doc, 'seed').value.node).toBe('ober1');
    expect(md.defaultUser).toBe('ober');
    expect(md.sshAuthorizedKeys).toEqual(resolved.proxmox?.sshKeys);
    const mac = /virtio=([0-9A-F:]{17})/.exec(c.net0 ?? '')?.[1]?.toLowerCase();
    expect(JSON.stringify(md.networkConfig)).toContain(mac);
    expect(JSON.stringify(md.networkConfig)).toContain('255.255.255.0');
  });

  it('--dry-run prints every call and the vendor data with secrets redacted, and makes no request', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    let code: number;
    try {
      code = await runProgram(buildProgram('t', [registerDeploy]), ['deploy', '--cluster', EXAMPLES[0] ?? '', '--dry-run', '--proxmox-url', env.pve.url]);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(0);
    const text = out.join('');
    expect(env.pve.requests).toEqual([]);
    expect(text).toMatch(/POST {3}\/nodes\/<node of the template>\/qemu\/<template newest>\/clone\n {11}newid=2101/);
    expect(text).toContain('cicustom=vendor=local:snippets/s3-ingress-ober1-');
    expect(text).toContain('ciupgrade=0');
    expect(text).toContain('PROBE  http://10.20.0.13:8404/health/s3-b');
    const secret = (await readFile(path.join(path.dirname(EXAMPLES[0] ?? ''), 'secrets/bgp-md5'), 'utf8')).trim();
    expect(text).not.toContain(secret);
    expect(text).not.toContain('PRIVATE KEY');
    expect(text).toContain('<redacted>');
  });
});

describe('template versions', () => {
  it('orders versions as semver and picks templates by version, id_version or VMID', () => {
    expect(['0.10.0', '0.2.0', '0.2.0-rc.1', '1.0.0', '0.2.0-rc.10', '0.2.0-beta'].sort(compareVersions)).toEqual(['0.2.0-beta', '0.2.0-rc.1', '0.2.0-rc.10', '0.2.0', '0.10.0', '1.0.0']);
    expect(parseTemplateTag('ober_rocky_10_1.0.0-rc1')).toEqual({ tag: 'ober_rocky_10_1.0.0-rc1', id: 'rocky_10', version: '1.0.0-rc1' });
    const vms = [
      { vmid: 900, node: 'pve1', type: 'qemu' as const, id: 'qemu/900', status: 'stopped' as const, template: 1, tags: 'ober;ober_debian-12_0.1.0' },
      { vmid: 901, node: 'pve1', type: 'qemu' as const, id: 'qemu/901', status: 'stopped' as const, template: 1, tags: 'ober;ober_debian-12_0.2.0' },
      { vmid: 902, node: 'pve1', type: 'qemu' as const, id: 'qemu/902', status: 'stopped' as const, template: 1, tags: 'ober;ober_rocky-10_0.2.0' },
    ];
    const ts = listTemplates(vms);
    expect(selectTemplate(ts, '0.1.0', '--to').vmid).toBe(900);
    expect(selectTemplate(ts, 'rocky-10_0.2.0', '--to').vmid).toBe(902);
    expect(selectTemplate(ts, '901', '--to').vmid).toBe(901);
    expect(() => selectTemplate(ts, '0.2.0', '--to')).toThrow(/matches 2 templates/);
    expect(() => selectTemplate(ts, '9.9.9', '--to')).toThrow(/no ober template matches/);
  });
});
