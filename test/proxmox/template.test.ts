// `ober template create` end to end against the double, through the library and through the CLI.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, runProgram } from '../../firstboot/lib/program.js';
import { registerTemplate } from '../../builder/commands/template.js';
import type { ProxmoxError } from '../../builder/proxmox/errors.js';
import { DEFAULT_HARDWARE, createTemplate, imageRef, templateIdentity, templateSettings, type TemplateOptions } from '../../builder/proxmox/template.js';
import { requests } from '../../builder/proxmox/api.js';
import { wireParams } from '../../builder/proxmox/http.js';
import { namedFormats } from './double/formats.js';
import { ApiSchema } from './double/schema.js';
import { parseDisk } from './double/routes.js';
import { fakeImage, setup, type Env } from './helpers.js';

let env: Env;
let image: string;

beforeAll(async () => {
  env = await setup();
  image = await fakeImage(env.dir);
});
afterAll(() => env.close());

const options = (over: Partial<TemplateOptions> = {}): TemplateOptions => ({ image, hardware: DEFAULT_HARDWARE, ...over });

/** Forget every VM and upload between tests (the double's cluster is shared by the file). */
afterEach(() => {
  env.pve.cluster.vms.clear();
  for (const s of env.pve.cluster.node('pve1').storages.values()) s.volumes.clear();
  env.pve.requests.length = 0;
});

describe('names derived from the image', () => {
  it('splits <id>_<version>.qcow2 at the last underscore', () => {
    expect(imageRef('out/debian-12_0.1.0.qcow2')).toMatchObject({ id: 'debian-12', version: '0.1.0', fileName: 'debian-12_0.1.0.qcow2' });
    expect(imageRef('/x/my_img_1.2.3+b4.qcow2')).toMatchObject({ id: 'my_img', version: '1.2.3+b4' });
    expect(() => imageRef('out/debian-12.qcow2')).toThrow(/is not named <id>_<version>\.qcow2/);
  });

  it('makes a tag Proxmox accepts and a DNS-valid name, keeping id and version apart', () => {
    for (const [id, version] of [['debian-12', '0.1.0'], ['Rocky_10', '1.0.0~RC1'], ['a-1', '2'], ['a', '1-2']] as const) {
      const { tag, name } = templateIdentity({ id, version });
      expect(namedFormats['pve-tag']?.(tag)).toBeUndefined();
      expect(namedFormats['dns-name']?.(name)).toBeUndefined();
    }
    expect(templateIdentity({ id: 'debian-12', version: '0.1.0' })).toEqual({ tag: 'ober_debian-12_0.1.0', name: 'ober-debian-12-0-1-0' });
    expect(templateIdentity({ id: 'Rocky_10', version: '1.0.0~RC1' }).tag).toBe('ober_rocky_10_1.0.0-rc1');
    expect(templateIdentity({ id: 'a-1', version: '2' }).tag).not.toBe(templateIdentity({ id: 'a', version: '1-2' }).tag);
  });
});

