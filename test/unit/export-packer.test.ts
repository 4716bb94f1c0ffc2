// `ober image export --builder packer`: the template is read by Debian 12's packer 1.6.6, whose
// `packer validate` rejects unknown keys and missing required variables; the provisioning script
// by the shell that runs it (sh -n).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportProject } from '../../builder/export/export.js';
import { PACKER_TEMPLATE } from '../../builder/export/packer.js';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition } from '../../builder/image/definition.js';
import { REPO } from '../helpers/fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-packer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const required = ['-var', 'node=pve1', '-var', 'vm_id=9100', '-var', 'clone_vm=debian-13-genericcloud'];
// packer reads the credentials from the environment (never from the template)
const credentials = { PROXMOX_URL: 'https://pve1.example:8006/api2/json', PROXMOX_USERNAME: 'packer@pve', PROXMOX_PASSWORD: 'not-a-secret' };
const validate = (dir: string, args: string[], env: Record<string, string> = credentials) =>
  spawnSync('packer', ['validate', ...args, PACKER_TEMPLATE], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: tmp, ...env } });

describe('packer export', async () => {
  const dir = path.join(tmp, 'packer');
  const definition = path.join(REPO, DEFAULT_IMAGE_DEFINITION);
  const def = await loadImageDefinition(definition);
  const report = await exportProject('packer', REPO, definition, dir);

  it('passes packer validate (packer 1.6.6 rejects unknown keys)', () => {
    const r = validate(dir, required);
    expect(r.stderr + r.stdout).toMatch(/successfully|^$/);
    expect(r.status).toBe(0);
  });

  it('takes the Proxmox credentials from the environment', () => {
    const r = validate(dir, required, {});
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/password must be specified/);
    expect(readFileSync(path.join(dir, PACKER_TEMPLATE), 'utf8')).not.toContain(credentials.PROXMOX_PASSWORD);
  });

  it('is refused by packer validate without the node, VM id and source template', () => {
    const r = validate(dir, []);
    expect(r.status).not.toBe(0);
    for (const v of ['node', 'vm_id', 'clone_vm']) expect(r.stdout + r.stderr).toContain(`required variable not set: ${v}`);
  });

  it('would be refused by packer validate with a key packer does not know (the check can fail)', () => {
    const t = JSON.parse(readFileSync(path.join(dir, PACKER_TEMPLATE), 'utf8')) as { builders: Record<string, unknown>[] };
    t.builders[0]!.tags = 'ober';
    const bad = path.join(tmp, 'bad');
    execFileSync('cp', ['-a', dir, bad]);
    execFileSync('sh', ['-c', `cat > ${bad}/${PACKER_TEMPLATE}`], { input: JSON.stringify(t) });
    const r = validate(bad, required);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('unknown configuration key');
  });

  it('provisions the definition: release check, packages, files, units, kernel command line, hardening', () => {
    const script = readFileSync(path.join(dir, 'provision.sh'), 'utf8');
    execFileSync('sh', ['-n', path.join(dir, 'provision.sh')]);
    expect(script).toContain(`!= ${def.distribution.release} ]`);
    expect(script).toMatch(new RegExp(`^apt-get install -y --no-install-recommends ${def.packages.join(' ')}$`, 'm'));
    expect(script).toContain("install -D -m 0644 /tmp/ober/root/usr/lib/ober/ober-node.mjs /usr/lib/ober/ober-node.mjs");
    expect(script).toMatch(/^systemctl enable .*ober-firstboot\.service/m);
    expect(script).toMatch(new RegExp(`^systemctl disable ${def.services.disable.join(' ')}$`, 'm'));
    expect(script).toContain(def.kernelCommandLine.join(' '));
    expect(script).toMatch(/^usermod --lock root$/m);
    expect(script).toMatch(/^cloud-init clean --logs --seed$/m);
    // the native layout's /var script would stop a cloud image's boot; its grow unit has nothing to grow
    expect(script).not.toContain('ober-var-etc');
    expect(script).not.toMatch(/enable .*ober-grow-var/);
    expect(statSync(path.join(dir, 'provision.sh')).mode & 0o777).toBe(0o755);
    expect(report.paths).toContain('files/root/usr/bin/ober');
  });

  it('names and tags the template as ober template create does', () => {
    const t = JSON.parse(readFileSync(path.join(dir, PACKER_TEMPLATE), 'utf8')) as { builders: { template_name: string }[]; 'post-processors': { environment_vars: string[] }[] };
    expect(t.builders[0]!.template_name).toBe(`ober-${def.id}-${def.version.replace(/\./g, '-')}`);
    expect(t['post-processors'][0]!.environment_vars).toContain(`TAGS=ober;ober_${def.id}_${def.version}`);
    execFileSync('sh', ['-n', path.join(dir, 'tag-template.sh')]);
  });

  it('replaces its own earlier export but never a directory it did not write', async () => {
    await exportProject('packer', REPO, definition, dir);
    await expect(exportProject('packer', REPO, definition, REPO)).rejects.toThrow(/was not written by ober image export/);
  });
});
