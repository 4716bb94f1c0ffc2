// The I/O around the pure model: reading secrets and certificate files a cluster file refers to
// (admin side), and resolving host names in whitelists. Kept apart so derive/render stay pure.
import { lookup } from 'node:dns/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { BoundedReadError, readBoundedText } from '../lib/read-bounded.js';
import { parseAddressList } from './addresses.js';
import type { ResolvedNames } from './derive.js';
import type { Cluster } from './schema.js';

export interface InputSources {
  /** Directory relative file references are resolved against (the cluster file's directory). */
  baseDir: string;
  env?: Readonly<Record<string, string | undefined>>;
  readText?: (file: string, maxBytes: number) => Promise<string>;
}

/** A secret is a password or token: the schema holds a resolved value to 4096 characters. */
export const MAX_SECRET_FILE_BYTES = 4096;
/** A PEM chain with its key is a few KB; the schema holds `pem` to 1 MB. */
export const MAX_CERTIFICATE_FILE_BYTES = 1_000_000;

/** The issue for a file that could not be read: its field, why, and what to do. */
function readIssue(path: string, file: string, e: unknown): ConfigIssue {
  if (e instanceof BoundedReadError) return { path, message: `${file} ${e.reason}`, ...(e.hint ? { hint: e.hint } : {}) };
  return { path, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
}

/**
 * Turn a cluster file's references into values: `secrets.X.file|env` → `value`,
 * `certificates[i].file` → `pem`. The result is the cluster as a node receives it.
 */
export async function resolveClusterInputs(cluster: Cluster, src: InputSources): Promise<Cluster> {
  const env = src.env ?? process.env;
  const read = src.readText ?? ((f: string, maxBytes: number) => readBoundedText(f, { maxBytes }));
  const issues: ConfigIssue[] = [];
  const abs = (f: string) => (path.isAbsolute(f) ? f : path.join(src.baseDir, f));

  const secrets: Cluster['secrets'] = {};
  for (const [name, s] of Object.entries(cluster.secrets)) {
    if (s.value !== undefined) {
      secrets[name] = { value: s.value };
    } else if (s.env !== undefined) {
      const v = env[s.env];
      if (v === undefined || v === '') issues.push({ path: `secrets.${name}.env`, message: `environment variable ${s.env} is not set`, hint: `export ${s.env}=... before running ober` });
      else secrets[name] = { value: v };
    } else if (s.file !== undefined) {
      try {
        secrets[name] = { value: (await read(abs(s.file), MAX_SECRET_FILE_BYTES)).replace(/\r?\n$/, '') };
      } catch (e) {
        issues.push(readIssue(`secrets.${name}.file`, abs(s.file), e));
      }
    }
  }
  const certificates: Cluster['certificates'] = [];
  for (const [i, c] of cluster.certificates.entries()) {
    if (c.file === undefined) {
      certificates.push(c);
      continue;
    }
    try {
      const { file: _file, ...rest } = c;
      certificates.push({ ...rest, pem: await read(abs(c.file), MAX_CERTIFICATE_FILE_BYTES) });
    } catch (e) {
      issues.push(readIssue(`certificates[${i}].file`, abs(c.file), e));
    }
  }
  if (issues.length) throw new ConfigError('cluster inputs', issues);
  return { ...cluster, secrets, certificates };
}

/**
 * Host names that derivation needs addresses for: the whitelist entries (they become ACL and
 * nftables entries). Backend server names are not resolved here: HAProxy resolves them at run
 * time, and the backendHttp check covers servers written as addresses.
 */
export function namesToResolve(cluster: Cluster): string[] {
  const names = new Set<string>();
  for (const v of Object.values(cluster.whitelists)) {
    if (v === undefined) continue;
    const r = parseAddressList(v);
    if (r.ok) for (const e of r.value) if (e.kind === 'name') names.add(e.value);
  }
  return [...names].sort();
}

export type Lookup = (name: string) => Promise<string[]>;

export const systemLookup: Lookup = async (name) => (await lookup(name, { all: true, family: 4 })).map((a) => a.address);

/** Resolve names; unresolvable ones are left out (derivation reports them with their field). */
export async function resolveNames(names: readonly string[], look: Lookup = systemLookup): Promise<ResolvedNames> {
  const out: Record<string, string[]> = {};
  await Promise.all(
    names.map(async (n) => {
      try {
        const ips = await look(n);
        if (ips.length) out[n] = [...new Set(ips)].sort();
      } catch {
        /* reported by deriveNode */
      }
    }),
  );
  return out;
}
