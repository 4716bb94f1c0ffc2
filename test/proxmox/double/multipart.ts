// A minimal multipart/form-data reader (RFC 7578) for the upload endpoint: enough to take apart
// what a client sends, strict enough to fail on a malformed body.
import { PveError } from './state.js';

export interface Part {
  name: string;
  filename?: string;
  data: Buffer;
}

export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw malformed('no boundary found');
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw malformed('boundary not followed by CRLF');
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw malformed('part without header end');
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next < 0) throw malformed('part without closing boundary');
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? '';
    const name = /;\s*name="([^"]*)"/.exec(disposition)?.[1];
    if (name === undefined) throw malformed('part without a name');
    const filename = /;\s*filename="([^"]*)"/.exec(disposition)?.[1];
    parts.push({ name, ...(filename !== undefined ? { filename } : {}), data: body.subarray(headerEnd + 4, next) });
    pos = next + 2;
  }
}

function malformed(why: string): PveError {
  return new PveError(400, `malformed multipart body: ${why}`);
}
