// How a node's data reaches its VM. Either a vendor-data snippet written by SFTP into the snippet
// storage's directory on the Proxmox host (Proxmox's API cannot upload snippets) and referenced by
// `cicustom vendor=`, or a NoCloud seed ISO built here (genisoimage) and uploaded through the API.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { requireTools, run } from '../../firstboot/lib/exec.js';
import { openSsh, type SshSession, type SshTarget } from '../ssh/session.js';

export interface SnippetWriter {
  /** Where a snippet file lands on the host (for messages and --dry-run). */
  pathOf(file: string): string;
  write(file: string, content: string): Promise<void>;
  close(): Promise<void>;
}

/** Proxmox's `local` storage keeps snippets here (dir storage path /var/lib/vz + /snippets). */
export const DEFAULT_SNIPPETS_DIR = '/var/lib/vz/snippets';

/** One SSH connection, opened at the first write and reused for every node. */
export function sftpSnippets(target: SshTarget, dir: string): SnippetWriter {
  let session: Promise<SshSession> | undefined;
  return {
    pathOf: (file) => path.posix.join(dir, file),
    async write(file, content) {
      session ??= openSsh(target);
      // 0600: the snippet holds the node's secrets (TLS key, BGP password).
      await (await session).writeFile(path.posix.join(dir, file), content, 0o600);
    },
    async close() {
      if (session) (await session.catch(() => undefined))?.close();
    },
  };
}

export interface SeedDocuments {
  userData: string;
  metaData: string;
  networkConfig: string;
  vendorData: string;
}

export interface SeedIso {
  path: string;
  size: number;
  cleanup(): Promise<void>;
}

export const SEED_TOOLS = [{ tool: 'genisoimage', purpose: 'build NoCloud seed ISOs (--snippets iso)', debianPackage: 'genisoimage' }];

/** A NoCloud seed (volume label `cidata`, cloud-init's NoCloud datasource) as an ISO 9660 image. */
export async function buildSeedIso(docs: SeedDocuments, name: string): Promise<SeedIso> {
  const [tool] = (await requireTools(SEED_TOOLS)).values();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ober-seed-'));
  try {
    const files: [string, string][] = [
      ['user-data', docs.userData],
      ['meta-data', docs.metaData],
      ['network-config', docs.networkConfig],
      ['vendor-data', docs.vendorData],
    ];
    for (const [f, text] of files) await writeFile(path.join(dir, f), text, { mode: 0o600 });
    const iso = path.join(dir, name);
    // -J -r: Joliet and Rock Ridge keep the lower-case, dashed names cloud-init looks for.
    await run([tool as string, '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...files.map(([f]) => path.join(dir, f))]);
    return { path: iso, size: (await stat(iso)).size, cleanup: () => rm(dir, { recursive: true, force: true }) };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
