import fc from 'fast-check';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../firstboot/lib/errors.js';
import { IsoImage, bufferSource, readVolumeLabel, withFileSource, SECTOR } from '../../../firstboot/metadata/iso9660.js';
import { buildIso, configDrive, nocloudDrive, tempDir, writeTree, type IsoNames } from './fixtures.js';

const files = nocloudDrive();

async function openBytes(name: string, bytes: Buffer): Promise<IsoImage> {
  return IsoImage.open(bufferSource(name, bytes));
}

async function readAll(iso: IsoImage, rel: string): Promise<string | undefined> {
  const e = await iso.find(rel);
  return e && (await iso.readEntry(e)).toString('utf8');
}

describe('ISO9660 reader on images genisoimage builds the way Proxmox does', () => {
  const images: Partial<Record<IsoNames, Buffer>> = {};
  beforeAll(async () => {
    const dir = await writeTree(await tempDir(), files);
    const out = await tempDir();
    for (const v of ['R', 'J', 'JR', 'plain'] as const) images[v] = await readFile(await buildIso(dir, path.join(out, `${v}.iso`), 'cidata', v));
  });

  it.each([
    ['R', 'rock-ridge'],
    ['J', 'joliet'],
    ['JR', 'rock-ridge'],
  ] as const)('reads every file byte for byte with -%s names (%s)', async (variant, naming) => {
    const iso = await openBytes(`${variant}.iso`, images[variant]!);
    expect(iso.volumeId).toBe('cidata');
    expect(iso.naming).toBe(naming);
    expect((await iso.names('')).sort()).toEqual(['meta-data', 'network-config', 'user-data', 'vendor-data']);
    for (const [name, content] of Object.entries(files)) expect(await readAll(iso, name)).toBe(content);
    expect(await iso.find('missing-file')).toBeUndefined();
    expect(await iso.find('user-data/below-a-file')).toBeUndefined();
  });

  it('reads nested ConfigDrive2 paths and tells directories from files', async () => {
    const cd = configDrive();
    const img = await buildIso(await writeTree(await tempDir(), cd), path.join(await tempDir(), 'cd.iso'), 'config-2');
    const iso = await withFileSource(img, (src) => IsoImage.open(src));
    expect(iso.volumeId).toBe('config-2');
    const entry = await withFileSource(img, async (src) => {
      const i = await IsoImage.open(src);
      expect(await readAll(i, 'openstack/latest/meta_data.json')).toBe(cd['openstack/latest/meta_data.json']);
      expect(await readAll(i, 'openstack/content/0000')).toBe(cd['openstack/content/0000']);
      return i.find('openstack/latest');
    });
    expect(entry?.isDir).toBe(true);
  });

  it('reads the volume label without opening the whole image, and says undefined for non-ISO data', async () => {
    expect(await readVolumeLabel(bufferSource('jr', images.JR!))).toBe('cidata');
    expect(await readVolumeLabel(bufferSource('zeros', Buffer.alloc(64 * 1024)))).toBeUndefined();
    expect(await readVolumeLabel(bufferSource('short', Buffer.from('#cloud-config\n')))).toBeUndefined();
  });

  it('refuses an image with neither Rock Ridge nor Joliet names (8.3 names lose "user-data")', async () => {
    await expect(openBytes('plain.iso', images.plain!)).rejects.toThrow(/plain\.iso[\s\S]*neither Rock Ridge nor Joliet/);
  });

  // Cut the image inside the volume descriptors, the root directory, the path tables and the file
  // data: every cut is a ConfigError that names the image and says truncated (or not ISO9660).
  it.each([0, 100, 16 * SECTOR + 10, 17 * SECTOR + 1, 18 * SECTOR, 20 * SECTOR + 7, -SECTOR, -1])(
    'refuses the JR image truncated at byte %i with a clear error',
    async (cut) => {
      const bytes = images.JR!.subarray(0, cut < 0 ? images.JR!.length + cut : cut);
      const attempt = (async () => {
        const iso = await openBytes('cut.iso', bytes);
        for (const name of Object.keys(files)) await readAll(iso, name);
      })();
      await expect(attempt).rejects.toThrow(ConfigError);
      await expect(attempt).rejects.toThrow(/^cut\.iso: 1 problem\n {2}\(root\): (truncated ISO9660 image|not an ISO9660 image)/);
    },
  );

  it('refuses a directory record whose both-endian extent fields disagree', async () => {
    const bytes = Buffer.from(images.R!);
    const iso = await openBytes('r.iso', bytes);
    const rootExtent = bytes.readUInt32LE(16 * SECTOR + 156 + 2);
    expect(iso.naming).toBe('rock-ridge');
    // The third record of the root directory is the first file; corrupt its little-endian extent.
    const dir = rootExtent * SECTOR;
    const first = dir + bytes[dir]! + bytes[dir + bytes[dir]!]!;
    bytes.writeUInt32LE(bytes.readUInt32LE(first + 2) + 7, first + 2);
    const broken = await openBytes('r.iso', bytes);
    await expect(broken.find('user-data')).rejects.toThrow(/corrupted ISO9660 image: directory record .* inconsistent both-endian/);
  });

  it('refuses a file extent that points beyond the volume', async () => {
    const bytes = Buffer.from(images.R!);
    const rootExtent = bytes.readUInt32LE(16 * SECTOR + 156 + 2);
    const dir = rootExtent * SECTOR;
    const first = dir + bytes[dir]! + bytes[dir + bytes[dir]!]!;
    bytes.writeUInt32LE(0x00ffffff, first + 2);
    bytes.writeUInt32BE(0x00ffffff, first + 6);
    const iso = await openBytes('r.iso', bytes);
    await expect(iso.find('meta-data')).rejects.toThrow(/points outside the \d+-byte volume/);
  });

  it('refuses a primary descriptor whose volume size is zero', async () => {
    const bytes = Buffer.from(images.JR!);
    bytes.writeUInt32LE(0, 16 * SECTOR + 80);
    await expect(openBytes('zero.iso', bytes)).rejects.toThrow(/zero\.iso[\s\S]*impossible volume size of 0 bytes/);
  });

  it('refuses a directory that claims to be huge instead of allocating it', async () => {
    const bytes = Buffer.from(images.R!);
    const rootRecord = 16 * SECTOR + 156;
    bytes.writeUInt32LE(0x7fffffff, rootRecord + 10);
    bytes.writeUInt32BE(0x7fffffff, rootRecord + 14);
    await expect(openBytes('huge.iso', bytes)).rejects.toThrow(/huge\.iso[\s\S]*corrupted ISO9660 image/);
  });

  it('refuses a Rock Ridge continuation chain that loops', async () => {
    // A CE entry pointing at itself: the reader must give up after a bounded number of hops.
    const bytes = Buffer.from(images.R!);
    const rootExtent = bytes.readUInt32LE(16 * SECTOR + 156 + 2);
    const dir = rootExtent * SECTOR;
    const first = dir + bytes[dir]! + bytes[dir + bytes[dir]!]!;
    const len = bytes[first]!;
    const nameLen = bytes[first + 32]!;
    const su = first + 33 + nameLen + (nameLen % 2 === 0 ? 1 : 0);
    const ce = Buffer.alloc(28);
    ce.write('CE', 0, 'latin1');
    ce[2] = 28;
    ce[3] = 1;
    ce.writeUInt32LE(rootExtent, 4);
    ce.writeUInt32BE(rootExtent, 8);
    ce.writeUInt32LE(su - dir, 12);
    ce.writeUInt32BE(su - dir, 16);
    ce.writeUInt32LE(28, 20);
    ce.writeUInt32BE(28, 24);
    // The continuation area is this very System Use area: CE, then ST ends the original entries.
    expect(first + len - su).toBeGreaterThanOrEqual(32);
    ce.copy(bytes, su);
    Buffer.from([0x53, 0x54, 4, 1]).copy(bytes, su + 28);
    const iso = await openBytes('loop.iso', bytes);
    await expect(iso.find('user-data')).rejects.toThrow(/continuation areas .* do not end/);
  });

  it('never fails with anything but a ConfigError, and always ends, on randomly damaged images', async () => {
    const base = images.JR!;
    const limit = Math.min(base.length, 40 * SECTOR); // descriptors, path tables, directories
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: limit - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 24 }),
        async (edits) => {
          const bytes = Buffer.from(base);
          for (const e of edits) bytes[e.at] = e.value;
          try {
            const iso = await openBytes('fuzz.iso', bytes);
            for (const name of Object.keys(files)) await readAll(iso, name);
          } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            expect(e.message).toMatch(/^fuzz\.iso/);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads through a real file handle and stops at the file end', async () => {
    const p = path.join(await tempDir(), 'short.iso');
    await writeFile(p, images.JR!.subarray(0, 18 * SECTOR + 3));
    await expect(withFileSource(p, (src) => IsoImage.open(src))).rejects.toThrow(/short\.iso[\s\S]*truncated ISO9660 image/);
  });
});
