// The mkosi project read by mkosi itself (25.3, from a Debian 13 root: Debian 12's mkosi 14 cannot
// read it), its mkosi.repart/ laid out by systemd-repart and compared with the native layout, and
// one package changed in the definition found in the native plan, the mkosi project and the Packer
// template. (A full `mkosi build` is not run here; see README "Three ways to build".)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportProject } from '../../builder/export/export.js';
import { PACKER_TEMPLATE } from '../../builder/export/packer.js';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition } from '../../builder/image/definition.js';
import { deriveIdentifiers } from '../../builder/image/identifiers.js';
import { readBuildInputs } from '../../builder/image/inputs.js';
import { computeLayout, PARTITION_TYPES } from '../../builder/image/layout.js';
import { planBuild } from '../../builder/image/plan.js';
import { StageCache } from '../../builder/image/stage.js';
import { REPO } from '../helpers/fixtures.js';
import { definitionWithPackage, inTrixieRoot, trixieMkosiRoot } from '../helpers/image-exports.js';

interface Summary {
  ImageId: string;
  ImageVersion: string;
  Release: string;
  Format: string;
  Packages: string[];
  Bootloader: string;
  ShimBootloader: string;
  BiosBootloader: string;
  KernelCommandLine: string[];
  KernelModulesExclude: string[];
  PostInstallationScripts: string[];
  RepartDirectories: string[];
}

let root: string;
let work: string; // inside the root, so mkosi (chrooted) sees the project
const inRoot = (p: string): string => `/${path.relative(root, p)}`;

