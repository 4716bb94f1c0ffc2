// A node behind its rendered firewall, and a client: two network namespaces joined by a veth, the
// node's first VIP on its lo, the node's nftables rules as first boot renders them. For tests of
// what the firewall does to connections (test/unit/firewall-listener, test/unit/stop-hold).
import { randomBytes } from 'node:crypto';
import { execa, type ResultPromise } from 'execa';
import { run } from '../../firstboot/lib/exec.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { scratchDir } from './fixtures.js';
import { materialize } from './materialize.js';

export const NODE_ADDRESS = '10.20.0.11';
/** In the examples' frontend whitelists. */
export const CLIENT_ADDRESS = '10.20.0.50';

export const inNs = (ns: string, argv: readonly string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];

export interface FirewallPair {
  nodeNs: string;
  clientNs: string;
  vip: string;
  teardown(): Promise<void>;
}

/** `prefix` names the namespaces (`<prefix>-n-<id>`, `<prefix>-c-<id>`) and the scratch directory. */
export async function firewallPair(prefix: string, cluster: Cluster, node: string): Promise<FirewallPair> {
  const id = randomBytes(3).toString('hex');
  const nodeNs = `${prefix}-n-${id}`;
  const clientNs = `${prefix}-c-${id}`;
  const s = await scratchDir(prefix);
  const vip = cluster.vips[0]?.address ?? '';
  const m = await materialize(cluster, node, s.dir);
  const teardown = async () => {
    for (const ns of [nodeNs, clientNs]) await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
    await s.cleanup();
  };
  try {
    for (const ns of [nodeNs, clientNs]) await run(['ip', 'netns', 'add', ns]);
    const [nodeIf, clientIf] = [`fw${id}n`, `fw${id}c`];
    await run(['ip', 'link', 'add', nodeIf, 'netns', nodeNs, 'type', 'veth', 'peer', 'name', clientIf, 'netns', clientNs]);
    for (const [ns, dev, address] of [[nodeNs, nodeIf, NODE_ADDRESS], [clientNs, clientIf, CLIENT_ADDRESS]] as const) {
      await run(inNs(ns, ['ip', 'addr', 'add', `${address}/24`, 'dev', dev]));
      await run(inNs(ns, ['ip', 'link', 'set', dev, 'up']));
      await run(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']));
    }
    await run(inNs(nodeNs, ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo']));
    await run(inNs(clientNs, ['ip', 'route', 'add', `${vip}/32`, 'via', NODE_ADDRESS]));
    await run(inNs(nodeNs, ['nft', '-f', m.layout.nftablesRules]));
  } catch (e) {
    await teardown();
    throw e;
  }
  return { nodeNs, clientNs, vip, teardown };
}

/**
 * Start a server in a namespace; resolves once it printed its first line (it listens). The process
 * comes back wrapped: returned bare from an async function, the promise-like process would be awaited.
 */
export async function startListener(ns: string, argv: readonly string[]): Promise<{ process: ResultPromise }> {
  const child = execa('ip', ['netns', 'exec', ns, ...argv], { reject: false });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    void child.then((r) => reject(new Error(`the listener exited: ${r.stderr}`)));
  });
  return { process: child };
}
