import type { NodeConfig } from '../model/derive.js';
import type { RenderContext } from './context.js';
import { compile } from './engine.js';
import type { RenderedFile } from './files.js';
import { TEMPLATES } from './templates.js';

/** What the VRRP notify script is told of this node's part in a VIP (vrrp-notify.sh.hbs). */
export type NotifyRole = 'owner' | 'backup';

interface KeepalivedView {
  header: string;
  routerId: string;
  vrrpV3: boolean;
  interface: string;
  advertInt: string;
  unicast: boolean;
  sourceAddress: string;
  peers: string[];
  trackFile: string;
  trackWeight: number;
  trackWeightAbs: number;
  notifyScript: string;
  /** `notifyRole`: the notify script's second argument; only the owner resets its clients' connections when its VIP goes. */
  instances: { name: string; vipName: string; address: string; vrid: number; priority: number; owner: string; rank: number; role: string; notifyRole: NotifyRole }[];
}

const template = compile<KeepalivedView>(TEMPLATES.keepalivedConf);

/** VRRP instance of a VIP; also the name of its state file written by the notify script. */
export const vrrpInstanceName = (vipName: string) => `vip_${vipName}`;

/** keepalived.conf with one VRRP instance per VIP. Empty outside keepalived mode. */
export function renderKeepalived(node: NodeConfig, ctx: RenderContext): RenderedFile[] {
  const ka = node.keepalived;
  if (!ka) return [];
  const view: KeepalivedView = {
    header: ctx.header,
    routerId: node.node.name,
    // VRRPv2 (RFC 3768) counts whole seconds; anything else needs v3.
    vrrpV3: ka.advertIntervalMs % 1000 !== 0,
    interface: ka.interface,
    advertInt: (ka.advertIntervalMs / 1000).toString(),
    // A node without peers (a one-node cluster) has nobody to send unicast adverts to; keepalived
    // refuses unicast_src_ip without unicast_peer, so it falls back to multicast, harmlessly.
    unicast: ka.unicast && node.peers.length > 0,
    sourceAddress: node.node.address,
    peers: node.peers.map((p) => p.address),
    trackFile: ctx.layout.trackFile,
    trackWeight: ka.trackWeight,
    trackWeightAbs: Math.abs(ka.trackWeight),
    notifyScript: ctx.layout.notifyScript,
    instances: node.vips.flatMap((v) => {
      if (!v.vrrp) return [];
      const rank = v.vrrp.ranking.indexOf(node.node.name);
      const owns = rank === 0;
      return [
        {
          name: vrrpInstanceName(v.name),
          vipName: v.name,
          address: v.address,
          vrid: v.vrrp.vrid,
          priority: v.vrrp.priority,
          owner: v.vrrp.owner,
          rank: rank + 1,
          role: owns ? 'owner' : `backup ${rank}`,
          notifyRole: owns ? 'owner' : 'backup',
        },
      ];
    }),
  };
  return [{ path: ctx.layout.keepalivedConf, mode: 0o644, content: template(view) }];
}
