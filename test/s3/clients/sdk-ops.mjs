// S3 operations with the current AWS SDK for JavaScript (v3, default checksum behaviour), run as a
// separate process inside a lab namespace: `node sdk-ops.mjs '<json config>'`. Prints one JSON
// document: a transcript of each operation's outcome, normalized so that the transcript through
// the appliance and the one sent directly to RGW can be compared field by field.
// Config: { endpoint, accessKeyId, secretAccessKey, region, bucket, insecureTls?, checksums? }
import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand, CopyObjectCommand,
  ListObjectsV2Command, DeleteObjectsCommand, DeleteObjectCommand, DeleteBucketCommand, ListBucketsCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const cfg = JSON.parse(process.argv[2]);
const sha = (b) => createHash('sha256').update(b).digest('hex');
const client = new S3Client({
  endpoint: cfg.endpoint,
  region: cfg.region,
  forcePathStyle: true,
  credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
  maxAttempts: 1,
  // 'WHEN_REQUIRED' is what clients set for RGW older than the aws-chunked trailer support.
  ...(cfg.checksums ? { requestChecksumCalculation: cfg.checksums, responseChecksumValidation: cfg.checksums } : {}),
  requestHandler: new NodeHttpHandler({ ...(cfg.insecureTls ? { httpsAgent: new HttpsAgent({ rejectUnauthorized: false }) } : {}) }),
});
// Deterministic data, so both transcripts hash the same bytes.
const data = (n, seed) => {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
};
const small = data(64 * 1024, 1);
const big = data(12 * 1024 * 1024, 2);
const B = cfg.bucket;
const body = async (r) => Buffer.from(await r.Body.transformToByteArray());
const transcript = [];
async function op(name, fn) {
  try {
    const v = await fn();
    transcript.push({ op: name, ok: true, ...v });
  } catch (e) {
    transcript.push({ op: name, ok: false, status: e.$metadata?.httpStatusCode ?? null, code: e.Code ?? e.name });
  }
}
const status = (r) => r.$metadata.httpStatusCode;

await op('ListBuckets', async () => ({ status: status(await client.send(new ListBucketsCommand({}))) }));
await op('CreateBucket', async () => ({ status: status(await client.send(new CreateBucketCommand({ Bucket: B }))) }));
await op('PutObject (buffer)', async () => {
  const r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'small', Body: small, ContentType: 'application/x-test', Metadata: { a: 'b' } }));
  return { status: status(r), etag: r.ETag };
});
// A Readable body: this SDK sends it aws-chunked with a trailing CRC32 (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
// over HTTP and HTTPS alike (its flexible-checksums middleware has no TLS condition; botocore's has).
await op('PutObject (stream: aws-chunked with a trailing checksum)', async () => {
  const r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'streamed', Body: Readable.from([small.subarray(0, 30000), small.subarray(30000)]), ContentLength: small.length }));
  return { status: status(r), etag: r.ETag };
});
await op('HeadObject', async () => {
  const r = await client.send(new HeadObjectCommand({ Bucket: B, Key: 'small' }));
  return { status: status(r), etag: r.ETag, length: r.ContentLength, type: r.ContentType, meta: r.Metadata };
});
await op('GetObject', async () => {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: 'small' }));
  return { status: status(r), sha256: sha(await body(r)), etag: r.ETag };
});
await op('GetObject (range)', async () => {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: 'small', Range: 'bytes=1000-1999' }));
  return { status: status(r), sha256: sha(await body(r)), range: r.ContentRange };
});
await op('Multipart upload (12 MiB, 5 MiB parts)', async () => {
  const r = await new Upload({ client, params: { Bucket: B, Key: 'big', Body: big }, partSize: 5 * 1024 * 1024, queueSize: 2 }).done();
  return { etag: r.ETag };
});
await op('GetObject (multipart object)', async () => {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: 'big' }));
  return { status: status(r), sha256: sha(await body(r)), matches: sha(await Promise.resolve(big)) };
});
await op('CopyObject', async () => {
  const r = await client.send(new CopyObjectCommand({ Bucket: B, Key: 'copy', CopySource: `${B}/small` }));
  return { status: status(r), etag: r.CopyObjectResult?.ETag };
});
const sseKey = randomBytes(32);
await op('PutObject (SSE-C)', async () => {
  const r = await client.send(new PutObjectCommand({ Bucket: B, Key: 'ssec', Body: small, SSECustomerAlgorithm: 'AES256', SSECustomerKey: sseKey.toString('base64') }));
  return { status: status(r) };
});
await op('GetObject (SSE-C)', async () => {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: 'ssec', SSECustomerAlgorithm: 'AES256', SSECustomerKey: sseKey.toString('base64') }));
  return { status: status(r), sha256: sha(await body(r)) };
});
await op('ListObjectsV2', async () => {
  const r = await client.send(new ListObjectsV2Command({ Bucket: B }));
  return { status: status(r), keys: (r.Contents ?? []).map((c) => `${c.Key}:${c.Size}`).sort() };
});
await op('DeleteObjects', async () => {
  const keys = ['small', 'streamed', 'big', 'copy', 'ssec'];
  const r = await client.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: keys.map((Key) => ({ Key })) } }));
  return { status: status(r), deleted: (r.Deleted ?? []).map((d) => d.Key).sort() };
});
await op('GetObject (deleted)', async () => ({ status: status(await client.send(new GetObjectCommand({ Bucket: B, Key: 'small' }))) }));
await op('DeleteObject (absent)', async () => ({ status: status(await client.send(new DeleteObjectCommand({ Bucket: B, Key: 'nothing' }))) }));
await op('DeleteBucket', async () => ({ status: status(await client.send(new DeleteBucketCommand({ Bucket: B }))) }));
process.stdout.write(JSON.stringify({ sdk: (await import('@aws-sdk/client-s3/package.json', { with: { type: 'json' } }).catch(() => ({ default: {} }))).default.version ?? '?', transcript }) + '\n');
