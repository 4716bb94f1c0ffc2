// Loopback clients for the run-time tests: keep-alive HTTP over a raw socket from a chosen source
// address (127.0.0.1 and 127.0.0.2 are both loopback), and TLS downloads.
import net from 'node:net';
import tls from 'node:tls';

export type Reply = 'ok' | 'closed';

/** One HTTP/1.1 request on `sock`; 'closed' when the server closes or resets instead of answering. */
export function request(sock: net.Socket | tls.TLSSocket, path = '/'): Promise<Reply> {
  return new Promise((resolve) => {
    let buf = '';
    const finish = (r: Reply) => {
      sock.off('data', onData);
      sock.off('close', onClose);
      sock.off('error', onClose);
      resolve(r);
    };
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (/\r\n\r\n[\s\S]*ok$/.test(buf)) finish('ok');
    };
    const onClose = () => finish('closed');
    sock.on('data', onData);
    sock.on('close', onClose);
    sock.on('error', onClose);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: s3.test\r\n\r\n`);
  });
}

export function connect(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.once('error', reject);
  });
}

/** A fresh connection from `localAddress` and one request on it. */
export async function tryRequest(port: number, localAddress: string): Promise<Reply> {
  const s = await connect(port, localAddress).catch(() => undefined);
  if (!s) return 'closed';
  const r = await request(s);
  s.destroy();
  return r;
}

/** Start a TLS download of `path`; resolves with the bytes of the body once the response ended. */
export function tlsDownload(port: number, servername: string, path: string): { started: Promise<void>; done: Promise<number> } {
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const done = new Promise<number>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\n\r\n`);
    });
    let head = '';
    let body = 0;
    let length = -1;
    s.on('data', (d: Buffer) => {
      if (length < 0) {
        head += d.toString('latin1');
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        length = Number(/content-length: (\d+)/i.exec(head.slice(0, i))?.[1] ?? 0);
        body = Buffer.byteLength(head.slice(i + 4), 'latin1');
        started();
      } else body += d.length;
      if (body >= length) {
        s.end();
        resolve(body);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(body));
  });
  return { started: startedP, done };
}
