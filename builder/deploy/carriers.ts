// How a node's data reaches its VM. Either a vendor-data snippet written by SFTP into the snippet
// storage's directory on the Proxmox host (Proxmox's API cannot upload snippets) and referenced by
// `cicustom vendor=`, or a NoCloud seed ISO built here (genisoimage) and uploaded through the API.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { requireTools, run } from '../../firstboot/lib/exec.js';
import { openSsh, type SshSession, type SshTarget } from '../ssh/session.js';

/**
 * Vendor-data snippets on the Proxmox hosts. A snippet is read by the node that *starts* the VM
 * (qemu-server PVE/QemuServer/Cloudinit.pm reads it from that node's view of the storage), and a
 * storage like `local` is each node's own disk: so every file goes to the host of the Proxmox node
 * that runs the VM. On a shared snippet storage that host sees the same directory as all others.
 */
export interface SnippetWriter {
  /** Where a snippet file lands on a node's host (for messages and --dry-run). */
  pathOf(file: string, pveNode?: string): string;
  write(file: string, content: string, pveNode?: string): Promise<void>;
  /** Remove a snippet (its VM is gone); a file already gone is fine. */
  remove(file: string, pveNode?: string): Promise<void>;
  close(): Promise<void>;
}

/** Proxmox's `local` storage keeps snippets here (dir storage path /var/lib/vz + /snippets). */
export const DEFAULT_SNIPPETS_DIR = '/var/lib/vz/snippets';

/** The SSH target of a Proxmox node's host (one target for all: a single host). */
export type SnippetHosts = SshTarget | ((pveNode: string) => SshTarget | Promise<SshTarget>);

/** One SSH connection per host, opened at its first use and reused. */
export function sftpSnippets(hosts: SnippetHosts, dir: string): SnippetWriter {
  const sessions = new Map<string, Promise<SshSession>>();
  const session = async (pveNode: string | undefined): Promise<SshSession> => {
    const target = typeof hosts === 'function' ? await hosts(pveNode ?? '') : hosts;
    const key = `${target.username}@${target.host}:${target.port}`;
    let s = sessions.get(key);
    if (!s) {
      s = openSsh(target);
      sessions.set(key, s);
    }
    return s;
  };
  return {
    pathOf: (file) => path.posix.join(dir, file),
    async write(file, content, pveNode) {
      // 0600: the snippet holds the node's secrets (TLS key, BGP password).
      await (await session(pveNode)).writeFile(path.posix.join(dir, file), content, 0o600);
    },
    async remove(file, pveNode) {
      await (await session(pveNode)).removeFile(path.posix.join(dir, file));
    },
    async close() {
      for (const s of sessions.values()) (await s.catch(() => undefined))?.close();
      sessions.clear();
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