describe('template create', () => {
  it('uploads, creates the VM with the appliance hardware, converts it; a second run changes nothing', async () => {
    const steps: string[] = [];
    const progress: number[] = [];
    const first = await createTemplate(env.client, options(), { step: (m) => steps.push(m), uploadProgress: (sent) => progress.push(sent) });
    expect(first).toMatchObject({ status: 'created', node: 'pve1', tag: 'ober_debian-12_0.1.0', uploaded: true });
    expect(progress.at(-1)).toBe(300_000);

    const vm = env.pve.cluster.vms.get(first.vmid);
    const c = vm?.config ?? {};
    expect(c).toMatchObject({
      template: '1',
      name: 'ober-debian-12-0-1-0',
      tags: 'ober;ober_debian-12_0.1.0',
      machine: 'q35',
      bios: 'ovmf',
      cpu: 'host',
      cores: '2',
      balloon: '0',
      scsihw: 'virtio-scsi-single',
      watchdog: 'model=i6300esb,action=reset',
      serial0: 'socket',
      vga: 'serial0',
      agent: 'enabled=1',
      ciupgrade: '0',
    });
    expect(c.net0).toMatch(/^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0,queues=2$/);
    expect(parseDisk(c.scsi0 ?? '')).toEqual({ file: `local-lvm:base-${first.vmid}-disk-1`, opts: { discard: 'on', iothread: '1', size: '300000' } });
    expect(parseDisk(c.efidisk0 ?? '').opts).toMatchObject({ efitype: '4m', 'pre-enrolled-keys': '1' }); // Secure Boot on
    expect(c.scsi1).toBe(`local-lvm:vm-${first.vmid}-cloudinit,media=cdrom,size=4M`);
    expect(Object.keys(c).filter((k) => /^(ide|sata)\d+$/.test(k))).toEqual([]); // no AHCI/IDE in the cloud kernel
    // the imported disk is the uploaded image
    expect(env.pve.cluster.storage('pve1', 'local').volumes.get('local:import/debian-12_0.1.0.qcow2')?.size).toBe(300_000);

    env.pve.requests.length = 0;
    const second = await createTemplate(env.client, options(), { step: (m) => steps.push(m) });
    expect(second).toMatchObject({ status: 'exists', vmid: first.vmid, uploaded: false });
    expect(env.pve.calls('POST')).toEqual([]);
    expect(steps.at(-1)).toContain('already exists');
  });

  it('turns Secure Boot off on request (no keys enrolled)', async () => {
    const r = await createTemplate(env.client, options({ hardware: { ...DEFAULT_HARDWARE, secureBoot: false }, vmid: 4343 }));
    expect(parseDisk(env.pve.cluster.vms.get(r.vmid)?.config.efidisk0 ?? '').opts).toMatchObject({ 'pre-enrolled-keys': '0' });
  });

  it('builds a SeaBIOS template without an EFI disk', async () => {
    const r = await createTemplate(env.client, options({ hardware: { ...DEFAULT_HARDWARE, bios: 'seabios', cores: 4 }, vmid: 4242 }));
    expect(r.vmid).toBe(4242);
    const c = env.pve.cluster.vms.get(4242)?.config ?? {};
    expect(c.bios).toBe('seabios');
    expect(c.efidisk0).toBeUndefined();
    expect(c.net0).toMatch(/,queues=4$/);
  });

  it('does not upload an image that is already in the storage', async () => {
    await createTemplate(env.client, options());
    env.pve.cluster.vms.clear(); // the template is gone, the upload stays
    env.pve.requests.length = 0;
    const r = await createTemplate(env.client, options());
    expect(r).toMatchObject({ status: 'created', uploaded: false });
    expect(env.pve.calls('POST').map((c) => c.path)).not.toContainEqual(expect.stringMatching(/upload$/));
  });

  it('takes another id when the next free one was taken between nextid and create', async () => {
    const taken = 100;
    const { nextId } = env.client.api;
    const spy = vi.spyOn(env.client.api, 'nextId').mockImplementationOnce(async () => {
      // another client creates VM 100 right after answering us
      await env.client.tasks.wait(await env.client.api.createVm('pve1', taken, { name: 'other' }));
      return taken;
    });
    try {
      const r = await createTemplate(env.client, options());
      expect(r.vmid).not.toBe(taken);
      expect(env.pve.cluster.vms.get(taken)?.config.name).toBe('other');
    } finally {
      spy.mockRestore();
      expect(env.client.api.nextId).toBe(nextId);
    }
  });

  it('fails with the task log when the import fails, leaving nothing behind', async () => {
    env.pve.faults.failTask({ type: 'qmcreate', message: 'import failed: qemu-img: Could not open image', log: ['importing disk ...'] });
    const err = await createTemplate(env.client, options()).catch((e: unknown) => e as ProxmoxError);
    expect(err).toMatchObject({ kind: 'task' });
    expect((err as Error).message).toContain('import failed: qemu-img: Could not open image');
    expect([...env.pve.cluster.vms.values()].filter((v) => v.config.tags?.includes('ober_'))).toEqual([]);
    expect((await createTemplate(env.client, options())).status).toBe('created');
  });

  it('refuses a storage without import content, naming the flag and the fix', async () => {
    await expect(createTemplate(env.client, options({ importStorage: 'local-lvm' }))).rejects.toThrow(/--import-storage: storage 'local-lvm' has content images,rootdir, not import/);
  });

  it('refuses a Proxmox VE too old for import content', async () => {
    const saved = env.pve.cluster.version;
    env.pve.cluster.version = { ...saved, version: '8.1.4', release: '8.1' };
    try {
      await expect(createTemplate(env.client, options())).rejects.toThrow(/Proxmox VE 8\.1\.4 is too old/);
    } finally {
      env.pve.cluster.version = saved;
    }
  });

  it('sends hardware settings the schema accepts, for either firmware', () => {
    const schema = ApiSchema.load();
    const create = schema.match('POST', '/nodes/pve1/qemu');
    if (!create.ok) throw new Error(create.message);
    for (const bios of ['ovmf', 'seabios'] as const) {
      const settings = templateSettings({ identity: templateIdentity({ id: 'x', version: '1' }), hardware: { ...DEFAULT_HARDWARE, bios }, diskStorage: 'local-lvm', importVolid: 'local:import/x_1.qcow2' });
      const r = requests.createVm('pve1', 100, settings);
      expect(schema.validate(create.schema, { node: 'pve1', ...Object.fromEntries(wireParams(r.params)) })).toEqual({});
      expect(settings.efidisk0 === undefined).toBe(bios === 'seabios');
    }
  });
});

