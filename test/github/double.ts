// A stateful double of GitHub's releases API on loopback, for the release tests. Three origins, as on
// github.com: the API (api.github.com), uploads (uploads.github.com, reached only through a
// release's `upload_url` template) and downloads (the storage an asset download redirects to).
//
// It refuses what the real API refuses, as documented (docs.github.com/en/rest/releases/releases and
// /releases/assets, mirrored in octokit/plugin-rest-endpoint-methods docs/repos/uploadReleaseAsset.md):
// - unknown paths and methods: 404 {"message":"Not Found"}; a missing or wrong token: 401 "Bad credentials";
// - writes with a classic token lacking `repo`/`public_repo`: 404 for a private repository (GitHub
//   hides it) or 403, with X-OAuth-Scopes and X-Accepted-OAuth-Scopes headers (as in the responses
//   quoted in semantic-release/github#295 and octokit.js#721);
// - create release without `tag_name`: 422; a second release for a tag: 422 already_exists/tag_name
//   (fastlane/fastlane discussion 17212);
// - uploads anywhere but the uploads origin and the exact path of the `upload_url` template (a client
//   that posts the template's `{?name,label}` literally gets 404), without `name`: 422, without
//   Content-Type: 422, without Content-Length (chunked): 411, a body shorter than announced: the
//   asset stays in state `starter` ("This may leave an empty asset with a state of starter. It can
//   be safely deleted."), a duplicate name: 422 already_exists/name (cli/cli#5008);
// - `GET .../releases/tags/{tag}` does not find drafts; asset downloads with
//   `Accept: application/octet-stream` answer 302 to the download origin, which honours Range.
// Asset objects carry `digest: "sha256:..."` (github.blog changelog 2025-06-03).
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DoubleRepo {
  owner: string;
  name: string;
  private: boolean;
}

export interface DoubleToken {
  token: string;
  /** Classic token scopes (X-OAuth-Scopes), e.g. ['repo']. */
  scopes: string[];
  login: string;
}

interface Asset {
  id: number;
  name: string;
  label: string | null;
  content_type: string;
  state: 'uploaded' | 'starter';
  data: Buffer;
  downloads: number;
}

interface Release {
  id: number;
  tag_name: string;
  name: string | null;
  body: string | null;
  draft: boolean;
  prerelease: boolean;
  target_commitish: string;
  created_at: string;
  assets: Asset[];
}

interface Faults {
  /** Asset name → after this many bytes of an upload, the connection is cut. */
  cutUpload: Map<string, number>;
  /** Asset name → after this many bytes of a download, the connection is cut (once). */
  cutDownload: Map<string, number>;
  /** Asset name → bytes served instead of the stored ones (a tampered mirror or storage). */
  tamper: Map<string, Buffer>;
}

