import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { loadImageDefinition, parseImageDefinition, type KernelModules } from '../../builder/image/definition.js';
import { moduleName, parseModulesBuiltin, parseModulesDep, planModuleTrim } from '../../builder/image/kernel-modules.js';

// A small module tree in modules.dep form: what depmod writes for a real kernel.
const DEP = `kernel/drivers/gpu/drm/drm.ko:
kernel/drivers/gpu/drm/bochs/bochs-drm.ko: kernel/drivers/gpu/drm/drm.ko
kernel/drivers/watchdog/watchdog.ko:
kernel/drivers/watchdog/i6300esb.ko: kernel/drivers/watchdog/watchdog.ko
kernel/drivers/watchdog/iTCO_wdt.ko: kernel/drivers/watchdog/watchdog.ko kernel/drivers/mfd/lpc_ich.ko
kernel/drivers/mfd/lpc_ich.ko:
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko: kernel/drivers/ptp/ptp.ko
kernel/drivers/net/ethernet/realtek/r8169.ko:
kernel/drivers/ptp/ptp.ko:
kernel/drivers/gpio/gpio-foo.ko:
`;
const BUILTIN = 'kernel/drivers/block/virtio_blk.ko\nkernel/fs/ext4/ext4.ko\n';
const index = { ...parseModulesDep(DEP), builtin: parseModulesBuiltin(BUILTIN) };
const spec = (over: Partial<KernelModules> = {}): KernelModules => ({ trim: [], require: [], initramfs: ['ext4'], ...over });
const messages = (s: KernelModules): string[] => planModuleTrim(index, s, '6.1.0-test').problems.map((p) => `${p.path}: ${p.message}`);

describe('kernel module trim', () => {
  it('names modules as modprobe does', () => {
    expect(moduleName('kernel/drivers/gpu/drm/bochs/bochs-drm.ko')).toBe('bochs_drm');
    expect(moduleName('kernel/fs/ext4/ext4.ko.zst')).toBe('ext4');
  });

  it('removes subtrees; a later keep re-admits part of one (last match wins)', () => {
    const t = planModuleTrim(index, spec({
      trim: [
        { remove: ['drivers/gpu', 'drivers/net/ethernet', 'drivers/watchdog', 'drivers/mfd'] },
        { keep: ['drivers/net/ethernet/intel/e1000e', 'drivers/watchdog/watchdog.ko', 'drivers/watchdog/i6300esb.ko'] },
      ],
    }), '6.1.0-test');
    expect(t.problems).toEqual([]);
    expect(t.remove).toEqual([
      'kernel/drivers/gpu/drm/bochs/bochs-drm.ko',
      'kernel/drivers/gpu/drm/drm.ko',
      'kernel/drivers/mfd/lpc_ich.ko',
      'kernel/drivers/net/ethernet/realtek/r8169.ko',
      'kernel/drivers/watchdog/iTCO_wdt.ko',
    ]);
    expect(t.keep).toContain('kernel/drivers/watchdog/i6300esb.ko');
    expect(t.keep).toContain('kernel/drivers/gpio/gpio-foo.ko'); // no rule: kept
  });

  it('matches whole path segments only', () => {
    expect(messages(spec({ trim: [{ remove: ['drivers/gp'] }] }))).toEqual(["kernelModules.trim[0].remove[0]: 'drivers/gp' matches no module of kernel 6.1.0-test"]);
  });

  it('refuses a trim that leaves a kept module without its dependency', () => {
    expect(messages(spec({ trim: [{ remove: ['drivers/ptp'] }] }))).toEqual([
      'kernelModules.trim: kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko (kept) needs kernel/drivers/ptp/ptp.ko, which the trim removes',
    ]);
    expect(messages(spec({ trim: [{ remove: ['drivers/mfd'] }, { remove: ['drivers/watchdog/iTCO_wdt.ko'] }] }))).toEqual([]);
  });

  it('refuses required or initramfs modules that are trimmed away or do not exist; built-ins count', () => {
    const s = spec({ trim: [{ remove: ['drivers/watchdog'] }], require: ['i6300esb', 'ib700wdt', 'virtio-blk'], initramfs: ['ext4', 'watchdog'] });
    expect(messages(s)).toEqual([
      'kernelModules.require[0]: i6300esb is removed by the trim rules',
      'kernelModules.require[1]: kernel 6.1.0-test has no module ib700wdt',
      'kernelModules.initramfs[1]: watchdog is removed by the trim rules',
    ]);
  });
});

describe('kernelModules in the image definition', () => {
  const debianDoc = (): Record<string, unknown> => parse(readFileSync('image/debian-12.yaml', 'utf8')) as Record<string, unknown>;
  const issues = (doc: unknown): string[] => {
    try {
      parseImageDefinition('test.yaml', doc);
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      throw e;
    }
  };

  it('the Debian image ships the generic kernel and keeps the Proxmox watchdog in the image and the initramfs', async () => {
    const def = await loadImageDefinition('image/debian-12.yaml');
    expect(def.packages).toContain('linux-image-amd64');
    expect(def.kernelModules!.require).toEqual(expect.arrayContaining(['i6300esb', 'ib700wdt']));
    expect(def.kernelModules!.initramfs).toEqual(expect.arrayContaining(['i6300esb', 'ext4', 'overlay', 'virtio_scsi']));
  });

  it('refuses paths that climb out of kernel/, and a Debian definition without the list', () => {
    const doc = debianDoc();
    const km = doc.kernelModules as KernelModules;
    expect(issues({ ...doc, kernelModules: { ...km, trim: [{ remove: ['../firmware'] }, { keep: ['drivers/./x'] }] } })).toEqual([
      'kernelModules.trim[0].remove[0]: a path below kernel/ such as drivers/gpu',
      'kernelModules.trim[1].keep[0]: a path below kernel/ such as drivers/gpu',
    ]);
    const { kernelModules: _, ...without } = doc;
    expect(issues(without).join('\n')).toMatch(/^kernelModules: needed for the debian family/);
  });
});
