// A real OpenSSH sshd on 127.0.0.1 for the tests: its own config, host key and authorized key in a
// temporary directory, SFTP by internal-sftp, no chroot. Stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';

export interface TestSshd {
  port: number;
  user: string;
  dir: string;
  /** With `chroot`: the directory SFTP sees as `/` (a stand-in for a Proxmox host's file system). */
  root?: string;
  /** Private key the server accepts. */
  keyFile: string;
  /** known_hosts naming the server's host key as [127.0.0.1]:port. */
  knownHosts: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('SSH-'));
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd on ${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `chroot`: SFTP only, chrooted into a fresh root-owned directory under /run (sshd refuses a chroot
 * below a world-writable directory such as /tmp), so several sshds can each stand for one Proxmox
 * host with its own /var/lib/vz/snippets. Needs root.
 */
export async function startSshd(opts: { chroot?: boolean; /** Accept this client key (its .pub beside it) instead of a new one. */ clientKey?: string } = {}): Promise<TestSshd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ober-sshd-'));
  const root = opts.chroot ? await mkdtemp('/run/ober-sshd-root-') : undefined;
  if (root) {
    await chmod(root, 0o755);
    await mkdir(path.join(root, 'var/lib/vz/snippets'), { recursive: true, mode: 0o755 });
  }
  const user = os.userInfo().username;
  await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'host_ed25519')]);
  const keyFile = opts.clientKey ?? path.join(dir, 'client');
  if (!opts.clientKey) await run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'ober-test', '-f', keyFile]);
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(`${keyFile}.pub`));
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_ed25519`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'StrictModes no', // the temporary directory is not owned the way StrictModes wants
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      ...(root ? [`ChrootDirectory ${root}`, 'ForceCommand internal-sftp'] : []),
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  // sshd running as root wants its privilege separation directory.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    await waitForBanner(port, 5000);
  } catch (e) {
    if (child.pid) process.kill(child.pid, 'SIGTERM');
    throw new Error(`${(e as Error).message}: ${stderr}`, { cause: e });
  }
  const [type, b64] = (await readFile(path.join(dir, 'host_ed25519.pub'), 'utf8')).split(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  await writeFile(knownHosts, `[127.0.0.1]:${port} ${type} ${b64}\n`);
  return {
    port,
    user,
    dir,
    root,
    keyFile,
    knownHosts,
    async stop() {
      if (child.pid && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(child.pid, 'SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}
