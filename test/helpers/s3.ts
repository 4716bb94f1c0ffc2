// Real S3 clients against the lab: the AWS SDK for JavaScript v3 (test/s3/clients/*.mjs, run as a
// process inside a lab namespace) and Debian's awscli, s3cmd and rclone.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../builder/lab/netns.js';
import type { S3Credentials } from '../../builder/lab/ceph.js';

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

export const clientScript = (name: string) => path.join(CLIENTS, name);
