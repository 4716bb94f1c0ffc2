// The flags every command that talks to GitHub releases shares, and the client they make.
import type { Command } from 'commander';
import type { Octokit } from '@octokit/rest';
import type { Output } from '../../firstboot/lib/output.js';
import { GITHUB_API, githubClient, parseRepo, type RepoRef } from '../release/github.js';
import { resolveToken } from '../release/token.js';

export interface GithubFlags {
  repo?: string;
  tokenFile?: string;
  apiUrl?: string;
  /** Reading commands: SHA256SUMS must carry a signature by a key in this allowed_signers file. */
  allowedSigners?: string;
}

export function addGithubOptions(cmd: Command, repoHelp: string, opts: { reading?: boolean } = {}): Command {
  if (opts.reading) cmd.option('--allowed-signers <file>', 'require SHA256SUMS.sig by a key in this ssh-keygen allowed_signers file (namespace herr-ober-release)');
  return cmd
    .option('--repo <owner/name>', repoHelp)
    .option('--token-file <file>', 'GitHub token in a file of mode 0600 (default: $GITHUB_TOKEN); never on the command line')
    .option('--api-url <url>', `GitHub API (GitHub Enterprise: https://HOST/api/v3; default $GITHUB_API_URL or ${GITHUB_API})`);
}

export async function githubFromFlags(flags: GithubFlags, out: Output, tokenRequired: boolean): Promise<{ gh: Octokit; ref: RepoRef }> {
  const ref = parseRepo(flags.repo ?? '');
  const token = await resolveToken({ tokenFile: flags.tokenFile, required: tokenRequired });
  return { gh: githubClient({ token, apiUrl: flags.apiUrl ?? process.env.GITHUB_API_URL, warn: (m) => out.warn(m) }), ref };
}

/** Transfer progress in 10 % steps on stderr (the output may be a log file, not a terminal). */
export function transferProgress(out: Output, verb: string): (name: string, done: number, total: number) => void {
  const shown = new Map<string, number>();
  return (name, done, total) => {
    const tenth = total ? Math.floor((done / total) * 10) : 10;
    if (shown.get(name) === tenth) return;
    shown.set(name, tenth);
    out.info(`  ${verb} ${name} ${tenth * 10}% (${(done / 1024 ** 2).toFixed(1)} of ${(total / 1024 ** 2).toFixed(1)} MiB)`);
  };
}
