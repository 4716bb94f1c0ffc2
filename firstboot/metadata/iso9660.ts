// A small read-only ISO9660 reader: enough to read the few files of the cloud-init drive Proxmox
// generates (`genisoimage -quiet -iso-level 3 -J -R -V cidata|config-2`, see
// PVE/QemuServer/Cloudinit.pm commit_cloudinit_disk) straight from the image file or the block
// device, without mounting it. Formats: ECMA-119 (volume descriptors, directory records), Rock
// Ridge names (SUSP "SP"/"CE", RRIP "NM") and Joliet names (UCS-2 supplementary descriptor).
// Not supported, because genisoimage never writes them for a few small files: multi-extent files,
// interleaving, extended attribute records, block sizes other than 2048.
//
// Every number read from the image is checked before it is used as an offset or a length, and
// every loop advances, so a truncated or corrupted image ends in a ConfigError naming the image,
// never in an exception from a Buffer, a huge allocation or a hang.
import { open } from 'node:fs/promises';
import type { ConfigError } from '../lib/errors.js';
import { problem, REGENERATE_DRIVE } from './problems.js';

export const SECTOR = 2048;
/** ECMA-119 6.2.1: sectors 0-15 are the system area; volume descriptors start at sector 16. */
const DESCRIPTORS_AT = 16 * SECTOR;
const MAX_DESCRIPTORS = 32;
/** A cloud-init drive's directories hold a handful of entries; anything bigger is not one. */
const MAX_DIRECTORY_BYTES = 64 * 1024;
/** Bound on SUSP continuation areas followed for one name. */
const MAX_CONTINUATIONS = 8;
/** Joliet escape sequences for UCS-2 levels 1-3 (Joliet specification, section 3.1). */
const JOLIET_ESCAPES = ['%/@', '%/C', '%/E'];

/** Positional reads from an image file, a block device or memory. */
export interface ByteSource {
  /** Shown in messages: the file or device path. */
  readonly name: string;
  /** Read up to `length` bytes at `offset`; fewer bytes means the source ends there. */
  read(offset: number, length: number): Promise<Buffer>;
}

