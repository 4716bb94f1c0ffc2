// First boot's backend routes (firstboot/ops/backend-quickack.ts): the path to every server of a
// backend whose connections HAProxy keeps gets `quickack 1`, made the way the kernel chose the path
// (on-link, via a gateway, or this host's own address), checked with the kernel's own answer
// (`ip route get` shows the metric); where networkd manages the interface, a drop-in for its
// .network file. Run with iproute2 in a network namespace; networkd is a stand-in runner (its
// effect on a booted node: test/image/boot.test.ts).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../builder/lab/netns.js';
import type { RunResult } from '../../firstboot/lib/exec.js';
import type { DerivedBackend } from '../../firstboot/model/derive.js';
import { applyBackendQuickAck, ipRouteArgv, NETWORKD_DROP_IN, networkdDropIn, parseRouteGet, reusedServerHosts, serverAddresses, type Runner } from '../../firstboot/ops/backend-quickack.js';

const backend = (name: string, hosts: string[], reuseConnections = true): DerivedBackend => ({
  name,
  servers: hosts.map((host, i) => ({ name: `s${i}`, host, port: 7480 })),
  healthCheck: { path: '/', method: 'HEAD', expectStatus: 200, intervalMs: 2000, fall: 3, rise: 2 } as DerivedBackend['healthCheck'],
  reuseConnections,
  tls: { enabled: false, verify: 'required' },
});

describe('planning', () => {
  it('routes the servers of backends with kept connections only, each address once', () => {
    const hosts = reusedServerHosts({ backends: [backend('a', ['10.1.0.1', '10.1.0.2']), backend('b', ['10.1.0.2', 'rgw.example']), backend('c', ['10.9.0.9'], false)] });
    expect(hosts).toEqual(['10.1.0.1', '10.1.0.2', 'rgw.example']);
  });

  it('resolves names now and says which did not resolve', async () => {
    const r = await serverAddresses(['10.1.0.1', 'rgw.example', 'gone.example'], async (h) => (h === 'rgw.example' ? ['10.1.0.7', '10.1.0.8'] : []));
    expect(r).toEqual({ addresses: ['10.1.0.1', '10.1.0.7', '10.1.0.8'], unresolved: ['gone.example'] });
  });

  it('reads what ip route get says, and refuses what is not a route', () => {
    expect(parseRouteGet('[{"dst":"10.1.0.1","gateway":"10.0.0.1","dev":"eth0","metrics":[{"quickack":1}]}]')).toMatchObject({ gateway: '10.0.0.1', dev: 'eth0' });
    expect(parseRouteGet('not json')).toBeUndefined();
    expect(parseRouteGet('[]')).toBeUndefined();
  });

  it('keeps the path the kernel chose: the gateway, the device, or the local route', () => {
    expect(ipRouteArgv({ address: '10.1.0.1', dev: 'eth0', gateway: '10.0.0.1', local: false })).toEqual(['ip', '-4', 'route', 'replace', '10.1.0.1/32', 'via', '10.0.0.1', 'dev', 'eth0', 'proto', 'static', 'quickack', '1']);
    expect(ipRouteArgv({ address: 'fd00::7', dev: 'eth1', local: false })).toEqual(['ip', '-6', 'route', 'replace', 'fd00::7/128', 'dev', 'eth1', 'proto', 'static', 'scope', 'link', 'quickack', '1']);
    expect(ipRouteArgv({ address: '10.1.0.9', dev: 'lo', local: true })).toContain('local');
  });

  it('writes networkd [Route] sections: a gateway where the kernel used one, on-link otherwise', () => {
    const text = networkdDropIn('h', [
      { address: '10.1.0.1', dev: 'eth0', gateway: '10.0.0.1', local: false },
      { address: '10.0.0.9', dev: 'eth0', local: false },
    ]);
    expect(text).toContain('[Route]\nDestination=10.1.0.1/32\nGateway=10.0.0.1\nQuickAck=yes');
    expect(text).toContain('[Route]\nDestination=10.0.0.9/32\nScope=link\nQuickAck=yes');
  });
});

