// A multipart/form-data body streamed from a file, with its exact length known before the first
// byte is sent (pveproxy needs Content-Length), and progress reported as the file is read.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

export interface UploadFile {
  path: string;
  /** File name the server stores it under. */
  name: string;
  size: number;
  /** Form field of the file part; Proxmox's upload call reads it from `filename`. */
  field?: string;
}

export interface MultipartBody {
  boundary: string;
  length: number;
  stream: Readable;
}

export function multipartBody(fields: Record<string, string>, file: UploadFile, onProgress?: (sent: number, total: number) => void): MultipartBody {
  const boundary = `----ober${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    Object.entries(fields)
      .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
      .join('') +
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? 'filename'}"; filename="${file.name}"\r\n` +
      `Content-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  async function* parts(): AsyncGenerator<Buffer> {
    yield head;
    let sent = 0;
    for await (const chunk of createReadStream(file.path)) {
      sent += (chunk as Buffer).length;
      yield chunk as Buffer;
      onProgress?.(sent, file.size);
    }
    // A file that changed size mid-upload would make the declared length a lie.
    if (sent !== file.size) throw new Error(`${file.path} changed size during upload (${file.size} → ${sent} bytes)`);
    yield tail;
  }
  return { boundary, length: head.length + file.size + tail.length, stream: Readable.from(parts()) };
}
