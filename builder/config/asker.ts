// How the wizard asks: at a terminal with @inquirer/prompts, or from an answers file (scripts).
// Both give every answer the same check before it is taken.
import { confirm, input, select } from '@inquirer/prompts';
import { ConfigError } from '../../firstboot/lib/errors.js';

export interface InputQuestion {
  /** Stable id, the key of an answers file (e.g. `vips.0.address`). */
  id: string;
  message: string;
  default?: string;
  /** true, or the message to show (the schema's). */
  validate?: (value: string) => true | string;
  /** An empty answer leaves the field out (an answers file may omit it). */
  optional?: boolean;
}

export interface Asker {
  input(q: InputQuestion): Promise<string>;
  select<T extends string>(q: { id: string; message: string; choices: readonly T[]; default?: T }): Promise<T>;
  confirm(q: { id: string; message: string; default: boolean }): Promise<boolean>;
  /** A warning that does not stop the wizard (a reachability check that failed). */
  warn(message: string): void;
  /** Section headings and notes. */
  note(message: string): void;
}

export function terminalAsker(err: NodeJS.WritableStream = process.stderr): Asker {
  return {
    input: (q) => input({ message: q.message, ...(q.default !== undefined ? { default: q.default } : {}), ...(q.validate ? { validate: q.validate } : {}) }),
    select: (q) => select({ message: q.message, choices: q.choices.map((c) => ({ value: c, name: c })), ...(q.default ? { default: q.default } : {}) }),
    confirm: (q) => confirm({ message: q.message, default: q.default }),
    warn: (m) => err.write(`warning: ${m}\n`),
    note: (m) => err.write(`\n${m}\n`),
  };
}

/** Answers from a file: `id: value`; a missing id takes the question's default, or is an error. */
export function answersAsker(answers: Record<string, unknown>, source: string, err: NodeJS.WritableStream = process.stderr): Asker {
  const used = new Set<string>();
  const take = (id: string, fallback: string | undefined): string => {
    used.add(id);
    const v = answers[id];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new ConfigError(source, [{ path: id, message: 'has no answer and no default', hint: `add "${id}: <value>" to ${source}` }]);
      return fallback;
    }
    return Array.isArray(v) ? v.join(',') : String(v);
  };
  return {
    async input(q) {
      const v = take(q.id, q.default ?? (q.optional ? '' : undefined));
      const ok = q.validate?.(v) ?? true;
      if (ok !== true) throw new ConfigError(source, [{ path: q.id, message: `'${v}': ${ok}` }]);
      return v;
    },
    async select(q) {
      const v = take(q.id, q.default);
      if (!(q.choices as readonly string[]).includes(v)) throw new ConfigError(source, [{ path: q.id, message: `'${v}' is not one of ${q.choices.join(', ')}` }]);
      return v as (typeof q.choices)[number];
    },
    async confirm(q) {
      const v = take(q.id, q.default ? 'yes' : 'no').toLowerCase();
      if (!['yes', 'no', 'true', 'false', 'y', 'n'].includes(v)) throw new ConfigError(source, [{ path: q.id, message: `'${v}' is not yes or no` }]);
      return ['yes', 'true', 'y'].includes(v);
    },
    warn: (m) => err.write(`warning: ${m}\n`),
    note: () => {},
  };
}
