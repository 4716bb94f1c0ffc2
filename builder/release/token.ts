// The GitHub token: from $GITHUB_TOKEN or a file only its owner can read, never from the command
// line (argv is visible to every user of the machine in /proc and lands in shell history).
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../../firstboot/lib/errors.js';

export async function resolveToken(opts: { tokenFile?: string; env?: NodeJS.ProcessEnv; required: boolean }): Promise<string | undefined> {
  if (opts.tokenFile) {
    const st = await stat(opts.tokenFile).catch(() => undefined);
    if (!st?.isFile()) throw new ConfigError('GitHub token', [{ path: '--token-file', message: `${opts.tokenFile} is not a file` }]);
    if (st.mode & 0o077) {
      throw new ConfigError('GitHub token', [{
        path: '--token-file',
        message: `${opts.tokenFile} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`,
        hint: `chmod 600 ${opts.tokenFile}`,
      }]);
    }
    const token = (await readFile(opts.tokenFile, 'utf8')).trim();
    if (!token || /\s/.test(token)) throw new ConfigError('GitHub token', [{ path: '--token-file', message: `${opts.tokenFile} does not hold one token (one line, no spaces)` }]);
    return token;
  }
  const env = (opts.env ?? process.env).GITHUB_TOKEN?.trim();
  if (env) return env;
  if (opts.required) {
    throw new ConfigError('GitHub token', [{
      path: 'GITHUB_TOKEN',
      message: 'no GitHub token: set GITHUB_TOKEN or pass --token-file FILE (mode 0600)',
      hint: 'a classic token needs the repo scope (public_repo for a public repository); a fine-grained one Contents: read and write',
    }]);
  }
  return undefined;
}
