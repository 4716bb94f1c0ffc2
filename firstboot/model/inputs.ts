// The I/O around the pure model: reading secrets and certificate files a cluster file refers to
// (admin side), and resolving host names in whitelists. Kept apart so derive/render stay pure.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { parseAddressList } from './addresses.js';
import type { ResolvedNames } from './derive.js';
import type { Cluster } from './schema.js';

export interface InputSources {
  /** Directory relative file references are resolved against (the cluster file's directory). */
  baseDir: string;
  env?: Readonly<Record<string, string | undefined>>;
  readText?: (file: string) => Promise<string>;
}

/**
 * Turn a cluster file's references into values: `secrets.X.file|env` → `value`,
 * `certificates[i].file` → `pem`. The result is the cluster as a node receives it.
 */
export async function resolveClusterInputs(cluster: Cluster, src: InputSources): Promise<Cluster> {
  const env = src.env ?? process.env;
  const read = src.readText ?? ((f: string) => readFile(f, 'utf8'));
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
        secrets[name] = { value: (await read(abs(s.file))).replace(/\r?\n$/, '') };
      } catch (e) {
        issues.push({ path: `secrets.${name}.file`, message: `cannot read ${abs(s.file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
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
      certificates.push({ ...rest, pem: await read(abs(c.file)) });
    } catch (e) {
      issues.push({ path: `certificates[${i}].file`, message: `cannot read ${abs(c.file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
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
