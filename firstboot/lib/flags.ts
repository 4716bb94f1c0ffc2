// Flag values checked once, the same way in every command: a wrong value is a ConfigError naming
// the flag and what it accepts (never a silent default, never a stack trace).
import { access, constants } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { run } from './exec.js';
import { readBoundedText } from './read-bounded.js';
import { DEBIAN_13, RHEL_10, parseHaproxyVersion, withHaproxyVersion, type Target } from '../render/target.js';

const TARGETS: Record<string, Target> = { debian: DEBIAN_13, rhel: RHEL_10 };

/**
 * `--target <family>` (paths of the rendered files) and `--haproxy-version <x.y>` (the HAProxy the
 * image ships; without it, the family's default: Debian 13's 3.0).
 */
export function targetFlag(value: string, command: string, haproxyVersion?: string): Target {
  const t = TARGETS[value];
  if (!t) throw new ConfigError(command, [{ path: '--target', message: `'${value}' is not a known image family`, hint: `use ${Object.keys(TARGETS).join(' or ')}` }]);
  if (haproxyVersion === undefined) return t;
  const v = parseHaproxyVersion(haproxyVersion);
  if (!v) throw new ConfigError(command, [{ path: '--haproxy-version', message: `'${haproxyVersion}' is not a HAProxy version`, hint: 'write major.minor, e.g. 3.0 or 2.6' }]);
  return withHaproxyVersion(t, v);
}

/** The target with the version of the HAProxy installed here (`haproxy -v`; the node's own image). */
export async function installedTarget(target: Target): Promise<{ target: Target; warning?: string }> {
  const r = await run([target.bin.haproxy, '-v'], { allowFailure: true, timeoutMs: 10_000 }).catch((e: Error) => ({ stdout: '', stderr: e.message, exitCode: -1 }));
  const v = parseHaproxyVersion(r.stdout);
  if (!v) return { target, warning: `could not read the version of ${target.bin.haproxy} (${(r.stderr || r.stdout).trim().split('\n')[0] ?? ''}); rendering for HAProxy ${target.haproxyVersion.join('.')}` };
  return { target: withHaproxyVersion(target, v) };
}

/** A whole-number flag in [min, max]; undefined when not given. */
export function intFlag(value: string | undefined, flag: string, command: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(command, [{ path: flag, message: `'${value}' is not a whole number from ${min} to ${max}` }]);
  }
  return n;
}

/** One of a fixed set of words. */
export function choiceFlag<T extends string>(value: string, flag: string, command: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(command, [{ path: flag, message: `'${value}' is not one of ${choices.join(', ')}`, hint: `use ${choices.join(' or ')}` }]);
  }
  return value as T;
}

/** A comma-separated list of words from a fixed set (e.g. `--rebuild rootfs,customize`). */
export function listFlag<T extends string>(value: string | undefined, flag: string, command: string, choices: readonly T[]): T[] {
  if (value === undefined) return [];
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = items.filter((s) => !(choices as readonly string[]).includes(s));
  if (unknown.length) throw new ConfigError(command, [{ path: flag, message: `unknown: ${unknown.join(', ')}`, hint: `choose from ${choices.join(', ')}` }]);
  return items as T[];
}

/** A file a flag names must be there and readable before any work starts. */
export async function requireReadable(file: string, flag: string, command: string, hint?: string): Promise<void> {
  try {
    await access(file, constants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(command, [{ path: flag, message: `cannot read ${file} (${code === 'ENOENT' ? 'no such file' : (code ?? (e as Error).message)})`, ...(hint ? { hint } : {}) }]);
  }
}

/** `--manifest <file>`: the HAProxy version an image manifest (build-image's `.manifest.json`) records. */
export async function manifestHaproxyVersion(file: string, command: string): Promise<string> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readBoundedText(file, { maxBytes: 16 * 1024 * 1024 }));
  } catch (e) {
    throw new ConfigError(command, [{ path: '--manifest', message: `cannot read ${file}: ${(e as Error).message}`, hint: 'name the .manifest.json that build-image wrote next to the qcow2' }]);
  }
  const v = (doc as { versions?: { haproxy?: unknown } } | null)?.versions?.haproxy;
  if (typeof v !== 'string') throw new ConfigError(command, [{ path: '--manifest', message: `${file} has no versions.haproxy`, hint: 'name the .manifest.json that build-image wrote next to the qcow2' }]);
  return v;
}
