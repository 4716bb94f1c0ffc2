// Flags deploy and rollout share: how node data reaches the VMs (SFTP snippet or seed ISO), how to
// reach the Proxmox host by SSH, the health gate's timeout; and the dry-run printer.
import type { Command } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';
import type { Output } from '../../firstboot/lib/output.js';
import { DEFAULT_SNIPPETS_DIR, sftpSnippets, type SnippetWriter } from '../deploy/carriers.js';
import type { ClusterStatusEntry, ProxmoxApi } from '../proxmox/api.js';
import type { SshTarget } from '../ssh/session.js';
import { DEFAULT_GATE_TIMING, type GateTiming } from '../deploy/gates.js';
import type { SnippetMode } from '../deploy/node-vm.js';
import type { PlannedCall } from '../deploy/plan.js';
import { wireParams } from '../proxmox/http.js';

export interface PlacementFlags {
  proxmoxUrl?: string;
  snippets: string;
  snippetsDir: string;
  sshHost: string[];
  sshPort: string;
  sshUser: string;
  sshKey?: string;
  knownHosts: string;
  timeout: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function addPlacementOptions(cmd: Command): Command {
  return cmd
    .option('--snippets <how>', 'sftp: vendor-data snippet by SFTP + cicustom; iso: NoCloud seed ISO through the API', 'sftp')
    .option('--snippets-dir <dir>', "the snippet storage's snippets directory on the Proxmox hosts", DEFAULT_SNIPPETS_DIR)
    .option(
      '--ssh-host <[node=]host[:port]>',
      'SSH address of a Proxmox node\'s host, for its snippets (repeat per node; a bare host is the node PROXMOX_URL reaches; default: that host, and the other nodes\' addresses from /cluster/status)',
      collect,
      [],
    )
    .option('--ssh-port <port>', 'SSH port of the Proxmox hosts', '22')
    .option('--ssh-user <user>', 'SSH user on the Proxmox hosts (must write the snippets directory)', 'root')
    .option('--ssh-key <file>', 'private key for SSH (env OBER_SSH_KEY; default: the ssh-agent)')
    .option('--known-hosts <file>', 'known_hosts with the Proxmox hosts\' keys (checked strictly)', path.join(os.homedir(), '.ssh', 'known_hosts'))
    .option('--timeout <seconds>', 'health gate timeout per node', String(DEFAULT_GATE_TIMING.timeoutMs / 1000));
}

export interface Placement {
  mode: SnippetMode;
  timing: GateTiming;
  snippetsDir: string;
  /**
   * SFTP mode: the snippet writer, each file going to the host of the Proxmox node that runs its
   * VM (a node's `local` storage is its own disk). Hosts are resolved at first use, with the API
   * (/cluster/status) for nodes no --ssh-host names. Undefined in ISO mode.
   */
  snippetsFor(api: Pick<ProxmoxApi, 'clusterStatus'>): SnippetWriter | undefined;
}

interface HostAddress {
  host: string;
  port?: number;
}

/** Flags only: no host is needed before a call is made (a dry run makes none). */
export function resolvePlacement(flags: PlacementFlags, env: NodeJS.ProcessEnv = process.env): Placement {
  const issues: ConfigIssue[] = [];
  if (flags.snippets !== 'sftp' && flags.snippets !== 'iso') issues.push({ path: '--snippets', message: `'${flags.snippets}' is neither sftp nor iso` });
  const port = Number(flags.sshPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) issues.push({ path: '--ssh-port', message: `'${flags.sshPort}' is not a port` });
  const timeout = Number(flags.timeout);
  if (!(timeout > 0)) issues.push({ path: '--timeout', message: `'${flags.timeout}' is not a number of seconds` });
  if (!path.posix.isAbsolute(flags.snippetsDir)) issues.push({ path: '--snippets-dir', message: 'must be an absolute path on the Proxmox host' });
  const perNode = new Map<string, HostAddress>();
  let local: HostAddress | undefined;
  for (const value of flags.sshHost ?? []) {
    const m = /^(?:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)=)?(\[[0-9a-fA-F:]+\]|[^\s:=[\]]+)(?::(\d{1,5}))?$/.exec(value);
    if (!m) {
      issues.push({ path: '--ssh-host', message: `'${value}' is not [node=]host[:port]`, hint: 'e.g. --ssh-host pve2=10.0.0.2 or --ssh-host pve2=10.0.0.2:2222' });
      continue;
    }
    const address: HostAddress = { host: (m[2] as string).replace(/^\[|\]$/g, ''), ...(m[3] ? { port: Number(m[3]) } : {}) };
    if (m[1]) perNode.set(m[1], address);
    else local = address;
  }
  if (issues.length) throw new ConfigError('options', issues);
  const mode = flags.snippets as SnippetMode;
  const timing: GateTiming = { ...DEFAULT_GATE_TIMING, timeoutMs: timeout * 1000 };
  const urlHost = hostOf(flags.proxmoxUrl ?? env.PROXMOX_URL);
  const target = (a: HostAddress): SshTarget => ({
    host: a.host,
    port: a.port ?? port,
    username: flags.sshUser,
    keyFile: flags.sshKey ?? env.OBER_SSH_KEY,
    knownHostsFile: flags.knownHosts,
    hostKeyPolicy: 'strict',
  });
  return {
    mode,
    timing,
    snippetsDir: flags.snippetsDir,
    snippetsFor(api) {
      if (mode !== 'sftp') return undefined;
      let status: Promise<ClusterStatusEntry[]> | undefined;
      return sftpSnippets(async (pveNode) => {
        const named = perNode.get(pveNode);
        if (named) return target(named);
        const nodes = (await (status ??= api.clusterStatus())).filter((e) => e.type === 'node');
        const entry = nodes.find((e) => e.name === pveNode);
        // The node that answers the API is reached where PROXMOX_URL points (or the bare --ssh-host).
        if (entry?.local || nodes.length <= 1) {
          const here = local ?? (urlHost ? { host: urlHost } : undefined);
          if (here) return target(here);
        }
        if (entry?.ip) return target({ host: entry.ip });
        throw new ConfigError('options', [{ path: '--ssh-host', message: `no SSH address known for Proxmox node '${pveNode}'`, hint: `pass --ssh-host ${pveNode}=<host>` }]);
      }, flags.snippetsDir);
    },
  };
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
