// Reading a file named by the operator (a cluster file, a secret, a certificate) with limits set
// before any work: only a regular file (a FIFO blocks a reader until someone writes, a device such
// as /dev/zero never ends, a socket cannot be read), at most `maxBytes`, within `timeoutMs`.
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';

/** Why a file could not be read, in words for an issue message; `hint` says what to do. */
export class BoundedReadError extends Error {
  override name = 'BoundedReadError';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly hint?: string,
  ) {
    super(`${file} ${reason}`);
  }
}

export interface BoundedReadOptions {
  maxBytes: number;
  /** A regular file on a hung network file system can block a read; 5 s is far above a local read. */
  timeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 5000;

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}

function checkStat(file: string, st: Stats, maxBytes: number): void {
  if (!st.isFile()) throw new BoundedReadError(file, `is not a regular file: it is ${kindOf(st)}`, 'point at a regular file holding the value');
  if (st.size > maxBytes) throw new BoundedReadError(file, `is ${st.size} bytes, over the ${maxBytes}-byte limit`, 'point at the right file; this one is far larger than such a value can be');
}

async function readChecked(file: string, maxBytes: number): Promise<Buffer> {
  // stat before open: opening some devices has effects of its own (a tape rewinds, a tty becomes
  // the controlling terminal). fstat after open: the path may have been swapped in between.
  let st: Stats;
  try {
    st = await stat(file);
  } catch (e) {
    throw new BoundedReadError(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  checkStat(file, st, maxBytes);
  // O_NONBLOCK: opening a FIFO that replaced the file returns at once instead of waiting for a writer.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch((e: unknown) => {
    throw new BoundedReadError(file, `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  });
  try {
    checkStat(file, await handle.stat(), maxBytes);
    // One byte more than allowed: a file that grew since fstat is caught, not truncated.
    const buf = Buffer.alloc(maxBytes + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got > maxBytes) throw new BoundedReadError(file, `grew past the ${maxBytes}-byte limit while it was read`);
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}

/** Read a regular file of at most `maxBytes` within the timeout; throws BoundedReadError. */
export async function readBounded(file: string, opts: BoundedReadOptions): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BoundedReadError(file, `could not be read within ${timeoutMs / 1000} s`, 'check the file system it lies on (a hung network mount?)')), timeoutMs);
  });
  const work = readChecked(file, opts.maxBytes);
  // If the timer wins, the read's later outcome is of no interest.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** readBounded as UTF-8 text; NUL bytes and invalid UTF-8 are refused, never passed on. */
export async function readBoundedText(file: string, opts: BoundedReadOptions): Promise<string> {
  const bytes = await readBounded(file, opts);
  if (bytes.includes(0)) throw new BoundedReadError(file, 'contains NUL bytes: it is not a text file', 'point at the PEM or secret text file, not a binary one');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new BoundedReadError(file, 'is not UTF-8 text');
  }
}