describe('applied in a network namespace', () => {
  let lab: Lab;
  let ns: string;
  let runner: Runner;
  const exec = (argv: string[]) => lab.exec(ns, argv, { allowFailure: true });
  const quickAck = async (address: string) => parseRouteGet((await exec(['ip', '-j', 'route', 'get', address])).stdout)?.metrics?.some((m) => m.quickack === 1) ?? false;

  beforeAll(async () => {
    lab = new Lab();
    ns = await lab.addNs('qa');
    const peer = await lab.addNs('qb');
    await lab.veth(ns, 'eth0', peer, 'eth0');
    await exec(['ip', 'link', 'set', 'eth0', 'up']);
    await exec(['ip', 'addr', 'add', '10.40.0.5/24', 'dev', 'eth0']);
    await exec(['ip', 'route', 'add', 'default', 'via', '10.40.0.1']);
    await exec(['ip', 'addr', 'add', '10.40.9.9/32', 'dev', 'lo']);
    runner = exec;
  }, 30_000);
  afterAll(async () => {
    await lab?.teardown();
  });

  it('gives each server of a kept backend quickack, on-link, via the gateway and on this host, and no other address', async () => {
    const node = { backends: [backend('rgw', ['10.40.0.7', '10.77.0.7', '10.40.9.9']), backend('closed', ['10.40.0.8'], false)] };
    for (const a of ['10.40.0.7', '10.77.0.7', '10.40.9.9', '10.40.0.8']) expect(await quickAck(a)).toBe(false);
    const r = await applyBackendQuickAck(node, { runner });
    expect(r.results.map((x) => [x.address, x.ok, x.via, x.gateway ?? '-', x.local])).toEqual([
      ['10.40.0.7', true, 'ip', '-', false],
      ['10.77.0.7', true, 'ip', '10.40.0.1', false],
      ['10.40.9.9', true, 'ip', '-', true],
    ]);
    for (const a of ['10.40.0.7', '10.77.0.7', '10.40.9.9']) expect(await quickAck(a)).toBe(true);
    // the paths are the kernel's: same device and gateway as before
    const via = parseRouteGet((await exec(['ip', '-j', 'route', 'get', '10.77.0.7'])).stdout);
    expect([via?.dev, via?.gateway]).toEqual(['eth0', '10.40.0.1']);
    // the closed backend and the rest of the network keep delayed ACKs
    expect(await quickAck('10.40.0.8')).toBe(false);
    expect(await quickAck('10.77.0.8')).toBe(false);
  });

  it('is idempotent: a second boot finds the routes and leaves one per server', async () => {
    const node = { backends: [backend('rgw', ['10.40.0.7', '10.77.0.7'])] };
    await applyBackendQuickAck(node, { runner });
    const r = await applyBackendQuickAck(node, { runner });
    expect(r.results.every((x) => x.ok)).toBe(true);
    const routes = JSON.parse((await exec(['ip', '-j', 'route', 'show', 'proto', 'static'])).stdout) as { dst: string }[];
    expect(routes.map((x) => x.dst).sort()).toEqual(['10.40.0.7', '10.77.0.7']);
  });

  it('where networkd manages the interface: a drop-in for its .network file, reloaded; ip route when the reload did not bring the route', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ober-qa-'));
    try {
      const calls: string[][] = [];
      // networkd as a stand-in (none runs here): its state file for eth0 names the .network file,
      // and networkctl accepts the reload, which changes nothing, so the routes must come from the
      // fallback.
      const index = (JSON.parse((await exec(['ip', '-j', 'link', 'show', 'dev', 'eth0'])).stdout) as { ifindex: number }[])[0]?.ifindex;
      await mkdir(path.join(dir, 'netif', 'links'), { recursive: true });
      await writeFile(path.join(dir, 'netif', 'links', String(index)), 'ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/10-cloud-init-eth0.network\n');
      const withNetworkctl: Runner = async (argv) => {
        calls.push(argv);
        if (argv[0] === 'networkctl') return { exitCode: 0, stdout: '', stderr: '' } satisfies RunResult;
        return exec(argv);
      };
      await exec(['ip', 'route', 'flush', 'proto', 'static']);
      const r = await applyBackendQuickAck({ backends: [backend('rgw', ['10.40.0.7', '10.77.0.7'])] }, { runner: withNetworkctl, networkd: true, networkdDir: path.join(dir, 'network'), netifDir: path.join(dir, 'netif'), networkdWaitMs: 300, header: 'test' });
      const dropIn = await readFile(path.join(dir, 'network', '10-cloud-init-eth0.network.d', NETWORKD_DROP_IN), 'utf8');
      expect(dropIn).toContain('Destination=10.40.0.7/32\nScope=link\nQuickAck=yes');
      expect(dropIn).toContain('Destination=10.77.0.7/32\nGateway=10.40.0.1\nQuickAck=yes');
      expect(calls).toContainEqual(['networkctl', 'reload']);
      expect(r.results.map((x) => [x.ok, x.via])).toEqual([
        [true, 'ip'],
        [true, 'ip'],
      ]);
      // Run again (systemctl restart ober-routes): the same drop-in, the routes in place: networkd
      // is not reloaded (a reload reconfigures the link).
      calls.length = 0;
      const again = await applyBackendQuickAck({ backends: [backend('rgw', ['10.40.0.7', '10.77.0.7'])] }, { runner: withNetworkctl, networkd: true, networkdDir: path.join(dir, 'network'), netifDir: path.join(dir, 'netif'), networkdWaitMs: 300, header: 'test' });
      expect(again.results.map((x) => [x.ok, x.via])).toEqual([
        [true, 'networkd'],
        [true, 'networkd'],
      ]);
      expect(calls.filter((c) => c[0] === 'networkctl')).toEqual([]);
      // A route gone (someone flushed it): reloaded again, and the route is back.
      await exec(['ip', 'route', 'flush', 'proto', 'static']);
      calls.length = 0;
      const gone = await applyBackendQuickAck({ backends: [backend('rgw', ['10.40.0.7', '10.77.0.7'])] }, { runner: withNetworkctl, networkd: true, networkdDir: path.join(dir, 'network'), netifDir: path.join(dir, 'netif'), networkdWaitMs: 300, header: 'test' });
      expect(calls).toContainEqual(['networkctl', 'reload']);
      expect(gone.results.every((x) => x.ok)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
