// Node files outside the daemons: sysctl, the VIP holder interface, journald retention, the
// nftables rules, and the mode drop-in that ties the mode's units to HAProxy.
import { DEFAULT_SYSCTL } from '../model/defaults.js';
import type { NodeConfig, SourceList } from '../model/derive.js';
import type { RenderContext } from './context.js';
import { compile } from './engine.js';
import type { RenderedFile } from './files.js';
import { S3_PORTS, STATS_PORT } from './haproxy.js';
import { TEMPLATES } from './templates.js';

const sysctlTemplate = compile<{ header: string; settings: { key: string; value: string; why: string }[] }>(TEMPLATES.sysctlConf);
const netdevTemplate = compile<{ header: string }>(TEMPLATES.loVipNetdev);
const networkTemplate = compile<{ header: string; addresses: string[] }>(TEMPLATES.loVipNetwork);
const nmTemplate = compile<{ header: string; addresses: { index: number; address: string }[] }>(TEMPLATES.loVipNm);
const journaldTemplate = compile<{ header: string; retentionDays: number; maxDiskMB: number }>(TEMPLATES.journaldConf);
const nftTemplate = compile<NftView>(TEMPLATES.nftables);
/**
 * VRRP between two nodes that each master some VIP flows both ways, so conntrack calls it
 * established and the accept rule never sees it: the counter `ober doctor` reads (vrrp-traffic)
 * sits before the conntrack rule, counts and decides nothing.
 */
const VRRP_COUNTER_WHY = 'count VRRP adverts for ober doctor (no verdict: the rules below decide)';
const modeTemplate = compile<{ header: string; mode: string; upholds: string; upholdsText: string; drainTimeoutSec: number; stopTimeoutSec: number }>(
  TEMPLATES.modeConf,
);

/** Grace beyond hard-stop-after before systemd kills a stopping HAProxy: the master's own exit. */
const STOP_GRACE_SEC = 30;

interface NftView {
  header: string;
  sets: { name: string; interval: boolean; timeout?: boolean; elements: string }[];
  rules: { why: string; rule: string }[];
  /** Rules without a verdict, before conntrack's accept of established flows (which would hide these packets). */
  counters: { why: string; rule: string }[];
}

const WHY = new Map(DEFAULT_SYSCTL.map(([k, , why]) => [k, why]));

export function renderSysctl(node: NodeConfig, ctx: RenderContext): RenderedFile {
  const settings = node.sysctl.map(([key, value]) => ({ key, value, why: WHY.has(key) ? (WHY.get(key) ?? '') : 'cluster or node override' }));
  return { path: ctx.layout.sysctlFile, mode: 0o644, content: sysctlTemplate({ header: ctx.header, settings }) };
}

/** BGP mode: the dummy `lo-vip` holding the VIPs (networkd on Debian, NetworkManager on RHEL). */
export function renderVipHolder(node: NodeConfig, ctx: RenderContext): RenderedFile[] {
  if (node.mode !== 'bgp') return [];
  const addresses = node.vips.map((v) => v.address);
  if (ctx.target.family === 'rhel') {
    return [
      {
        path: `${ctx.layout.nmConnectionsDir}/lo-vip.nmconnection`,
        // NetworkManager ignores keyfiles readable by others.
        mode: 0o600,
        content: nmTemplate({ header: ctx.header, addresses: addresses.map((address, i) => ({ index: i + 1, address })) }),
      },
    ];
  }
  return [
    { path: `${ctx.layout.networkdDir}/10-lo-vip.netdev`, mode: 0o644, content: netdevTemplate({ header: ctx.header }) },
    { path: `${ctx.layout.networkdDir}/10-lo-vip.network`, mode: 0o644, content: networkTemplate({ header: ctx.header, addresses }) },
  ];
}

export function renderJournald(node: NodeConfig, ctx: RenderContext): RenderedFile {
  return {
    path: `${ctx.layout.journaldConfDir}/50-herr-ober.conf`,
    mode: 0o644,
    content: journaldTemplate({ header: ctx.header, ...node.logging }),
  };
}

export function renderModeDropIn(node: NodeConfig, ctx: RenderContext): RenderedFile {
  // ober-status publishes the node status API's documents in both modes (it listens on nothing).
  const units = [...(node.mode === 'bgp' ? ['ober-bgp.service'] : ['ober-ha.service', 'ober-track.service']), 'ober-status.service'];
  return {
    path: `${ctx.layout.runtimeUnitDir}/ober-http.service.d/50-mode.conf`,
    mode: 0o644,
    content: modeTemplate({
      header: ctx.header,
      mode: node.mode,
      upholds: units.join(' '),
      upholdsText: units.join(' and '),
      drainTimeoutSec: node.haproxy.drainTimeoutSec,
      stopTimeoutSec: node.haproxy.drainTimeoutSec + STOP_GRACE_SEC,
    }),
  };
}

/** The nftables table of templates/nftables.nft.hbs. */
export const NFT_TABLE = 'inet ober';
/** Whitelist sets in that table, by whitelist key: `ober sync` replaces their elements at run time. */
export const NFT_SETS = { admin: 'admin', frontendHttp: 'frontend_http', monitoring: 'monitoring', routers: 'routers' } as const;

