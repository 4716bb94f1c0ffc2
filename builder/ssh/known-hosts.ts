// Host key verification against an OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"):
// plain and hashed (`|1|salt|hmac`) host entries, `[host]:port` for ports other than 22, and
// @revoked. Wildcard patterns are not expanded (entries written by ssh-keyscan/ssh never have them).
import { createHmac } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** strict: the key must be listed; accept-new: an unknown host is recorded (OpenSSH StrictHostKeyChecking=accept-new). */
export type HostKeyPolicy = 'strict' | 'accept-new';

export type HostKeyVerdict = { ok: true; recorded: boolean } | { ok: false; reason: string };

/** The name a host has in known_hosts: `host`, or `[host]:port` off port 22. */
export function hostEntryName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type is the first length-prefixed string of the key blob (RFC 4253 §6.6). */
export function keyType(blob: Buffer): string {
  return blob.length > 4 ? blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1') : 'unknown';
}

function hostMatches(pattern: string, name: string): boolean {
  return pattern.split(',').some((p) => {
    const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(p);
    if (!hashed) return p === name;
    return createHmac('sha1', Buffer.from(hashed[1] as string, 'base64')).update(name).digest('base64') === hashed[2];
  });
}

export async function verifyHostKey(file: string, host: string, port: number, key: Buffer, policy: HostKeyPolicy): Promise<HostKeyVerdict> {
  const name = hostEntryName(host, port);
  const type = keyType(key);
  const b64 = key.toString('base64');
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let listed = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]?.startsWith('@') ? fields.shift() : undefined;
    const [hosts, ktype, kb64] = fields;
    if (!hosts || !ktype || !kb64 || !hostMatches(hosts, name)) continue;
    if (marker === '@revoked' && kb64 === b64) return { ok: false, reason: `the host key of ${name} is marked @revoked in ${file}` };
    if (marker) continue;
    if (ktype === type && kb64 === b64) return { ok: true, recorded: false };
    if (ktype === type) listed = true;
  }
  if (listed) {
    return {
      ok: false,
      reason: `the ${type} host key of ${name} differs from the one in ${file}: possible man-in-the-middle, or the host was reinstalled ` +
        `(check it, then remove the old entry: ssh-keygen -R '${name}' -f ${file})`,
    };
  }
  if (policy === 'strict') {
    return { ok: false, reason: `${name} is not in ${file} (add its key: ssh-keyscan -p ${port} ${host} >> ${file}, after checking its fingerprint)` };
  }
  await mkdir(path.dirname(file), { recursive: true });
  await appendFile(file, `${name} ${type} ${b64}\n`, { mode: 0o600 });
  return { ok: true, recorded: true };
}

/**
 * Forget the keys recorded for a host (`ssh-keygen -R`): its machine was replaced by one with new
 * host keys (a node's VM makes its keys at first boot), so the next contact records the new key
 * under accept-new instead of refusing it as a changed key. @revoked lines stay.
 */
export async function forgetHostKey(file: string, host: string, port: number): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const name = hostEntryName(host, port);
  const lines = text.split('\n');
  const kept = lines.filter((raw) => {
    const fields = raw.trim().split(/\s+/);
    if (!raw.trim() || raw.trim().startsWith('#') || fields[0]?.startsWith('@')) return true;
    return !hostMatches(fields[0] ?? '', name);
  });
  if (kept.length === lines.length) return false;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, kept.join('\n'), { mode: 0o600 });
  await rename(tmp, file);
  return true;
}
