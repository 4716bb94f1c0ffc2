// The node program's one HTTP GET, for local probes (HAProxy's :8404, a node's status API): on
// node:http, so it runs on the image's Node without undici, on a new connection every time (a
// stalled HAProxy must time out, not hide behind a kept-alive socket), with a hard deadline over
// the whole exchange (a socket idle timeout would let a trickling answer run on).
import http from 'node:http';

export interface HttpResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Bodies are cut here: probes read small documents (health, stats CSV, status JSON). */
const MAX_BODY_CHARS = 1_000_000;

export function httpGet(url: string, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < MAX_BODY_CHARS) body += c;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
