// The HTTP layer of the Proxmox client: one undici Agent with the pinned TLS trust, parameters
// encoded the way the API expects them, answers unwrapped from `{ data }`, failures turned into
// ProxmoxErrors, and retries where a retry is safe (locks: the server refused before changing
// anything; dropped reads: a GET changes nothing).
import { Agent, request, type Dispatcher } from 'undici';
import { Authenticator, identity, type Credentials, type Ticket } from './auth.js';
import { ProxmoxError, connectionError, isRetryableLock, responseError } from './errors.js';
import { multipartBody, type UploadFile } from './multipart.js';
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from './retry.js';
import { tlsConnector, type TlsTrust } from './tls.js';

export interface HttpOptions {
  /** `https://host:8006` (the `/api2/json` prefix is added here). */
  baseUrl: string;
  credentials: Credentials;
  trust: TlsTrust;
  retry?: RetryPolicy;
  /** Called before each retry, so the CLI can say why it waits. */
  onRetry?: (message: string) => void;
}

export type ParamValue = string | number | boolean | undefined;
export type Params = Record<string, ParamValue>;
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

const API_PREFIX = '/api2/json';
const DROPPED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

export class ProxmoxHttp {
  private readonly auth: Authenticator;
  private readonly retry: RetryPolicy;

  private constructor(
    private readonly opts: HttpOptions,
    private readonly dispatcher: Dispatcher,
  ) {
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.auth = new Authenticator(opts.credentials, (username, password) =>
      this.send<Ticket>('POST', '/access/ticket', { username, password }, {}),
    );
  }

  static async open(opts: HttpOptions): Promise<ProxmoxHttp> {
    const connect = await tlsConnector(opts.trust);
    return new ProxmoxHttp(opts, new Agent({ connect }));
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** One API call; resolves to the answer's `data`. */
  call<T>(method: Method, path: string, params: Params = {}): Promise<T> {
    return withRetry(
      this.retry,
      (e) => isRetryableLock(e) || (method === 'GET' && isDropped(e)),
      () => this.sendAuthenticated<T>(method, path, params),
      (e, attempt, delay) => this.opts.onRetry?.(`${(e as Error).message}; retry ${attempt}/${this.retry.attempts - 1} in ${delay} ms`),
    ).catch((e: unknown) => {
      if (isRetryableLock(e)) {
        const err = e as ProxmoxError;
        throw new ProxmoxError(
          `${err.message}: still locked after ${this.retry.attempts} attempts. ` +
            `Another task holds the lock (see the node's task list); wait for it or remove a stale lock with 'qm unlock <vmid>'.`,
          'locked',
          { status: err.status, method, url: err.url, cause: err },
        );
      }
      throw e;
    });
  }

  /**
   * Send with the current credentials. A ticket the server refuses (401: it expired by the server's
   * clock, or pveproxy restarted with a new key) is renewed by logging in again, once: the refused
   * request changed nothing, so sending it again is safe. A token refused stays refused.
   */
  private async sendAuthenticated<T>(method: Method, path: string, params: Params): Promise<T> {
    const headers = await this.auth.headers(method);
    try {
      return await this.send<T>(method, path, params, headers);
    } catch (e) {
      if (!(e instanceof ProxmoxError && e.kind === 'auth' && this.opts.credentials.kind === 'password')) throw e;
      this.auth.reset();
      return this.send<T>(method, path, params, await this.auth.headers(method));
    }
  }

  /**
   * Upload a file with multipart/form-data. The body length is computed up front and sent as
   * Content-Length: pveproxy refuses chunked transfer encoding (HTTP 501).
   */
  async upload<T>(path: string, fields: Record<string, string>, file: UploadFile, onProgress?: (sent: number, total: number) => void): Promise<T> {
    const body = multipartBody(fields, file, onProgress);
    const headers = {
      ...(await this.auth.headers('POST')),
      'content-type': `multipart/form-data; boundary=${body.boundary}`,
      'content-length': String(body.length),
    };
    return this.exchange<T>('POST', path, `${this.opts.baseUrl}${API_PREFIX}${path}`, headers, body.stream);
  }

  private send<T>(method: Method, path: string, params: Params, authHeaders: Record<string, string>): Promise<T> {
    const encoded = encodeParams(params);
    const url = `${this.opts.baseUrl}${API_PREFIX}${path}`;
    if (method === 'GET' || method === 'DELETE') {
      return this.exchange<T>(method, path, encoded ? `${url}?${encoded}` : url, authHeaders);
    }
    const headers = { ...authHeaders, 'content-type': 'application/x-www-form-urlencoded' };
    return this.exchange<T>(method, path, url, headers, encoded);
  }

  private async exchange<T>(
    method: Method,
    path: string,
    url: string,
    headers: Record<string, string>,
    body?: string | NodeJS.ReadableStream,
  ): Promise<T> {
    const req = { method, path, url, identity: identity(this.opts.credentials) };
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method, headers, body: body as Dispatcher.RequestOptions['body'], dispatcher: this.dispatcher });
    } catch (e) {
      throw connectionError(req, e);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (e) {
      throw connectionError(req, e);
    }
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      /* pveproxy answers some errors with HTML; the status line says it all */
    }
    if (res.statusCode === 401 && this.opts.credentials.kind === 'password') this.auth.reset();
    if (res.statusCode < 200 || res.statusCode >= 300) throw responseError(req, res.statusCode, res.statusText, json);
    return (json as { data: T } | null)?.data as T;
  }
}

function isDropped(e: unknown): boolean {
  const code = ((e as { cause?: { code?: string } }).cause ?? {}).code;
  return e instanceof ProxmoxError && e.kind === 'connection' && code !== undefined && DROPPED.has(code);
}

/** The parameters as the API reads them: booleans are 1/0, absent values are left out. */
export function wireParams(params: Params): [string, string][] {
  return Object.entries(params)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]) => [k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v)]);
}

export function encodeParams(params: Params): string {
  return new URLSearchParams(wireParams(params)).toString();
}
