import { defineConfig } from 'vitest/config';

// Three suites with different costs: `unit` is the default `npm test` (seconds to a few minutes,
// includes every rendered file checked by its real daemon and the Proxmox double); `lab` builds
// network namespaces with real daemons; `s3` puts real Ceph RGW behind the lab and real S3 clients in front; `image` builds and boots the appliance under QEMU.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/proxmox/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'lab', include: ['test/lab/**/*.test.ts'], testTimeout: 600_000, hookTimeout: 600_000, fileParallelism: false } },
      { test: { name: 's3', include: ['test/s3/**/*.test.ts'], testTimeout: 900_000, hookTimeout: 600_000, fileParallelism: false } },
      { test: { name: 'bench', include: ['test/bench/**/*.run.ts'], testTimeout: 3_600_000, hookTimeout: 900_000, fileParallelism: false } },
      { test: { name: 'image', include: ['test/image/**/*.test.ts'], testTimeout: 3_600_000, hookTimeout: 3_600_000, fileParallelism: false } },
    ],
  },
});
