// The double's own behaviour that deploy and rollout will rely on: ids, clones, power, guest agent.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxError } from '../../builder/proxmox/errors.js';
import { setup, type Env } from './helpers.js';

let env: Env;
let template: number;

beforeAll(async () => {
  env = await setup({ agentDelayMs: 100 });
  const { api, tasks } = env.client;
  template = 9000;
  await tasks.wait(await api.createVm('pve1', template, { name: 'tpl', scsihw: 'virtio-scsi-single', scsi0: 'local-lvm:2', scsi1: 'local-lvm:cloudinit', net0: 'virtio,bridge=vmbr0', agent: 'enabled=1' }));
  await tasks.wait(await api.convertToTemplate('pve1', template));
});
afterAll(() => env.close());

const mac = (net: string | number | undefined): string => /=((?:[0-9A-F]{2}:){5}[0-9A-F]{2})/.exec(String(net))?.[1] ?? '';

describe('the Proxmox double', () => {
  it('does not reserve the id /cluster/nextid hands out', async () => {
    const a = await env.client.api.nextId();
    expect(await env.client.api.nextId()).toBe(a);
    await env.client.tasks.wait(await env.client.api.createVm('pve1', a, { name: 'first' }));
    const err = await env.client.api.createVm('pve1', a, { name: 'second' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxmoxError);
    expect((err as Error).message).toContain(`VM ${a} already exists`);
  });

  it('gives linked and full clones new MACs and their own disks', async () => {
    const { api, tasks } = env.client;
    const src = await api.vmConfig('pve1', template);
    await tasks.wait(await api.cloneVm('pve1', template, { newid: 301, name: 'linked' }));
    await tasks.wait(await api.cloneVm('pve1', template, { newid: 302, name: 'full', full: true }));
    const linked = await api.vmConfig('pve1', 301);
    const full = await api.vmConfig('pve1', 302);
    expect(new Set([mac(src.net0), mac(linked.net0), mac(full.net0)]).size).toBe(3);
    expect(String(linked.scsi0)).toMatch(/^local-lvm:base-9000-disk-0\/vm-301-disk-0,/);
    expect(String(full.scsi0)).toMatch(/^local-lvm:vm-302-disk-0,/);
    expect(String(linked.scsi1)).toMatch(/^local-lvm:vm-301-cloudinit,/);
    expect(linked.template).toBeUndefined();
    // a template in use by a linked clone cannot go
    await expect(api.destroyVm('pve1', template)).rejects.toThrow(/is still in use by linked cloned VM 301/);
  });

  it('refuses to start a template and a linked clone of a non-template', async () => {
    const { api } = env.client;
    await expect(api.startVm('pve1', template)).rejects.toThrow(/can't start a vm if it's a template/);
    await expect(api.cloneVm('pve1', 302, { newid: 303, full: false })).rejects.toThrow(/Linked clone feature is not supported/);
  });

  it('answers the guest agent once the started VM is up, with the configured address', async () => {
    const { api, tasks } = env.client;
    await tasks.wait(await api.cloneVm('pve1', template, { newid: 310, name: 'agent' }));
    await tasks.wait(await api.updateVmConfig('pve1', 310, { ipconfig0: 'ip=192.0.2.10/24,gw=192.0.2.1' }));
    await expect(api.agentNetworkInterfaces('pve1', 310)).rejects.toThrow(/VM 310 is not running/);
    await tasks.wait(await api.startVm('pve1', 310));
    await expect(api.agentNetworkInterfaces('pve1', 310)).rejects.toThrow(/QEMU guest agent is not running/);
    await new Promise((r) => setTimeout(r, 120));
    const ifaces = await api.agentNetworkInterfaces('pve1', 310);
    const eth0 = ifaces.find((i) => i.name === 'eth0');
    expect(eth0?.['ip-addresses']).toEqual([{ 'ip-address': '192.0.2.10', 'ip-address-type': 'ipv4', prefix: 24 }]);
    expect(eth0?.['hardware-address']).toBe(mac((await api.vmConfig('pve1', 310)).net0).toLowerCase());
    expect((await api.vmStatus('pve1', 310)).status).toBe('running');
  });

  it('refuses to destroy a running VM; destroys a stopped one with its disks', async () => {
    const { api, tasks } = env.client;
    await expect(api.destroyVm('pve1', 310)).rejects.toThrow(/VM 310 is running - destroy failed/);
    await tasks.wait(await api.shutdownVm('pve1', 310, { timeout: 30 }));
    await tasks.wait(await api.destroyVm('pve1', 310, { purge: true }));
    expect((await api.vms('pve1')).map((v) => v.vmid)).not.toContain(310);
    const volumes = await api.storageContent('pve1', 'local-lvm');
    expect(volumes.filter((v) => v.vmid === 310)).toEqual([]);
  });

  it('answers 501 for a schema-valid call it does not model, so a new client call is noticed', async () => {
    const err = await env.client.api.http.call('GET', '/nodes/pve1/qemu/301/pending').catch((e: unknown) => e as ProxmoxError);
    expect(err).toMatchObject({ status: 501 });
  });
});

describe('uploads as pve-storage Status.pm takes them', () => {
  const upload = async (content: 'iso' | 'import', name: string, data = 'x') => {
    const file = path.join(env.dir, name);
    await writeFile(file, data);
    return env.client.tasks.wait(await env.client.api.upload('pve1', 'local', { content, file: { path: file, name, size: data.length } }));
  };

  it('checks the extension per content type, gated on the version for disk images', async () => {
    await expect(upload('iso', 'seed.qcow2')).rejects.toThrow(/filename: wrong file extension/);
    env.pve.cluster.setVersion('8.3.5');
    try {
      await expect(upload('import', 'disk.qcow2')).rejects.toThrow(/filename: invalid filename or wrong extension/);
      await upload('import', 'appliance.ova');
    } finally {
      env.pve.cluster.setVersion('9.0.3');
    }
    await upload('import', 'disk.qcow2');
  });

  it('overwrites a file of the same name, and a destroyed VM leaves its ISO behind', async () => {
    await upload('iso', 'seed-a.iso', 'first');
    await upload('iso', 'seed-a.iso', 'second');
    expect(env.pve.cluster.uploads.get('local:iso/seed-a.iso')?.toString()).toBe('second');
    const { api, tasks } = env.client;
    await tasks.wait(await api.cloneVm('pve1', template, { newid: 320, name: 'with-iso' }));
    await tasks.wait(await api.updateVmConfig('pve1', 320, { scsi1: 'local:iso/seed-a.iso,media=cdrom' }));
    await tasks.wait(await api.destroyVm('pve1', 320, { purge: true }));
    expect(env.pve.cluster.storage('pve1', 'local').volumes.has('local:iso/seed-a.iso')).toBe(true);
  });

  it("takes the form fields only in pveproxy's order (AnyEvent.pm): content, checksum-algorithm, checksum", async () => {
    const file = path.join(env.dir, 'order.iso');
    await writeFile(file, 'data');
    const sha = 'a'.repeat(64);
    const send = (fields: Record<string, string>) => env.client.api.http.upload('/nodes/pve1/storage/local/upload', fields, { path: file, name: 'order.iso', size: 4 });
    await expect(send({ content: 'iso', checksum: sha, 'checksum-algorithm': 'sha256' })).rejects.toMatchObject({
      status: 501,
      message: expect.stringMatching(/wrong Content-Disposition 'form-data; name="checksum"/),
    });
    await expect(send({ content: 'iso', 'checksum-algorithm': 'sha256', checksum: sha })).resolves.toMatch(/^UPID:pve1:/);
  });

  it('verifies the checksum inside the task', async () => {
    const file = path.join(env.dir, 'sum.iso');
    await writeFile(file, 'data');
    const upid = await env.client.api.upload('pve1', 'local', { content: 'iso', file: { path: file, name: 'sum.iso', size: 4 }, sha256: '0'.repeat(64) });
    await expect(env.client.tasks.wait(upid)).rejects.toThrow(/checksum mismatch: got '[0-9a-f]{64}' != expect '0{64}'/);
  });
});
