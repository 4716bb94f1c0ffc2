// What the BGP health process does after withdrawing a VIP because HAProxy stopped answering:
// reset the clients' connections to that VIP on the S3 ports (resetS3ConnectionsArgs says why).
// ExaBGP's sandbox, and so its health process, has no CAP_NET_ADMIN for `ss -K`: on a node the
// reset is ober-reset@<vip>.service, started through systemd (root's D-Bus call needs no
// capability); without systemd (the lab, where the process has every capability) it runs ss itself.
import { run } from '../lib/exec.js';
import { resetS3ConnectionsArgs, resetUnitInstance } from '../render/image-files.js';

/** Resets the connections to one VIP; resolves to a failure's description, or undefined. */
export type ResetConnections = (vipAddress: string) => Promise<string | undefined>;

/**
 * After the withdraw line, the router needs a moment to drop this node: a connection reset before
 * that could reconnect to this node's stalled HAProxy and hang there.
 */
export const RESET_AFTER_WITHDRAW_MS = 300;

const RESET_TIMEOUT_MS = 10_000;

async function attempt(argv: string[]): Promise<string | undefined> {
  const r = await run(argv, { allowFailure: true, timeoutMs: RESET_TIMEOUT_MS }).catch((e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }));
  return r.exitCode === 0 ? undefined : `${argv.join(' ')}: exit ${r.exitCode} ${(r.stderr || r.stdout).trim().split('\n').at(-1) ?? ''}`.trim();
}

export const resetThroughSystemd: ResetConnections = (vip) => attempt(['systemctl', 'start', resetUnitInstance(vip)]);
export const resetDirectly: ResetConnections = (vip) => attempt(['ss', ...resetS3ConnectionsArgs(vip)]);

/**
 * `OBER_SYSTEMD=0` in the environment: no systemd manages this node's daemons (the lab's nodes,
 * whose ExaBGP starts `ober health` from the rendered exabgp.conf and passes its environment on).
 */
export const systemdManaged = (env: NodeJS.ProcessEnv = process.env) => env.OBER_SYSTEMD !== '0';
