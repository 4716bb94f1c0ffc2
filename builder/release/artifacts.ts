// The files a release carries for one image version, their SHA256SUMS, and the tag that names it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ConfigError, OberError } from '../../firstboot/lib/errors.js';

/** One release per version; assets of several image ids (debian-12, debian-13) can share it. */
export const releaseTag = (version: string): string => `v${version}`;
export const versionOfTag = (tag: string): string => tag.replace(/^v/, '');

/** `<id>_<version>.<ext>` (builder/image/plan.ts artifactNames), what each is, and its media type. */
export function releaseAssets(id: string, version: string): { name: string; kind: 'qcow2' | 'manifest' | 'sbom' | 'sums'; contentType: string }[] {
  const base = `${id}_${version}`;
  return [
    { name: `${base}.qcow2`, kind: 'qcow2', contentType: 'application/octet-stream' },
    { name: `${base}.manifest.json`, kind: 'manifest', contentType: 'application/json' },
    { name: `${base}.cdx.json`, kind: 'sbom', contentType: 'application/vnd.cyclonedx+json' },
    { name: `${base}.SHA256SUMS`, kind: 'sums', contentType: 'text/plain' },
  ];
}

/** A file whose SHA-256 is not the one SHA256SUMS lists: never used, never published. */
export class ChecksumMismatchError extends OberError {
  override name = 'ChecksumMismatchError';
}

/** `sha256sum` output: `<64 hex>  <name>` per line (the two spaces: text mode, as the build writes it). */
export function parseSums(text: string, source: string): Map<string, string> {
  const sums = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^([0-9a-f]{64}) [ *](\S+)$/.exec(line);
    if (!m) throw new ConfigError(source, [{ path: `line ${i + 1}`, message: `not a sha256sum line: ${line.slice(0, 80)}` }]);
    sums.set(m[2]!, m[1]!);
  });
  return sums;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

/** The SHA-256 SHA256SUMS lists for `name`; refuses a file the list does not name. */
export function expectedSum(sums: Map<string, string>, name: string, source: string): string {
  const s = sums.get(name);
  if (!s) throw new ChecksumMismatchError(`${source} does not list ${name}: refusing a file nobody vouched for`);
  return s;
}
