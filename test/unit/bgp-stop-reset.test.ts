// The two resets of the clients' S3 connections, as the image renders them, run for real in a
// namespace this test creates: ober-bgp.service's ExecStopPost (every VIP: once ExaBGP is gone the
// router sends the node's clients elsewhere) and ober-reset@<vip>.service (one VIP, which the
// health process withdrew). A reset connection is dropped by its client, not used for a request
// that would fail; connections on other ports, or to other VIPs, are left alone.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { run } from '../../firstboot/lib/exec.js';
import { renderImageFiles } from '../../firstboot/render/index.js';
import { inNs, resetBy, startIdleServer } from '../helpers/idle-connections.js';

const ns = `ober-bgpreset-${randomBytes(3).toString('hex')}`;
const PORTS = ['80', '443', '8404'];
/** Two VIPs on the namespace's loopback (127/8 is local): the node's own and another. */
const [VIP, OTHER] = ['127.0.0.10', '127.0.0.11'];
const TARGETS = [VIP, OTHER].flatMap((a) => PORTS.map((p) => `${a}:${p}`));

let server: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  await run(['ip', 'netns', 'add', ns]);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
});

afterAll(async () => {
  await server?.stop();
  await run(['ip', 'netns', 'delete', ns], { allowFailure: true });
});

/** A rendered unit's `<key>=` line as an argv (prefixes off, quotes honoured, %I as `instance`). */
function commandLine(unitFile: string, key: string, instance = ''): string[] {
  const unit = renderImageFiles().find((f) => f.path.endsWith(`/${unitFile}`));
  const line = unit?.content.split('\n').find((l) => l.startsWith(`${key}=`));
  expect(line, `${unitFile} ${key}`).toBeDefined();
  const command = (line ?? '').slice(key.length + 1).replace(/^[-+@:!]+/, '').replaceAll('%I', instance);
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

it('the resets of the S3 connections, as rendered: all VIPs at ExaBGP\'s stop, one VIP at its withdrawal; never the stats port', async () => {
  server = await startIdleServer(ns, PORTS);

  const stopPost = commandLine('ober-bgp.service', 'ExecStopPost');
  expect(stopPost[0]).toBe('/usr/bin/ss');
  expect(await resetBy(ns, TARGETS, () => inNs(ns, stopPost))).toEqual([`${VIP}:443`, `${VIP}:80`, `${OTHER}:443`, `${OTHER}:80`]);

  const oneVip = commandLine('ober-reset@.service', 'ExecStart', VIP);
  expect(oneVip[0]).toBe('/usr/bin/ss');
  expect(await resetBy(ns, TARGETS, () => inNs(ns, oneVip))).toEqual([`${VIP}:443`, `${VIP}:80`]);
});
