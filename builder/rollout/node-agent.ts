// Taking a node out of service before its VM is stopped: the node's own `ober stop` (withdraw or
// hand over its VIPs, drain HAProxy), run over SSH. An interface, so tests use a fake.
import { shellQuote } from '../../firstboot/lib/errors.js';
import { forgetHostKey } from '../ssh/known-hosts.js';
import { openSsh, type SshTarget } from '../ssh/session.js';

export interface DrainResult {
  ok: boolean;
  detail: string;
}

export interface NodeAgent {
  drain(node: string, address: string): Promise<DrainResult>;
  /** Another VM answers at the node's address now (new SSH host keys): forget the recorded ones. */
  replaced?(node: string, address: string): Promise<void>;
}

export interface SshAgentOptions extends Omit<SshTarget, 'host'> {
  /** The remote command; the image gives cloud-init's user passwordless sudo. */
  command: string[];
  timeoutMs: number;
}

export const DEFAULT_STOP_COMMAND = ['sudo', '-n', 'ober', 'stop', '--json'];

export function sshNodeAgent(o: SshAgentOptions): NodeAgent {
  return {
    async drain(node, address) {
      const session = await openSsh({ ...o, host: address });
      try {
        const r = await session.exec(o.command, o.timeoutMs);
        const tail = (r.stderr || r.stdout).trim().split('\n').slice(-5).join(' | ');
        const what = o.command.map(shellQuote).join(' ');
        return r.code === 0 ? { ok: true, detail: `${what} on ${node}: done` } : { ok: false, detail: `${what} on ${node} exited ${r.code}: ${tail}` };
      } finally {
        session.close();
      }
    },
    async replaced(_node, address) {
      await forgetHostKey(o.knownHostsFile, address, o.port);
    },
  };
}
