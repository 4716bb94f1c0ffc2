// `ober sync` against a real HAProxy on loopback: the frontend whitelist ACL is swapped through the
// runtime API; a connection open before the swap keeps working, new sources are judged by the new
// list, the release's ACL file and the sync file follow, and a reload keeps the new list.
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFile } from '../../firstboot/boot/firstboot.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import { ACL_FILES } from '../../firstboot/render/haproxy.js';
import { aclEntries, aclIdsOf, haproxySocket } from '../../firstboot/ops/haproxy-cli.js';
import { directControl } from '../../firstboot/ops/services.js';
import { applySync, planSync } from '../../firstboot/ops/sync.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { connect, request, tryRequest } from '../helpers/clients.js';
import { freePorts, renderedHaproxyConfig, slowBackend, startHaproxy, type TestHaproxy } from '../helpers/haproxy.js';

let layout: Layout;
let node: NodeConfig;
let haproxy: TestHaproxy;
let backend: Awaited<ReturnType<typeof slowBackend>>;
let port: number;
let cleanup: () => Promise<void>;
const aclFile = () => path.join(layout.haproxyAclDir, ACL_FILES.frontendHttp);

beforeAll(async () => {
  const s = await scratchDir('sync-haproxy');
  cleanup = s.cleanup;
  layout = nodeLayout(s.dir);
  node = deriveNode(await loadExample(EXAMPLES[1] ?? ''), 'ober1');
  backend = await slowBackend();
  [port] = (await freePorts(1)) as [number];
  const cfg = await renderedHaproxyConfig(layout, { httpPort: port, backendPort: backend.port, acl: true });
  // The list the node booted with, as sync last left it: only 127.0.0.2 (the rendered one is the example's 10.0.0.0/8).
  await mkdir(layout.haproxyAclDir, { recursive: true });
  await writeFile(aclFile(), '127.0.0.2\n');
  haproxy = await startHaproxy(layout, cfg);
});

afterAll(async () => {
  await haproxy?.stop();
  await backend?.close();
  await cleanup?.();
});

describe('ober sync --frontend-http with a running HAProxy', () => {
  it('swaps the ACL atomically: open connections survive, new sources follow the new list', async () => {
    const cli = haproxySocket(layout.haproxySocket);
    expect(await tryRequest(port, '127.0.0.1')).toBe('closed');
    const open = await connect(port, '127.0.0.2');
    expect(await request(open)).toBe('ok');

    const scripts: string[] = [];
    const plan = planSync(node, layout, { frontendHttp: ['127.0.0.1'] }, {});
    expect(plan.issues).toEqual([]);
    expect(plan.changes[0]).toMatchObject({ key: 'frontendHttp', added: ['127.0.0.1'], removed: ['10.0.0.0/8'] });
    const done = await applySync(layout, plan, { haproxy: cli, nft: async (s) => void scripts.push(s) });
    expect(done).toContain('HAProxy ACL frontend-http.acl');

    // The connection accepted under the old list is not touched: whitelists are checked at accept.
    expect(await request(open)).toBe('ok');
    open.destroy();
    expect(await tryRequest(port, '127.0.0.2')).toBe('closed');
    expect(await tryRequest(port, '127.0.0.1')).toBe('ok');

    const [id] = aclIdsOf(await cli('show acl'), aclFile());
    expect(await aclEntries(cli, id ?? -1)).toEqual(['127.0.0.1']);
    expect(await readFile(aclFile(), 'utf8')).toBe('127.0.0.1\n');
    expect(JSON.parse(await readFile(syncFile(layout), 'utf8'))).toEqual({ frontendHttp: ['127.0.0.1'] });
    // nftables gets the same list in the same run (one transaction; applied in sync-nft.test.ts).
    expect(scripts).toEqual(['flush set inet ober frontend_http\nadd element inet ober frontend_http { 127.0.0.1 }\n']);
  });

  it('accepts networks, and a reload keeps the synced list (the ACL file was rewritten)', async () => {
    const cli = haproxySocket(layout.haproxySocket);
    await applySync(layout, planSync(node, layout, { frontendHttp: ['127.0.0.0/30'] }, {}), { haproxy: cli, nft: async () => {} });
    expect(await tryRequest(port, '127.0.0.2')).toBe('ok');
    await applySync(layout, planSync(node, layout, { frontendHttp: ['127.0.0.2'] }, {}), { haproxy: cli, nft: async () => {} });
    await directControl(layout).reload('http');
    await new Promise((r) => setTimeout(r, 500));
    expect(await tryRequest(port, '127.0.0.1')).toBe('closed');
    expect(await tryRequest(port, '127.0.0.2')).toBe('ok');
  });

  it('an entry HAProxy refuses fails before the commit: the old list stays in force', async () => {
    const cli = haproxySocket(layout.haproxySocket);
    const plan = planSync(node, layout, { frontendHttp: ['127.0.0.1', 'not-an-address'] }, {});
    await expect(applySync(layout, plan, { haproxy: cli, nft: async () => {} })).rejects.toThrow(/add acl/);
    expect(await tryRequest(port, '127.0.0.1')).toBe('closed');
    expect(await tryRequest(port, '127.0.0.2')).toBe('ok');
  });
});
