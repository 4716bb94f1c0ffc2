// The VRRP notify script as keepalived runs it: inside the node's network namespace, with the VIP
// address on its interface or not. keepalived forks one script per transition and they can finish
// out of order; a state the address contradicts must not overwrite the newer one.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../firstboot/lib/exec.js';
import { vrrpState } from '../../firstboot/ops/vrrp.js';
import { vrrpInstanceName, type NotifyRole } from '../../firstboot/render/keepalived.js';
import { resetBy, startIdleServer } from '../helpers/idle-connections.js';
import { EXAMPLES, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize, type Materialized } from '../helpers/materialize.js';

const NS = `obertest-notify-${process.pid}`;
/** The clients' namespace, linked to the node's (NS) by a veth pair. */
const CLIENTS = `obertest-notifyc-${process.pid}`;
let m: Materialized;
let VIP = '';
let INSTANCE = '';
let cleanup: () => Promise<void> = async () => {};

async function notify(state: string, prio = 100, role: NotifyRole = 'owner'): Promise<void> {
  const r = await run(['ip', 'netns', 'exec', NS, m.layout.notifyScript, VIP, role, 'INSTANCE', INSTANCE, state, String(prio)], {
    allowFailure: true,
  });
  expect(r.exitCode, r.stderr).toBe(0);
}
const state = () => vrrpState(m.layout, m.node.vips[0]?.name ?? '');
const hold = (on: boolean) => run(['ip', '-n', NS, 'addr', on ? 'add' : 'del', `${VIP}/32`, 'dev', 'lo']);

beforeAll(async () => {
  const cluster = await loadExample(EXAMPLES[1] ?? '');
  const s = await scratchDir('vrrp-notify');
  cleanup = s.cleanup;
  m = await materialize(cluster, cluster.nodes[0]?.name ?? '', s.dir);
  VIP = m.node.vips[0]?.address ?? '';
  INSTANCE = vrrpInstanceName(m.node.vips[0]?.name ?? '');
  await run(['ip', 'netns', 'add', NS]);
  await run(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
  await run(['ip', 'netns', 'add', CLIENTS]);
  await run(['ip', 'link', 'add', 'vc0', 'netns', CLIENTS, 'type', 'veth', 'peer', 'name', 'vn0', 'netns', NS]);
  await run(['ip', '-n', NS, 'addr', 'add', '10.213.0.1/30', 'dev', 'vn0']);
  await run(['ip', '-n', CLIENTS, 'addr', 'add', '10.213.0.2/30', 'dev', 'vc0']);
  for (const [ns, dev] of [[NS, 'vn0'], [CLIENTS, 'vc0'], [CLIENTS, 'lo']] as const) await run(['ip', '-n', ns, 'link', 'set', dev, 'up']);
  await run(['ip', '-n', CLIENTS, 'route', 'add', `${VIP}/32`, 'via', '10.213.0.1']);
});
afterAll(async () => {
  await run(['ip', 'netns', 'del', CLIENTS], { allowFailure: true });
  await run(['ip', 'netns', 'del', NS], { allowFailure: true });
  await cleanup();
});

describe('VRRP notify script', () => {
  it('keepalived.conf passes the VIP address to the script of its instance', async () => {
    const conf = await readFile(m.layout.keepalivedConf, 'utf8');
    for (const v of m.node.vips) {
      const block = conf.slice(conf.indexOf(`vrrp_instance ${vrrpInstanceName(v.name)} {`));
      const role = v.vrrp?.owner === m.node.node.name ? 'owner' : 'backup';
      expect(block).toMatch(new RegExp(`^\\s*notify "${m.layout.notifyScript} ${v.address.replaceAll('.', '\\.')} ${role}"$`, 'm'));
    }
  });

  it('records a transition the address agrees with', async () => {
    await notify('BACKUP', 90);
    expect(await state()).toBe('BACKUP');
    await hold(true);
    await notify('MASTER');
    expect(await state()).toBe('MASTER');
    await hold(false);
    await notify('BACKUP', 90);
    expect(await state()).toBe('BACKUP');
  });

  it('a MASTER script that runs after the VIP left does not overwrite the newer BACKUP', async () => {
    // MASTER -> BACKUP within milliseconds: the BACKUP script wrote first, the MASTER one runs late.
    await notify('BACKUP', 90);
    await notify('MASTER');
    expect(await state()).toBe('BACKUP');
  });

  it('a BACKUP or FAULT script that runs after the VIP came back does not overwrite MASTER', async () => {
    await hold(true);
    await notify('MASTER');
    await notify('BACKUP', 90);
    await notify('FAULT', 0);
    expect(await state()).toBe('MASTER');
    await hold(false);
  });

  it('STOP is always recorded: it is the last transition of a keepalived that shuts down', async () => {
    await hold(true);
    await notify('MASTER');
    await notify('STOP', 0);
    expect(await state()).toBe('STOP');
    await hold(false);
  });

  it('ignores names and addresses that are not its own', async () => {
    await notify('BACKUP', 90);
    const r = await run(['ip', 'netns', 'exec', NS, m.layout.notifyScript, `${VIP};x`, 'owner', 'INSTANCE', INSTANCE, 'MASTER', '100']);
    expect(r.exitCode).toBe(0);
    expect(await state()).toBe('BACKUP');
    expect(path.basename(m.layout.notifyScript)).toBe('vrrp-notify');
  });

  it('the owner losing its VIP resets its clients\' S3 connections to it (not the stats port); a backup giving it back resets none', async () => {
    const ports = ['80', '443', '8404'];
    const targets = ports.map((p) => `${VIP}:${p}`);
    // Transparent, as HAProxy's binds in keepalived mode: the reset leaves after the VIP did.
    const server = await startIdleServer(NS, ports, { transparent: true });
    try {
      const loses = (role: NotifyRole) => async () => {
        await hold(false);
        await notify('BACKUP', 90, role);
      };
      await hold(true);
      await notify('MASTER', 90, 'backup');
      expect(await resetBy(CLIENTS, targets, loses('backup'))).toEqual([]);
      await hold(true);
      await notify('MASTER');
      expect(await resetBy(CLIENTS, targets, loses('owner'))).toEqual([`${VIP}:443`, `${VIP}:80`]);
      expect(await state()).toBe('BACKUP');
      // A planned stop (`ober stop` set the maintenance flag and drained) resets nothing.
      await mkdir(path.dirname(m.layout.maintenanceFlag), { recursive: true });
      await writeFile(m.layout.maintenanceFlag, 'ober stop\n');
      try {
        await hold(true);
        await notify('MASTER');
        expect(await resetBy(CLIENTS, targets, loses('owner'))).toEqual([]);
      } finally {
        await rm(m.layout.maintenanceFlag, { force: true });
      }
    } finally {
      await server.stop();
    }
  });
});
