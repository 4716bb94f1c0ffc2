// Trimming the kernel's module tree to what a Proxmox/QEMU VM can use. Debian's cloud kernel has
// no i6300esb watchdog, AHCI or e1000 driver, so the image ships the generic kernel (~390 MiB of
// modules) and drops the hardware a VM never has (GPUs, sound, Wi-Fi, InfiniBand, FC HBAs, ...).
// Pure: the customize stage feeds it the tree's module list, modules.dep and modules.builtin,
// deletes what it returns and runs depmod.
import path from 'node:path';
import type { ConfigIssue } from '../../firstboot/lib/errors.js';
import type { KernelModules } from './definition.js';

export interface ModuleIndex {
  /** Every module file, relative to /lib/modules/<version> (`kernel/drivers/…/x.ko`), as modules.dep lists them. */
  modules: string[];
  /** modules.dep: module file → the module files it needs. */
  depends: Map<string, string[]>;
  /** Names of the modules built into the kernel (modules.builtin), normalised. */
  builtin: Set<string>;
}

export interface ModuleTrim {
  keep: string[];
  remove: string[];
  /** Definition paths (`kernelModules.…`) with what is wrong; empty when the trim is sound. */
  problems: ConfigIssue[];
}

/** `kernel/drivers/watchdog/i6300esb.ko` → `i6300esb`; dashes and underscores are one to modprobe. */
export function moduleName(file: string): string {
  return path.posix.basename(file).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** modules.dep text → module files and their dependencies. */
export function parseModulesDep(text: string): Pick<ModuleIndex, 'modules' | 'depends'> {
  const depends = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    depends.set(line.slice(0, colon), line.slice(colon + 1).split(/\s+/).filter(Boolean));
  }
  return { modules: [...depends.keys()].sort(), depends };
}

export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').filter(Boolean).map(moduleName));
}

/**
 * Which module files go. Rules are subtrees of `kernel/` (a directory or one file); for each
 * module the last rule that matches wins, like dpkg's path-exclude/path-include, so `keep` re-admits
 * part of a removed subtree. The trim is refused when a rule matches nothing (a typo, or a kernel
 * that moved the driver), when a kept module needs a removed one, or when a required module is
 * neither kept nor built in.
 */
export function planModuleTrim(index: ModuleIndex, spec: KernelModules, version: string): ModuleTrim {
  const problems: ConfigIssue[] = [];
  const rules = spec.trim.flatMap((r, i) =>
    'remove' in r
      ? r.remove.map((prefix, j) => ({ prefix, keep: false, path: `kernelModules.trim[${i}].remove[${j}]` }))
      : r.keep.map((prefix, j) => ({ prefix, keep: true, path: `kernelModules.trim[${i}].keep[${j}]` })),
  );
  for (const r of rules) {
    if (!index.modules.some((m) => under(m, r.prefix))) problems.push({ path: r.path, message: `'${r.prefix}' matches no module of kernel ${version}` });
  }
  const lastFirst = [...rules].reverse();
  const keep: string[] = [];
  const remove: string[] = [];
  for (const m of index.modules) {
    const last = lastFirst.find((r) => under(m, r.prefix));
    (last && !last.keep ? remove : keep).push(m);
  }
  const removed = new Set(remove);
  for (const m of keep) {
    for (const d of (index.depends.get(m) ?? []).filter((x) => removed.has(x))) {
      problems.push({
        path: 'kernelModules.trim',
        message: `${m} (kept) needs ${d}, which the trim removes`,
        hint: `keep ${d.replace(/^kernel\//, '')} too, or remove ${m.replace(/^kernel\//, '')}`,
      });
    }
  }
  const kept = new Set(keep.map(moduleName));
  const present = (name: string): boolean => kept.has(name.replace(/-/g, '_')) || index.builtin.has(name.replace(/-/g, '_'));
  const exists = (name: string): boolean => index.modules.some((m) => moduleName(m) === name.replace(/-/g, '_'));
  for (const list of ['require', 'initramfs'] as const) {
    spec[list].forEach((name, i) => {
      if (!present(name)) problems.push({ path: `kernelModules.${list}[${i}]`, message: exists(name) ? `${name} is removed by the trim rules` : `kernel ${version} has no module ${name}` });
    });
  }
  return { keep, remove, problems };
}

/**
 * `kernel/drivers/gpu/drm/x.ko` is under `drivers/gpu` and under `drivers/gpu/drm/x.ko`, not under
 * `drivers/g`. A rule naming `x.ko` also names the compressed file (Debian 13's kernel ships
 * `x.ko.xz`), so one definition fits kernels with and without module compression.
 */
function under(module: string, prefix: string): boolean {
  const p = `kernel/${prefix.replace(/\/+$/, '')}`;
  return module === p || module.startsWith(`${p}/`) || (p.endsWith('.ko') && /^\.(xz|zst|gz)$/.test(module.slice(p.length)) && module.startsWith(p));
}

