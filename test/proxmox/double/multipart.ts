// pveproxy's multipart/form-data reader for the upload call, after pve-http-server's
// PVE/APIServer/AnyEvent.pm (`file_upload_multipart`). It is not a general RFC 7578 parser: it
// takes the named fields in a fixed order — `content`, then `checksum-algorithm`, then `checksum`
// — then expects the file part, named `filename`. Each field is found by a regex of the form
//   ^--BOUNDARY\r\n.*?Content-Disposition: (.*?); name="NAME"(.*?--BOUNDARY\r\n)
// whose lazy `(.*?)` runs across earlier parts when the order differs, so the captured disposition
// is no longer exactly `form-data` and the upload dies with
//   wrong Content-Disposition '...' in multipart, expected 'form-data'
// (HTTP 501, as every error of that function). The same regexes are used here on the whole body.
import { PveError } from './state.js';

export interface MultipartResult {
  params: Record<string, string>;
  file?: { filename: string; data: Buffer };
}

/** The order pveproxy extracts the form fields in (AnyEvent.pm, phase 1). */
export const PVEPROXY_FIELD_ORDER = ['content', 'checksum-algorithm', 'checksum'] as const;

const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

export function parseMultipart(body: Buffer, boundary: string): MultipartResult {
  // latin1 keeps one character per byte, so the file data survives the regexes unchanged.
  let buf = body.toString('latin1');
  const nl = '\\r?\\n';
  const delim = `--${quote(boundary)}${nl}`;
  const closeDelim = `--${quote(boundary)}--`;
  const params: Record<string, string> = {};

  // Phase 0: everything before the first delimiter is dropped.
  const start = new RegExp(`^[\\s\\S]*?(${delim})`).exec(buf);
  if (!start) throw failed('upload failed');
  buf = buf.slice(start.index + start[0].length - (start[1] as string).length);

  const assertFormDisposition = (disp: string): void => {
    if (disp !== 'form-data') throw failed(`wrong Content-Disposition '${disp}' in multipart, expected 'form-data'`);
  };
  const removeUntilData = (): void => {
    buf = buf.replace(new RegExp(`^[\\s\\S]*?(?:${nl}){2}`), '');
  };

  // Phase 1: the named fields, each only if it is next in pveproxy's order.
  for (const name of PVEPROXY_FIELD_ORDER) {
    const m = new RegExp(`^${delim}[\\s\\S]*?Content-Disposition: ([\\s\\S]*?); name="${quote(name)}"([\\s\\S]*?${delim})`).exec(buf);
    if (!m) continue;
    buf = (m[2] as string) + buf.slice(m[0].length);
    assertFormDisposition(m[1] as string);
    removeUntilData();
    const value = new RegExp(`^([\\s\\S]*?)(${delim})`).exec(buf);
    if (!value) throw failed('upload failed');
    params[name] = (value[1] as string).trim();
    buf = buf.slice((value[1] as string).length);
  }
  const filePart = new RegExp(`^${delim}Content-Disposition: ([\\s\\S]*?); name="([\\s\\S]*?)"; filename="([^"]+)"${nl}`).exec(buf);
  // Fields out of order (or unknown ones) stay in front of the file part: pveproxy never gets to
  // phase 2 and fails once the whole body was read.
  if (!filePart) throw failed('upload failed');
  assertFormDisposition(filePart[1] as string);
  if (filePart[2] !== 'filename') throw failed(`wrong field name '${filePart[2]}' for file upload, expected 'filename'`);
  buf = buf.slice(filePart[0].length);
  removeUntilData();
  // Phase 2: the file data runs up to the closing delimiter.
  const data = new RegExp(`^([\\s\\S]*?)(?:${nl})?${closeDelim}`).exec(buf);
  if (!data) throw failed('upload failed');
  const filename = (filePart[3] as string).trim();
  params.filename = filename;
  return { params, file: { filename, data: Buffer.from(data[1] as string, 'latin1') } };
}

/** `$self->error($reqstate, 501, $err)`: every failure of the multipart reader. */
function failed(message: string): PveError {
  return new PveError(501, message);
}
