// The client against the double: tasks, lock retries, errors, TLS pinning, uploads, lost connections.
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../builder/proxmox/client.js';
import { ProxmoxError } from '../../builder/proxmox/errors.js';
import { parseUpid } from '../../builder/proxmox/tasks.js';
import { FAST, fakeImage, makeCert, setup, type Env } from './helpers.js';

let env: Env;
let nextVmid = 200;

beforeAll(async () => {
  env = await setup({ proxyTimeoutMs: 50 });
});
afterAll(() => env.close());

/** A fresh stopped VM with one disk. */
async function newVm(): Promise<number> {
  const vmid = nextVmid++;
  await env.client.tasks.wait(await env.client.api.createVm('pve1', vmid, { name: `vm${vmid}`, scsihw: 'virtio-scsi-single', scsi0: 'local-lvm:1', net0: 'virtio,bridge=vmbr0' }));
  return vmid;
}

const failure = (p: Promise<unknown>): Promise<ProxmoxError> =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(ProxmoxError);
      return e as ProxmoxError;
    },
  );

describe('tasks', () => {
  it('parses UPIDs', () => {
    expect(parseUpid('UPID:pve1:00001234:0001E240:6740A1B2:qmcreate:100:ober@pve!deploy:')).toMatchObject({ node: 'pve1', type: 'qmcreate', id: '100', user: 'ober@pve!deploy', starttime: 0x6740a1b2 });
    expect(() => parseUpid('not-a-upid')).toThrow(/task id \(UPID\)/);
  });

  it('polls a task until it stops with OK', async () => {
    env.pve.faults.slowTask({ type: 'qmcreate', durationMs: 300 });
    const before = env.pve.calls('GET').filter((r) => r.path.endsWith('/status')).length;
    const vmid = await newVm();
    const polls = env.pve.calls('GET').filter((r) => r.path.endsWith('/status')).length - before;
    expect(polls).toBeGreaterThanOrEqual(2); // seen running, asked again until stopped
    expect((await env.client.api.vmStatus('pve1', vmid)).status).toBe('stopped');
  });

  it('treats WARNINGS: n as success and returns the warnings', async () => {
    const vmid = await newVm();
    env.pve.faults.warnTask({ type: 'qmstart', warnings: ['unable to apply some setting', 'another thing'] });
    const result = await env.client.tasks.wait(await env.client.api.startVm('pve1', vmid));
    expect(result.exitstatus).toBe('WARNINGS: 2');
    expect(result.warnings).toEqual(['WARN: unable to apply some setting', 'WARN: another thing']);
  });

  it('turns a failed task into an error carrying its log', async () => {
    const vmid = await newVm();
    env.pve.faults.failTask({ type: 'qmstart', message: 'start failed: QEMU exited with code 1', log: ['kvm: -device virtio-net: bridge vmbr7 missing'] });
    const err = await failure(env.client.tasks.wait(await env.client.api.startVm('pve1', vmid)));
    expect(err.kind).toBe('task');
    expect(err.message).toContain(`task qmstart ${vmid} on node pve1 failed: start failed: QEMU exited with code 1`);
    expect(err.message).toContain('kvm: -device virtio-net: bridge vmbr7 missing');
    expect(err.taskLog.at(-1)).toBe('TASK ERROR: start failed: QEMU exited with code 1');
  });
});

describe('locks', () => {
  it('retries "VM is locked" with backoff until the lock is gone', async () => {
    const vmid = await newVm();
    env.pve.faults.lockVm(vmid, 'backup', 2);
    const before = env.pve.calls('POST').length;
    await env.client.tasks.wait(await env.client.api.updateVmConfig('pve1', vmid, { cores: 4 }));
    expect(env.pve.calls('POST').length - before).toBe(3);
    expect((await env.client.api.vmConfig('pve1', vmid)).cores).toBe('4');
  });

  it('retries a config-file lock timeout the same way', async () => {
    const vmid = await newVm();
    env.pve.faults.configLockTimeout(vmid, 1);
    await env.client.tasks.wait(await env.client.api.updateVmConfig('pve1', vmid, { memory: 1024 }));
    expect((await env.client.api.vmConfig('pve1', vmid)).memory).toBe('1024');
  });

  it('gives up after the attempt limit with a message that says what to do', async () => {
    const vmid = await newVm();
    env.pve.faults.lockVm(vmid, 'backup', 100);
    const err = await failure(env.client.api.updateVmConfig('pve1', vmid, { cores: 4 }));
    expect(err.kind).toBe('locked');
    expect(err.message).toContain('VM is locked (backup)');
    expect(err.message).toContain(`still locked after ${FAST.retry?.attempts} attempts`);
    expect(err.message).toContain('qm unlock');
  });

  it('sees the lock a running clone holds on its target', async () => {
    const src = await newVm();
    env.pve.faults.slowTask({ type: 'qmclone', durationMs: 2000 }); // long enough to be running at the next request, even on a loaded machine
    const upid = await env.client.api.cloneVm('pve1', src, { newid: 299, name: 'copy', full: true });
    const err = await failure(env.client.api.updateVmConfig('pve1', 299, { cores: 2 }));
    expect(err).toMatchObject({ kind: 'locked' });
    expect(err.message).toContain('VM is locked (clone)');
    await env.client.tasks.wait(upid);
  });
});

