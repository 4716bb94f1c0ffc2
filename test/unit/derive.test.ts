// The derivation takes every default from the schema (its one source): a keepalived cluster file
// without a keepalived section derives exactly what the schema's defaults say.
import { describe, expect, it } from 'vitest';
import { deriveNode } from '../../firstboot/model/derive.js';
import { KEEPALIVED_DEFAULTS } from '../../firstboot/model/schema.js';
import { EXAMPLES, loadExample } from '../helpers/fixtures.js';

describe('deriveNode defaults', () => {
  it('a keepalived cluster without a keepalived section gets the schema defaults', async () => {
    const cluster = await loadExample(EXAMPLES[1] ?? '');
    const bare = { ...cluster, keepalived: undefined };
    const node = deriveNode(bare, 'ober1');
    expect(node.keepalived).toMatchObject({
      interface: KEEPALIVED_DEFAULTS.interface,
      unicast: KEEPALIVED_DEFAULTS.transport === 'unicast',
      advertIntervalMs: KEEPALIVED_DEFAULTS.advertIntervalMs,
    });
    expect(node.vips.map((v) => v.vrrp?.vrid)).toEqual(cluster.vips.map((v, i) => v.vrid ?? KEEPALIVED_DEFAULTS.vridBase + i));
  });

  it('a keepalived section overrides them', async () => {
    const cluster = await loadExample(EXAMPLES[1] ?? '');
    const node = deriveNode({ ...cluster, keepalived: { ...KEEPALIVED_DEFAULTS, interface: 'ens18', transport: 'multicast', advertIntervalMs: 300, vridBase: 90 } }, 'ober1');
    expect(node.keepalived).toMatchObject({ interface: 'ens18', unicast: false, advertIntervalMs: 300 });
    expect(node.vips[0]?.vrrp?.vrid).toBe(cluster.vips[0]?.vrid ?? 90);
  });
});