/**
 * Matches a packet for which the kernel finds a socket (a listener or a connection) on its address
 * and port; with none the expression does not match. Transparent or not: either is HAProxy's.
 */
const LISTENER_PRESENT = 'socket transparent { 0, 1 }';
const NO_LISTENER_WHY =
  'with no listener (HAProxy killed, restarting, not yet started) a connection attempt falls to the drop policy instead of being refused, ' +
  'so the client retransmits its SYN (after 1 s, 3 s) until HAProxy is back or the VIP has moved, rather than failing at once';

/**
 * keepalived: VIPs whose new connections `ober stop` holds (drops) while the requests running on
 * them finish, before it hands them over. Its elements carry a timeout: a stop that dies mid-way
 * does not hold them for ever.
 */
export const HOLD_SET = 'holding';

/** BFD control (3784) and echo (3785) ports, RFC 5881. */
const BFD_PORTS = '3784, 3785';
/** IP protocol number of VRRP. */
const VRRP_MULTICAST = '224.0.0.18';

export function renderNftables(node: NodeConfig, ctx: RenderContext): RenderedFile {
  const sets: NftView['sets'] = [];
  const rules: NftView['rules'] = [];
  const counters: NftView['counters'] = [];
  /** Name of a set holding `list`, or undefined when the list allows any source. */
  const setFor = (name: string, list: SourceList | string[], whitelist: boolean): string | undefined => {
    const entries = Array.isArray(list) ? list : list.any ? undefined : list.entries;
    if (entries === undefined) return undefined;
    // An empty list admits nobody: the set stays, without elements (nft accepts an empty set), so
    // the rule is closed. A placeholder element would admit it: 0.0.0.0 is a source address a
    // host on the LAN can send from (DHCP clients do), and a forged VRRP advert needs one packet.
    // Whitelists always take networks: `ober sync` may add one at run time, and a set's flags
    // cannot change while rules refer to it.
    sets.push({ name, interval: whitelist || entries.some((e) => e.includes('/')), elements: entries.join(', ') });
    return `@${name}`;
  };
  const from = (set: string | undefined) => (set ? `ip saddr ${set} ` : '');

  const admin = setFor(NFT_SETS.admin, node.whitelists.admin, true);
  rules.push({ why: 'SSH from the admin whitelist', rule: `${from(admin)}tcp dport 22 accept` });
  const vips = setFor('vips', node.vips.map((v) => v.address), false);
  const frontend = setFor(NFT_SETS.frontendHttp, node.whitelists.frontendHttp, true);
  if (node.mode === 'keepalived') {
    sets.push({ name: HOLD_SET, interval: false, timeout: true, elements: '' });
    rules.push({ why: "new S3 connections to a VIP that `ober stop` is handing over (established ones pass above): held, the client's SYN comes back after 1 s to the node that took the VIP", rule: `ip daddr @${HOLD_SET} tcp dport { ${S3_PORTS.http}, ${S3_PORTS.https} } drop` });
  }
  rules.push({ why: `S3 on the VIPs from the frontend whitelist, while HAProxy listens: ${NO_LISTENER_WHY}`, rule: `ip daddr ${vips} ${from(frontend)}tcp dport { ${S3_PORTS.http}, ${S3_PORTS.https} } ${LISTENER_PRESENT} accept` });
  const monitoring = setFor(NFT_SETS.monitoring, node.whitelists.monitoring, true);
  rules.push({ why: 'stats, /metrics and /health from the monitoring whitelist', rule: `${from(monitoring)}tcp dport ${STATS_PORT} accept` });
  if (node.bgp) {
    const routers = setFor(NFT_SETS.routers, node.whitelists.routers, true);
    rules.push({ why: 'BGP from the routers', rule: `${from(routers)}tcp dport 179 accept` });
    if (node.bgp.bfd.enabled) rules.push({ why: 'BFD control and echo from the routers (RFC 5881)', rule: `${from(routers)}udp dport { ${BFD_PORTS} } accept` });
  }
  if (node.keepalived?.unicast) {
    // A one-node cluster has no peer to hear adverts from: no VRRP rule at all.
    if (node.peers.length) {
      const peers = setFor('vrrp_peers', node.peers.map((p) => p.address), false);
      rules.push({ why: 'VRRP adverts from the other nodes (unicast)', rule: `${from(peers)}ip protocol vrrp accept` });
      counters.push({ why: VRRP_COUNTER_WHY, rule: `${from(peers)}ip protocol vrrp counter` });
    }
  } else if (node.keepalived) {
    rules.push({ why: 'VRRP adverts (multicast)', rule: `ip daddr ${VRRP_MULTICAST} ip protocol vrrp accept` });
    counters.push({ why: VRRP_COUNTER_WHY, rule: `ip daddr ${VRRP_MULTICAST} ip protocol vrrp counter` });
  }
  return { path: ctx.layout.nftablesRules, mode: 0o644, content: nftTemplate({ header: ctx.header, sets, rules, counters }) };
}
