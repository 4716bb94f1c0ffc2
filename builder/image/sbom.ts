// A CycloneDX 1.5 JSON SBOM of the image: one component per installed package with its purl
// (https://github.com/package-url/purl-spec, type "deb"). Deterministic: the serial number is
// derived from the image id/version, the timestamp is SOURCE_DATE_EPOCH.
import { sha256 } from './canonical.js';
import { uuidFrom } from './identifiers.js';
import type { InstalledPackage } from './packages.js';

export interface SbomImage {
  id: string;
  version: string;
  distro: string; // purl qualifier, e.g. debian-12
  vendor: string; // purl namespace, e.g. debian
}

/** Software built from a pinned source archive (HAProxy, AWS-LC), as part of a package of the image. */
export interface SourceComponent {
  name: string;
  version: string;
  url: string;
  sha256: string;
  file: string;
  /** The image's package that carries it (haproxy-awslc). */
  partOf: string;
}

export function cycloneDx(image: SbomImage, packages: readonly InstalledPackage[], sourceDateEpoch: number, built: readonly SourceComponent[] = []): object {
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidFrom(sha256(`sbom\0${image.id}\0${image.version}`))}`,
    version: 1,
    metadata: {
      timestamp: new Date(sourceDateEpoch * 1000).toISOString(),
      tools: { components: [{ type: 'application', name: 'ober build-image' }] },
      component: { type: 'operating-system', 'bom-ref': image.id, name: image.id, version: image.version },
    },
    components: [
      ...packages.map((p) => {
        const purl = `pkg:deb/${image.vendor}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?arch=${p.architecture}&distro=${image.distro}`;
        return { type: 'library', 'bom-ref': purl, name: p.name, version: p.version, purl };
      }),
      // purl type "generic" with download_url and checksum qualifiers: what was built, from which bytes
      ...built.map((b) => {
        const purl = `pkg:generic/${encodeURIComponent(b.name)}@${encodeURIComponent(b.version)}?download_url=${encodeURIComponent(b.url)}&checksum=sha256:${b.sha256}`;
        return {
          type: 'library',
          'bom-ref': purl,
          name: b.name,
          version: b.version,
          purl,
          hashes: [{ alg: 'SHA-256', content: b.sha256 }],
          externalReferences: [{ type: 'distribution', url: b.url, comment: `${b.file}, built into the package ${b.partOf}` }],
        };
      }),
    ],
  };
}
