// The mkosi exporter's pure parts. mkosi's own parsing of the project (mkosi summary, mkosi 25.3 in
// a Debian 13 root) and systemd-repart's reading of mkosi.repart/ are in test/image/mkosi-export.test.ts.
import { describe, expect, it } from 'vitest';
import { kernelModuleSettings, mkosiProject } from '../../builder/export/mkosi.js';
import { DEFAULT_IMAGE_DEFINITION, loadImageDefinition, type KernelModules } from '../../builder/image/definition.js';
import { deriveIdentifiers } from '../../builder/image/identifiers.js';
import { planModuleTrim } from '../../builder/image/kernel-modules.js';
import path from 'node:path';
import { REPO } from '../helpers/fixtures.js';

/** mkosi/kmod.py filter_kernel_modules(): a module matching an include regex stays, else an exclude regex drops it. */
function mkosiKeeps(settings: string[], rel: string): boolean {
  const section = (key: string): RegExp[] => {
    const start = settings.indexOf(`${key}=`);
    if (start < 0) return [];
    const out: RegExp[] = [];
    for (const l of settings.slice(start + 1)) {
      if (!l.startsWith(' ')) break;
      out.push(new RegExp(l.trim()));
    }
    return out;
  };
  if (section('KernelModulesInclude').some((r) => r.test(rel))) return true;
  return !section('KernelModulesExclude').some((r) => r.test(rel));
}

describe('kernel module trim as mkosi settings', async () => {
  const def = await loadImageDefinition(path.join(REPO, DEFAULT_IMAGE_DEFINITION));
  const spec = def.kernelModules!;

  it('keeps and drops the same modules as the native trim', () => {
    // every rule's own path, a module inside each directory rule, and neighbours that no rule names
    const subtrees = spec.trim.flatMap((r) => ('remove' in r ? r.remove : r.keep));
    const samples = [
      ...subtrees.map((s) => (s.endsWith('.ko') ? s : `${s}/x/sample.ko`)),
      'drivers/net/virtio_net.ko', 'drivers/watchdog/iTCO_wdt.ko', 'drivers/scsi/virtio_scsi.ko', 'fs/ext4/ext4.ko',
      'drivers/gpu/drm/drm.ko', 'drivers/net/ethernet/intel/igb/igb.ko', 'net/bridge/bridge.ko', 'fs/btrfs/btrfs.ko',
    ].map((m) => `kernel/${m}`);
    const index = { modules: samples, depends: new Map(samples.map((m) => [m, []])), builtin: new Set<string>() };
    const native = planModuleTrim(index, { ...spec, require: [], initramfs: [] } as KernelModules, 'test');
    const settings = kernelModuleSettings(spec);
    const disagree = samples.filter((m) => native.remove.includes(m) === mkosiKeeps(settings, `${m.slice('kernel/'.length)}.xz`));
    expect(disagree).toEqual([]);
    expect(native.remove.length).toBeGreaterThan(10);
    expect(native.keep.length).toBeGreaterThan(10);
  });

  it('refuses rules whose order mkosi cannot express, naming the rule', () => {
    const bad: KernelModules = { trim: [{ remove: ['fs'] }, { keep: ['fs/ext4'] }, { remove: ['fs/ext4/ext4.ko'] }], require: [], initramfs: ['ext4'] };
    expect(() => kernelModuleSettings(bad)).toThrow(/kernelModules\.trim\[2\]: remove fs\/ext4\/ext4\.ko comes after keep fs\/ext4/);
  });

  it('writes ImageId, ImageVersion, the packages and the partition files', async () => {
    const files = mkosiProject({ def, ids: deriveIdentifiers(def), files: [], imageFiles: [], sourceDateEpoch: 1 });
    const conf = files.find((f) => f.path === 'mkosi.conf')!.content as string;
    expect(conf).toMatch(new RegExp(`^ImageId=${def.id}$`, 'm'));
    expect(conf).toMatch(new RegExp(`^ImageVersion=${def.version.replace(/\./g, '\\.')}$`, 'm'));
    for (const p of def.packages) expect(conf).toMatch(new RegExp(`^ {8}${p.replace(/[+.]/g, '\\$&')}$`, 'm'));
    expect(files.filter((f) => f.path.startsWith('mkosi.repart/')).map((f) => f.path)).toEqual(def.disk.partitions.map((p, i) => `mkosi.repart/0${i}-${p.name}.conf`));
    expect(files.find((f) => f.path === 'mkosi.postinst')!.mode).toBe(0o755);
  });
});
