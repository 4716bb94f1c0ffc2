// The image definition (image/*.yaml) as a zod schema: what the user wrote, validated and frozen.
// Everything derived from it (identifiers, layout, the stage plan) lives in other modules.
import semver from 'semver';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../../firstboot/lib/errors.js';

/** The definition `ober build-image` and `ober image export` use when none is given. */
export const DEFAULT_IMAGE_DEFINITION = 'image/debian-13.yaml';

// Image ids end up in file names, GRUB menus and os-release: keep them to a safe alphabet.
const imageId = /^[a-z0-9][a-z0-9-]{1,62}$/;
const unitName = /^[a-zA-Z0-9@_.-]+\.(service|timer|socket|target|path)$/;
const absPath = z.string().regex(/^\/[^\s"'\\]*$/, 'an absolute path without spaces or quotes');

const debianDistribution = z.strictObject({
  family: z.literal('debian'),
  name: z.literal('debian'),
  release: z.string().regex(/^[a-z]+$/, 'a Debian suite name such as bookworm'),
  mirrors: z
    .array(z.string().regex(/^deb https?:\/\/\S+ \S+( \S+)+$/, 'a one-line apt source: "deb URL SUITE COMPONENT..."'))
    .min(1),
});

const rhelDistribution = z.strictObject({
  family: z.literal('rhel'),
  name: z.enum(['rocky', 'almalinux']),
  release: z.string().regex(/^\d+$/, 'a major release such as "10"'),
  repositories: z.array(z.strictObject({ id: z.string().regex(/^[a-z0-9_-]+$/), baseurl: z.url() })).min(1),
});

// A subtree of /lib/modules/<version>/kernel: `drivers/gpu`, `drivers/net/ethernet/intel/e1000e`.
const moduleSubtree = z.string().regex(/^(?!.*(^|\/)\.\.?(\/|$))[a-z0-9_][A-Za-z0-9_.+/-]*$/, 'a path below kernel/ such as drivers/gpu');
const moduleName = z.string().regex(/^[a-z0-9_-]+$/, 'a module name such as i6300esb');
const kernelModules = z.strictObject({
  /** In order; for each module the last matching rule wins (builder/image/kernel-modules.ts). */
  trim: z.array(z.union([z.strictObject({ remove: z.array(moduleSubtree).min(1) }), z.strictObject({ keep: z.array(moduleSubtree).min(1) })])),
  /** Modules that must survive the trim (or be built in); the build stops otherwise. */
  require: z.array(moduleName),
  /** The initramfs gets only these and their dependencies (initramfs-tools MODULES=list). */
  initramfs: z.array(moduleName).min(1),
});

const partition = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,35}$/, 'a GPT partition name (lower case, at most 36 characters)'),
  role: z.enum(['bios-boot', 'esp', 'root', 'var']),
  /** Absent only for the last partition, which takes the rest of the disk. */
  sizeMiB: z.int().positive().optional(),
});

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 checksum: 64 lower-case hex digits');
/** A file name as it appears in a Debian pool or at the end of a URL (no directories). */
const fileName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9+._~-]*$/, 'a file name such as haproxy_3.0.11.orig.tar.gz');

/**
 * One pinned source archive. Where it comes from is either a file of a Debian source package (in
 * the pool of the definition's first mirror) or a URL; what it is, is its sha256 (the cache key).
 */
const sourceArchive = z
  .strictObject({
    version: z.string().regex(/^[0-9][A-Za-z0-9.+~-]*$/, 'an upstream version such as 3.0.11'),
    debian: z
      .strictObject({
        package: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian source package name such as haproxy'),
        file: fileName,
      })
      .optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    sha256: sha256Hex,
    /** The directory inside the archive that holds the source tree (its top-level CMakeLists.txt or Makefile). */
    tree: z.string().regex(/^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/, 'a relative directory such as haproxy-3.0.11'),
  })
  .check((ctx) => {
    if (!ctx.value.debian === !ctx.value.url)
      ctx.issues.push({ code: 'custom', input: ctx.value, path: [], message: 'needs exactly one of `debian: { package, file }` and `url`' });
  });

/**
 * Which HAProxy the image runs: `awslc` (the default) is HAProxy built against AWS-LC by the
 * `haproxy` stage from the pinned sources; `distro` is the distribution's package as it is.
 */
export const HAPROXY_FLAVOURS = ['awslc', 'distro'] as const;
const haproxySection = z.strictObject({
  flavour: z.enum(HAPROXY_FLAVOURS).default('awslc'),
  sources: z.strictObject({ haproxy: sourceArchive, awslc: sourceArchive }).optional(),
});

