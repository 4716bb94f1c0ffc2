// The Proxmox VE API test double: an HTTP(S) server on 127.0.0.1 that authenticates like pveproxy,
// validates every request against the real API schema, and answers from a simulated cluster.
//
//   const pve = await PveDouble.start({ tls: { key, cert } });
//   pve.faults.lockVm(100, 'backup', 3);   // in-process fault injection
//   ... client talks to pve.url with pve.token ...
//   await pve.close();
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Faults } from './faults.js';
import { parseMultipart } from './multipart.js';
import { Routes, type Call, type Caller, type Upload } from './routes.js';
import { ApiSchema, type MethodSchema } from './schema.js';
import { Cluster, PveError, paramError, type SharedStorageSpec } from './state.js';

export interface PveDoubleOptions {
  nodes?: string[];
  /** Serve HTTPS with this key and certificate (PEM); plain HTTP without. */
  tls?: { key: string; cert: string };
  /** How long every task runs before it reports `stopped` (default 20 ms). */
  taskDurationMs?: number;
  /** Delay after start before the guest agent answers (default 0). */
  agentDelayMs?: number;
  /** pveproxy's timeout on synchronous calls, used by the proxyTimeout fault (30 s for real). */
  proxyTimeoutMs?: number;
  /**
   * Directories standing for the snippets directory of storage `local`, per node (a string: the same
   * one for every node). Their files are the `local:snippets/...` volumes; a VM whose cicustom names
   * one missing on its node fails to start, as on a real host.
   */
  snippetsDir?: string | Record<string, string>;
  /** A storage shared by every node (NFS-like), e.g. `{ id: 'shared', content: ['images', 'iso', 'snippets'] }`. */
  shared?: SharedStorageSpec;
  /** The reported Proxmox VE version (default 9.0.3); upload rules follow it (see routes.ts). */
  version?: string;
  now?: () => number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  status: number;
  headers: IncomingMessage['headers'];
}

const API_PREFIX = '/api2/json';
const ROOT_PASSWORD = 'pve-double-root-password';
const TICKET_LIFETIME_MS = 2 * 60 * 60 * 1000;

let sharedSchema: ApiSchema | undefined;

export class PveDouble {
  readonly faults = new Faults();
  readonly cluster: Cluster;
  readonly requests: RecordedRequest[] = [];
  /** The API token the double accepts, as `user@realm!tokenid=secret` (PROXMOX_TOKEN's format). */
  readonly token = `ober@pve!deploy=${randomUUID()}`;
  readonly rootPassword = ROOT_PASSWORD;
  url = '';
  private readonly schema: ApiSchema;
  private readonly routes: Routes;
  private readonly tickets = new Map<string, { user: string; csrf: string; issuedAt: number }>();
  private readonly server: http.Server;
  private readonly proxyTimeoutMs: number;