export interface RequestLog {
  origin: 'api' | 'uploads' | 'downloads';
  method: string;
  path: string;
  status: number;
  headers: http.IncomingHttpHeaders;
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
};
const DOCS = 'https://docs.github.com/rest/releases';
const notFound = (res: http.ServerResponse): void => json(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' });
const validation = (res: http.ServerResponse, resource: string, code: string, field: string): void =>
  json(res, 422, { message: 'Validation Failed', errors: [{ resource, code, field }], documentation_url: DOCS, status: '422' });

export class GitHubDouble {
  readonly repos: DoubleRepo[] = [];
  readonly tokens: DoubleToken[] = [];
  readonly releases = new Map<string, Release[]>();
  readonly faults: Faults = { cutUpload: new Map(), cutDownload: new Map(), tamper: new Map() };
  readonly log: RequestLog[] = [];
  private nextId = 1000;
  private servers: http.Server[] = [];
  api = '';
  uploads = '';
  downloads = '';

  addRepo(repo: DoubleRepo): void {
    this.repos.push(repo);
    this.releases.set(`${repo.owner}/${repo.name}`, []);
  }

  addToken(t: DoubleToken): void {
    this.tokens.push(t);
  }

  async start(): Promise<void> {
    const listen = async (origin: RequestLog['origin'], handler: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void> | void): Promise<string> => {
      const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        res.on('finish', () => this.log.push({ origin, method: req.method ?? '', path: url.pathname + url.search, status: res.statusCode, headers: req.headers }));
        Promise.resolve(handler(req, res, url)).catch((e: unknown) => json(res, 500, { message: String(e) }));
      });
      this.servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    this.api = await listen('api', (req, res, url) => this.handleApi(req, res, url));
    this.uploads = await listen('uploads', (req, res, url) => this.handleUpload(req, res, url));
    this.downloads = await listen('downloads', (req, res, url) => this.handleDownload(req, res, url));
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
  }

  // ---- auth -------------------------------------------------------------------------------------

  private auth(req: http.IncomingMessage): DoubleToken | undefined | 'bad' {
    const h = req.headers.authorization;
    if (!h) return undefined;
    const m = /^(?:token|bearer) (.+)$/i.exec(h);
    const t = m && this.tokens.find((x) => x.token === m[1]);
    return t ?? 'bad';
  }

  private scopeHeaders(t: DoubleToken | undefined): Record<string, string> {
    return t ? { 'x-oauth-scopes': t.scopes.join(', '), 'x-accepted-oauth-scopes': 'repo' } : {};
  }

  private canWrite(t: DoubleToken | undefined, repo: DoubleRepo): boolean {
    return !!t && (t.scopes.includes('repo') || (!repo.private && t.scopes.includes('public_repo')));
  }

  // ---- API origin -------------------------------------------------------------------------------

  private async handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const token = this.auth(req);
    if (token === 'bad') return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    const m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(url.pathname);
    const repo = m && this.repos.find((r) => r.owner.toLowerCase() === m[1]!.toLowerCase() && r.name.toLowerCase() === m[2]!.toLowerCase());
    // a private repository is invisible without a token that may read it
    if (!m || !repo || (repo.private && !(token && token.scopes.includes('repo')))) return notFound(res);
    const rest = m[3] ?? '';
    const list = this.releases.get(`${repo.owner}/${repo.name}`)!;
    const method = req.method ?? 'GET';
    const headers = this.scopeHeaders(token);
    const write = method !== 'GET' && method !== 'HEAD';
    if (write && !this.canWrite(token, repo)) {
      // GitHub answers a classic token without the scope with 404 for private repositories, 403 otherwise
      return repo.private ? json(res, 404, { message: 'Not Found', documentation_url: DOCS, status: '404' }, headers)
        : json(res, 403, { message: 'Resource not accessible by personal access token', documentation_url: DOCS, status: '403' }, headers);
    }

    if (rest === '' && method === 'GET') {
      return json(res, 200, { full_name: `${repo.owner}/${repo.name}`, private: repo.private, permissions: { pull: true, push: this.canWrite(token, repo), admin: false } }, headers);
    }
    if (rest === '/releases' && method === 'GET') {
      const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 30), 100);
      const page = Number(url.searchParams.get('page') ?? 1);
      // drafts are listed only to users with push access
      const visible = list.filter((r) => !r.draft || this.canWrite(token, repo)).slice().reverse();
      const slice = visible.slice((page - 1) * perPage, page * perPage);
      const link: Record<string, string> = page * perPage < visible.length ? { link: `<${this.api}${url.pathname}?per_page=${perPage}&page=${page + 1}>; rel="next"` } : {};
      return json(res, 200, slice.map((r) => this.releaseJson(repo, r)), { ...headers, ...link });
    }
    if (rest === '/releases' && method === 'POST') {
      const body = await readJson(req);
      if (body === undefined) return json(res, 400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' });
      if (typeof body.tag_name !== 'string' || !body.tag_name) return validation(res, 'Release', 'missing_field', 'tag_name');
      if (list.some((r) => r.tag_name === body.tag_name)) return validation(res, 'Release', 'already_exists', 'tag_name');
      const rel: Release = {
        id: this.nextId++, tag_name: body.tag_name, name: str(body.name), body: str(body.body), draft: body.draft === true, prerelease: body.prerelease === true,
        target_commitish: str(body.target_commitish) ?? 'main', created_at: new Date().toISOString(), assets: [],
      };
      list.push(rel);
      return json(res, 201, this.releaseJson(repo, rel), headers);
    }
    const byTag = /^\/releases\/tags\/(.+)$/.exec(rest);
    if (byTag && method === 'GET') {
      const rel = list.find((r) => r.tag_name === decodeURIComponent(byTag[1]!) && !r.draft);
      return rel ? json(res, 200, this.releaseJson(repo, rel), headers) : notFound(res);
    }
    const byId = /^\/releases\/(\d+)(\/assets)?$/.exec(rest);
    if (byId) {
      const rel = list.find((r) => r.id === Number(byId[1]));
      if (!rel || (rel.draft && !this.canWrite(token, repo))) return notFound(res);
      if (!byId[2] && method === 'GET') return json(res, 200, this.releaseJson(repo, rel), headers);
      if (!byId[2] && method === 'PATCH') {
        const body = await readJson(req);
        if (body === undefined) return json(res, 400, { message: 'Problems parsing JSON', documentation_url: DOCS, status: '400' });
        if (typeof body.draft === 'boolean') rel.draft = body.draft;
        if (typeof body.name === 'string') rel.name = body.name;
        if (typeof body.body === 'string') rel.body = body.body;
        return json(res, 200, this.releaseJson(repo, rel), headers);
      }
      if (byId[2] && method === 'GET') return json(res, 200, rel.assets.map((a) => this.assetJson(repo, a)), headers);
      return notFound(res); // e.g. POST .../assets on the API origin: uploads live elsewhere
    }
    const asset = /^\/releases\/assets\/(\d+)$/.exec(rest);
    if (asset) {
      const found = list.flatMap((r) => r.assets.map((a) => ({ r, a }))).find((x) => x.a.id === Number(asset[1]));
      if (!found) return notFound(res);
      if (method === 'DELETE') {
        found.r.assets = found.r.assets.filter((a) => a !== found.a);
        res.writeHead(204).end();
        return;
      }
      if (method === 'GET') {
        if ((req.headers.accept ?? '').includes('application/octet-stream')) {
          res.writeHead(302, { location: `${this.downloads}/${repo.owner}/${repo.name}/${found.a.id}/${encodeURIComponent(found.a.name)}?X-Signature=${'0'.repeat(16)}`, ...headers }).end();
          return;
        }
        return json(res, 200, this.assetJson(repo, found.a), headers);
      }
    }
    return notFound(res);
  }

  // ---- uploads origin ---------------------------------------------------------------------------

  private async handleUpload(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const token = this.auth(req);
    if (token === 'bad' || !token) return json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
    const m = /^\/repos\/([^/]+)\/([^/]+)\/releases\/(\d+)\/assets$/.exec(url.pathname);
    const repo = m && this.repos.find((r) => r.owner === m[1] && r.name === m[2]);
    const rel = repo && this.releases.get(`${repo.owner}/${repo.name}`)!.find((r) => r.id === Number(m[3]));
    if (req.method !== 'POST' || !repo || !rel) return notFound(res);
    if (!this.canWrite(token, repo)) return json(res, 403, { message: 'Resource not accessible by personal access token', documentation_url: DOCS, status: '403' }, this.scopeHeaders(token));
    const name = url.searchParams.get('name');
    if (!name) return validation(res, 'ReleaseAsset', 'missing_field', 'name');
    const type = req.headers['content-type'];
    if (!type) return validation(res, 'ReleaseAsset', 'missing_field', 'content_type');
    const length = req.headers['content-length'];
    if (length === undefined || !/^\d+$/.test(length)) return json(res, 411, { message: 'Length Required', documentation_url: DOCS, status: '411' });
    if (rel.assets.some((a) => a.name === name)) {
      req.resume();
      return validation(res, 'ReleaseAsset', 'already_exists', 'name');
    }
    const asset: Asset = { id: this.nextId++, name, label: url.searchParams.get('label'), content_type: type, state: 'starter', data: Buffer.alloc(0), downloads: 0 };
    rel.assets.push(asset); // visible (as `starter`) while it uploads, and after a cut
    const cut = this.faults.cutUpload.get(name);
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      chunks.push(c);
      received += c.length;
      if (cut !== undefined && received >= cut) {
        this.faults.cutUpload.delete(name);
        req.socket.destroy();
        return;
      }
    }
    const data = Buffer.concat(chunks);
    if (data.length !== Number(length)) return json(res, 400, { message: 'Body length does not match Content-Length', status: '400' });
    asset.data = data;
    asset.state = 'uploaded';
    return json(res, 201, this.assetJson(repo, asset));
  }

  // ---- downloads origin -------------------------------------------------------------------------

  private handleDownload(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const m = /^\/([^/]+)\/([^/]+)\/(\d+)\/[^/]+$/.exec(url.pathname);
    const list = m && this.releases.get(`${m[1]}/${m[2]}`);
    const asset = list?.flatMap((r) => r.assets).find((a) => a.id === Number(m![3]));
    if (req.method !== 'GET' || !asset || !url.searchParams.get('X-Signature')) return notFound(res);
    // signed storage URLs must not see the API token (fetch drops it on a cross-origin redirect)
    if (req.headers.authorization) return json(res, 400, { message: 'Only one auth mechanism allowed' });
    const data = this.faults.tamper.get(asset.name) ?? asset.data;
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
        return;
      }
    }
    const body = data.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream', 'content-length': body.length, 'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    const cut = this.faults.cutDownload.get(asset.name);
    if (cut !== undefined && cut < body.length) {
      this.faults.cutDownload.delete(asset.name);
      res.write(body.subarray(0, cut), () => res.socket?.destroy());
      return;
    }
    asset.downloads++;
    res.end(body);
  }

  // ---- representations -------------------------------------------------------------------------

  private releaseJson(repo: DoubleRepo, r: Release): Record<string, unknown> {
    const base = `${this.api}/repos/${repo.owner}/${repo.name}`;
    return {
      url: `${base}/releases/${r.id}`, id: r.id, tag_name: r.tag_name, name: r.name, body: r.body, draft: r.draft, prerelease: r.prerelease,
      target_commitish: r.target_commitish, created_at: r.created_at, published_at: r.draft ? null : r.created_at,
      assets_url: `${base}/releases/${r.id}/assets`,
      // an RFC 6570 template, as GitHub sends it: the client expands {?name,label}
      upload_url: `${this.uploads}/repos/${repo.owner}/${repo.name}/releases/${r.id}/assets{?name,label}`,
      assets: r.assets.map((a) => this.assetJson(repo, a)),
    };
  }

  private assetJson(repo: DoubleRepo, a: Asset): Record<string, unknown> {
    return {
      url: `${this.api}/repos/${repo.owner}/${repo.name}/releases/assets/${a.id}`, id: a.id, name: a.name, label: a.label, state: a.state,
      content_type: a.content_type, size: a.data.length, download_count: a.downloads,
      digest: a.state === 'uploaded' ? `sha256:${createHash('sha256').update(a.data).digest('hex')}` : null,
      browser_download_url: `${this.downloads}/${repo.owner}/${repo.name}/${a.id}/${encodeURIComponent(a.name)}`,
    };
  }
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  try {
    const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
