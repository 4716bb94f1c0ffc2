// Real S3 clients against the lab: the AWS SDK for JavaScript v3 (test/s3/clients/*.mjs, run as a
// process inside a lab namespace) and Debian's awscli, s3cmd and rclone.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Lab } from '../../builder/lab/netns.js';
import type { S3Credentials } from '../../builder/lab/ceph.js';
import type { Cluster } from '../../firstboot/model/schema.js';

const CLIENTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../s3/clients');

export interface SdkOpsResult {
  sdk: string;
  transcript: { op: string; ok: boolean; status?: number | null; code?: string; [k: string]: unknown }[];
}

/** Runs sdk-ops.mjs in a namespace against one endpoint; returns its transcript. */
export async function sdkOps(lab: Lab, ns: string, endpoint: string, creds: S3Credentials, bucket: string, extra: Record<string, unknown> = {}): Promise<SdkOpsResult> {
  const cfg = { endpoint, ...creds, bucket, insecureTls: endpoint.startsWith('https:'), ...extra };
  const r = await lab.exec(ns, [process.execPath, path.join(CLIENTS, 'sdk-ops.mjs'), JSON.stringify(cfg)], { timeoutMs: 180_000, allowFailure: true });
  if (r.exitCode !== 0) throw new Error(`sdk-ops against ${endpoint} exited ${r.exitCode}: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as SdkOpsResult;
}

/**
 * A presigned URL as @aws-sdk/s3-request-presigner makes it (not installed here; this is the
 * signer it wraps, with its S3 settings): SigV4 in the query string, only Host signed, the payload
 * UNSIGNED-PAYLOAD. The Host is the URL's, `<bucket>.<rgw_dns_name>` for virtual-hosted style.
 */
export async function presignedUrl(method: string, url: string, creds: S3Credentials, expiresIn = 600): Promise<string> {
  const u = new URL(url);
  const signer = new SignatureV4({ service: 's3', region: creds.region, credentials: creds, sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const signed = await signer.presign(
    { method, protocol: u.protocol, hostname: u.hostname, ...(u.port ? { port: Number(u.port) } : {}), path: u.pathname, query: {}, headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    { expiresIn },
  );
  // the signer's own escaping (RFC 3986), so the query RGW canonicalizes is the one signed
  const esc = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const query = Object.entries(signed.query ?? {}).map(([k, v]) => `${esc(k)}=${esc(String(v))}`);
  return `${u.origin}${u.pathname}?${query.join('&')}`;
}

export const clientScript = (name: string) => path.join(CLIENTS, name);

/**
 * The S3 suites are about the data, not detection speed (test:lab and bench:failover measure that with
 * the examples' timers). Ceph and two S3 workloads share the lab's two cores with the nodes, and
 * at the examples' 200 ms health timeout, 150 ms VRRP adverts and 50 ms BFD a starved node flaps
 * (seen: health probes unanswered within 200 ms, VIPs withdrawn and re-announced): the timers are
 * relaxed to what a loaded host sustains.
 */
export function relaxedTimers(c: Cluster): Cluster {
  return {
    ...c,
    health: { ...c.health, intervalMs: 250, timeoutMs: 1000, fall: 3 },
    ...(c.keepalived ? { keepalived: { ...c.keepalived, advertIntervalMs: 500 } } : {}),
    ...(c.bgp ? { bgp: { ...c.bgp, bfd: { ...c.bgp.bfd, intervalMs: 300, multiplier: 5 } } } : {}),
  };
}

