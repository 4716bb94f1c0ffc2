// One field of the cluster schema, found by its path, to check a wizard answer the moment it is
// given with the very rule (and message) `ober validate` applies. No second set of rules.
import type { z } from 'zod';
import { clusterSchema } from '../../firstboot/model/schema.js';

type Any = z.ZodType;
interface Def {
  type: string;
  innerType?: Any;
  shape?: Record<string, Any>;
  element?: Any;
}
const def = (s: Any): Def => (s as unknown as { def: Def }).def;

/** The schema of the field at `path` (array indexes as numbers), wrappers (optional, default) removed. */
export function fieldSchema(path: readonly (string | number)[]): Any {
  let s: Any = clusterSchema;
  for (const key of path) {
    for (let d = def(s); d.innerType && ['optional', 'default', 'prefault', 'nullable'].includes(d.type); d = def(s)) s = d.innerType;
    const d = def(s);
    const next = typeof key === 'number' ? d.element : d.shape?.[key];
    if (!next) throw new Error(`no field ${path.join('.')} in the cluster schema`);
    s = next;
  }
  return s;
}

/** true, or the schema's message for this value. */
export function checkField(path: readonly (string | number)[], value: unknown): true | string {
  const r = fieldSchema(path).safeParse(value);
  return r.success ? true : (r.error.issues[0]?.message ?? 'not valid');
}
