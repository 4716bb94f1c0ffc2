// HAProxy's runtime API on the stats socket (management guide §9.3): one command per connection,
// the answer ends when HAProxy closes the socket. node:net only, so it runs on the image's Node 18.
import net from 'node:net';
import { OberError } from '../lib/errors.js';

export class HaproxyApiError extends OberError {
  override name = 'HaproxyApiError';
}

export type HaproxyCommand = (command: string) => Promise<string>;

/** A command runner bound to a stats socket. */
export function haproxySocket(socketPath: string, timeoutMs = 5000): HaproxyCommand {
  return (command) =>
    new Promise((resolve, reject) => {
      const sock = net.createConnection({ path: socketPath });
      let out = '';
      const timer = setTimeout(() => sock.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      sock.setEncoding('utf8');
      sock.on('connect', () => sock.end(`${command}\n`));
      sock.on('data', (d: string) => (out += d));
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(new HaproxyApiError(`HAProxy stats socket ${socketPath}: ${(e as NodeJS.ErrnoException).code ?? e.message} (command '${command.slice(0, 60)}')`));
      });
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
}

/** `show stat` CSV → one record per proxy/server line, keyed by the header's field names. */
export function parseShowStat(csv: string): Record<string, string>[] {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const fields = header.slice(2).split(',');
  return lines
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const values = l.split(',');
      return Object.fromEntries(fields.map((f, i) => [f, values[i] ?? '']));
    });
}

export interface FrontendCounters {
  name: string;
  /** Current sessions. */
  scur: number;
  /** Sessions since start: grows while new connections arrive. */
  stot: number;
}

/** The FRONTEND lines of `show stat`, for the named frontends only. */
export async function frontendCounters(cli: HaproxyCommand, names: readonly string[]): Promise<FrontendCounters[]> {
  const rows = parseShowStat(await cli('show stat'));
  return rows
    .filter((r) => r.svname === 'FRONTEND' && names.includes(r.pxname ?? ''))
    .map((r) => ({ name: r.pxname ?? '', scur: Number(r.scur) || 0, stot: Number(r.stot) || 0 }));
}

/**
 * Requests the named backends are serving now: a BACKEND line's scur counts the streams assigned
 * to it, from the choice of the backend to the end of the answer (idle connections are no stream).
 */
export async function backendSessions(cli: HaproxyCommand, names: readonly string[]): Promise<number> {
  const rows = parseShowStat(await cli('show stat'));
  return rows.filter((r) => r.svname === 'BACKEND' && names.includes(r.pxname ?? '')).reduce((n, r) => n + (Number(r.scur) || 0), 0);
}

/** Ids of the pattern references HAProxy loaded from `file` (`show acl`: `<id> (<file>) ...`). */
export function aclIdsOf(showAcl: string, file: string): number[] {
  const ids: number[] = [];
  for (const line of showAcl.split('\n')) {
    const m = /^(\d+) \((.*?)\) /.exec(line);
    if (m && m[2] === file) ids.push(Number(m[1]));
  }
  return ids;
}

/** Entries per CLI line: `add acl` commands joined with ';' must stay well below tune.bufsize (16 kB). */
const ADD_BATCH = 100;

/**
 * Replace the entries of the ACL loaded from `file`, atomically for the traffic: a new version is
 * prepared, filled and committed in one step (`prepare acl` / `add acl @ver` / `commit acl`,
 * HAProxy ≥ 2.4), so no connection is ever checked against a half-filled list and established
 * connections are not touched at all. Returns the ids updated.
 */
export async function replaceAcl(cli: HaproxyCommand, file: string, entries: readonly string[]): Promise<number[]> {
  const ids = aclIdsOf(await cli('show acl'), file);
  if (ids.length === 0) throw new HaproxyApiError(`HAProxy has no ACL loaded from ${file} (show acl)`);
  for (const id of ids) {
    const prepared = await cli(`prepare acl #${id}`);
    const ver = /New version created: (\d+)/.exec(prepared)?.[1];
    if (!ver) throw new HaproxyApiError(`prepare acl #${id}: unexpected answer '${prepared.trim()}'`);
    for (let i = 0; i < entries.length; i += ADD_BATCH) {
      const line = entries
        .slice(i, i + ADD_BATCH)
        .map((e) => `add acl @${ver} #${id} ${e}`)
        .join(';');
      const answer = (await cli(line)).trim();
      // Success prints nothing; anything else is an error message for one of the entries.
      if (answer !== '') throw new HaproxyApiError(`add acl #${id}: ${answer}`);
    }
    const committed = (await cli(`commit acl @${ver} #${id}`)).trim();
    if (committed !== '') throw new HaproxyApiError(`commit acl @${ver} #${id}: ${committed}`);
  }
  return ids;
}

/** The current entries of an ACL (`show acl #id` lines are `<ptr> <pattern>`). */
export async function aclEntries(cli: HaproxyCommand, id: number): Promise<string[]> {
  return (await cli(`show acl #${id}`))
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[1])
    .filter((x): x is string => !!x);
}

/** `add acl <file> <pattern>`: HAProxy answers nothing on success, an explanation otherwise. */
export async function addAclPattern(cli: HaproxyCommand, file: string, pattern: string): Promise<void> {
  const answer = (await cli(`add acl ${file} ${pattern}`)).trim();
  if (answer) throw new HaproxyApiError(`add acl ${file} ${pattern}: ${answer}`);
}