describe('ober template create (CLI)', () => {
  const saved = { ...process.env };
  let stdout: string[];
  beforeAll(() => {
    process.env.PROXMOX_URL = env.pve.url;
    process.env.PROXMOX_TOKEN = env.pve.token;
    process.env.PROXMOX_FINGERPRINT = env.cert.fingerprint;
  });
  afterAll(() => {
    process.env = saved;
  });
  afterEach(() => vi.restoreAllMocks());

  async function ober(...argv: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
    stdout = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => (stdout.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await runProgram(buildProgram('test', [registerTemplate]), argv);
    vi.restoreAllMocks();
    return { code, json: JSON.parse(stdout.join('')) as Record<string, unknown> };
  }

  it('--dry-run lists the calls and makes none', async () => {
    const { code, json } = await ober('template', 'create', '--image', image, '--dry-run', '--json');
    expect(code).toBe(0);
    expect(env.pve.requests).toEqual([]);
    const calls = json.calls as { method: string; path: string; params: Record<string, unknown> }[];
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /version',
      'GET /cluster/resources',
      'GET /nodes',
      'GET /nodes/<node>/storage',
      'GET /nodes/<node>/storage/<storage with content import>/content',
      'POST /nodes/<node>/storage/<storage with content import>/upload',
      'GET /cluster/nextid',
      'POST /nodes/<node>/qemu',
      'POST /nodes/<node>/qemu/<nextid>/template',
    ]);
    expect(calls[7]?.params).toMatchObject({ vmid: '<nextid>', bios: 'ovmf', ciupgrade: '0', balloon: '0', scsi1: '<storage with content images>:cloudinit' });
  });

  it('creates, then reports the existing template as a no-op', async () => {
    const first = await ober('--json', 'template', 'create', '--image', image, '--node', 'pve1');
    expect(first).toMatchObject({ code: 0, json: { ok: true, status: 'created', node: 'pve1' } });
    const second = await ober('--json', 'template', 'create', '--image', image);
    expect(second).toMatchObject({ code: 0, json: { ok: true, status: 'exists', vmid: first.json.vmid } });
  });

  it('fails with every connection problem listed', async () => {
    process.env.PROXMOX_TOKEN = 'not-a-token';
    process.env.PROXMOX_FINGERPRINT = 'zz';
    try {
      const { code, json } = await ober('--json', 'template', 'create', '--image', image);
      expect(code).toBe(1);
      expect(json).toMatchObject({ ok: false, error: { kind: 'ConfigError' } });
      const paths = (json.error as { issues: { path: string }[] }).issues.map((i) => i.path);
      expect(paths).toEqual(['PROXMOX_TOKEN', 'PROXMOX_FINGERPRINT']);
    } finally {
      process.env.PROXMOX_TOKEN = env.pve.token;
      process.env.PROXMOX_FINGERPRINT = env.cert.fingerprint;
    }
  });
});
