// Hostlists, as Slurm and pdsh write them: `rgw[01-04].example.com`, `10.0.0.[1-9]`,
// `a[1,3,5-7]b[1-2]`, several items separated by commas (commas inside brackets belong to the
// range). Expanded here, once, by the tool; daemons only ever see the expanded addresses.

/** Hard cap on the expansion of one hostlist: a typo like `[1-99999999]` must not eat the node's memory. */
export const MAX_HOSTLIST_EXPANSION = 4096;

export class HostlistError extends Error {
  override name = 'HostlistError';
}

/** Split at top-level commas; whitespace around items is ignored. */
function splitItems(list: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if (ch === '[') depth++;
    if (ch === ']') depth--;
    if (depth < 0) throw new HostlistError(`unbalanced ']' in '${list}'`);
    if (ch === ',' && depth === 0) {
      items.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw new HostlistError(`unbalanced '[' in '${list}'`);
  items.push(cur.trim());
  return items;
}

/**
 * Largest number a range bound may be. Range bounds name hosts and octets, never more than a few
 * digits; the bound keeps every later sum and loop in exact integer arithmetic (above 2^53 `i++`
 * no longer changes a double, and a range loop never ends).
 */
export const MAX_RANGE_BOUND = 999_999_999;

interface RangePart {
  lo: number;
  hi: number;
  /** Zero padding from the lower bound (`01-04`), 0 for none. */
  width: number;
}

/** Parse `01-04,7` and count what it expands to — all before anything is allocated for it. */
function parseRange(range: string, whole: string): RangePart[] {
  const parts: RangePart[] = [];
  let count = 0;
  for (const part of range.split(',')) {
    const m = /^(\d{1,9})(?:-(\d{1,9}))?$/.exec(part.trim());
    if (!m) {
      if (/^\d+(?:-\d+)?$/.test(part.trim())) throw new HostlistError(`range ${part} in '${whole}' has a bound above ${MAX_RANGE_BOUND}`);
      throw new HostlistError(`'${part}' in '${whole}' is not a number or a range lo-hi`);
    }
    const [, loS = '', hiS] = m;
    const lo = Number(loS);
    const hi = hiS === undefined ? lo : Number(hiS);
    if (hi < lo) throw new HostlistError(`range ${part} in '${whole}' goes downwards`);
    count += hi - lo + 1;
    if (count > MAX_HOSTLIST_EXPANSION) throw new HostlistError(`range [${range}] in '${whole}' is larger than ${MAX_HOSTLIST_EXPANSION}`);
    parts.push({ lo, hi, width: loS.length > 1 && loS.startsWith('0') ? loS.length : 0 });
  }
  return parts;
}

/** The number strings of a parsed range; the count was bounded by parseRange. */
function rangeValues(parts: readonly RangePart[]): string[] {
  const out: string[] = [];
  for (const { lo, hi, width } of parts) {
    for (let i = lo; i <= hi; i++) out.push(String(i).padStart(width, '0'));
  }
  return out;
}

/** An item split into literal text and ranges: `rgw[01-04].x` → ['rgw', [01-04], '.x']. */
type Segment = string | RangePart[];

/** Parse an item and return its segments and how many names it expands to (bounded). */
function parseItem(item: string): { segments: Segment[]; count: number } {
  const segments: Segment[] = [];
  let count = 1;
  let rest = item;
  for (let m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(rest); m; m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(rest)) {
    const [, prefix = '', range = '', after = ''] = m;
    const parts = parseRange(range, item);
    count *= parts.reduce((n, p) => n + p.hi - p.lo + 1, 0);
    if (count > MAX_HOSTLIST_EXPANSION) throw new HostlistError(`'${item}' expands to more than ${MAX_HOSTLIST_EXPANSION} names`);
    segments.push(prefix, parts);
    rest = after;
  }
  if (rest.includes(']')) throw new HostlistError(`unbalanced ']' in '${item}'`);
  segments.push(rest);
  return { segments, count };
}

function expandSegments(segments: readonly Segment[]): string[] {
  let out = [''];
  for (const seg of segments) {
    if (typeof seg === 'string') out = out.map((o) => o + seg);
    else {
      const values = rangeValues(seg);
      out = out.flatMap((o) => values.map((v) => o + v));
    }
  }
  return out;
}

/**
 * Expand one hostlist string (or a list of them) into its items, in order, duplicates kept (a
 * caller decides whether a repeat is harmless, as in a whitelist, or a mistake, as in a server
 * list). Throws HostlistError for syntax it cannot expand. Items are not validated here.
 */
export function expandHostlist(input: string | readonly string[]): string[] {
  const lists = typeof input === 'string' ? [input] : input;
  const out: string[] = [];
  for (const list of lists) {
    for (const item of splitItems(list)) {
      if (item === '') throw new HostlistError(`empty item in '${list}' (a doubled or trailing comma?)`);
      // Counted before expanding: the total is bounded before anything is allocated for it.
      const { segments, count } = parseItem(item);
      if (out.length + count > MAX_HOSTLIST_EXPANSION) throw new HostlistError(`'${list}' expands to more than ${MAX_HOSTLIST_EXPANSION} items`);
      out.push(...expandSegments(segments));
    }
  }
  return out;
}
