/* global AbortSignal, AbortController */
// A bounded S3 load with integrity checks, run as a process inside a lab namespace:
//   node s3-workload.mjs '<json config>'
// Workers PUT objects (single PUTs of 1-256 KiB, every `multipartEvery`-th a multipart upload)
// through the VIPs in turn, and read acknowledged objects back, comparing sha256. One JSON line
// per operation on stdout: {w, op, key, vip, s, e, ok, err?, sha?, bytes?}. Ends after durationMs
// or when stdin closes.
// mode "verify": GETs every {key, sha} of cfg.objects (with retries) and prints one summary line.
import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpAgent } from 'node:http';
import { S3Client, PutObjectCommand, GetObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';

import { readFileSync } from 'node:fs';

const cfg = JSON.parse(process.argv[2]);
// The objects to verify come in a file: thousands of keys exceed the kernel's 128 KiB per argument.
if (cfg.objectsFile) cfg.objects = JSON.parse(readFileSync(cfg.objectsFile, 'utf8'));
/** The SDK's standard retry mode makes 3 attempts. */
const MAX_ATTEMPTS = 3;
/** Errors of a broken connection (s3transfer retries the same class on a body read). */
const BODY_RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const sha = (b) => createHash('sha256').update(b).digest('hex');
const clients = cfg.vips.map((vip) => new S3Client({
  endpoint: `http://${vip}`,
  region: cfg.region,
  forcePathStyle: true,
  credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
  // the SDK's standard retry strategy (3 attempts, backoff) or none at all
  maxAttempts: cfg.retries ? MAX_ATTEMPTS : 1,
  // a request stuck on a frozen node must end: S3 clients set timeouts in practice
  // Without retries, one connection per request: a pooled connection whose VIP moved while it
  // sat idle is reset at its next use, long after the move (the SDK's retry absorbs that), and
  // the client cannot tell such a failure from one of a request sent after the move.
  requestHandler: new NodeHttpHandler({ connectionTimeout: 3000, requestTimeout: cfg.requestTimeoutMs ?? 15000, httpAgent: new HttpAgent({ keepAlive: cfg.retries, maxSockets: 4 }) }),
}));
// Each operation is bounded as a whole: a body stream on a connection whose path was moved (VIP
// or ECMP change) gets no packet and no RST until the client sends, and would wait forever.
const bounded = (ms) => AbortSignal.timeout(ms);
const OP_MS = cfg.opTimeoutMs ?? 30000;
const out = (rec) => process.stdout.write(JSON.stringify(rec) + '\n');
const errName = (e) => e.$metadata?.httpStatusCode ? `HTTP ${e.$metadata.httpStatusCode} ${e.name}` : (e.code ?? e.name ?? String(e));
/** A failed operation's record fields: the error, where it broke (phase) and the SDK's attempts. */
const failure = (e) => ({ ok: false, err: errName(e), ...(e.phase ? { phase: e.phase } : {}), ...(e.$metadata?.attempts ? { attempts: e.$metadata.attempts } : {}) });

if (cfg.mode === 'verify') {
  let intact = 0; const lost = []; const corrupt = [];
  for (const o of cfg.objects) {
    try {
      const r = await clients[0].send(new GetObjectCommand({ Bucket: cfg.bucket, Key: o.key }));
      const got = sha(Buffer.from(await r.Body.transformToByteArray()));
      if (got === o.sha) intact++; else corrupt.push(o.key);
    } catch (e) {
      lost.push(`${o.key}: ${errName(e)}`);
    }
  }
  out({ verified: cfg.objects.length, intact, lost, corrupt });
  process.exit(0);
}

if (cfg.mode === 'setup') {
  await clients[0].send(new CreateBucketCommand({ Bucket: cfg.bucket }));
  out({ created: cfg.bucket });
  process.exit(0);
}

function abortAfter(ms) {
  const c = new AbortController();
  setTimeout(() => c.abort(), ms).unref();
  return c;
}
/** Rejects when the signal fires first (the SDK's abortSignal does not cover the body stream). */
function withSignal(promise, signal) {
  return new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => reject(Object.assign(new Error('operation timed out'), { code: 'OperationTimeout' })), { once: true });
    promise.then(resolve, reject);
  });
}

/** One GET, bounded as a whole; an error in the body stream carries phase 'body'. */
async function getObject(client, key) {
  const signal = bounded(OP_MS);
  const r = await client.send(new GetObjectCommand({ Bucket: cfg.bucket, Key: key }), { abortSignal: signal });
  try {
    return await withSignal(r.Body.transformToByteArray(), signal);
  } catch (e) {
    // The SDK returned the response at its headers: its retries do not cover the body.
    throw Object.assign(e, { phase: 'body' });
  }
}

let stopping = false;
process.stdin.on('end', () => { stopping = true; });
process.stdin.resume();
process.on('SIGTERM', () => { stopping = true; });
const end = Date.now() + cfg.durationMs;
const acked = [];
let n = 0;

async function worker(w) {
  let i = 0;
  while (!stopping && Date.now() < end) {
    i++;
    const c = (n++) % clients.length;
    const vip = cfg.vips[c];
    const client = clients[c];
    const multipart = cfg.multipartEvery && i % cfg.multipartEvery === 0;
    const size = multipart ? 6 * 1024 * 1024 + 4096 : 1024 + Math.floor(Math.random() * 255 * 1024);
    const body = randomBytes(size);
    const key = `${cfg.prefix}/w${w}/${i}`;
    const h = sha(body);
    const s = Date.now();
    try {
      if (multipart) await new Upload({ client, params: { Bucket: cfg.bucket, Key: key, Body: body }, partSize: 5 * 1024 * 1024, queueSize: 2, abortController: abortAfter(2 * OP_MS) }).done();
      else await client.send(new PutObjectCommand({ Bucket: cfg.bucket, Key: key, Body: body }), { abortSignal: bounded(OP_MS) });
      acked.push({ key, sha: h });
      out({ w, op: multipart ? 'multipart' : 'put', key, vip, s, e: Date.now(), ok: true, sha: h, bytes: size });
    } catch (e) {
      out({ w, op: multipart ? 'multipart' : 'put', key, vip, s, e: Date.now(), ...failure(e) });
    }
    // read back an acknowledged object (often one written through another VIP)
    const o = acked[Math.floor(Math.random() * acked.length)];
    if (o) {
      const s2 = Date.now();
      let bodyRetries = 0;
      for (;;) {
        try {
          const got = sha(Buffer.from(await getObject(client, o.key)));
          out({ w, op: 'get', key: o.key, vip, s: s2, e: Date.now(), ok: got === o.sha, ...(got === o.sha ? {} : { err: 'corrupt' }), ...(bodyRetries ? { bodyRetries } : {}) });
          break;
        } catch (e) {
          // The SDK's retries end at the response headers; a body cut by a path change is retried
          // by the transfer layer of S3 tools (s3transfer in awscli/boto3, rclone), within the
          // same attempt budget. Only the client with retries does so, and each such retry is
          // recorded.
          if (cfg.retries && e.phase === 'body' && BODY_RETRYABLE.has(e.code) && bodyRetries + 1 < MAX_ATTEMPTS) {
            bodyRetries++;
            continue;
          }
          out({ w, op: 'get', key: o.key, vip, s: s2, e: Date.now(), ...failure(e), ...(bodyRetries ? { bodyRetries } : {}) });
          break;
        }
      }
    }
    if (cfg.pauseMs) await new Promise((r) => setTimeout(r, cfg.pauseMs));
  }
}
await Promise.all(Array.from({ length: cfg.workers }, (_, w) => worker(w)));
process.exit(0);