describe('errors', () => {
  it('names the missing privilege and path on 403', async () => {
    const vmid = await newVm();
    env.pve.faults.denyPermission({ method: 'POST', path: `/nodes/pve1/qemu/${vmid}/template` }, 1);
    const err = await failure(env.client.api.convertToTemplate('pve1', vmid));
    expect(err.kind).toBe('permission');
    expect(err.status).toBe(403);
    expect(err.message).toContain(`lacks privilege VM.Allocate on /vms/${vmid}`);
    expect(err.message).toContain(env.settings.credentials.kind === 'token' ? env.settings.credentials.tokenId : '');
  });

  it('says which credentials were refused on 401', async () => {
    const client = await connect({ ...env.settings, credentials: { kind: 'token', tokenId: 'ober@pve!deploy', secret: 'wrong' } }, FAST);
    try {
      const err = await failure(client.api.version());
      expect(err).toMatchObject({ kind: 'auth', status: 401 });
      expect(err.message).toContain('API token ober@pve!deploy');
      expect(err.message).not.toContain('wrong'); // never echo the secret
    } finally {
      await client.close();
    }
  });

  it('logs in with a ticket and sends the CSRF token on writes', async () => {
    const client = await connect({ ...env.settings, credentials: { kind: 'password', username: 'root@pam', password: env.pve.rootPassword } }, FAST);
    try {
      const vmid = nextVmid++;
      await client.tasks.wait(await client.api.createVm('pve1', vmid, { name: 'ticket' }));
      const create = env.pve.calls('POST').find((r) => r.path === '/nodes/pve1/qemu' && r.params.vmid === String(vmid));
      expect(create?.headers.cookie).toMatch(/^PVEAuthCookie=PVE%3Aroot%40pam%3A/);
      expect(create?.headers.csrfpreventiontoken).toBeTruthy();
    } finally {
      await client.close();
    }
  });

  it('refuses a cookie write without the CSRF token (the double checks it)', async () => {
    const login = await request(`${env.pve.url}/api2/json/access/ticket`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'root@pam', password: env.pve.rootPassword }).toString(),
      dispatcher: env.dispatcher,
    });
    const { data } = (await login.body.json()) as { data: { ticket: string } };
    const res = await request(`${env.pve.url}/api2/json/nodes/pve1/qemu`, {
      method: 'POST',
      headers: { cookie: `PVEAuthCookie=${encodeURIComponent(data.ticket)}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'vmid=999',
      dispatcher: env.dispatcher,
    });
    await res.body.dump();
    expect(res.statusCode).toBe(401);
    expect(res.statusText).toMatch(/CSRF/);
  });

  it('refuses an absolute import-from path for an API token', async () => {
    const err = await failure(env.client.api.createVm('pve1', nextVmid++, { scsi0: 'local-lvm:0,import-from=/root/disk.qcow2' }));
    expect(err).toMatchObject({ kind: 'permission', status: 403 });
    expect(err.message).toContain('root@pam');
  });

  it('reports storage content problems as storage errors', async () => {
    const err = await failure(env.client.api.createVm('pve1', nextVmid++, { scsi0: 'local:1' }));
    expect(err.kind).toBe('storage');
    expect(err.message).toContain("content type 'images' is not available on storage 'local'");
  });

  it('reports a synchronous call that outlived the proxy timeout, whose change still happened', async () => {
    const vmid = nextVmid++;
    env.pve.faults.proxyTimeout({ method: 'POST', path: '/nodes/pve1/qemu' });
    const err = await failure(env.client.api.createVm('pve1', vmid, { name: 'slow' }));
    expect(err.kind).toBe('timeout');
    expect(err.message).toContain('the change may still be applied');
    expect(env.pve.cluster.vms.has(vmid)).toBe(true);
  });
});

describe('connections', () => {
  it('retries a read whose connection dropped', async () => {
    env.pve.faults.dropConnection({ method: 'GET', path: '/version' }, 1);
    expect((await env.client.api.version()).version).toMatch(/^\d+\.\d+/);
  });

  it('does not retry a write whose connection dropped, and says the outcome is unknown', async () => {
    const vmid = await newVm();
    env.pve.faults.dropConnection({ method: 'POST', path: `/nodes/pve1/qemu/${vmid}/status/start` }, 1);
    const err = await failure(env.client.api.startVm('pve1', vmid));
    expect(err.kind).toBe('connection');
    expect(err.message).toContain(`POST /nodes/pve1/qemu/${vmid}/status/start: connection to ${env.pve.url} lost`);
    expect(err.message).toContain('may or may not have been applied');
    // one attempt only: the fault drops a single request, so a retry would have been recorded
    expect(env.pve.calls('POST').filter((r) => r.path.endsWith(`${vmid}/status/start`))).toHaveLength(0);
  });

  it('gives up on a read that keeps dropping with a clear error', async () => {
    env.pve.faults.dropConnection({ method: 'GET', path: '/nodes' }, 100);
    const err = await failure(env.client.api.nodes());
    expect(err.kind).toBe('connection');
    expect(err.message).toContain('lost before an answer arrived; retried without success');
  });

  it('says so when nothing listens', async () => {
    const client = await connect({ ...env.settings, baseUrl: 'https://127.0.0.1:1' }, FAST);
    try {
      expect((await failure(client.api.version())).message).toContain('connection refused by https://127.0.0.1:1');
    } finally {
      await client.close();
    }
  });
});

describe('TLS trust', () => {
  it('accepts the pinned fingerprint (every test above) and refuses another before sending anything', async () => {
    const before = env.pve.requests.length;
    const wrong = 'ab'.repeat(32);
    const client = await connect({ ...env.settings, trust: { kind: 'fingerprint', sha256: wrong } }, FAST);
    try {
      const err = await failure(client.api.version());
      expect(err.kind).toBe('connection');
      expect(err.message).toContain(`does not match the pinned ${'AB:'.repeat(31)}AB`);
      expect(err.message).toContain(env.cert.fingerprint);
      expect(env.pve.requests.length).toBe(before);
    } finally {
      await client.close();
    }
  });

  it('trusts a pinned CA file, and not a certificate another CA signed', async () => {
    const good = await connect({ ...env.settings, trust: { kind: 'ca-file', path: env.cert.certFile } }, FAST);
    const other = await makeCert(env.dir, 'other-ca');
    const bad = await connect({ ...env.settings, trust: { kind: 'ca-file', path: other.certFile } }, FAST);
    try {
      expect((await good.api.version()).release).toBeTruthy();
      expect((await failure(bad.api.version())).message).toMatch(/TLS verification of https:\/\/127\.0\.0\.1:\d+ failed/);
    } finally {
      await good.close();
      await bad.close();
    }
  });

  it('does not accept a self-signed certificate without a pin', async () => {
    const client = await connect({ ...env.settings, trust: { kind: 'system' } }, FAST);
    try {
      expect((await failure(client.api.version())).message).toMatch(/TLS verification .* failed: self[- ]signed certificate/);
    } finally {
      await client.close();
    }
  });
});

describe('uploads', () => {
  it('streams a file with Content-Length, reports progress, and the server verifies the checksum', async () => {
    const file = await fakeImage(env.dir, 'upload-test_1.qcow2', 1_000_000);
    const size = (await stat(file)).size;
    const progress: number[] = [];
    const { sha256File } = await import('../../builder/proxmox/template.js');
    const upid = await env.client.api.upload(
      'pve1',
      'local',
      { content: 'import', file: { path: file, name: 'upload-test_1.qcow2', size }, sha256: await sha256File(file) },
      (sent) => progress.push(sent),
    );
    await env.client.tasks.wait(upid);
    const req = env.pve.calls('POST').find((r) => r.path.endsWith('/upload'));
    expect(req?.headers['content-length']).toBeDefined();
    expect(req?.headers['transfer-encoding']).toBeUndefined();
    expect(progress.at(-1)).toBe(size);
    const content = await env.client.api.storageContent('pve1', 'local', 'import');
    expect(content).toContainEqual(expect.objectContaining({ volid: 'local:import/upload-test_1.qcow2', size }));
  });

  it('is refused with 501 when sent chunked', async () => {
    const res = await request(`${env.pve.url}/api2/json/nodes/pve1/storage/local/upload`, {
      method: 'POST',
      headers: { authorization: `PVEAPIToken=${env.pve.token}`, 'content-type': 'multipart/form-data; boundary=x' },
      body: Readable.from([Buffer.from('--x\r\n'), Buffer.from('...')]), // a stream without length: undici sends it chunked
      dispatcher: env.dispatcher,
    });
    await res.body.dump();
    expect(res.statusCode).toBe(501);
    expect(res.statusText).toContain('Content-Length');
  });

  it('refuses content a storage does not hold', async () => {
    const file = await fakeImage(env.dir, 'wrong-place_1.qcow2', 1000);
    const err = await failure(env.client.api.upload('pve1', 'local-lvm', { content: 'import', file: { path: file, name: 'wrong-place_1.qcow2', size: 1000 } }));
    expect(err.kind).toBe('storage');
    expect(err.message).toContain("storage 'local-lvm' does not support 'import' content");
  });
});
