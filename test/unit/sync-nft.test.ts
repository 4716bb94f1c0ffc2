// The nftables half of `ober sync`, in a network namespace this test creates: the rendered ruleset
// is loaded, the sets are replaced in one transaction, and a transaction with a bad element
// changes nothing.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { nftApply } from '../../firstboot/ops/nft-sets.js';
import { applySync, planSync } from '../../firstboot/ops/sync.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize } from '../helpers/materialize.js';

const ns = `ober-sync-${randomBytes(3).toString('hex')}`;
let node: NodeConfig;
let root: string;
let cleanup: () => Promise<void>;

const elements = async (set: string) => {
  const r = await run(['ip', 'netns', 'exec', ns, 'nft', '-j', 'list', 'set', 'inet', 'ober', set]);
  const data = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
  const elem = data.nftables.find((x) => x.set)?.set?.elem ?? [];
  return elem.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).sort();
};

beforeAll(async () => {
  const s = await scratchDir('sync-nft');
  root = s.dir;
  cleanup = s.cleanup;
  const cluster = await loadExample(EXAMPLES[0] ?? '');
  const m = await materialize(cluster, 'ober1', root);
  node = deriveNode(cluster, 'ober1');
  await run(['ip', 'netns', 'add', ns]);
  await run(['ip', 'netns', 'exec', ns, 'nft', '-f', m.layout.nftablesRules]);
});

afterAll(async () => {
  await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
  await cleanup?.();
});

describe('ober sync: nftables sets in table inet ober', () => {
  it('replaces routers (neighbours kept), admin and monitoring in one transaction', async () => {
    expect(await elements('admin')).toEqual([JSON.stringify({ prefix: { addr: '10.20.9.0', len: 24 } })]);
    const layout = nodeLayout(root);
    const plan = planSync(node, layout, { routers: ['10.20.0.7'], admin: ['192.168.50.0/24', '10.1.1.1'] }, {});
    expect(plan.issues).toEqual([]);
    await applySync(layout, plan, { nft: nftApply(['ip', 'netns', 'exec', ns]) });
    // auto-merge joins the two neighbours into one range.
    expect(await elements('routers')).toEqual(['10.20.0.7', JSON.stringify({ range: ['10.20.0.1', '10.20.0.2'] })]);
    // A network in a whitelist set that held only addresses before: the sets are interval sets.
    expect(await elements('admin')).toEqual(['10.1.1.1', JSON.stringify({ prefix: { addr: '192.168.50.0', len: 24 } })]);
  });

  it('a transaction with an invalid element leaves every set as it was', async () => {
    const before = await elements('admin');
    const layout = nodeLayout(root);
    const plan = planSync(node, layout, { admin: ['10.9.9.9'], routers: ['300.1.1.1'] }, {});
    await expect(applySync(layout, plan, { nft: nftApply(['ip', 'netns', 'exec', ns]) })).rejects.toThrow(/nft/);
    expect(await elements('admin')).toEqual(before);
  });
});
