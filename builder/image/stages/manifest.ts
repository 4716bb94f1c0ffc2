// Stage `manifest`: what the image is, for humans and for the deploy tool: id, version, flavour,
// every package with its version, the versions the shipped daemons report about themselves
// (haproxy -vv with its SSL library, keepalived, exabgp, bird, systemd, nftables, OpenSSH, Node;
// run in the image's own tree, builder/image/image-root.ts), the digests of the file trees and of
// each artifact, SHA256SUMS and a CycloneDX SBOM.
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InternalError } from '../../../firstboot/lib/errors.js';
import { canonicalJson, sha256, type Json } from '../canonical.js';
import type { ImageDefinition } from '../definition.js';
import { daemonVersions, imageDaemons } from '../image-root.js';
import { readDpkgStatus, type InstalledPackage } from '../packages.js';
import { cycloneDx, type SourceComponent } from '../sbom.js';
import { readHaproxyBuildInfo, type HaproxyBuildInfo } from './haproxy.js';
import type { Stage } from '../stage.js';
import { hashFile } from '../tree.js';

const REVISION = 3;

export interface ArtifactNames {
  qcow2: string;
  manifest: string;
  sbom: string;
  sums: string;
}

export interface ManifestInputs {
  def: ImageDefinition;
  names: ArtifactNames;
  customizeDir: string;
  /** Flavour awslc: the haproxy stage's entry (its build.json names versions and sources). */
  haproxyDir?: string | undefined;
  convertDir: string;
  stageKeys: Record<string, string>;
  sourceDateEpoch: number;
}

export function manifestStage(m: ManifestInputs): Stage {
  const { def, names } = m;
  return {
    name: 'manifest',
    inputs: { revision: REVISION, stages: m.stageKeys, names: names as never, haproxy: def.haproxy as unknown as Json },
    commands: [],
    async run(out) {
      const packages = await readDpkgStatus(path.join(m.customizeDir, 'var/lib/dpkg/status'));
      const built = m.haproxyDir ? await readHaproxyBuildInfo(m.haproxyDir) : undefined;
      const distro = `${def.distribution.name}-${def.distribution.family === 'debian' ? await debianMajor(m.customizeDir) : def.distribution.release}`;
      const sbom = canonicalJson(cycloneDx({ id: def.id, version: def.version, distro, vendor: def.distribution.name }, packages, m.sourceDateEpoch, built ? builtFromSources(built) : []), 2) + '\n';
      await writeFile(path.join(out, names.sbom), sbom);

      const qcow2 = path.join(m.convertDir, names.qcow2);
      const artifacts = [
        { file: names.qcow2, sha256: await hashFile(qcow2), bytes: (await stat(qcow2)).size },
        { file: names.sbom, sha256: sha256(sbom), bytes: Buffer.byteLength(sbom) },
      ];
      const treeDigests: Record<string, string> = {};
      for (const tree of ['root', 'var', 'esp']) treeDigests[tree] = sha256(await readFile(path.join(m.customizeDir, `${tree}.digest`)));
      const manifest = {
        image: { id: def.id, version: def.version, haproxyFlavour: def.haproxy.flavour },
        haproxy: haproxyRecord(def, packages, built),
        distribution: { name: def.distribution.name, release: def.distribution.release },
        kernel: (await readFile(path.join(m.customizeDir, 'kernel-version'), 'utf8')).trim(),
        versions: await imageVersions(m.customizeDir, def),
        sourceDateEpoch: m.sourceDateEpoch,
        stages: m.stageKeys,
        trees: treeDigests,
        artifacts,
        packages,
      };
      const manifestText = canonicalJson(manifest, 2) + '\n';
      await writeFile(path.join(out, names.manifest), manifestText);
      const sums = [...artifacts, { file: names.manifest, sha256: sha256(manifestText) }].map((a) => `${a.sha256}  ${a.file}`).join('\n') + '\n';
      await writeFile(path.join(out, names.sums), sums);
    },
  };
}

/**
 * Which HAProxy the image runs and where it came from: the package, and for flavour awslc the
 * source archives (version, URL, sha256) it was built from and the SSL library it runs on.
 */
function haproxyRecord(def: ImageDefinition, packages: readonly InstalledPackage[], built: HaproxyBuildInfo | undefined): Json {
  if (!built) {
    const pkg = packages.find((p) => p.name === 'haproxy');
    return { flavour: def.haproxy.flavour, package: pkg ? { name: pkg.name, version: pkg.version } : null };
  }
  const installed = packages.find((p) => p.name === built.package.name);
  if (installed?.version !== built.package.version)
    throw new InternalError(`manifest: the image has ${built.package.name} ${installed?.version ?? '(not installed)'}, the haproxy stage built ${built.package.version}`);
  return {
    flavour: def.haproxy.flavour,
    package: { name: built.package.name, version: built.package.version, sha256: built.package.sha256, depends: built.package.depends },
    version: built.haproxy.version,
    ssl: built.haproxy.ssl,
    sources: built.sources as unknown as Json,
  };
}

/** SBOM components for what the image holds but no distribution package describes. */
function builtFromSources(built: HaproxyBuildInfo): SourceComponent[] {
  const names: Record<string, string> = { haproxy: 'haproxy', awslc: 'aws-lc' };
  return built.sources.map((s) => ({ name: names[s.name] ?? s.name, version: s.version, url: s.url, sha256: s.sha256, file: s.file, partOf: built.package.name }));
}

/** "13" from the tree's /etc/debian_version ("13.2"), for the purl qualifier debian-13. */
async function debianMajor(customizeDir: string): Promise<string> {
  const v = (await readFile(path.join(customizeDir, 'root/etc/debian_version'), 'utf8')).trim();
  const major = /^(\d+)/.exec(v)?.[1];
  if (!major) throw new InternalError(`/etc/debian_version of the image is '${v}', not a Debian release number`);
  return major;
}

/** What the daemons report (the deploy tool and the renderer read these); every one is required. */
async function imageVersions(customizeDir: string, def: ImageDefinition): Promise<Record<string, string>> {
  const v = await daemonVersions(imageDaemons({ dir: customizeDir, id: def.id, version: def.version }));
  const missing = (['haproxy', 'haproxySsl', 'keepalived', 'exabgp', 'bird', 'systemd', 'nftables', 'openssh'] as const).filter((k) => !v[k]);
  if (missing.length) throw new InternalError(`manifest: the image's programs did not report their versions: ${missing.join(', ')}`);
  return { ...v } as Record<string, string>;
}
