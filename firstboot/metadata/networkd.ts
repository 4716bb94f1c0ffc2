// systemd-networkd .network files for the NICs a drive configures, one per NIC matched by MAC
// address (systemd.network(5): [Match] MACAddress=, [Network] Address= Gateway= DNS= Domains=
// DHCP=, [Link] MTUBytes=). Written to /run/systemd/network, which networkd reads before /etc and
// /usr/lib and which is rebuilt every boot, like everything else an immutable node derives.
// Pure: the caller installs the files.
import { InternalError } from '../lib/errors.js';
import type { RenderedFile } from '../render/files.js';
import type { NetworkConfigDoc } from './metadata.js';
import { type LinkPlan, networkPlan } from './network-plan.js';

export const NETWORKD_DIR = '/run/systemd/network';

/** Validates the configuration (ConfigError naming the file and each bad field) and renders it. */
export function networkdFiles(cfg: NetworkConfigDoc): RenderedFile[] {
  return networkPlan(cfg).map((link) => ({ path: networkdPath(link), mode: 0o644, content: renderLink(link) }));
}

/** `10-ober-525400123456.network`: sorts before distribution defaults such as 99-default. */
export function networkdPath(link: LinkPlan): string {
  return `${NETWORKD_DIR}/10-ober-${link.mac.replace(/:/g, '')}.network`;
}

function renderLink(l: LinkPlan): string {
  const dhcp = l.dhcp4 && l.dhcp6 ? 'yes' : l.dhcp4 ? 'ipv4' : l.dhcp6 ? 'ipv6' : undefined;
  const sections: [string, [string, string | number | undefined][]][] = [
    ['Match', [['MACAddress', l.mac]]],
    ['Link', [['MTUBytes', l.mtu]]],
    [
      'Network',
      [
        ['DHCP', dhcp],
        ...l.addresses.map((a): [string, string] => ['Address', a]),
        ...l.gateways.map((g): [string, string] => ['Gateway', g]),
        ...l.dns.map((d): [string, string] => ['DNS', d]),
        ['Domains', l.domains.length ? l.domains.join(' ') : undefined],
        ['IPv6AcceptRA', l.acceptRA ? 'yes' : undefined],
      ],
    ],
  ];
  const header = `# Written by ober from the node's cloud-init network configuration${l.name ? ` (${l.name})` : ''}. Rebuilt every boot.\n`;
  return (
    header +
    sections
      .map(([name, entries]) => [name, entries.filter(([, v]) => v !== undefined)] as const)
      .filter(([name, entries]) => entries.length > 0 || name === 'Network')
      .map(([name, entries]) => `[${name}]\n${entries.map(([k, v]) => line(k, v!)).join('')}`)
      .join('\n')
  );
}

/** Values were validated against their grammar; this only guards that invariant. */
function line(key: string, value: string | number): string {
  const text = String(value);
  if ([...text].some((c) => c < ' ' || c === '\x7f' || c === '[' || c === ']')) throw new InternalError(`networkd: value for ${key} would break its line: ${JSON.stringify(text)}`);
  return `${key}=${text}\n`;
}
