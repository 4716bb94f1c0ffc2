// The appliance templates on the Proxmox side (made by `ober template create`, tagged
// `ober_<id>_<version>`), and choosing one from --template / --to.
import { ConfigError } from '../../firstboot/lib/errors.js';
import type { ClusterVm } from '../proxmox/api.js';
import { compareVersions, templateTagOf } from './identity.js';

export interface TemplateInfo {
  vmid: number;
  node: string;
  tag: string;
  id: string;
  version: string;
}

/** Every ober template, newest version first. */
export function listTemplates(vms: readonly ClusterVm[]): TemplateInfo[] {
  const out: TemplateInfo[] = [];
  for (const vm of vms) {
    if (vm.type !== 'qemu' || !vm.template) continue;
    const t = templateTagOf(vm);
    if (t) out.push({ vmid: vm.vmid, node: vm.node, ...t });
  }
  return out.sort((a, b) => compareVersions(b.version, a.version) || a.vmid - b.vmid);
}

/**
 * `--template` / `--to`: a VMID, `<id>_<version>`, or a version. Without one, the newest template
 * (deploy only). Ambiguity is an error, never a guess.
 */
export function selectTemplate(templates: readonly TemplateInfo[], selector: string | undefined, flag: string): TemplateInfo {
  const known = templates.map((t) => `${t.id}_${t.version} (VM ${t.vmid} on ${t.node})`).join(', ') || 'none';
  const fail = (message: string, hint = `templates: ${known}`): never => {
    throw new ConfigError('template', [{ path: flag, message, hint }]);
  };
  if (selector === undefined) {
    return templates[0] ?? fail('no ober template found (no template VM tagged ober_<id>_<version>)', 'create one: ober template create --image out/<id>_<version>.qcow2');
  }
  const s = selector.toLowerCase();
  const matches = /^\d+$/.test(s)
    ? templates.filter((t) => t.vmid === Number(s))
    : s.includes('_')
      ? templates.filter((t) => `${t.id}_${t.version}` === s)
      : templates.filter((t) => t.version === s);
  if (matches.length === 0) return fail(`no ober template matches '${selector}'`);
  if (matches.length > 1) return fail(`'${selector}' matches ${matches.length} templates`, `say which by <id>_<version> or VMID; templates: ${known}`);
  return matches[0] as TemplateInfo;
}
