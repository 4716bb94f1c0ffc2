// The GitHub client (@octokit/rest) and the translation of its errors into what the operator should
// do: a bad token, a missing scope or permission, a repository that does not exist (or is hidden).
import { Octokit } from '@octokit/rest';
import { ApiError, ConfigError } from '../../firstboot/lib/errors.js';
import { OBER_VERSION } from '../../firstboot/version.js';

export const GITHUB_API = 'https://api.github.com';

export type RepoRef = { owner: string; repo: string };

export function parseRepo(text: string): RepoRef {
  const m = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})$/.exec(text);
  if (!m || m[2] === '.' || m[2] === '..') throw new ConfigError('ober release', [{ path: '--repo', message: `'${text}' is not OWNER/NAME`, hint: 'e.g. --repo example-org/herr-ober' }]);
  return { owner: m[1]!, repo: m[2]! };
}

export function githubClient(opts: { token?: string; apiUrl?: string; warn?: (m: string) => void }): Octokit {
  const quiet = (): void => {};
  return new Octokit({
    auth: opts.token,
    baseUrl: (opts.apiUrl ?? GITHUB_API).replace(/\/$/, ''),
    userAgent: `herr-ober/${OBER_VERSION}`,
    log: { debug: quiet, info: quiet, warn: opts.warn ?? quiet, error: quiet },
  });
}

/** Publishing needs push access: say which token scope or permission is missing before anything is uploaded. */
export function requirePush(permissions: { push?: boolean } | undefined, headers: Record<string, string | number | undefined>, ref: RepoRef): void {
  if (!permissions || permissions.push) return;
  const scopes = headers['x-oauth-scopes'];
  const where = `${ref.owner}/${ref.repo}`;
  throw new ApiError(
    scopes !== undefined
      ? `publishing to ${where}: the token lacks the scope: it has [${scopes || 'none'}], releases need repo (public_repo for a public repository)`
      : `publishing to ${where}: the token's user cannot push to it (fine-grained token: Contents: read and write)`,
    403,
  );
}

/** An Octokit failure as an ApiError that says what to do. */
export function explain(e: unknown, what: string, ref: RepoRef): Error {
  if (!isRequestError(e)) return e as Error;
  const h = e.response?.headers ?? {};
  const scopes = h['x-oauth-scopes'];
  const accepted = h['x-accepted-oauth-scopes'];
  const permissions = h['x-accepted-github-permissions'];
  const body = e.response?.data as { message?: string; errors?: { resource?: string; code?: string; field?: string }[] } | undefined;
  const detail = [body?.message, ...(body?.errors ?? []).map((x) => `${x.resource ?? ''}.${x.field ?? ''} ${x.code ?? ''}`)].filter(Boolean).join('; ');
  const where = `${ref.owner}/${ref.repo}`;
  let message: string;
  if (e.status === 401) message = `${what}: GitHub refused the token (Bad credentials): check GITHUB_TOKEN or --token-file`;
  else if ((e.status === 403 || e.status === 404) && scopes !== undefined && accepted && !String(scopes).split(/,\s*/).some((s) => ['repo', 'public_repo'].includes(s))) {
    message = `${what}: the token lacks the scope for ${where}: it has [${scopes || 'none'}], releases need repo (public_repo for a public repository)`;
  } else if (e.status === 403 && permissions) message = `${what}: the token lacks the permission ${permissions} on ${where} (fine-grained token: Contents: read and write)`;
  else if (e.status === 404) message = `${what}: ${where} not found, or not visible to this token (GitHub answers 404 for both)`;
  else message = `${what}: GitHub answered ${e.status}${detail ? `: ${detail}` : ''}`;
  return new ApiError(message, e.status, e.request?.method, e.request?.url);
}

interface RequestErrorLike {
  name: string;
  status: number;
  request?: { method?: string; url?: string };
  response?: { headers: Record<string, string | number | undefined>; data?: unknown };
}

/** @octokit/request-error's RequestError (name HttpError), without depending on its module identity. */
export function isRequestError(e: unknown): e is RequestErrorLike {
  return e instanceof Error && e.name === 'HttpError' && typeof (e as { status?: unknown }).status === 'number';
}
