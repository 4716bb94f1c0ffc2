import fc from 'fast-check';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError } from '../../../firstboot/lib/errors.js';
import type { NetworkConfigDoc } from '../../../firstboot/metadata/metadata.js';
import { networkdFiles } from '../../../firstboot/metadata/networkd.js';
import { readMetadata } from '../../../firstboot/metadata/read-metadata.js';
import { MAC0, MAC1, VM, buildIso, nocloudDrive, proxmoxEni, proxmoxNetworkV1, rootWithDevice, tempDir, writeTree } from './fixtures.js';

const v1 = (doc: unknown): NetworkConfigDoc => ({ format: 'cloud-init', file: '/dev/sr0:/network-config', doc: doc as Record<string, unknown> });
const openstack = (doc: unknown): NetworkConfigDoc => ({ format: 'openstack', file: 'network_data.json', doc: doc as Record<string, unknown> });

/** A Proxmox v1 document with one value replaced, for the refusal cases. */
function proxmoxV1With(edit: (doc: { config: Record<string, unknown>[] }) => void): NetworkConfigDoc {
  const doc = parse(proxmoxNetworkV1()) as { config: Record<string, unknown>[] };
  edit(doc);
  return v1(doc);
}

describe('networkd files from Proxmox network config v1', () => {
  it('renders one .network per NIC, matched by MAC, static and dhcp, with the nameserver entry on each', () => {
    const files = networkdFiles(v1(parse(proxmoxNetworkV1())));
    expect(files.map((f) => [f.path, f.mode])).toEqual([
      ['/run/systemd/network/10-ober-bc24115e0001.network', 0o644],
      ['/run/systemd/network/10-ober-bc24115e0002.network', 0o644],
    ]);
    expect(files[0]!.content).toBe(
      [
        "# Written by ober from the node's cloud-init network configuration (eth0). Rebuilt every boot.",
        '[Match]',
        `MACAddress=${MAC0}`,
        '',
        '[Network]',
        'Address=192.0.2.11/24',
        'Address=2001:db8::11/64',
        'Gateway=192.0.2.1',
        'Gateway=2001:db8::1',
        'DNS=192.0.2.53',
        'DNS=2001:db8::53',
        'Domains=s3.example.net',
        '',
      ].join('\n'),
    );
    expect(files[1]!.content).toContain(`MACAddress=${MAC1}\n\n[Network]\nDHCP=ipv4\nDNS=192.0.2.53\n`);
  });

  it('reads the network config off a Proxmox-shaped ISO and converts it', async () => {
    const img = await buildIso(await writeTree(await tempDir(), nocloudDrive()), path.join(await tempDir(), 'seed.iso'), 'cidata');
    const md = await readMetadata({ root: await rootWithDevice(img) });
    expect(networkdFiles(md.networkConfig!).map((f) => f.path.split('/').pop())).toEqual(['10-ober-bc24115e0001.network', '10-ober-bc24115e0002.network']);
  });

  it('maps dhcp6, SLAAC, MTU and the older "dhcp" subnet type, and unwraps a top-level network: key', () => {
    const [f] = networkdFiles(
      v1({
        network: {
          version: 1,
          config: [{ type: 'physical', mac_address: 'BC:24:11:5E:00:09', mtu: 9000, subnets: [{ type: 'dhcp' }, { type: 'dhcp6' }, { type: 'ipv6_slaac' }] }],
        },
      }),
    );
    expect(f!.content).toBe(
      "# Written by ober from the node's cloud-init network configuration. Rebuilt every boot.\n" +
        '[Match]\nMACAddress=bc:24:11:5e:00:09\n\n[Link]\nMTUBytes=9000\n\n[Network]\nDHCP=yes\nIPv6AcceptRA=yes\n',
    );
  });

  it('accepts an address in CIDR form without netmask', () => {
    const [f] = networkdFiles(v1({ version: 1, config: [{ type: 'physical', mac_address: MAC0, subnets: [{ type: 'static', address: '10.1.2.3/31' }] }] }));
    expect(f!.content).toContain('Address=10.1.2.3/31\n');
  });
});

