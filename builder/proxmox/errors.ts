// What a failed Proxmox call means, in one place: the HTTP layer hands every non-2xx answer and
// every transport failure to these functions and throws what they return.
import { ApiError } from '../../firstboot/lib/errors.js';

/**
 * - `auth`: credentials refused (401)          - `permission`: a privilege is missing (403)
 * - `parameter`: the schema refused a value    - `locked`: VM lock or config-file lock, retryable
 * - `timeout`: pveproxy gave up on a synchronous call; the change may still have happened
 * - `connection`: no answer (refused, reset, TLS) - `task`: a worker task ended in error
 * - `storage`: a storage refused content or space - `server`: anything else the server said
 */
export type ProxmoxErrorKind = 'auth' | 'permission' | 'parameter' | 'locked' | 'timeout' | 'connection' | 'task' | 'storage' | 'server';

export class ProxmoxError extends ApiError {
  override name = 'ProxmoxError';
  constructor(
    message: string,
    readonly kind: ProxmoxErrorKind,
    details: { status?: number; method?: string; url?: string; cause?: unknown } = {},
    /** Per-parameter messages of a 400 answer. */
    readonly paramErrors: Record<string, string> = {},
    /** Tail of the task log, for `task` errors. */
    readonly taskLog: string[] = [],
  ) {
    super(message, details.status, details.method, details.url);
    if (details.cause !== undefined) this.cause = details.cause;
  }
}

// pveproxy's status lines; see PVE::AbstractConfig::check_lock and PVE::Tools::lock_file.
const LOCKED = /VM is locked \(([^)]+)\)|can't lock file '[^']*' - got timeout/;
const STORAGE = /storage '[^']*'|content type '[^']*' is not available|does not support '[^']*' content|no space left|not enough space|volume '[^']*' does not exist/i;
const PERMISSION = /Permission check failed \(([^,]+), ([^)]+)\)/;

export function isRetryableLock(e: unknown): boolean {
  return e instanceof ProxmoxError && e.kind === 'locked';
}

/** Turn a non-2xx answer into an error that says what failed and what to do. */
export function responseError(
  req: { method: string; path: string; url: string; identity: string },
  status: number,
  statusText: string,
  body: unknown,
): ProxmoxError {
  const call = `${req.method} ${req.path}`;
  const details = { status, method: req.method, url: req.url };
  const reason = statusText.trim() || `HTTP ${status}`;
  const paramErrors = extractParamErrors(body);

  if (status === 401) {
    return new ProxmoxError(
      `${call}: authentication failed (${reason}) for ${req.identity}. ` +
        `Check PROXMOX_TOKEN (format user@realm!tokenid=secret) and that the token exists and has not expired.`,
      'auth',
      details,
    );
  }
  if (status === 403) {
    const perm = PERMISSION.exec(reason);
    const what = perm ? `privilege ${perm[2]} on ${perm[1]}` : 'a privilege';
    return new ProxmoxError(
      `${call}: permission denied: ${req.identity} lacks ${what} (server said: ${reason}). ` +
        `Grant it, e.g. pveum acl modify ${perm?.[1] ?? '/'} --tokens '<token id>' --roles <role with ${perm?.[2] ?? 'the privilege'}>; ` +
        `a token with privilege separation needs its own ACL entry.`,
      'permission',
      details,
    );
  }
  if (status === 400 && Object.keys(paramErrors).length) {
    const list = Object.entries(paramErrors)
      .map(([k, m]) => `  ${k}: ${m}`)
      .join('\n');
    return new ProxmoxError(`${call}: the server refused the parameters (${reason})\n${list}`, 'parameter', details, paramErrors);
  }
  if (status === 596 || status === 504) {
    return new ProxmoxError(
      `${call}: the server gave up waiting (${status} ${reason}); the change may still be applied. ` +
        `Check the VM's state before retrying.`,
      'timeout',
      details,
    );
  }
  if (LOCKED.test(reason)) return new ProxmoxError(`${call}: ${reason}`, 'locked', details);
  if (STORAGE.test(reason)) return new ProxmoxError(`${call}: storage problem: ${reason}`, 'storage', details);
  if (status === 501 && /chunked/i.test(reason)) {
    return new ProxmoxError(`${call}: ${reason} (the client must send Content-Length)`, 'server', details);
  }
  return new ProxmoxError(`${call}: ${reason} (HTTP ${status})`, 'server', details, paramErrors);
}

/** A request that got no HTTP answer at all. */
export function connectionError(req: { method: string; path: string; url: string }, cause: unknown): ProxmoxError {
  const err = cause as { code?: string; message?: string };
  const code = err.code ?? '';
  const origin = new URL(req.url).origin;
  let what: string;
  if (code === 'ECONNREFUSED') what = `connection refused by ${origin}: is pveproxy running and the URL right?`;
  else if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE') {
    what = `connection to ${origin} lost before an answer arrived; ${req.method === 'GET' ? 'retried without success' : 'the call may or may not have been applied'}`;
  } else if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') what = `no answer from ${origin} in time`;
  else if (code.startsWith('ERR_TLS') || code.includes('CERT') || /certificate|fingerprint/i.test(err.message ?? '')) {
    what = `TLS verification of ${origin} failed: ${err.message}. Check PROXMOX_FINGERPRINT (pvenode cert info) or PROXMOX_CA_FILE`;
  } else what = `request to ${origin} failed: ${err.message ?? String(cause)}`;
  return new ProxmoxError(`${req.method} ${req.path}: ${what}`, 'connection', { method: req.method, url: req.url, cause });
}

function extractParamErrors(body: unknown): Record<string, string> {
  const errors = (body as { errors?: unknown } | null)?.errors;
  if (!errors || typeof errors !== 'object') return {};
  return Object.fromEntries(Object.entries(errors as Record<string, unknown>).map(([k, v]) => [k, String(v).trim()]));
}
