// The node's derived configuration (node.json), as first boot rendered it: read by the node
// commands that run beside the daemons (health feeds, vip-release, sync, status, doctor) through
// this schema, so a damaged or foreign file is an error naming the field, never `undefined` later.
// The cluster-level sections reuse the cluster schema (one source for their defaults).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import type { NodeConfig } from '../model/derive.js';
import type { Layout } from '../model/layout.js';
import { clusterSchema } from '../model/schema.js';

const cluster = clusterSchema.shape;
const sourceList = z.union([z.strictObject({ any: z.literal(true) }), z.strictObject({ any: z.literal(false), entries: z.array(z.string()) })]);

export const nodeConfigSchema = z.looseObject({
  cluster: z.string(),
  mode: cluster.mode,
  node: z.looseObject({
    name: z.string(),
    address: z.string(),
    prefix: z.number().int(),
    gateway: z.string().optional(),
    routerId: z.string(),
    interface: z.string(),
  }),
  peers: z.array(z.looseObject({ name: z.string(), address: z.string() })),
  vips: z.array(
    z.looseObject({
      name: z.string(),
      address: z.string(),
      backend: z.string(),
      vrrp: z.looseObject({ vrid: z.number().int(), owner: z.string(), priority: z.number().int(), ranking: z.array(z.string()) }).optional(),
    }),
  ),
  backends: z.array(
    z.looseObject({
      name: z.string(),
      servers: z.array(z.looseObject({ name: z.string(), host: z.string(), port: z.number().int() })),
      healthCheck: cluster.backends.element.shape.healthCheck,
      reuseConnections: cluster.backends.element.shape.reuseConnections,
      tls: z.looseObject({ enabled: z.boolean(), verify: z.enum(['required', 'none']), caCertificate: z.string().optional() }),
    }),
  ),
  certificates: z.array(z.looseObject({ name: z.string(), pem: z.string().optional(), acme: cluster.certificates.unwrap().element.shape.acme })),
  whitelists: z.looseObject({ frontendHttp: sourceList, monitoring: sourceList, admin: sourceList, routers: z.array(z.string()) }),
  bgp: z
    .looseObject({
      localAs: z.number().int(),
      holdTime: z.number().int(),
      neighbors: z.array(z.looseObject({ address: z.string(), peerAs: z.number().int(), md5Password: z.string().optional() })),
      bfd: z.looseObject({ enabled: z.boolean(), intervalMs: z.number().int(), multiplier: z.number().int() }),
    })
    .optional(),
  keepalived: z.looseObject({ interface: z.string(), unicast: z.boolean(), advertIntervalMs: z.number().int(), trackWeight: z.number().int() }).optional(),
  haproxy: cluster.haproxy,
  health: cluster.health,
  logging: cluster.logging,
  sysctl: z.array(z.tuple([z.string(), z.string()])),
});

// What the schema yields is what the code reads: a NodeConfig field it does not check fails here.
const _yieldsNodeConfig = (v: z.infer<typeof nodeConfigSchema>): NodeConfig => v;

/** The node's derived configuration (node.json), as rendered at first boot, checked by its schema. */
export function readNodeConfig(layout: Layout): NodeConfig {
  let text: string;
  try {
    text = readFileSync(layout.nodeJson, 'utf8');
  } catch (e) {
    throw new ConfigError(layout.nodeJson, [
      { path: '', message: `cannot read the node configuration: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint: 'run ober firstboot first (or pass --root)' },
    ]);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(layout.nodeJson, [{ path: '', message: `not JSON: ${(e as Error).message}`, hint: 'run ober firstboot to render it again' }]);
  }
  const r = nodeConfigSchema.safeParse(data);
  if (!r.success) {
    throw new ConfigError(
      layout.nodeJson,
      r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message, hint: 'run ober firstboot to render it again' })),
    );
  }
  return _yieldsNodeConfig(r.data);
}
