// The double refuses what the real schema refuses: a client that sends a wrong parameter fails here
// exactly as it would against Proxmox.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxError } from '../../builder/proxmox/errors.js';
import type { Params } from '../../builder/proxmox/http.js';
import { ApiSchema, checkPropertyString, perlRegex, type MethodSchema } from './double/schema.js';
import { namedFormats } from './double/formats.js';
import { setup, type Env } from './helpers.js';

const schema = ApiSchema.load();

function methodSchema(method: string, path: string): MethodSchema {
  const m = schema.match(method, path);
  if (!m.ok) throw new Error(m.message);
  return m.schema;
}

/** Validate create-VM parameters (path parameter `node` included, as the server does). */
const createErrors = (params: Record<string, string>): Record<string, string> =>
  schema.validate(methodSchema('POST', '/nodes/pve1/qemu'), { node: 'pve1', vmid: '100', ...params });

function ed25519PublicKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

describe('schema validation (apidata.json)', () => {
  it('matches path templates, preferring literal segments', () => {
    const m = schema.match('GET', '/nodes/pve1/qemu/100/status/current');
    expect(m).toMatchObject({ ok: true, template: '/nodes/{node}/qemu/{vmid}/status/current', pathParams: { node: 'pve1', vmid: '100' } });
    expect(schema.match('GET', '/nodes/pve1/no-such-thing/x/y/z')).toMatchObject({ ok: false, status: 404 });
    expect(schema.match('PATCH', '/version')).toMatchObject({ ok: false, status: 501 });
  });

  it('refuses an unknown parameter and a missing required one', () => {
    expect(createErrors({ colour: 'blue' })).toEqual({ colour: 'property is not defined in schema and the schema does not allow additional properties' });
    const m = methodSchema('POST', '/nodes/pve1/qemu');
    expect(schema.validate(m, { node: 'pve1' })).toEqual({ vmid: 'property is missing and it is not optional' });
  });

  it('checks types, enums, patterns, ranges and lengths with the server messages', () => {
    expect(createErrors({ cores: 'two' }).cores).toBe("type check ('integer') failed - got 'two'");
    expect(createErrors({ onboot: 'true' }).onboot).toBe("type check ('boolean') failed - got 'true'");
    expect(createErrors({ bios: 'uefi' }).bios).toBe("value 'uefi' does not have a value in the enumeration 'seabios, ovmf'");
    expect(createErrors({ serial0: 'tcp:1234' }).serial0).toBe('value does not match the regex pattern');
    expect(createErrors({ vmid: '99' }).vmid).toBe('invalid format - value does not look like a valid VM ID'); // format is checked before range
    expect(createErrors({ cores: '0' }).cores).toBe('value must have a minimum value of 1');
    const config = methodSchema('GET', '/nodes/pve1/qemu/100/config');
    expect(schema.validate(config, { node: 'pve1', vmid: '100', snapshot: `s${'x'.repeat(40)}` }).snapshot).toBe('value may only be 40 characters long');
    expect(createErrors({ name: 'under_score' }).name).toBe('invalid format - value does not look like a valid DNS name');
  });

  it('checks inline property strings: default key, keys, enums, ranges', () => {
    expect(createErrors({ net0: 'virtio,bridge=vmbr0,queues=2' })).toEqual({});
    expect(createErrors({ net0: 'model=virtio,bridge=vmbr0' })).toEqual({});
    expect(createErrors({ net0: 'virtio,colour=blue' }).net0).toBe('invalid format - invalid key in comma-separated list property: colour');
    expect(createErrors({ net0: 'virtio,e1000' }).net0).toBe('invalid format - duplicate key in comma-separated list property: model');
    expect(createErrors({ net0: 'rtl9999' }).net0).toMatch(/^invalid format - format error\nmodel: value 'rtl9999' does not have a value in the enumeration/);
    expect(createErrors({ net0: 'virtio,tag=5000' }).net0).toBe('invalid format - format error\ntag: value must have a maximum value of 4094');
    expect(createErrors({ scsi0: 'local-lvm:0,import-from=local:import/a.qcow2,iothread=1' })).toEqual({});
    expect(createErrors({ scsi0: 'local-lvm:0,iothread=maybe' }).scsi0).toBe("invalid format - format error\niothread: type check ('boolean') failed - got 'maybe'");
    expect(createErrors({ agent: 'enabled=1,type=pci' }).agent).toMatch(/type: value 'pci' does not have a value in the enumeration 'virtio, isa'/);
  });

  it('checks formats the schema only names (watchdog, ipconfig, tags)', () => {
    expect(createErrors({ watchdog: 'model=i6300esb,action=reset' })).toEqual({});
    expect(createErrors({ watchdog: 'model=i6300esb,action=explode' }).watchdog).toMatch(/action: value 'explode' does not have a value/);
    expect(createErrors({ ipconfig0: 'ip=192.0.2.10/24,gw=192.0.2.1' })).toEqual({});
    expect(createErrors({ ipconfig0: 'ip=192.0.2.10' }).ipconfig0).toMatch(/ip: invalid format - value does not look like a valid ipv4 network configuration/);
    expect(createErrors({ tags: 'ober;ober_debian-12_0.1.0' })).toEqual({});
    expect(createErrors({ tags: 'ober;v0.1.0/rc' }).tags).toBe('invalid format - invalid characters in tag');
  });

  it('expands indexed keys within their bounds', () => {
    expect(createErrors({ net31: 'virtio' })).toEqual({});
    expect(createErrors({ net32: 'virtio' }).net32).toMatch(/not defined in schema/);
    expect(createErrors({ scsi30: 'local-lvm:1' })).toEqual({});
    expect(createErrors({ scsi31: 'local-lvm:1' }).scsi31).toMatch(/not defined in schema/);
    expect(createErrors({ net01: 'virtio' }).net01).toMatch(/not defined in schema/);
  });

  it('translates the Perl regex syntax of the schema', () => {
    expect(perlRegex('[A-Za-z0-9\\-_\\s]{,16}').test('a'.repeat(16))).toBe(true);
    expect(perlRegex('[A-Za-z0-9\\-_\\s]{,16}').test('a'.repeat(17))).toBe(false);
    expect(perlRegex('(?^:\\d+(?:;\\d+)*)').test('1;2;3')).toBe(true);
    expect(perlRegex('(?^:\\d+(?:;\\d+)*)').test('1;2;')).toBe(false); // anchored like m/^...$/
    expect(perlRegex('(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*)(?:;(?^i:[a-z0-9_][a-z0-9_\\-\\+\\.]*))*').test('Ober;x')).toBe(true);
  });

  it('compiles every pattern and knows the formats of the calls the tool makes', () => {
    const data = schema as unknown as { routes: { methods: Record<string, MethodSchema> }[] };
    const patterns: string[] = [];
    const walk = (v: unknown): void => {
      if (!v || typeof v !== 'object') return;
      const o = v as Record<string, unknown>;
      if (typeof o.pattern === 'string') patterns.push(o.pattern);
      Object.values(o).forEach(walk);
    };
    data.routes.forEach((r) => walk(r.methods));
    expect(patterns.length).toBeGreaterThan(50);
    for (const p of patterns) expect(() => perlRegex(p)).not.toThrow();
    expect(checkPropertyString({ a: { type: 'string', default_key: 1 } }, 'x,y')).toBe('duplicate key in comma-separated list property: a');
    for (const f of ['pve-vmid', 'pve-node', 'pve-storage-id', 'dns-name', 'urlencoded', 'pve-tag']) expect(namedFormats[f]).toBeTypeOf('function');
  });
});

