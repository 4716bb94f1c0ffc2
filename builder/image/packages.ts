// The installed package list, read from the image's dpkg database (the manifest and the SBOM both
// come from this one reading).
import { readFile } from 'node:fs/promises';

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  source?: string;
}

/** Parse /var/lib/dpkg/status; only packages in state "install ok installed". */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const pkgs: InstalledPackage[] = [];
  for (const stanza of text.split(/\n\n+/)) {
    const field = (name: string): string | undefined => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    if (!name || !version || field('Status') !== 'install ok installed') continue;
    const source = field('Source')?.split(' ')[0];
    pkgs.push({ name, version, architecture: field('Architecture') ?? 'all', ...(source && source !== name ? { source } : {}) });
  }
  return pkgs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function readDpkgStatus(file: string): Promise<InstalledPackage[]> {
  return parseDpkgStatus(await readFile(file, 'utf8'));
}
