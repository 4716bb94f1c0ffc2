// The NoCloud seed of the user-network image tests: a one-node keepalived cluster whose backend is
// a tiny HTTP server on the host's loopback (the guest reaches it as 10.0.2.2 through QEMU's user
// network), laid out as Proxmox lays out its cloud-init drive, plus the `ober` vendor-data.
import { createServer, type Server } from 'node:http';
import { stringify } from 'yaml';

export const SEED_USER = 'ober-admin';

export interface Seed {
  userData: string;
  metaData: string;
  networkConfig: string;
  vendorData: string;
}

/** The node data of a one-node keepalived cluster whose backend is the host's loopback server. */
function oberVendorData(backendPort: number): string {
  const cluster = {
    version: 1,
    name: 'image-test',
    mode: 'keepalived',
    keepalived: { interface: 'eth0' },
    vips: [{ name: 's3', address: '10.0.2.100', backend: 'host' }],
    // Kept server connections: the boot test checks the node's quickack route to the backend.
    backends: [{ name: 'host', servers: `10.0.2.2:${backendPort}`, healthCheck: { path: '/', intervalMs: 1000, rise: 1 }, reuseConnections: true }],
    nodes: [{ name: 'ober-test-1', address: '10.0.2.15/24', gateway: '10.0.2.2' }],
  };
  return `#cloud-config\n${stringify({ ober: { version: 1, node: 'ober-test-1', cluster } })}`;
}

/** The one-node cluster's seed, as Proxmox lays it out, plus the `ober` vendor-data. */
export function keepalivedSeed(pubKey: string, backendPort: number): Seed {
  return {
    vendorData: oberVendorData(backendPort),
    metaData: `instance-id: iid-ober-image-test-${Date.now()}\nlocal-hostname: ober-test-1\n`,
    userData: `#cloud-config
hostname: ober-test-1
users:
  - name: ${SEED_USER}
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
      - ${pubKey}
`,
    // Proxmox-style v1 network config with the QEMU user-network addresses
    networkConfig: `version: 1
config:
  - type: physical
    name: eth0
    mac_address: '52:54:00:12:34:56'
    subnets:
      - { type: static, address: 10.0.2.15/24, gateway: 10.0.2.2 }
  - type: nameserver
    address: [ 10.0.2.3 ]
`,
  };
}

/** The S3 backend stand-in, on the host's loopback only. */
export async function startBackend(): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** HAProxy's /health through a forward: 200 or nothing. */
export async function healthOk(port: number): Promise<true | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200 ? true : undefined;
  } catch {
    return undefined;
  }
}