beforeAll(() => {
  root = trixieMkosiRoot();
  mkdirSync(path.join(root, 'tmp'), { recursive: true, mode: 0o1777 });
  work = mkdtempSync(path.join(root, 'tmp', 'ober-mkosi-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function summary(project: string): Summary {
  const r = inTrixieRoot(root, ['mkosi', '-C', inRoot(project), '--json', 'summary']);
  if (r.status !== 0) throw new Error(`mkosi summary failed (${r.status}): ${r.stderr}`);
  return (JSON.parse(r.stdout) as { Images: Summary[] }).Images[0]!;
}

describe('mkosi export read by mkosi 25.3', () => {
  const definition = path.join(REPO, DEFAULT_IMAGE_DEFINITION);

  it('runs mkosi 25 from the Debian 13 root', () => {
    expect(inTrixieRoot(root, ['mkosi', '--version']).stdout).toMatch(/^mkosi 2[5-9]/);
  });

  it('is accepted by mkosi summary, with the definition in it', async () => {
    const def = await loadImageDefinition(definition);
    const project = path.join(work, 'default');
    await exportProject('mkosi', REPO, definition, project);
    const s = summary(project);
    expect(s.ImageId).toBe(def.id);
    expect(s.ImageVersion).toBe(def.version);
    expect(s.Release).toBe(def.distribution.family === 'debian' ? def.distribution.release : '');
    expect(s.Format).toBe('disk');
    expect(s.Packages).toEqual(def.packages);
    expect([s.Bootloader, s.ShimBootloader, s.BiosBootloader]).toEqual(['grub-signed', 'signed', 'grub']);
    expect(s.KernelCommandLine).toEqual(['root=PARTUUID', 'rw', ...def.kernelCommandLine]);
    expect(s.KernelModulesExclude.length).toBeGreaterThan(50);
    expect(s.PostInstallationScripts).toEqual([inRoot(path.join(project, 'mkosi.postinst'))]);
    expect(s.RepartDirectories).toEqual([inRoot(path.join(project, 'mkosi.repart'))]);
  });

  it('is refused by mkosi summary when a setting is unknown (the check can fail)', async () => {
    const project = path.join(work, 'broken');
    await exportProject('mkosi', REPO, definition, project);
    execFileSync('sh', ['-c', `echo Frobnicate=yes >> ${project}/mkosi.conf`]);
    const r = inTrixieRoot(root, ['mkosi', '-C', inRoot(project), 'summary']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Unknown setting Frobnicate/);
  });

  it('lays out, through systemd-repart, the partitions of the native image', async () => {
    const def = await loadImageDefinition(definition);
    const ids = deriveIdentifiers(def);
    const project = path.join(work, 'repart');
    await exportProject('mkosi', REPO, definition, project);
    // a stand-in image root: repart copies /, /var, /boot and /efi from it (mkosi passes the real one)
    const tree = path.join(work, 'tree');
    for (const d of ['boot', 'efi', 'var/lib', 'etc']) mkdirSync(path.join(tree, d), { recursive: true });
    const disk = path.join(work, 'disk.raw');
    const r = inTrixieRoot(root, ['systemd-repart', `--definitions=${inRoot(path.join(project, 'mkosi.repart'))}`, '--empty=create',
      `--size=${def.disk.sizeMiB}M`, '--dry-run=no', '--offline=yes', `--root=${inRoot(tree)}`, `--seed=${ids.diskGuid}`, inRoot(disk)]);
    expect(r.status, r.stderr).toBe(0);
    const table = JSON.parse(execFileSync('sfdisk', ['--json', disk], { encoding: 'utf8' })) as { partitiontable: { partitions: { start: number; size: number; type: string; uuid: string; name: string }[] } };
    const got = table.partitiontable.partitions;
    const want = computeLayout(def).partitions;
    expect(got.map((p) => [p.name, p.start, p.type.toUpperCase(), p.uuid.toLowerCase()])).toEqual(
      want.map((p) => [p.name, p.startSector, PARTITION_TYPES[p.role].toUpperCase(), ids.partitionUuids[p.name]]),
    );
    // fixed sizes equal; the last (/var) takes the rest: repart keeps 33 sectors for the backup GPT, the native build 1 MiB
    expect(got.slice(0, -1).map((p) => p.size)).toEqual(want.slice(0, -1).map((p) => p.sectors));
    expect(got.at(-1)!.size).toBeGreaterThanOrEqual(want.at(-1)!.sectors);
    rmSync(disk);
  });
});

describe('one package changed in the image definition', () => {
  it('shows up in the native plan, the mkosi project (as mkosi reads it) and the Packer template (as packer validates it)', async () => {
    const file = definitionWithPackage(path.join(work, 'changed.yaml'), 'curl', 'wget');
    const def = await loadImageDefinition(file);
    expect(def.packages).toContain('wget');

    // native: the rootfs stage's mmdebstrap --include
    const inputs = await readBuildInputs(REPO, file);
    const plan = planBuild(def, inputs, new StageCache(path.join(work, 'cache')), { packageCache: path.join(work, 'debs'), sources: { cacheDir: path.join(work, 'sources') } });
    const include = plan.stages[0]!.commands[0]!.find((a) => a.startsWith('--include='))!.split('=')[1]!.split(',');
    expect(include).toContain('wget');
    expect(include).not.toContain('curl');

    // mkosi: Packages= as mkosi parsed it
    const mkosiDir = path.join(work, 'changed-mkosi');
    await exportProject('mkosi', REPO, file, mkosiDir);
    const packages = summary(mkosiDir).Packages;
    expect(packages).toContain('wget');
    expect(packages).not.toContain('curl');

    // Packer: the provisioner's apt-get line, and the template still valid
    const packerDir = path.join(os.tmpdir(), `ober-packer-changed-${process.pid}`);
    await exportProject('packer', REPO, file, packerDir);
    const install = readFileSync(path.join(packerDir, 'provision.sh'), 'utf8').split('\n').find((l) => l.startsWith('apt-get install'))!.split(' ');
    expect(install).toContain('wget');
    expect(install).not.toContain('curl');
    const v = spawnSync('packer', ['validate', '-var', 'node=pve1', '-var', 'vm_id=9100', '-var', 'clone_vm=debian-cloud', PACKER_TEMPLATE], {
      cwd: packerDir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: packerDir, PROXMOX_URL: 'https://pve1.example:8006/api2/json', PROXMOX_USERNAME: 'u@pve', PROXMOX_PASSWORD: 'x' },
    });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    rmSync(packerDir, { recursive: true, force: true });
  });
});