export const imageDefinitionSchema = z
  .strictObject({
    id: z.string().regex(imageId, 'lower case letters, digits and dashes (it becomes part of file names)'),
    version: z.string().refine((v) => semver.valid(v) === v, 'a semantic version such as 1.2.3'),
    distribution: z.discriminatedUnion('family', [debianDistribution, rhelDistribution]),
    haproxy: haproxySection,
    packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'a package name')).min(1),
    pathExcludes: z.array(z.union([z.strictObject({ exclude: absPath }), z.strictObject({ include: absPath })])),
    boot: z.strictObject({
      grubModules: absPath,
      mkimage: z.string().regex(/^[a-z0-9-]+$/),
      efi: z.strictObject({ shim: absPath, grub: absPath, mokManager: absPath, vendor: z.string().regex(/^[a-z0-9]+$/) }),
    }),
    services: z.strictObject({
      enable: z.array(z.string().regex(unitName, 'a systemd unit name')),
      disable: z.array(z.string().regex(unitName, 'a systemd unit name')),
    }),
    disk: z.strictObject({
      sizeMiB: z.int().positive(),
      partitions: z.array(partition).min(4),
    }),
    kernelModules: kernelModules.optional(),
    kernelCommandLine: z.array(z.string().regex(/^[^\s"';]+$/, 'one kernel argument, no spaces or quotes')),
    output: z.strictObject({ compression: z.enum(['zstd', 'zlib']) }),
  })
  .check((ctx) => {
    const { partitions, sizeMiB } = ctx.value.disk;
    for (const role of ['bios-boot', 'esp', 'root', 'var'] as const) {
      const n = partitions.filter((p) => p.role === role).length;
      if (n !== 1) ctx.issues.push({ code: 'custom', input: partitions, path: ['disk', 'partitions'], message: `needs exactly one partition with role ${role}, has ${n}` });
    }
    if (ctx.value.distribution.family === 'debian' && !ctx.value.kernelModules)
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['kernelModules'], message: 'needed for the debian family: it lists the initramfs modules (initramfs-tools MODULES=list)' });
    const { haproxy, distribution } = ctx.value;
    if (haproxy.flavour === 'awslc') {
      if (!haproxy.sources)
        ctx.issues.push({ code: 'custom', input: haproxy, path: ['haproxy', 'sources'], message: 'needed for flavour awslc: the pinned HAProxy and AWS-LC source archives (or set haproxy.flavour: distro)' });
      if (distribution.family !== 'debian')
        ctx.issues.push({ code: 'custom', input: haproxy.flavour, path: ['haproxy', 'flavour'], message: `awslc is built and packaged for Debian only; use distro for the ${distribution.family} family` });
    }
    const last = partitions.length - 1;
    partitions.forEach((p, i) => {
      if (i !== last && p.sizeMiB === undefined)
        ctx.issues.push({ code: 'custom', input: p, path: ['disk', 'partitions', i, 'sizeMiB'], message: 'only the last partition may omit its size' });
    });
    if (partitions[last]?.role !== 'var')
      ctx.issues.push({ code: 'custom', input: partitions, path: ['disk', 'partitions', last], message: 'the var partition must be last, so growpart can grow it' });
    // 1 MiB before the first partition and 1 MiB at the end (backup GPT) stay free.
    const fixed = partitions.reduce((s, p) => s + (p.sizeMiB ?? 0), 0);
    if (fixed + 2 + 64 > sizeMiB)
      ctx.issues.push({ code: 'custom', input: sizeMiB, path: ['disk', 'sizeMiB'], message: `too small: the fixed partitions take ${fixed} MiB, and /var needs at least 64 MiB` });
  });

export type ImageDefinition = z.infer<typeof imageDefinitionSchema>;
export type DebianDistribution = z.infer<typeof debianDistribution>;
export type RhelDistribution = z.infer<typeof rhelDistribution>;
export type SourceArchive = z.infer<typeof sourceArchive>;
export type HaproxyFlavour = (typeof HAPROXY_FLAVOURS)[number];
export type KernelModules = z.infer<typeof kernelModules>;
export type PartitionRole = z.infer<typeof partition>['role'];

/** Validate a parsed document; every issue is reported with its path. */
export function parseImageDefinition(source: string, doc: unknown): ImageDefinition {
  const r = imageDefinitionSchema.safeParse(doc);
  if (!r.success) {
    const issues: ConfigIssue[] = r.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
    throw new ConfigError(source, issues);
  }
  return Object.freeze(r.data);
}

export async function loadImageDefinition(file: string): Promise<ImageDefinition> {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: (e as Error).message, hint: 'the image definitions live in image/*.yaml' }]);
  }
  return parseImageDefinition(file, doc);
}

function formatPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => (typeof k === 'number' ? `[${k}]` : `${i ? '.' : ''}${String(k)}`)).join('');
}
