// One SSH connection (ssh2) for the two things the tool does over SSH: write a file by SFTP
// (vendor-data snippets on a Proxmox host: the API cannot upload snippets) and run one command
// (`ober stop` on a node). Host keys are always verified against a known_hosts file.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { ApiError, ConfigError, shellQuote } from '../../firstboot/lib/errors.js';
import { verifyHostKey, type HostKeyPolicy } from './known-hosts.js';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** Private key file (OpenSSH or PEM, unencrypted); without it the agent at $SSH_AUTH_SOCK is used. */
  keyFile?: string;
  knownHostsFile: string;
  hostKeyPolicy: HostKeyPolicy;
  readyTimeoutMs?: number;
}

export interface SshSession {
  /** Write `content` to `remotePath` with `mode`: a temporary file renamed into place, so a reader never sees half a file. */
  writeFile(remotePath: string, content: string, mode: number): Promise<void>;
  readFile(remotePath: string): Promise<string>;
  /** Remove a file; one that does not exist is not an error. */
  removeFile(remotePath: string): Promise<void>;
  /** Run argv (quoted for the remote shell); resolves with exit code and output. */
  exec(argv: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }>;
  close(): void;
}

export async function openSsh(t: SshTarget): Promise<SshSession> {
  const where = `${t.username}@${t.host}:${t.port}`;
  const auth: Partial<ConnectConfig> = {};
  if (t.keyFile) {
    try {
      auth.privateKey = await readFile(t.keyFile);
    } catch (e) {
      throw new ConfigError('SSH', [{ path: '--ssh-key', message: `cannot read ${t.keyFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
    }
  } else if (process.env.SSH_AUTH_SOCK) auth.agent = process.env.SSH_AUTH_SOCK;
  else throw new ConfigError('SSH', [{ path: '--ssh-key', message: `no key to log in to ${where}`, hint: 'pass --ssh-key FILE (env OBER_SSH_KEY) or run an ssh-agent' }]);

  const conn = new Client();
  let hostKeyProblem: string | undefined;
  await new Promise<void>((resolve, reject) => {
    conn.once('ready', () => resolve());
    conn.once('error', (e: Error & { level?: string }) => {
      const why = hostKeyProblem ?? (e.level === 'client-authentication' ? `the key was refused for ${t.username}` : e.message);
      reject(new ApiError(`SSH to ${where} failed: ${why}`));
    });
    conn.connect({
      host: t.host,
      port: t.port,
      username: t.username,
      readyTimeout: t.readyTimeoutMs ?? 20_000,
      ...auth,
      hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
        verifyHostKey(t.knownHostsFile, t.host, t.port, key, t.hostKeyPolicy).then(
          (v) => {
            if (!v.ok) hostKeyProblem = v.reason;
            verify(v.ok);
          },
          (e: unknown) => {
            hostKeyProblem = `cannot read ${t.knownHostsFile}: ${(e as Error).message}`;
            verify(false);
          },
        );
      },
    });
  });

  let sftp: Promise<SFTPWrapper> | undefined;
  const getSftp = (): Promise<SFTPWrapper> =>
    (sftp ??= new Promise((resolve, reject) => conn.sftp((e, s) => (e ? reject(new ApiError(`SFTP on ${where}: ${e.message}`)) : resolve(s)))));
  const sftpCall = (what: string, fn: (cb: (e?: Error | null) => void) => void): Promise<void> =>
    new Promise((resolve, reject) => fn((e) => (e ? reject(new ApiError(`SFTP ${what} on ${where}: ${e.message}`)) : resolve())));

  return {
    async writeFile(remotePath, content, mode) {
      const s = await getSftp();
      const tmp = path.posix.join(path.posix.dirname(remotePath), `.${path.posix.basename(remotePath)}.${randomBytes(4).toString('hex')}.tmp`);
      await sftpCall(`write ${tmp}`, (cb) => s.writeFile(tmp, content, { mode }, cb));
      await sftpCall(`chmod ${tmp}`, (cb) => s.chmod(tmp, mode, cb));
      // posix-rename@openssh.com replaces the target atomically; plain SFTP rename refuses to.
      await sftpCall(`rename ${tmp} → ${remotePath}`, (cb) => s.ext_openssh_rename(tmp, remotePath, cb)).catch(async (e: unknown) => {
        await sftpCall(`remove ${tmp}`, (cb) => s.unlink(tmp, cb)).catch(() => {});
        throw e;
      });
    },
    async removeFile(remotePath) {
      const s = await getSftp();
      await new Promise<void>((resolve, reject) =>
        s.unlink(remotePath, (e) => {
          // SFTP status 2 is SSH_FX_NO_SUCH_FILE (draft-ietf-secsh-filexfer-02 §7).
          if (!e || (e as Error & { code?: number }).code === 2) resolve();
          else reject(new ApiError(`SFTP remove ${remotePath} on ${where}: ${e.message}`));
        }),
      );
    },
    async readFile(remotePath) {
      const s = await getSftp();
      return new Promise((resolve, reject) =>
        s.readFile(remotePath, 'utf8', (e, data) => (e ? reject(new ApiError(`SFTP read ${remotePath} on ${where}: ${e.message}`)) : resolve(String(data)))),
      );
    },
    exec(argv, timeoutMs) {
      const command = argv.map(shellQuote).join(' ');
      return new Promise((resolve, reject) => {
        conn.exec(command, (e, stream) => {
          if (e) return reject(new ApiError(`SSH ${where}: cannot run ${command}: ${e.message}`));
          let stdout = '';
          let stderr = '';
          const timer = setTimeout(() => {
            stream.close();
            reject(new ApiError(`SSH ${where}: ${command} did not finish within ${Math.round(timeoutMs / 1000)} s`));
          }, timeoutMs);
          stream.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
          stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
          stream.on('close', (code: number | null) => {
            clearTimeout(timer);
            resolve({ code: code ?? -1, stdout, stderr });
          });
        });
      });
    },
    close: () => conn.end(),
  };
}
