// `ober template create --image out/<id>_<version>.qcow2`: make the Proxmox VM template deploy clones.
import type { Command } from 'commander';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import type { Output } from '../../firstboot/lib/output.js';
import type { Register } from '../../firstboot/lib/program.js';
import { requireReadable } from '../../firstboot/lib/flags.js';
import { connect } from '../proxmox/client.js';
import { wireParams } from '../proxmox/http.js';
import { addConnectionOptions, resolveConnection, type ConnectionFlags } from '../proxmox/connection.js';
import { DEFAULT_HARDWARE, createTemplate, imageRef, planTemplate, sha256File, type Hardware, type TemplateOptions } from '../proxmox/template.js';

interface CreateFlags extends ConnectionFlags {
  image: string;
  node?: string;
  storage?: string;
  importStorage?: string;
  vmid?: string;
  bios: string;
  cores: string;
  memory: string;
  bridge: string;
  secureBoot: boolean;
  dryRun?: boolean;
}

export const registerTemplate: Register = (program, ctx) => {
  const template = program.command('template').description('Proxmox VM templates made from appliance images');
  const create = template
    .command('create')
    .description('upload an image and turn it into a VM template (no-op when the template for this image exists)')
    .requiredOption('--image <qcow2>', 'image built by ober build-image: out/<id>_<version>.qcow2')
    .option('--node <node>', 'Proxmox node (default: the only node)')
    .option('--storage <storage>', 'storage for the VM disks, content images (default: the first such)')
    .option('--import-storage <storage>', 'file storage to upload to, content import (default: the first such)')
    .option('--vmid <id>', 'VMID of the template (default: the next free one)')
    .option('--bios <firmware>', 'ovmf or seabios (the image boots with both)', DEFAULT_HARDWARE.bios)
    .option('--cores <n>', 'vCPUs (also the number of virtio-net queues)', String(DEFAULT_HARDWARE.cores))
    .option('--memory <mib>', 'memory in MiB', String(DEFAULT_HARDWARE.memory))
    .option('--bridge <bridge>', 'bridge of the first NIC', DEFAULT_HARDWARE.bridge)
    .option('--no-secure-boot', 'OVMF without enrolled keys (Secure Boot off); default: on, with Proxmox\'s pre-enrolled keys')
    .option('--dry-run', 'print the API calls it would make, make none');
  addConnectionOptions(create).action(async (flags: CreateFlags, cmd: Command) => {
    const out = ctx.output(cmd);
    const opts = templateOptions(flags);
    imageRef(opts.image); // the name first: it says what the file must be
    await requireReadable(opts.image, '--image', 'ober template create', 'build one with ober build-image (it writes out/<id>_<version>.qcow2)');
    if (flags.dryRun) return printPlan(out, opts);
    const client = await connect(resolveConnection(flags), { onRetry: (m) => out.warn(m) });
    try {
      const title = `template from ${path.basename(opts.image)}`;
      const result = await out.progress().steps([title], (log) =>
        createTemplate(client, opts, { step: (m) => log(title, m), uploadProgress: (sent, total) => log(title, uploadLine(sent, total), { transient: sent < total }) }),
      );
      if (out.json) out.emitJson({ ok: true, ...result });
      else if (result.status === 'exists') out.result(`template ${result.vmid} (${result.tag}) on ${result.node} already exists: nothing done`);
      else out.ok(`template ${result.vmid} ${result.name} (${result.tag}) created on ${result.node}`);
    } finally {
      await client.close();
    }
  });
};

function templateOptions(flags: CreateFlags): TemplateOptions {
  const issues: ConfigIssue[] = [];
  const int = (flag: string, text: string | undefined, min: number, max: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) issues.push({ path: flag, message: `'${text}' is not a whole number from ${min} to ${max}` });
    return n;
  };
  const vmid = int('--vmid', flags.vmid, 100, 999_999_999);
  const cores = int('--cores', flags.cores, 1, 64) ?? DEFAULT_HARDWARE.cores;
  const memory = int('--memory', flags.memory, 256, 4 * 1024 * 1024) ?? DEFAULT_HARDWARE.memory;
  if (flags.bios !== 'ovmf' && flags.bios !== 'seabios') issues.push({ path: '--bios', message: `'${flags.bios}' is neither ovmf nor seabios` });
  if (issues.length) throw new ConfigError('ober template create', issues);
  const hardware: Hardware = { cores, memory, bios: flags.bios as Hardware['bios'], bridge: flags.bridge, secureBoot: flags.secureBoot };
  return { image: flags.image, node: flags.node, storage: flags.storage, importStorage: flags.importStorage, vmid, hardware };
}

async function printPlan(out: Output, opts: TemplateOptions): Promise<void> {
  const image = imageRef(opts.image);
  const plan = planTemplate(opts, image, await sha256File(image.path));
  // Paths are shown decoded (placeholders readable), parameters as they would go on the wire.
  const calls = plan.map(({ request, note }) => ({
    method: request.method,
    path: decodeURIComponent(request.path),
    params: Object.fromEntries(wireParams(request.params)),
    ...(note ? { note } : {}),
  }));
  if (out.json) return out.emitJson({ ok: true, dryRun: true, calls });
  out.result(`dry run: the API calls for ${image.fileName} (none made)`);
  for (const call of calls) {
    out.result(`  ${call.method.padEnd(6)} ${call.path}`);
    for (const [k, v] of Object.entries(call.params)) out.result(`           ${k}=${v}`);
    if (call.note) out.result(`           (${call.note})`);
  }
}

/** Bytes sent of an upload (a log file gets one every few seconds: the last one is always shown). */
function uploadLine(sent: number, total: number): string {
  const pct = total ? Math.floor((sent / total) * 100) : 100;
  return `upload ${pct}% (${(sent / 1024 ** 2).toFixed(1)} of ${(total / 1024 ** 2).toFixed(1)} MiB)`;
}
