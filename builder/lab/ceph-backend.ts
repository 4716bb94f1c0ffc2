// Ceph RGW as the lab's backend: one Ceph cluster in the backend namespace, and on every backend
// group's address one radosgw per port, so each group has several real RGWs behind it. Whose Ceph:
// the `daemons` option, else OBER_CEPH (ceph-root.ts: the host's by default, `trixie` for 18.2).
import path from 'node:path';
import type { BackendProvider } from './apps.js';
import type { DaemonRoot } from '../image/image-root.js';
import { CephCluster, type CephOptions } from './ceph.js';
import { resolveCephDaemons } from './ceph-root.js';
import type { Lab } from './netns.js';

/** RGW's default port and the next one: two radosgw per backend address. */
export const RGW_PORTS = [7480, 7481] as const;

export class CephRgwBackend implements BackendProvider {
  readonly name = 'ceph-rgw';
  readonly ports: readonly number[];
  private started?: CephCluster;

  constructor(private readonly opts: { ports?: readonly number[]; memstoreGiB?: number; rgwFrontendOptions?: string; daemons?: DaemonRoot; log?: (msg: string) => void } = {}) {
    this.ports = opts.ports ?? RGW_PORTS;
  }

  /** The running cluster (after the lab was built). */
  get cluster(): CephCluster {
    if (!this.started) throw new Error('the Ceph backend has not been started');
    return this.started;
  }

  async start(lab: Lab, ns: string, addresses: readonly string[]): Promise<void> {
    const options: CephOptions = {
      ns,
      dir: path.join(lab.dir, 'ceph'),
      rgw: addresses.flatMap((address) => this.ports.map((port) => ({ address, port }))),
      ...(this.opts.memstoreGiB ? { memstoreGiB: this.opts.memstoreGiB } : {}),
      ...(this.opts.rgwFrontendOptions ? { rgwFrontendOptions: this.opts.rgwFrontendOptions } : {}),
      daemons: this.opts.daemons ?? (await resolveCephDaemons()),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    };
    this.started = await CephCluster.start(lab, options);
  }
}
