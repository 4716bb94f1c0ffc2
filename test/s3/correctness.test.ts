// S3 correctness through a VIP: the same operations, with the same SDK, sent through the
// appliance (HTTP and HTTPS) and directly to a Ceph RGW, must give the same results. The lab runs
// the cluster's rendered haproxy.cfg in front of real radosgw instances (builder/lab/ceph.ts).
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RGW_DNS_NAME, rgwAcceptsChecksumTrailers } from '../../builder/lab/ceph.js';
import { CephRgwBackend } from '../../builder/lab/ceph-backend.js';
import { Drill } from '../../builder/lab/drills.js';
import { Lab } from '../../builder/lab/netns.js';
import { expectNothingLeft } from '../helpers/lab.js';
import { loadExample, EXAMPLES } from '../helpers/fixtures.js';
import { presignedUrl, relaxedTimers, sdkOps, type SdkOpsResult } from '../helpers/s3.js';

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

describe('S3 through the appliance vs direct to RGW (presigned URLs with curl)', () => {
  interface Fetched {
    status: number;
    /** of a 2xx body; an error body carries a request id, so only its S3 code is compared */
    sha256?: string;
    code?: string;
    /** an interim 100 Continue came before the final answer */
    continued: boolean;
  }
  interface Options {
    upload?: string;
    /** send `Expect: 100-continue` (else none: curl adds it by itself above 1 MiB) */
    expect100?: boolean;
    /** Host: <bucket>.<rgw_dns_name>, the request path without the bucket */
    virtualHosted?: boolean;
    /** one hex digit of the signature changed */
    alterSignature?: boolean;
  }
  const file = () => `${lab.dir}/curl-8m`;
  let original = '';
  let seq = 0;
  beforeAll(async () => {
    await lab.exec(drill.t.ns.client, ['dd', 'if=/dev/urandom', `of=${file()}`, 'bs=1M', 'count=8', 'status=none']);
    original = createHash('sha256').update(await readFile(file())).digest('hex');
  });

  /** curl of a presigned URL in a namespace, `--resolve` for the virtual host (the lab has no DNS). */
  const curl = async (ns: string, method: string, url: string, opts: Options & { resolve?: string }): Promise<Fetched> => {
    const out = `${lab.dir}/curl-out-${++seq}`;
    const argv = ['curl', '-sS', '-v', '-k', '--max-time', '120', '-o', out, '-w', '%{http_code}', ...(opts.resolve ? ['--resolve', opts.resolve] : [])];
    if (opts.upload) argv.push('-T', opts.upload, '-H', opts.expect100 ? 'Expect: 100-continue' : 'Expect:');
    else if (method === 'PUT') argv.push('-X', 'PUT', '-H', 'Content-Length: 0');
    else if (method !== 'GET') argv.push('-X', method);
    const r = await lab.exec(ns, [...argv, url], { timeoutMs: 150_000 });
    const body = await readFile(out);
    const status = Number(r.stdout);
    const continued = /^< HTTP\/1\.1 100\b/m.test(r.stderr);
    if (status >= 300) return { status, code: /<Code>([^<]*)<\/Code>/.exec(body.toString())?.[1] ?? '', continued };
    return { status, sha256: createHash('sha256').update(body).digest('hex'), continued };
  };

  /**
   * The same requests, each by a URL presigned just before, directly to an RGW (from the backend
   * namespace) and through a VIP over HTTP and HTTPS (from the client's), each in a bucket of its
   * own that presigned requests also make and remove. Every target's answers, by step.
   */
  const eachTarget = async (prefix: string, steps: (req: (step: string, method: string, key: string, opts?: Options) => Promise<void>) => Promise<void>) => {
    const vip = drill.t.plan.vips[0]?.address ?? '';
    const targets = { direct: [drill.t.ns.backend, backend.cluster.endpoints[0] ?? ''], http: [drill.t.ns.client, `http://${vip}`], https: [drill.t.ns.client, `https://${vip}`] } as const;
    const results: Record<string, Record<string, Fetched>> = {};
    for (const [name, [ns, endpoint]] of Object.entries(targets)) {
      const bucket = `${prefix}-${name}`;
      const u = new URL(endpoint);
      const vhost = `${bucket}.${RGW_DNS_NAME}`;
      const r: Record<string, Fetched> = {};
      const keys = new Set<string>();
      const req = async (step: string, method: string, key: string, opts: Options = {}) => {
        if (method === 'PUT' && key) keys.add(key);
        let url = await presignedUrl(method, opts.virtualHosted ? `${u.protocol}//${vhost}${u.port ? `:${u.port}` : ''}/${key}` : `${endpoint}/${bucket}${key ? `/${key}` : ''}`, backend.cluster.credentials);
        if (opts.alterSignature) url = url.replace(/(Signature=[0-9a-f]{63})([0-9a-f])/, (_, head: string, last: string) => `${head}${last === '0' ? '1' : '0'}`);
        const resolve = opts.virtualHosted ? `${vhost}:${u.port || (u.protocol === 'https:' ? 443 : 80)}:${u.hostname}` : undefined;
        r[step] = await curl(ns, method, url, { ...opts, ...(resolve ? { resolve } : {}) });
      };
      await req('PUT bucket', 'PUT', '');
      await steps(req);
      for (const key of keys) await req(`DELETE ${key}`, 'DELETE', key);
      await req('DELETE bucket', 'DELETE', '');
      results[name] = r;
    }
    console.log(`${prefix}, direct: ${JSON.stringify(results.direct)}`);
    return results;
  };

  it('presigned PUT and GET: status and body as direct, a wrong signature refused alike', async () => {
    const r = await eachTarget('presigned', async (req) => {
      await req('PUT', 'PUT', 'obj', { upload: file() });
      await req('GET', 'GET', 'obj');
      await req('GET (missing key)', 'GET', 'nothing');
      await req('GET (signature altered)', 'GET', 'obj', { alterSignature: true });
    });
    expect(r.direct?.['GET']).toMatchObject({ status: 200, sha256: original });
    expect(r.direct?.['GET (signature altered)']).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(r.http).toEqual(r.direct);
    expect(r.https).toEqual(r.direct);
  });

  it(`virtual-hosted style (Host: <bucket>.${RGW_DNS_NAME}): the appliance passes Host unchanged`, async () => {
    const r = await eachTarget('vhost', async (req) => {
      await req('PUT (virtual-hosted)', 'PUT', 'obj', { upload: file(), virtualHosted: true });
      await req('GET (virtual-hosted)', 'GET', 'obj', { virtualHosted: true });
      await req('GET (path-style)', 'GET', 'obj');
    });
    // The request path is /obj: only a Host that reached RGW as sent names the bucket.
    expect(r.direct?.['GET (virtual-hosted)']).toMatchObject({ status: 200, sha256: original });
    expect(r.direct?.['GET (path-style)']).toMatchObject({ status: 200, sha256: original });
    expect(r.http).toEqual(r.direct);
    expect(r.https).toEqual(r.direct);
  });

  it('Expect: 100-continue on a presigned PUT: the 100, the status and the stored bytes as direct', async () => {
    const r = await eachTarget('continue', async (req) => {
      await req('PUT (Expect: 100-continue)', 'PUT', 'obj', { upload: file(), expect100: true });
      await req('GET', 'GET', 'obj');
    });
    // RGW answers the Expect itself; through the appliance the client gets that 100 as well, not a
    // timeout of curl's (1 s) after which it sends the body unasked.
    expect(r.direct?.['PUT (Expect: 100-continue)']).toMatchObject({ status: 200, continued: true });
    expect(r.direct?.['GET']).toMatchObject({ status: 200, sha256: original });
    expect(r.http).toEqual(r.direct);
    expect(r.https).toEqual(r.direct);
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

  it('awscli: a 1 GiB multipart upload and download through a VIP over HTTPS, bytes intact', async () => {
    const file = `${lab.dir}/cli-1g`;
    const ns = drill.t.ns.client;
    const aws = [...env(), '/usr/bin/aws', '--endpoint-url', `https://${drill.t.plan.vips[0]?.address ?? ''}`, '--no-verify-ssl'];
    try {
      await lab.exec(ns, ['dd', 'if=/dev/urandom', `of=${file}`, 'bs=1M', 'count=1024', 'status=none'], { timeoutMs: 120_000 });
      const original = (await lab.exec(ns, ['sha256sum', file], { timeoutMs: 60_000 })).stdout.split(' ')[0];
      const step = async (...argv: string[]) => {
        const t0 = Date.now();
        const r = await lab.exec(ns, [...aws, ...argv], { allowFailure: true, timeoutMs: 300_000 });
        console.log(`aws ${argv.slice(0, 2).join(' ')} (1 GiB): exit ${r.exitCode} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return r;
      };
      const exits = [(await step('s3', 'mb', 's3://big')).exitCode, (await step('s3', 'cp', '--no-progress', file, 's3://big/obj')).exitCode];
      const head = await step('s3api', 'head-object', '--bucket', 'big', '--key', 'obj');
      exits.push(head.exitCode, (await step('s3', 'cp', '--no-progress', 's3://big/obj', `${file}.back`)).exitCode);
      const back = (await lab.exec(ns, ['sha256sum', `${file}.back`], { allowFailure: true, timeoutMs: 60_000 })).stdout.split(' ')[0];
      exits.push((await step('s3', 'rm', 's3://big/obj')).exitCode, (await step('s3', 'rb', 's3://big')).exitCode);
      expect(exits).toEqual([0, 0, 0, 0, 0, 0]);
      // a multipart object's ETag is "<md5 of the parts' md5s>-<parts>"
      expect((JSON.parse(head.stdout) as { ETag: string }).ETag).toMatch(/-\d+"$/);
      expect(back).toBe(original);
    } finally {
      await lab.exec(ns, ['rm', '-f', file, `${file}.back`]);
    }
  });
});