  private constructor(opts: PveDoubleOptions) {
    sharedSchema ??= ApiSchema.load();
    this.schema = sharedSchema;
    const nodes = opts.nodes ?? ['pve1'];
    const snippetsDirs = typeof opts.snippetsDir === 'string' ? Object.fromEntries(nodes.map((n) => [n, opts.snippetsDir as string])) : opts.snippetsDir;
    this.cluster = new Cluster(opts.now ?? Date.now, nodes, { snippetsDirs, shared: opts.shared });
    if (opts.version) this.cluster.setVersion(opts.version);
    this.routes = new Routes(this.cluster, this.faults, { taskDurationMs: opts.taskDurationMs ?? 20, agentDelayMs: opts.agentDelayMs ?? 0 });
    this.proxyTimeoutMs = opts.proxyTimeoutMs ?? 30_000;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((e: unknown) => this.answer(res, 500, `test double bug: ${(e as Error).stack ?? String(e)}`));
    };
    this.server = opts.tls ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, handler) : http.createServer(handler);
  }

  static async start(opts: PveDoubleOptions = {}): Promise<PveDouble> {
    const d = new PveDouble(opts);
    await new Promise<void>((resolve) => d.server.listen(0, '127.0.0.1', resolve));
    const { port } = d.server.address() as AddressInfo;
    d.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
    return d;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Reboot a Proxmox node: its VMs stop, those with onboot=1 start again (see Routes.rebootNode). */
  rebootNode(node: string): ReturnType<Routes['rebootNode']> {
    this.cluster.settle();
    return this.routes.rebootNode(node);
  }

  /** Requests that reached the API (after authentication), optionally filtered by method. */
  calls(method?: string): RecordedRequest[] {
    return this.requests.filter((r) => !method || r.method === method);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://double');
    if (!url.pathname.startsWith(`${API_PREFIX}/`)) return this.answer(res, 404, 'Not found');
    const path = url.pathname.slice(API_PREFIX.length);

    // pveproxy cannot read chunked request bodies: uploads must say how long they are.
    if (/chunked/i.test(req.headers['transfer-encoding'] ?? '')) {
      req.resume();
      return this.answer(res, 501, 'chunked transfer encoding not supported - send Content-Length');
    }
    const fault = this.faults.takeRequestFault(method, path);
    if (fault === 'drop') {
      req.socket.destroy();
      return;
    }
    const body = await readBody(req);

    const route = this.schema.match(method, path);
    if (!route.ok) return this.answer(res, route.status, route.message);

    let caller: Caller | undefined;
    if (route.schema.permissions?.user !== 'world') {
      const auth = this.authenticate(req, method, route.schema);
      if ('status' in auth) return this.answer(res, auth.status, auth.message);
      caller = auth;
    }

    let params: Record<string, string>;
    let upload: Upload | undefined;
    try {
      ({ params, upload } = parseParams(req, url, body));
      for (const [k, v] of Object.entries(route.pathParams)) {
        if (params[k] !== undefined && params[k] !== v) throw paramError({ [k]: 'parameter differs from the value in the path' });
        params[k] = v;
      }
    } catch (e) {
      return this.answerError(res, e);
    }
    const record: RecordedRequest = { method, path, params, status: 0, headers: req.headers };
    this.requests.push(record);

    const errors = this.schema.validate(route.schema, params);
    if (Object.keys(errors).length) return this.answerError(res, paramError(errors), record);

    if (fault === 'deny') return this.answerError(res, new PveError(403, permissionMessage(route.schema, params)), record);

    let data: unknown;
    try {
      if (route.template === '/access/ticket' && method === 'POST') data = this.login(params);
      else {
        const handler = this.routes.table[`${method} ${route.template}`];
        if (!handler) return this.answerError(res, new PveError(501, `Method '${method} ${route.template}' not implemented by the test double`), record);
        this.cluster.settle();
        data = handler({ params, caller: caller as Caller, upload } satisfies Call);
      }
    } catch (e) {
      return this.answerError(res, e, record);
    }
    if (fault === 'proxy-timeout') {
      // The work was done, but pveproxy gave up waiting: the client cannot tell whether it happened.
      await new Promise((r) => setTimeout(r, this.proxyTimeoutMs));
      return this.answerError(res, new PveError(596, 'Connection timed out'), record);
    }
    record.status = 200;
    this.send(res, 200, 'OK', { data });
  }

  private authenticate(req: IncomingMessage, method: string, schema: MethodSchema): Caller | { status: number; message: string } {
    const header = req.headers.authorization;
    if (header) {
      const m = /^PVEAPIToken=([^!\s]+@[^!\s]+)!([^=\s]+)=(\S+)$/.exec(header);
      if (!m || `${m[1]}!${m[2]}=${m[3]}` !== this.token) return { status: 401, message: 'authentication failure' };
      if (schema.allowtoken === 0) return { status: 401, message: 'API tokens are not allowed for this call' };
      return { user: m[1] as string, tokenId: `${m[1]}!${m[2]}` };
    }
    const cookie = /(?:^|;\s*)PVEAuthCookie=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (!cookie) return { status: 401, message: 'No ticket' };
    const ticket = this.tickets.get(decodeURIComponent(cookie));
    if (!ticket) return { status: 401, message: 'invalid ticket' };
    // pve-access-control PVE/AccessControl.pm: a ticket is valid for 2 hours after it was issued
    // (verify_ticket's max age); an older one is refused like an unknown one.
    if (this.cluster.now() - ticket.issuedAt > TICKET_LIFETIME_MS) return { status: 401, message: 'permission denied - invalid PVE ticket' };
    if (method !== 'GET' && req.headers.csrfpreventiontoken !== ticket.csrf) {
      return { status: 401, message: 'Permission check failed (invalid CSRF prevention token)' };
    }
    return { user: ticket.user };
  }

  private login(params: Record<string, string>): unknown {
    const user = params.username?.includes('@') ? params.username : `${params.username}@${params.realm ?? 'pam'}`;
    if (user !== 'root@pam' || params.password !== this.rootPassword) throw new PveError(401, 'authentication failure');
    const stamp = Math.floor(this.cluster.now() / 1000).toString(16).toUpperCase();
    const ticket = `PVE:${user}:${stamp}::${randomBytes(32).toString('base64')}`;
    const csrf = `${stamp}:${randomBytes(16).toString('base64').replace(/=+$/, '')}`;
    this.tickets.set(ticket, { user, csrf, issuedAt: this.cluster.now() });
    return { username: user, ticket, CSRFPreventionToken: csrf, clustername: 'double' };
  }

  private answerError(res: ServerResponse, e: unknown, record?: RecordedRequest): void {
    const err = e instanceof PveError ? e : new PveError(500, (e as Error).message);
    if (record) record.status = err.status;
    this.send(res, err.status, err.message, { data: null, ...(err.errors ? { errors: err.errors } : {}) });
  }

  private answer(res: ServerResponse, status: number, message: string): void {
    this.send(res, status, message, { data: null });
  }

  /** pveproxy puts the error text in the HTTP status line; the JSON body carries only data/errors. */
  private send(res: ServerResponse, status: number, message: string, body: unknown): void {
    const json = JSON.stringify(body);
    res.statusCode = status;
    res.statusMessage = (message.split('\n')[0] ?? '').replace(/[^\x20-\x7e]/g, '?');
    res.setHeader('Content-Type', 'application/json;charset=UTF-8');
    res.setHeader('Content-Length', Buffer.byteLength(json));
    res.end(json);
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseParams(req: IncomingMessage, url: URL, body: Buffer): { params: Record<string, string>; upload?: Upload } {
  const params: Record<string, string> = Object.fromEntries(url.searchParams);
  if (!body.length) return { params };
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary="?([^";]+)"?/.exec(type)?.[1];
    if (!boundary) throw paramError({ file: 'multipart body without boundary' });
    // pveproxy spools the part named `filename` to /var/tmp and passes its file name on.
    const parsed = parseMultipart(body, boundary);
    Object.assign(params, parsed.params);
    const upload: Upload | undefined = parsed.file;
    return { params, upload };
  }
  if (type.startsWith('application/json')) {
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(json)) params[k] = typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
    return { params };
  }
  if (type.startsWith('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    return { params };
  }
  throw new PveError(415, `unsupported content type '${type}'`);
}

/** Proxmox's 403 text: the first privilege check of the call, with its path filled in. */
function permissionMessage(schema: MethodSchema, params: Record<string, string>): string {
  const find = (check: unknown): [string, string[]] | undefined => {
    if (!Array.isArray(check)) return undefined;
    if (check[0] === 'perm' && typeof check[1] === 'string' && Array.isArray(check[2])) return [check[1], check[2] as string[]];
    for (const sub of check) {
      const found = find(sub);
      if (found) return found;
    }
    return undefined;
  };
  const [pathTemplate, privs] = find(schema.permissions?.check) ?? ['/', ['Sys.Audit']];
  const path = pathTemplate.replace(/\{(\w+)\}/g, (_m, k: string) => params[k] ?? k);
  return `Permission check failed (${path}, ${privs.join('|')})`;
}
