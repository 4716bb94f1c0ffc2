// S3 correctness through a VIP: the same operations, with the same SDK, sent through the
// appliance (HTTP and HTTPS) and directly to a Ceph RGW, must give the same results. The lab runs
// the cluster's rendered haproxy.cfg in front of real radosgw instances (builder/lab/ceph.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CephRgwBackend } from '../../builder/lab/ceph-backend.js';
import { Drill } from '../../builder/lab/drills.js';
import { Lab, labLeftovers } from '../../builder/lab/netns.js';
import { loadExample, EXAMPLES } from '../helpers/fixtures.js';
import { sdkOps, type SdkOpsResult } from '../helpers/s3.js';

let lab: Lab;
let drill: Drill;
const backend = new CephRgwBackend({ log: (m) => console.log(`[ceph] ${m}`) });

beforeAll(async () => {
  lab = new Lab();
  drill = await Drill.start(lab, await loadExample(EXAMPLES[1] ?? ''), { backend, log: (m) => console.log(`[lab] ${m}`) });
});
afterAll(async () => {
  drill?.stop();
  await lab?.teardown();
  expect(await labLeftovers(lab)).toEqual({ namespaces: [], veths: [], processes: [], dir: false });
});

const byOp = (r: SdkOpsResult) => Object.fromEntries(r.transcript.map(({ op, ...rest }) => [op, rest]));

describe('S3 through the appliance vs direct to RGW (AWS SDK v3)', () => {
  let direct: SdkOpsResult;
  beforeAll(async () => {
    direct = await sdkOps(lab, drill.t.ns.backend, backend.cluster.endpoints[0] ?? '', backend.cluster.credentials, 'direct');
    console.log(`Ceph ${backend.cluster.version}, @aws-sdk/client-s3 ${direct.sdk}`);
  });

  it('over HTTP every operation gives what RGW gives directly', async () => {
    const vip = drill.t.plan.vips[0]?.address ?? '';
    const via = await sdkOps(lab, drill.t.ns.client, `http://${vip}`, backend.cluster.credentials, 'via-http');
    expect(byOp(via)).toEqual(byOp(direct));
    // and the operations did work (a transcript of failures on both sides would also be equal)
    expect(byOp(via)['GetObject (multipart object)']).toMatchObject({ ok: true, status: 200 });
    // SSE-C over plain HTTP is refused by RGW, through the appliance too (X-Forwarded-Proto: http).
    expect(byOp(via)['PutObject (SSE-C)']).toMatchObject({ ok: false, status: 400 });
  });

  it('over HTTPS (TLS on the appliance) the same, plus SSE-C', async () => {
    const vip = drill.t.plan.vips[1]?.address ?? '';
    const via = byOp(await sdkOps(lab, drill.t.ns.client, `https://${vip}`, backend.cluster.credentials, 'via-https'));
    const d = byOp(direct);
    for (const op of Object.keys(d)) {
      if (op.includes('SSE-C') || op.includes('aws-chunked') || op === 'ListObjectsV2' || op === 'DeleteObjects') continue;
      expect.soft(via[op], op).toEqual(d[op]);
    }
    // RGW trusts the appliance's X-Forwarded-Proto (rgw_trust_forwarded_https): SSE-C works over TLS.
    expect(via['PutObject (SSE-C)']).toMatchObject({ ok: true, status: 200 });
    expect(via['GetObject (SSE-C)']).toMatchObject({ ok: true, status: 200, sha256: d['GetObject']?.sha256 });
    // The SDK's default for a streamed body over TLS: aws-chunked with a trailing checksum
    // (STREAMING-UNSIGNED-PAYLOAD-TRAILER). RGW before its trailer support (Ceph 16.2 here) answers
    // 411; the appliance passes the request through unchanged, so this is RGW's answer, not ours.
    const streamed = Object.keys(via).find((k) => k.includes('aws-chunked')) ?? '';
    if (backend.cluster.version.startsWith('16.')) expect(via[streamed]).toMatchObject({ ok: false, status: 411 });
    else expect(via[streamed]).toMatchObject({ ok: true, status: 200 });
  });

  it('over HTTPS with checksums only when required (what clients set for Ceph 16.2), every upload works', async () => {
    const vip = drill.t.plan.vips[2]?.address ?? '';
    const via = byOp(await sdkOps(lab, drill.t.ns.client, `https://${vip}`, backend.cluster.credentials, 'via-https-when-required', { checksums: 'WHEN_REQUIRED' }));
    const streamed = Object.keys(via).find((k) => k.includes('aws-chunked')) ?? '';
    expect(via[streamed]).toMatchObject({ ok: true, status: 200 });
    expect(Object.entries(via).filter(([op, r]) => !r.ok && !op.includes('(deleted)')).map(([op]) => op)).toEqual([]);
  });
});
