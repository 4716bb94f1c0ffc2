// How the metadata readers report a bad container: a ConfigError whose source is the file (or
// drive) at fault, so every message names what to look at.
import { ConfigError } from '../lib/errors.js';

/** One problem in one file. `where` is the path inside the document ('' for the file itself). */
export function problem(file: string, message: string, hint?: string, where = ''): ConfigError {
  return new ConfigError(file, [{ path: where, message, ...(hint ? { hint } : {}) }]);
}

/** The hint for anything wrong with the drive Proxmox generates: regenerate it. */
export const REGENERATE_DRIVE =
  'regenerate the cloud-init drive: `qm cloudinit update <vmid>` on the Proxmox host (or remove and re-add the CloudInit drive), then reboot the VM';

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}
