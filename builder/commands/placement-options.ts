// Flags deploy and rollout share: how node data reaches the VMs (SFTP snippet or seed ISO), how to
// reach the Proxmox host by SSH, the health gate's timeout; and the dry-run printer.
import type { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import type { Output } from '../../firstboot/lib/output.js';
import { DEFAULT_SNIPPETS_DIR, sftpSnippets, type SnippetWriter } from '../deploy/carriers.js';
import { DEFAULT_GATE_TIMING, type GateTiming } from '../deploy/gates.js';
import type { SnippetMode } from '../deploy/node-vm.js';
import type { PlannedCall } from '../deploy/plan.js';
import { wireParams } from '../proxmox/http.js';

export interface PlacementFlags {
  proxmoxUrl?: string;
  snippets: string;
  snippetsDir: string;
  sshHost?: string;
  sshPort: string;
  sshUser: string;
  sshKey?: string;
  knownHosts: string;
  timeout: string;
}

export function addPlacementOptions(cmd: Command): Command {
  return cmd
    .option('--snippets <how>', 'sftp: vendor-data snippet by SFTP + cicustom; iso: NoCloud seed ISO through the API', 'sftp')
    .option('--snippets-dir <dir>', "the snippet storage's snippets directory on the Proxmox host", DEFAULT_SNIPPETS_DIR)
    .option('--ssh-host <host>', 'Proxmox host for SFTP (default: the host of PROXMOX_URL)')
    .option('--ssh-port <port>', 'SSH port of the Proxmox host', '22')
    .option('--ssh-user <user>', 'SSH user on the Proxmox host (must write the snippets directory)', 'root')
    .option('--ssh-key <file>', 'private key for SSH (env OBER_SSH_KEY; default: the ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts with the Proxmox host key (checked strictly)', path.join(os.homedir(), '.ssh', 'known_hosts'))
    .option('--timeout <seconds>', "health gate timeout per node", String(DEFAULT_GATE_TIMING.timeoutMs / 1000));
}

export interface Placement {
  mode: SnippetMode;
  timing: GateTiming;
  snippetsDir: string;
  /** Opens the SSH connection at first use; undefined in ISO mode. */
  snippets?: SnippetWriter;
}

export function resolvePlacement(flags: PlacementFlags, env: NodeJS.ProcessEnv = process.env): Placement {
  const issues: ConfigIssue[] = [];
  if (flags.snippets !== 'sftp' && flags.snippets !== 'iso') issues.push({ path: '--snippets', message: `'${flags.snippets}' is neither sftp nor iso` });
  const port = Number(flags.sshPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) issues.push({ path: '--ssh-port', message: `'${flags.sshPort}' is not a port` });
  const timeout = Number(flags.timeout);
  if (!(timeout > 0)) issues.push({ path: '--timeout', message: `'${flags.timeout}' is not a number of seconds` });
  if (!path.posix.isAbsolute(flags.snippetsDir)) issues.push({ path: '--snippets-dir', message: 'must be an absolute path on the Proxmox host' });
  const host = flags.sshHost ?? hostOf(flags.proxmoxUrl ?? env.PROXMOX_URL);
  if (flags.snippets === 'sftp' && !host) issues.push({ path: '--ssh-host', message: 'not given and PROXMOX_URL has no host' });
  if (issues.length) throw new ConfigError('options', issues);
  const mode = flags.snippets as SnippetMode;
  const timing: GateTiming = { ...DEFAULT_GATE_TIMING, timeoutMs: timeout * 1000 };
  const snippets =
    mode === 'sftp'
      ? sftpSnippets(
          { host: host as string, port, username: flags.sshUser, keyFile: flags.sshKey ?? env.OBER_SSH_KEY, knownHostsFile: flags.knownHosts, hostKeyPolicy: 'strict' },
          flags.snippetsDir,
        )
      : undefined;
  return { mode, timing, snippetsDir: flags.snippetsDir, snippets };
}

function hostOf(url: string | undefined): string | undefined {
  try {
    return url ? new URL(url).hostname.replace(/^\[|\]$/g, '') || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** Calls as printed: paths decoded (placeholders readable), parameters as they go on the wire. */
export function printableCalls(calls: PlannedCall[]): { method: string; path: string; params: Record<string, string>; note?: string }[] {
  return calls.map((c) => ({
    method: c.method,
    path: c.method === 'GET' || c.method === 'POST' || c.method === 'PUT' || c.method === 'DELETE' ? decodeURIComponent(c.path) : c.path,
    params: Object.fromEntries(wireParams(c.params)),
    ...(c.note ? { note: c.note } : {}),
  }));
}

export function printCalls(out: Output, calls: ReturnType<typeof printableCalls>): void {
  for (const call of calls) {
    out.result(`  ${call.method.padEnd(6)} ${call.path}`);
    for (const [k, v] of Object.entries(call.params)) out.result(`           ${k}=${v}`);
    if (call.note) out.result(`           (${call.note})`);
  }
}