describe('networkd files from ConfigDrive network_data.json', () => {
  it('renders links, static and dhcp networks, the default route and DNS services', () => {
    const files = networkdFiles(
      openstack({
        links: [
          { id: 'tap1', type: 'vif', ethernet_mac_address: MAC0.toUpperCase(), mtu: 1500, vif_id: 'x' },
          { id: 'tap2', type: 'phy', ethernet_mac_address: MAC1 },
        ],
        networks: [
          {
            id: 'n1',
            link: 'tap1',
            type: 'ipv4',
            ip_address: '198.51.100.7',
            netmask: '255.255.255.128',
            routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '198.51.100.1' }],
            services: [{ type: 'dns', address: '198.51.100.53' }],
          },
          { id: 'n2', link: 'tap1', type: 'ipv6', ip_address: '2001:db8:1::7', netmask: 'ffff:ffff:ffff:ffff::' },
          { id: 'n3', link: 'tap2', type: 'ipv4_dhcp' },
        ],
        services: [{ type: 'dns', address: '9.9.9.9' }],
      }),
    );
    expect(files[0]!.content).toBe(
      "# Written by ober from the node's cloud-init network configuration. Rebuilt every boot.\n" +
        `[Match]\nMACAddress=${MAC0}\n\n[Link]\nMTUBytes=1500\n\n[Network]\n` +
        'Address=198.51.100.7/25\nAddress=2001:db8:1::7/64\nGateway=198.51.100.1\nDNS=198.51.100.53\nDNS=9.9.9.9\n',
    );
    expect(files[1]!.content).toContain('DHCP=ipv4\nDNS=9.9.9.9\n');
  });
});

