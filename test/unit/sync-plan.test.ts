// ober sync without daemons: hostlist validation and DNS resolution, the plan per whitelist, the
// backend check, the sync file; ober logs' journalctl argv.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFile } from '../../firstboot/boot/firstboot.js';
import { journalctlArgv } from '../../firstboot/commands/logs.js';
import { ConfigError } from '../../firstboot/lib/errors.js';
import { deriveNode, type NodeConfig } from '../../firstboot/model/derive.js';
import { nodeLayout, type Layout } from '../../firstboot/model/layout.js';
import { planSync } from '../../firstboot/ops/sync.js';
import { backendsOutside, flagOf, readSynced, resolveWhitelists, writeSynced } from '../../firstboot/ops/whitelists.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';

const dns: Record<string, string[]> = { 'mon.example.com': ['10.20.5.30', '10.20.5.31'], 'rgw01.ceph-a.example.com': ['10.30.0.11'], 'rgw02.ceph-a.example.com': ['10.30.0.12'], 'rgw03.ceph-a.example.com': ['10.30.0.13'] };
const lookup = async (n: string) => {
  const ips = dns[n];
  if (!ips) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${n}`), { code: 'ENOTFOUND' });
  return ips;
};

let bgp: NodeConfig;
let ka: NodeConfig;
let layout: Layout;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  bgp = deriveNode(await loadExample(EXAMPLES[0] ?? ''), 'ober1');
  ka = deriveNode(await loadExample(EXAMPLES[1] ?? ''), 'ober1');
  const s = await scratchDir('sync-plan');
  cleanup = s.cleanup;
  layout = nodeLayout(s.dir);
});
afterAll(async () => cleanup?.());

describe('resolveWhitelists', () => {
  it('expands hostlists and resolves names', async () => {
    expect(await resolveWhitelists({ monitoring: 'mon.example.com, 10.20.5.[10-11]', admin: '10.20.9.0/24' }, lookup)).toEqual({
      monitoring: ['10.20.5.30', '10.20.5.31', '10.20.5.10', '10.20.5.11'],
      admin: ['10.20.9.0/24'],
    });
  });

  it('collects every problem, naming the flag and the name that does not resolve', async () => {
    const e = await resolveWhitelists({ monitoring: 'nowhere.example.com', admin: '10.0.0.1/8, 10.0.0.[1-', routers: '300.1.1.1' }, lookup).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    const issues = (e as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues).toEqual([
      expect.stringMatching(/^--routers: '300\.1\.1\.1' is not a valid IPv4 address/),
      expect.stringMatching(/^--monitoring: host name 'nowhere\.example\.com' does not resolve/),
      expect.stringMatching(/^--admin: unbalanced/),
    ]);
  });

  it('flag names follow the keys', () => {
    expect(flagOf('frontendHttp')).toBe('--frontend-http');
    expect(flagOf('backendHttp')).toBe('--backend-http');
  });
});

describe('planSync', () => {
  it('routers keep the BGP neighbours; frontend-http goes to the ACL and the nft set', () => {
    const p = planSync(bgp, layout, { routers: ['10.20.0.9'], frontendHttp: ['192.168.10.0/24'] }, {});
    expect(p.issues).toEqual([]);
    const routers = p.changes.find((c) => c.key === 'routers');
    expect(routers).toMatchObject({ to: ['10.20.0.1', '10.20.0.2', '10.20.0.9'], added: ['10.20.0.9'], removed: [], targets: [{ kind: 'nft-set', set: 'routers' }] });
    const fe = p.changes.find((c) => c.key === 'frontendHttp');
    expect(fe?.removed).toEqual(['10.0.0.0/8']);
    expect(fe?.targets).toEqual([
      { kind: 'haproxy-acl', file: path.join(layout.haproxyAclDir, 'frontend-http.acl') },
      { kind: 'nft-set', set: 'frontend_http' },
    ]);
    // The sync file keeps the operator's list, not the union.
    expect(p.persist.routers).toEqual(['10.20.0.9']);
  });

  it('keepalived mode: routers are only persisted', () => {
    const p = planSync(ka, layout, { routers: ['10.20.0.9'] }, {});
    expect(p.changes[0]).toMatchObject({ targets: [], note: expect.stringMatching(/keepalived mode/) });
  });

  it('a whitelist that was open (any) cannot be synced at run time', () => {
    const open: NodeConfig = { ...ka, whitelists: { ...ka.whitelists, admin: { any: true } } };
    expect(planSync(open, layout, { admin: ['10.1.1.1'] }, {}).issues).toEqual([expect.objectContaining({ path: '--admin', message: expect.stringMatching(/was not set/) })]);
  });
});

describe('backendsOutside', () => {
  it('checks IP and resolved name servers against the new list', async () => {
    expect(await backendsOutside(bgp, ['10.30.0.0/24'], lookup)).toEqual([]);
    const issues = await backendsOutside(bgp, ['10.30.0.0/28'], lookup);
    expect(issues.map((i) => i.message)).toEqual([
      'backend ceph-b server 10.30.0.21:7480 (10.30.0.21) would be outside the list',
      'backend ceph-b server 10.30.0.22:7480 (10.30.0.22) would be outside the list',
      'backend ceph-b server 10.30.0.23:7480 (10.30.0.23) would be outside the list',
    ]);
  });
});

describe('the sync file', () => {
  it('merges keys, writes atomically in a fixed key order, and refuses a corrupt file', async () => {
    await writeSynced(layout, { monitoring: ['10.1.1.1'] });
    await writeSynced(layout, { admin: ['10.2.0.0/16'], frontendHttp: ['10.0.0.0/8'] });
    const text = await readFile(syncFile(layout), 'utf8');
    expect(Object.keys(JSON.parse(text) as object)).toEqual(['frontendHttp', 'monitoring', 'admin']);
    expect(await readSynced(layout)).toEqual({ frontendHttp: ['10.0.0.0/8'], monitoring: ['10.1.1.1'], admin: ['10.2.0.0/16'] });
    await mkdir(path.dirname(syncFile(layout)), { recursive: true });
    await writeFile(syncFile(layout), '{"admin": "10.1.1.1"}');
    await expect(readSynced(layout)).rejects.toThrow(ConfigError);
  });
});

describe('ober logs', () => {
  it('maps the options onto journalctl argv', () => {
    expect(journalctlArgv({})).toEqual(['journalctl', '-u', 'ober-*', '--no-pager', '-o', 'short-iso']);
    expect(journalctlArgv({ service: 'bgp', lines: 50, follow: true, json: true })).toEqual(['journalctl', '-u', 'ober-bgp.service', '--no-pager', '-o', 'json', '-n', '50', '-f']);
  });
});
