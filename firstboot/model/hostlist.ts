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

/** `01-04` → ['01','02','03','04'] (zero padding from the lower bound), `7` → ['7']. */
function expandRange(range: string, whole: string): string[] {
  const out: string[] = [];
  for (const part of range.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new HostlistError(`'${part}' in '${whole}' is not a number or a range lo-hi`);
    const [, loS = '', hiS] = m;
    const lo = Number(loS);
    const hi = hiS === undefined ? lo : Number(hiS);
    if (hi < lo) throw new HostlistError(`range ${part} in '${whole}' goes downwards`);
    if (hi - lo + 1 > MAX_HOSTLIST_EXPANSION) throw new HostlistError(`range ${part} in '${whole}' is larger than ${MAX_HOSTLIST_EXPANSION}`);
    const width = loS.length > 1 && loS.startsWith('0') ? loS.length : 0;
    for (let i = lo; i <= hi; i++) out.push(String(i).padStart(width, '0'));
  }
  return out;
}

function expandItem(item: string): string[] {
  const m = /^([^[]*)\[([^\]]*)\](.*)$/.exec(item);
  if (!m) {
    if (item.includes(']')) throw new HostlistError(`unbalanced ']' in '${item}'`);
    return [item];
  }
  const [, prefix = '', range = '', rest = ''] = m;
  const heads = expandRange(range, item);
  const tails = expandItem(rest);
  if (heads.length * tails.length > MAX_HOSTLIST_EXPANSION) {
    throw new HostlistError(`'${item}' expands to more than ${MAX_HOSTLIST_EXPANSION} names`);
  }
  return heads.flatMap((h) => tails.map((t) => prefix + h + t));
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
      out.push(...expandItem(item));
      if (out.length > MAX_HOSTLIST_EXPANSION) throw new HostlistError(`'${list}' expands to more than ${MAX_HOSTLIST_EXPANSION} items`);
    }
  }
  return out;
}
