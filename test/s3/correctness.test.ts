// S3 correctness through a VIP: the same operations, with the same SDK, sent through the
// appliance (HTTP and HTTPS) and directly to a Ceph RGW, must give the same results. The lab runs
// the cluster's rendered haproxy.cfg in front of real radosgw instances (builder/lab/ceph.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rgwAcceptsChecksumTrailers } from '../../builder/lab/ceph.js';
import { CephRgwBackend } from '../../builder/lab/ceph-backend.js';
import { Drill } from '../../builder/lab/drills.js';
import { Lab } from '../../builder/lab/netns.js';
import { expectNothingLeft } from '../helpers/lab.js';
import { loadExample, EXAMPLES } from '../helpers/fixtures.js';
import { relaxedTimers, sdkOps, type SdkOpsResult } from '../helpers/s3.js';

let lab: Lab;
let drill: Drill;
// Whose Ceph: OBER_CEPH (unset: the host's, Debian 12's 16.2; trixie: Debian 13's 18.2, by chroot).
const backend = new CephRgwBackend({ log: (m) => console.log(`[ceph] ${m}`) });

beforeAll(async () => {
  lab = new Lab();
  drill = await Drill.start(lab, relaxedTimers(await loadExample(EXAMPLES[1] ?? '')), { backend, steadyTimeoutMs: 180_000, log: (m) => console.log(`[lab] ${m}`) });
});
afterAll(async () => {
  drill?.stop();
  await lab?.teardown();
  await expectNothingLeft(lab);
});

const byOp = (r: SdkOpsResult) => Object.fromEntries(r.transcript.map(({ op, ...rest }) => [op, rest]));
const STREAMED = 'aws-chunked';
/**
 * The SDK's default for a streamed body, over HTTP and HTTPS: aws-chunked with a trailing checksum
 * (STREAMING-UNSIGNED-PAYLOAD-TRAILER). RGW before its trailer support (Ceph 16.2) answers 411
 * MissingContentLength, newer RGW (18.2.7) stores it: the expectation follows the version running.
 */
const streamedUpload = () => (rgwAcceptsChecksumTrailers(backend.cluster.version) ? { ok: true, status: 200 } : { ok: false, status: 411 });

describe('S3 through the appliance vs direct to RGW (AWS SDK v3)', () => {
  let direct: SdkOpsResult;
  beforeAll(async () => {
    direct = await sdkOps(lab, drill.t.ns.backend, backend.cluster.endpoints[0] ?? '', backend.cluster.credentials, 'direct');
    const streamed = direct.transcript.find((t) => t.op.includes(STREAMED));
    console.log(`Ceph ${backend.cluster.version} (${backend.cluster.daemons.label}), @aws-sdk/client-s3 ${direct.sdk}; streamed upload direct: ${JSON.stringify(streamed)}`);
  });

  it('over HTTP every operation gives what RGW gives directly', async () => {
    const vip = drill.t.plan.vips[0]?.address ?? '';
    const via = await sdkOps(lab, drill.t.ns.client, `http://${vip}`, backend.cluster.credentials, 'via-http');
    expect(byOp(via)).toEqual(byOp(direct));
    // and the operations did work (a transcript of failures on both sides would also be equal)
    expect(byOp(via)['GetObject (multipart object)']).toMatchObject({ ok: true, status: 200 });
    // SSE-C over plain HTTP is refused by RGW, through the appliance too (X-Forwarded-Proto: http).
    expect(byOp(via)['PutObject (SSE-C)']).toMatchObject({ ok: false, status: 400 });
    // the streamed upload, directly (and so through the appliance: equal above)
    const streamed = Object.keys(byOp(direct)).find((k) => k.includes(STREAMED)) ?? '';
    expect(byOp(direct)[streamed]).toMatchObject(streamedUpload());
  });

  it('over HTTPS (TLS on the appliance) the same, plus SSE-C', async () => {
    const vip = drill.t.plan.vips[1]?.address ?? '';
    const via = byOp(await sdkOps(lab, drill.t.ns.client, `https://${vip}`, backend.cluster.credentials, 'via-https'));
    const d = byOp(direct);
    for (const op of Object.keys(d)) {
      if (op.includes('SSE-C') || op === 'ListObjectsV2' || op === 'DeleteObjects') continue;
      expect.soft(via[op], op).toEqual(d[op]);
    }
    // RGW trusts the appliance's X-Forwarded-Proto (rgw_trust_forwarded_https): SSE-C works over TLS.
    expect(via['PutObject (SSE-C)']).toMatchObject({ ok: true, status: 200 });
    expect(via['GetObject (SSE-C)']).toMatchObject({ ok: true, status: 200, sha256: d['GetObject']?.sha256 });
    // The streamed upload over TLS, equal to direct above: the appliance passes the request through
    // unchanged, so a 411 is RGW's answer, not ours.
    const streamed = Object.keys(via).find((k) => k.includes(STREAMED)) ?? '';
    console.log(`streamed upload via HTTPS: ${JSON.stringify(via[streamed])}`);
    expect(via[streamed]).toMatchObject(streamedUpload());
  });

  it('over HTTPS with checksums only when required (what clients set for Ceph 16.2), every upload works', async () => {
    const vip = drill.t.plan.vips[2]?.address ?? '';
    const via = byOp(await sdkOps(lab, drill.t.ns.client, `https://${vip}`, backend.cluster.credentials, 'via-https-when-required', { checksums: 'WHEN_REQUIRED' }));
    const streamed = Object.keys(via).find((k) => k.includes(STREAMED)) ?? '';
    expect(via[streamed]).toMatchObject({ ok: true, status: 200 });
    expect(Object.entries(via).filter(([op, r]) => !r.ok && !op.includes('(deleted)')).map(([op]) => op)).toEqual([]);
  });
});

