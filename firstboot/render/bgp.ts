import type { NodeConfig } from '../model/derive.js';
import type { RenderContext } from './context.js';
import { compile } from './engine.js';
import type { RenderedFile } from './files.js';
import { TEMPLATES } from './templates.js';

interface ExabgpView {
  header: string;
  routerId: string;
  localAddress: string;
  localAs: number;
  holdTime: number;
  processes: { name: string; run: string }[];
  processList: string;
  neighbors: { address: string; peerAs: number; md5Password?: string }[];
}

interface BirdView {
  header: string;
  routerId: string;
  localAddress: string;
  intervalMs: number;
  multiplier: number;
  neighbors: string[];
}

const exabgpTemplate = compile<ExabgpView>(TEMPLATES.exabgpConf);
const exabgpEnvTemplate = compile<{ header: string }>(TEMPLATES.exabgpEnv);
const birdTemplate = compile<BirdView>(TEMPLATES.birdConf);

/** ExaBGP process name of a VIP's health process. */
export const healthProcessName = (vipName: string) => `health-${vipName}`;

/** ExaBGP config and environment, and (BFD on) BIRD's BFD-only config. Empty outside BGP mode. */
export function renderBgp(node: NodeConfig, ctx: RenderContext): RenderedFile[] {
  const bgp = node.bgp;
  if (!bgp) return [];
  const processes = node.vips.map((v) => ({ name: healthProcessName(v.name), run: `${ctx.layout.oberBin} health ${v.name}` }));
  const exabgp: ExabgpView = {
    header: ctx.header,
    routerId: node.node.routerId,
    localAddress: node.node.address,
    localAs: bgp.localAs,
    holdTime: bgp.holdTime,
    processes,
    processList: processes.map((p) => p.name).join(', '),
    neighbors: bgp.neighbors.map((n) => ({ address: n.address, peerAs: n.peerAs, ...(n.md5Password ? { md5Password: n.md5Password } : {}) })),
  };
  const hasSecret = bgp.neighbors.some((n) => n.md5Password);
  const files: RenderedFile[] = [
    // The MD5 password is in there: root only.
    { path: ctx.layout.exabgpConf, mode: hasSecret ? 0o600 : 0o644, content: exabgpTemplate(exabgp) },
    { path: ctx.layout.exabgpEnv, mode: 0o644, content: exabgpEnvTemplate({ header: ctx.header }) },
  ];
  if (bgp.bfd.enabled) {
    files.push({
      path: ctx.layout.birdConf,
      mode: 0o644,
      content: birdTemplate({
        header: ctx.header,
        routerId: node.node.routerId,
        localAddress: node.node.address,
        intervalMs: bgp.bfd.intervalMs,
        multiplier: bgp.bfd.multiplier,
        neighbors: bgp.neighbors.map((n) => n.address),
      }),
    });
  }
  return files;
}
