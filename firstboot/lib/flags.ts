// Flag values checked once, the same way in every command: a wrong value is a ConfigError naming
// the flag and what it accepts (never a silent default, never a stack trace).
import { access, constants } from 'node:fs/promises';
import { ConfigError } from './errors.js';
import { DEBIAN_12, RHEL_10, type Target } from '../render/target.js';

const TARGETS: Record<string, Target> = { debian: DEBIAN_12, rhel: RHEL_10 };

/** `--target <family>`: the image family whose paths the rendered files use. */
export function targetFlag(value: string, command: string): Target {
  const t = TARGETS[value];
  if (!t) throw new ConfigError(command, [{ path: '--target', message: `'${value}' is not a known image family`, hint: `use ${Object.keys(TARGETS).join(' or ')}` }]);
  return t;
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