describe('the double refuses client mistakes over HTTP', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(() => env.close());

  const rawCall = (method: 'GET' | 'POST' | 'PUT', path: string, params: Params = {}): Promise<unknown> => env.client.api.http.call(method, path, params);

  it('answers 400 with the errors object and the status line', async () => {
    const err = await rawCall('POST', '/nodes/pve1/qemu', { vmid: 100, cpuunits_typo: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxmoxError);
    expect(err).toMatchObject({ kind: 'parameter', status: 400, paramErrors: { cpuunits_typo: expect.stringMatching(/not defined in schema/) } });
    expect((err as Error).message).toContain('Parameter verification failed.');
    const last = env.pve.requests.at(-1);
    expect(last).toMatchObject({ method: 'POST', path: '/nodes/pve1/qemu', status: 400 });
  });

  it('refuses sshkeys that were not URL-encoded, and keys that are not keys', async () => {
    const key = ed25519PublicKey('ops@example');
    await env.client.tasks.wait(await env.client.api.createVm('pve1', 100, { name: 'k', scsihw: 'virtio-scsi-single' }));

    // The bug this guards against: sending the keys form-encoded only once.
    const raw = await rawCall('POST', '/nodes/pve1/qemu/100/config', { sshkeys: key }).catch((e: unknown) => e);
    expect(raw).toMatchObject({ kind: 'parameter', paramErrors: { sshkeys: expect.stringMatching(/^invalid format - invalid urlencoded string/) } });

    const garbage = await env.client.api.updateVmConfig('pve1', 100, { sshkeys: 'ssh-ed25519 AAAAnotakey ops' }).catch((e: unknown) => e);
    expect(garbage).toMatchObject({ kind: 'server', status: 500 });
    expect((garbage as Error).message).toContain('SSH public key validation error');

    await env.client.tasks.wait(await env.client.api.updateVmConfig('pve1', 100, { sshkeys: `${key}\n${ed25519PublicKey('second')}\n` }));
    const config = await env.client.api.vmConfig('pve1', 100);
    expect(decodeURIComponent(String(config.sshkeys))).toContain(key);
  });
});