describe('S3 through the appliance vs direct to RGW (Debian’s awscli, s3cmd, rclone)', () => {
  // The same steps with each tool: make a bucket, upload 20 MiB (multipart for awscli and s3cmd),
  // list, download and hash, delete. Each step's exit code and the hash must match the direct run.
  const steps = (tool: 'aws' | 's3cmd' | 'rclone', endpoint: string, bucket: string, file: string): string[][] => {
    const tls = endpoint.startsWith('https');
    const host = endpoint.replace(/^https?:\/\//, '');
    const c = backend.cluster.credentials;
    if (tool === 'aws') {
      const aws = ['/usr/bin/aws', '--endpoint-url', endpoint, ...(tls ? ['--no-verify-ssl'] : [])];
      return [
        [...aws, 's3', 'mb', `s3://${bucket}`],
        [...aws, 's3', 'cp', '--no-progress', file, `s3://${bucket}/obj`],
        [...aws, 's3', 'ls', `s3://${bucket}/`],
        [...aws, 's3', 'cp', '--no-progress', `s3://${bucket}/obj`, `${file}.${bucket}`],
        [...aws, 's3', 'rm', `s3://${bucket}/obj`],
        [...aws, 's3', 'rb', `s3://${bucket}`],
      ];
    }
    if (tool === 's3cmd') {
      const s3cmd = ['s3cmd', '--config=/dev/null', `--access_key=${c.accessKeyId}`, `--secret_key=${c.secretAccessKey}`, `--host=${host}`, `--host-bucket=${host}`, tls ? '--ssl' : '--no-ssl', '--no-check-certificate'];
      return [
        [...s3cmd, 'mb', `s3://${bucket}`],
        [...s3cmd, 'put', file, `s3://${bucket}/obj`],
        [...s3cmd, 'ls', `s3://${bucket}/`],
        [...s3cmd, 'get', '--force', `s3://${bucket}/obj`, `${file}.${bucket}`],
        [...s3cmd, 'del', `s3://${bucket}/obj`],
        [...s3cmd, 'rb', `s3://${bucket}`],
      ];
    }
    const rc = ['rclone', '--config', '/dev/null', ...(tls ? ['--no-check-certificate'] : [])];
    const remote = `:s3,provider=Ceph,access_key_id=${c.accessKeyId},secret_access_key=${c.secretAccessKey},endpoint='${endpoint}':`;
    return [
      [...rc, 'mkdir', `${remote}${bucket}`],
      [...rc, 'copyto', file, `${remote}${bucket}/obj`],
      [...rc, 'lsf', `${remote}${bucket}`],
      [...rc, 'copyto', `${remote}${bucket}/obj`, `${file}.${bucket}`],
      [...rc, 'deletefile', `${remote}${bucket}/obj`],
      [...rc, 'rmdir', `${remote}${bucket}`],
    ];
  };
  const env = () => {
    const c = backend.cluster.credentials;
    // AWS_CA_BUNDLE from the caller's environment breaks rclone's S3 client (a custom transport)
    return ['env', '-u', 'AWS_CA_BUNDLE', `AWS_ACCESS_KEY_ID=${c.accessKeyId}`, `AWS_SECRET_ACCESS_KEY=${c.secretAccessKey}`, `AWS_DEFAULT_REGION=${c.region}`, 'AWS_EC2_METADATA_DISABLED=true', 'AWS_CONFIG_FILE=/dev/null', 'AWS_SHARED_CREDENTIALS_FILE=/dev/null', 'PYTHONWARNINGS=ignore'];
  };
  const runTool = async (ns: string, tool: 'aws' | 's3cmd' | 'rclone', endpoint: string, bucket: string) => {
    const file = `${lab.dir}/cli-20m`;
    const exits: number[] = [];
    for (const argv of steps(tool, endpoint, bucket, file)) exits.push((await lab.exec(ns, [...env(), ...argv], { allowFailure: true, timeoutMs: 180_000 })).exitCode);
    const sum = await lab.exec(ns, ['sha256sum', `${file}.${bucket}`], { allowFailure: true });
    return { exits, sha256: sum.stdout.split(' ')[0] ?? '' };
  };

  beforeAll(async () => {
    await lab.exec(drill.t.ns.client, ['dd', 'if=/dev/urandom', `of=${lab.dir}/cli-20m`, 'bs=1M', 'count=20', 'status=none']);
  });

  for (const tool of ['aws', 's3cmd', 'rclone'] as const) {
    it(`${tool}: HTTP and HTTPS through a VIP behave as direct`, async () => {
      const original = (await lab.exec(drill.t.ns.client, ['sha256sum', `${lab.dir}/cli-20m`])).stdout.split(' ')[0];
      const direct = await runTool(drill.t.ns.backend, tool, backend.cluster.endpoints[1] ?? '', `${tool}-direct`);
      const vip = drill.t.plan.vips[0]?.address ?? '';
      const http = await runTool(drill.t.ns.client, tool, `http://${vip}`, `${tool}-http`);
      const https = await runTool(drill.t.ns.client, tool, `https://${vip}`, `${tool}-https`);
      expect(direct).toEqual({ exits: [0, 0, 0, 0, 0, 0], sha256: original });
      expect(http).toEqual(direct);
      expect(https).toEqual(direct);
    });
  }
});