export function bufferSource(name: string, bytes: Buffer): ByteSource {
  return { name, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

/** Open a file or block device read-only for the duration of `use`. */
export async function withFileSource<T>(path: string, use: (src: ByteSource) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r');
  try {
    const src: ByteSource = {
      name: path,
      async read(offset, length) {
        const buf = Buffer.alloc(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await handle.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      },
    };
    return await use(src);
  } finally {
    await handle.close();
  }
}

export interface IsoEntry {
  /** Path inside the image, '/'-separated, without a leading slash. */
  path: string;
  isDir: boolean;
  /** First logical block. */
  extent: number;
  size: number;
}

/** Which name set the reader uses: Rock Ridge (POSIX names) when present, else Joliet. */
export type IsoNaming = 'rock-ridge' | 'joliet';

/** The volume label of an ISO9660 image, or undefined when `src` holds no ISO9660 volume. */
export async function readVolumeLabel(src: ByteSource): Promise<string | undefined> {
  const pvd = await src.read(DESCRIPTORS_AT, SECTOR);
  if (pvd.length < SECTOR || pvd[0] !== 1 || !isDescriptor(pvd)) return undefined;
  return volumeId(pvd);
}

export class IsoImage {
  private constructor(
    private readonly src: ByteSource,
    /** Volume label from the primary descriptor (what blkid shows as LABEL). */
    readonly volumeId: string,
    readonly naming: IsoNaming,
    private readonly root: IsoEntry,
    private readonly volumeBytes: number,
    /** SUSP "SP" LEN_SKP: bytes to skip at the start of each System Use area (Rock Ridge only). */
    private readonly suspSkip: number,
  ) {}

  static async open(src: ByteSource): Promise<IsoImage> {
    const descriptors = await readDescriptors(src);
    const { primary, joliet } = descriptors;
    const blockSize = primary.readUInt16LE(128);
    if (blockSize !== SECTOR) throw corrupt(src, `logical block size is ${blockSize}, only ${SECTOR} is supported`);
    const volumeBytes = primary.readUInt32LE(80) * SECTOR;
    if (volumeBytes <= DESCRIPTORS_AT) throw corrupt(src, `the primary descriptor gives an impossible volume size of ${volumeBytes} bytes`);
    if ((await src.read(volumeBytes - 1, 1)).length !== 1) {
      throw truncated(src, `the volume is ${volumeBytes} bytes by its primary descriptor but the image is shorter`);
    }
    const label = volumeId(primary);

    const primaryRoot = rootEntry(src, primary, volumeBytes);
    const suspSkip = await rockRidgeSkip(src, primaryRoot, volumeBytes);
    if (suspSkip !== undefined) return new IsoImage(src, label, 'rock-ridge', primaryRoot, volumeBytes, suspSkip);
    if (joliet) return new IsoImage(src, label, 'joliet', rootEntry(src, joliet, volumeBytes), volumeBytes, 0);
    throw problem(
      src.name,
      'the ISO9660 image has neither Rock Ridge nor Joliet names, so names like user-data cannot be read',
      'build it the way Proxmox does: genisoimage -iso-level 3 -J -R -V <label> <dir>',
    );
  }

  /** The entry at `path`, or undefined when it does not exist. */
  async find(path: string): Promise<IsoEntry | undefined> {
    let dir = this.root;
    const parts = path.split('/').filter(Boolean);
    for (const part of parts) {
      if (!dir.isDir) return undefined;
      const hit = (await this.list(dir)).find((e) => e.name === part);
      if (!hit) return undefined;
      dir = hit;
    }
    return dir;
  }

  /** The whole content of a file entry; the caller has checked its size. */
  async readEntry(entry: IsoEntry): Promise<Buffer> {
    return this.readChecked(entry.extent * SECTOR, entry.size, `/${entry.path}`);
  }

  /** Names in a directory, for messages that say what is there instead. */
  async names(path: string): Promise<string[]> {
    const dir = await this.find(path);
    return dir?.isDir ? (await this.list(dir)).map((e) => e.name) : [];
  }

  private async list(dir: IsoEntry): Promise<(IsoEntry & { name: string })[]> {
    const where = `/${dir.path}`;
    if (dir.size > MAX_DIRECTORY_BYTES) {
      throw corrupt(this.src, `directory ${where} claims ${dir.size} bytes, more than a cloud-init drive has`);
    }
    const data = await this.readChecked(dir.extent * SECTOR, dir.size, `directory ${where}`);
    const out: (IsoEntry & { name: string })[] = [];
    for (const rec of directoryRecords(this.src, data, where, this.volumeBytes)) {
      if (rec.isSelfOrParent) continue;
      const name = await this.entryName(rec, where);
      out.push({ name, path: [dir.path, name].filter(Boolean).join('/'), isDir: rec.isDir, extent: rec.extent, size: rec.size });
    }
    return out;
  }

  private async entryName(rec: DirectoryRecord, where: string): Promise<string> {
    if (this.naming === 'joliet') return jolietName(this.src, rec.rawName, where);
    const nm = await this.rockRidgeName(rec.systemUse, where);
    return nm ?? isoName(rec.rawName);
  }

  /** The RRIP "NM" name in a System Use area, following "CE" continuation areas (SUSP 5.1). */
  private async rockRidgeName(systemUse: Buffer, where: string): Promise<string | undefined> {
    const parts: Buffer[] = [];
    let area = systemUse.subarray(this.suspSkip);
    for (let hops = 0; ; hops++) {
      let next: { at: number; length: number } | undefined;
      for (const e of suspEntries(this.src, area, where)) {
        if (e.sig === 'NM' && e.body.length >= 1) {
          const flags = e.body[0]!;
          // Bits 1 and 2 mark "." and ".."; bit 0 (CONTINUE) only says more parts follow.
          if ((flags & 0x06) === 0) parts.push(e.body.subarray(1));
        } else if (e.sig === 'CE' && e.body.length >= 24) {
          next = { at: e.body.readUInt32LE(0) * SECTOR + e.body.readUInt32LE(8), length: e.body.readUInt32LE(16) };
        }
      }
      if (!next) break;
      if (hops >= MAX_CONTINUATIONS || next.length > SECTOR) {
        throw corrupt(this.src, `Rock Ridge continuation areas in ${where} do not end`);
      }
      area = await this.readChecked(next.at, next.length, `Rock Ridge continuation area in ${where}`);
    }
    return parts.length ? Buffer.concat(parts).toString('utf8') : undefined;
  }

  /** Read bytes that must lie inside the volume and inside the image. */
  private async readChecked(offset: number, length: number, what: string): Promise<Buffer> {
    if (offset + length > this.volumeBytes) {
      throw corrupt(this.src, `${what} lies at bytes ${offset}..${offset + length}, outside the ${this.volumeBytes}-byte volume`);
    }
    const buf = await this.src.read(offset, length);
    if (buf.length < length) throw truncated(this.src, `${what} needs bytes ${offset}..${offset + length}, the image ends at ${offset + buf.length}`);
    return buf;
  }
}

interface DirectoryRecord {
  isSelfOrParent: boolean;
  isDir: boolean;
  extent: number;
  size: number;
  rawName: Buffer;
  systemUse: Buffer;
}

async function readDescriptors(src: ByteSource): Promise<{ primary: Buffer; joliet?: Buffer }> {
  let primary: Buffer | undefined;
  let joliet: Buffer | undefined;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const at = DESCRIPTORS_AT + i * SECTOR;
    const d = await src.read(at, SECTOR);
    if (d.length < SECTOR) {
      if (i === 0) throw notIso(src, `the image ends at byte ${at + d.length}, before the first volume descriptor ends`);
      throw truncated(src, `volume descriptor ${i} at byte ${at} is cut off at byte ${at + d.length}`);
    }
    if (!isDescriptor(d)) {
      if (i === 0) throw notIso(src, `no "CD001" volume descriptor at byte ${at}`);
      throw corrupt(src, `volume descriptor ${i} at byte ${at} has no "CD001" signature and no terminator came before it`);
    }
    const type = d[0];
    if (type === 255) break; // ECMA-119 8.3: volume descriptor set terminator
    if (type === 1 && !primary) primary = d;
    if (type === 2 && JOLIET_ESCAPES.includes(d.toString('latin1', 88, 91))) joliet ??= d;
  }
  if (!primary) throw corrupt(src, 'no primary volume descriptor (or no terminator within 32 descriptors)');
  return joliet ? { primary, joliet } : { primary };
}

function isDescriptor(d: Buffer): boolean {
  return d.toString('latin1', 1, 6) === 'CD001' && d[6] === 1;
}

function volumeId(pvd: Buffer): string {
  return pvd.toString('latin1', 40, 72).replace(/[ \0]+$/, '');
}

function rootEntry(src: ByteSource, descriptor: Buffer, volumeBytes: number): IsoEntry {
  // ECMA-119 8.4.18: the root directory record is the 34 bytes at offset 156.
  const [root] = [...directoryRecords(src, descriptor.subarray(156, 190), 'the root directory record', volumeBytes)];
  if (!root?.isDir) throw corrupt(src, 'the root directory record does not describe a directory');
  return { path: '', isDir: true, extent: root.extent, size: root.size };
}

/**
 * Rock Ridge is in use when the first record of the root directory starts its System Use area
 * with a SUSP "SP" entry (SUSP 5.3); returns its LEN_SKP, or undefined without Rock Ridge.
 */
async function rockRidgeSkip(src: ByteSource, root: IsoEntry, volumeBytes: number): Promise<number | undefined> {
  if (root.extent * SECTOR + SECTOR > volumeBytes) throw corrupt(src, 'the root directory lies outside the volume');
  const first = await src.read(root.extent * SECTOR, SECTOR);
  if (first.length < SECTOR) throw truncated(src, `the root directory at block ${root.extent} is cut off`);
  const [self] = [...directoryRecords(src, first.subarray(0, first[0] ?? 0), 'the root directory', volumeBytes)];
  const su = self?.systemUse;
  if (!su || su.length < 7 || su.toString('latin1', 0, 2) !== 'SP' || su[4] !== 0xbe || su[5] !== 0xef) return undefined;
  return su[6]!;
}

/** Directory records in `data` (ECMA-119 9.1); records never cross a sector boundary (6.8.1.1). */
function* directoryRecords(src: ByteSource, data: Buffer, where: string, volumeBytes: number): Generator<DirectoryRecord> {
  let pos = 0;
  while (pos < data.length) {
    const len = data[pos]!;
    if (len === 0) {
      pos = (Math.floor(pos / SECTOR) + 1) * SECTOR; // zero padding up to the next sector
      continue;
    }
    if (len < 34 || pos + len > data.length || Math.floor(pos / SECTOR) !== Math.floor((pos + len - 1) / SECTOR)) {
      throw corrupt(src, `directory record at offset ${pos} of ${where} has an impossible length ${len}`);
    }
    const r = data.subarray(pos, pos + len);
    const extent = r.readUInt32LE(2);
    const size = r.readUInt32LE(10);
    // Both-endian fields (ECMA-119 7.3.3) disagreeing is the cheapest sign of a damaged record.
    if (extent !== r.readUInt32BE(6) || size !== r.readUInt32BE(14)) {
      throw corrupt(src, `directory record at offset ${pos} of ${where} has inconsistent both-endian fields`);
    }
    const flags = r[25]!;
    if (flags & 0x80) throw corrupt(src, `multi-extent file in ${where}: not produced by genisoimage for a cloud-init drive`);
    if (r[1] !== 0) throw corrupt(src, `extended attribute record in ${where}: not supported`);
    if (extent * SECTOR + size > volumeBytes) {
      throw corrupt(src, `directory record at offset ${pos} of ${where} points outside the ${volumeBytes}-byte volume`);
    }
    const nameLen = r[32]!;
    if (33 + nameLen > len) throw corrupt(src, `directory record at offset ${pos} of ${where} has a name longer than the record`);
    const rawName = r.subarray(33, 33 + nameLen);
    const suStart = 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0); // padding byte after even-length names
    yield {
      isSelfOrParent: nameLen === 1 && (rawName[0] === 0 || rawName[0] === 1),
      isDir: (flags & 0x02) !== 0,
      extent,
      size,
      rawName,
      systemUse: r.subarray(Math.min(suStart, len)),
    };
    pos += len;
  }
}

/** SUSP entries (signature, length, version, body) in one System Use area; stops at "ST" or padding. */
function* suspEntries(src: ByteSource, area: Buffer, where: string): Generator<{ sig: string; body: Buffer }> {
  let pos = 0;
  while (pos + 4 <= area.length && area[pos] !== 0) {
    const sig = area.toString('latin1', pos, pos + 2);
    const len = area[pos + 2]!;
    if (len < 4 || pos + len > area.length) throw corrupt(src, `System Use entry "${sig}" in ${where} has an impossible length ${len}`);
    if (sig === 'ST') return;
    yield { sig, body: area.subarray(pos + 4, pos + len) };
    pos += len;
  }
}

/** ISO9660 file identifier as Linux shows it without extensions: "USER_DATA.;1" → "user_data". */
function isoName(raw: Buffer): string {
  return raw
    .toString('latin1')
    .replace(/;\d+$/, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

function jolietName(src: ByteSource, raw: Buffer, where: string): string {
  if (raw.length % 2 !== 0) throw corrupt(src, `Joliet name of odd length ${raw.length} in ${where}`);
  const le = Buffer.from(raw); // UCS-2 big-endian → little-endian for the decoder
  le.swap16();
  return le.toString('utf16le').replace(/;\d+$/, '');
}

function corrupt(src: ByteSource, message: string): ConfigError {
  return problem(src.name, `corrupted ISO9660 image: ${message}`, REGENERATE_DRIVE);
}

function truncated(src: ByteSource, message: string): ConfigError {
  return problem(src.name, `truncated ISO9660 image: ${message}`, REGENERATE_DRIVE);
}

function notIso(src: ByteSource, message: string): ConfigError {
  return problem(
    src.name,
    `not an ISO9660 image: ${message}`,
    'pass the cloud-init drive Proxmox generates (an ISO with label cidata or config-2), or a directory with its files',
  );
}