describe('refused network configurations', () => {
  const refused: [string, NetworkConfigDoc, RegExp][] = [
    ['ifupdown text (Proxmox configdrive2) has no MACs', { format: 'eni', file: '/dev/sr0:/openstack/content/0000', text: proxmoxEni(VM) }, /without MAC addresses[\s\S]*citype nocloud/],
    ['version 2 (netplan)', v1({ version: 2, ethernets: {} }), /version: network config version 2 is not supported/],
    ['a bond', v1({ version: 1, config: [{ type: 'bond', name: 'bond0' }] }), /config\[0\]\.type: type "bond" is not supported/],
    ['a missing MAC', v1({ version: 1, config: [{ type: 'physical', name: 'eth0', subnets: [{ type: 'dhcp' }] }] }), /config\[0\]\.mac_address: must be a MAC address/],
    ['a duplicate MAC', v1({ version: 1, config: [{ type: 'physical', mac_address: MAC0 }, { type: 'physical', mac_address: MAC0 }] }), /configured twice/],
    ['a non-contiguous netmask', proxmoxV1With((d) => ((d.config[0]!.subnets as Record<string, unknown>[])[0]!.netmask = '255.0.255.0')), /netmask: needs a valid prefix length/],
    ['a subnet key Proxmox never writes', proxmoxV1With((d) => ((d.config[0]!.subnets as Record<string, unknown>[])[0]!.routes = [])), /subnets\[0\]\.routes: is not supported here/],
    ['a non-default route', openstack({ links: [{ id: 'l', type: 'phy', ethernet_mac_address: MAC0 }], networks: [{ id: 'n', link: 'l', type: 'ipv4', ip_address: '10.0.0.2', netmask: '255.0.0.0', routes: [{ network: '10.9.0.0', netmask: '255.255.0.0', gateway: '10.0.0.1' }] }] }), /routes\[0\]: only default routes/],
    ['a network for an unknown link', openstack({ links: [], networks: [{ id: 'n', link: 'ghost', type: 'ipv4_dhcp' }] }), /networks\[0\]\.link: refers to no known link/],
  ];
  it.each(refused)('%s', (_name, cfg, message) => {
    expect(() => networkdFiles(cfg)).toThrow(ConfigError);
    expect(() => networkdFiles(cfg)).toThrow(message);
    expect(() => networkdFiles(cfg)).toThrow(new RegExp(`^${cfg.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  });

  // Values that would add lines or sections to the .network file if they were written through.
  const injections: [string, (d: { config: Record<string, unknown>[] }) => void, RegExp][] = [
    ['address with a newline', (d) => (sub(d).address = '192.0.2.11\nDNS=203.0.113.66'), /subnets\[0\]\.address: must be an IPv4 or IPv6 address/],
    ['gateway opening a section', (d) => (sub(d).gateway = '192.0.2.1\n[Network]'), /subnets\[0\]\.gateway: must be an IPv4 or IPv6 address/],
    ['netmask with a newline', (d) => (sub(d).netmask = '255.255.255.0\nDHCP=yes'), /netmask: needs a valid prefix length/],
    ['MAC with a trailing line', (d) => (d.config[0]!.mac_address = `${MAC0}\nName=*`), /config\[0\]\.mac_address: must be a MAC address/],
    ['interface name with a section', (d) => (d.config[0]!.name = 'eth0\n[Match]'), /config\[0\]\.name: must be an interface name/],
    ['MTU as text', (d) => (d.config[0]!.mtu = '9000\nMTUBytes=1'), /config\[0\]\.mtu: must be an integer from 68 to 65535/],
    ['search domain with a bracket', (d) => (d.config[2]!.search = ['example.com]']), /config\[2\]\.search: must be a domain name/],
    ['search domain with a newline', (d) => (d.config[2]!.search = ['a.example\nDomains=~.']), /config\[2\]\.search: must be a domain name/],
    ['nameserver with a zone id', (d) => (d.config[2]!.address = ['fe80::1%eth0']), /config\[2\]\.address: must be an IPv4 or IPv6 address/],
    ['nameserver that is not an address', (d) => (d.config[2]!.address = ['dns.example']), /config\[2\]\.address: must be an IPv4 or IPv6 address/],
  ];
  it.each(injections)('injection attempt: %s', (_name, edit, message) => {
    expect(() => networkdFiles(proxmoxV1With(edit))).toThrow(message);
  });

  it('reports every problem at once, each with its path', () => {
    const err = (() => {
      try {
        networkdFiles(proxmoxV1With((d) => {
          sub(d).address = 'x';
          d.config[1]!.mac_address = 'nope';
          d.config[2]!.search = ['-bad-'];
        }));
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.issues.map((i) => i.path)).toEqual(['config[0].subnets[0].address', 'config[1].mac_address', 'config[2].search']);
  });

  it('never writes a line that is not a section, a comment or a key=value without brackets, whatever the values', () => {
    const value = fc.oneof(fc.string(), fc.constantFrom('192.0.2.1', '2001:db8::1/64', '255.255.255.0', 'a.example', '24', 'x\n[Network]'));
    fc.assert(
      fc.property(value, value, value, value, (address, netmask, gateway, search) => {
        let files;
        try {
          files = networkdFiles(v1({ version: 1, config: [{ type: 'physical', mac_address: MAC0, subnets: [{ type: 'static', address, netmask, gateway }] }, { type: 'nameserver', search: [search] }] }));
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          return;
        }
        const lines = files[0]!.content.split('\n');
        for (const l of lines) expect(l).toMatch(/^(#[^\n]*|\[(Match|Link|Network)\]|(MACAddress|Address|Gateway|Domains)=[^[\]\s]+|)$/);
        expect(lines.filter((l) => l.startsWith('[')).length).toBe(2);
      }),
      { numRuns: 500 },
    );
  });
});

function sub(d: { config: Record<string, unknown>[] }): Record<string, unknown> {
  return (d.config[0]!.subnets as Record<string, unknown>[])[0]!;
}
