// The S3 drill's client (test/s3/clients/s3-workload.mjs) against a small S3 double that cuts the
// body of the first GET it answers: with retries the GET is sent again and its object verified
// (and the record says so); without, the GET fails in its body phase. The drill's "failed with
// retries" figures rest on this difference.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { clientScript } from '../helpers/s3.js';
import type { OpRecord } from '../helpers/s3-drill.js';

/** Stores PUT bodies by path; answers GETs with them, but sends only half of the first one and closes the connection. */
function cuttingS3(): Promise<Server> {
  const objects = new Map<string, Buffer>();
  let gets = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'PUT') {
        objects.set(key, Buffer.concat(chunks));
        res.writeHead(200, { ETag: '"e"' }).end();
        return;
      }
      const body = objects.get(key);
      if (req.method !== 'GET' || !body) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': body.length, ETag: '"e"' });
      if (++gets === 1) {
        res.write(body.subarray(0, body.length >> 1), () => req.socket.destroy());
        return;
      }
      res.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let server: Server | undefined;
afterEach(() => void server?.close());

async function run(retries: boolean): Promise<OpRecord[]> {
  server = await cuttingS3();
  const { port } = server.address() as AddressInfo;
  const cfg = { vips: [`127.0.0.1:${port}`], accessKeyId: 'k', secretAccessKey: 's', region: 'us-east-1', bucket: 'b', prefix: 'p', durationMs: 1500, workers: 1, multipartEvery: 0, pauseMs: 20, retries };
  const r = await execa(process.execPath, [clientScript('s3-workload.mjs'), JSON.stringify(cfg)], { timeout: 30_000, reject: false });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as OpRecord);
}

describe('the drill client, a GET whose body breaks', () => {
  it('with retries: sent again, and the object it reads back is intact', async () => {
    const gets = (await run(true)).filter((r) => r.op === 'get');
    expect(gets.length).toBeGreaterThan(1);
    expect(gets[0]).toMatchObject({ ok: true, bodyRetries: 1 });
    expect(gets.slice(1).every((r) => r.ok && !r.bodyRetries)).toBe(true);
  });

  it('without retries: failed, in its body phase', async () => {
    const gets = (await run(false)).filter((r) => r.op === 'get');
    expect(gets[0]).toMatchObject({ ok: false, phase: 'body' });
    expect(gets.slice(1).every((r) => r.ok)).toBe(true);
  });
});
