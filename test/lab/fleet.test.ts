// `ober fleet status` against a lab of real nodes (keepalived mode: real HAProxy with the node
// status API, keepalived, the status publisher), run from the lab's client namespace — in the
// monitoring whitelist, routed to the nodes like an admin host. Healthy first; then VRRP (IP
// protocol 112) dropped between two nodes by nftables in their namespaces, a split brain flagged
// within seconds and cleared after; then a node taken off the network, flagged unreachable.
// `ober dashboard` runs beside it, watched by headless Chromium (Debian's, driven by
// playwright-core) in the same namespace: every node shown, the split brain in red without a
// reload, a screenshot kept in test/artifacts/.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { FleetView } from '../../builder/fleet/analyze.js';
import type { LabNode } from '../../builder/lab/topology.js';
import { REPO } from '../helpers/fixtures.js';
import { mergeBench } from '../helpers/bench-results.js';
import { labExample, useLab } from '../helpers/lab.js';

const suite = useLab('keepalived', { statusPublisher: true });
const ADMIN = path.join(REPO, 'dist', 'ober.mjs');
/** "Within a few seconds": publish interval (1 s) + one fleet round (≤ 2 s per node, in parallel) + VRRP's master-down time, with headroom for a loaded 2-core host. */
const FLAG_WITHIN_MS = 10_000;
/** How long the test keeps asking before it gives up (the assertion on FLAG_WITHIN_MS follows). */
const GIVE_UP_MS = 45_000;

async function fleet(): Promise<{ code: number; view: FleetView; ms: number }> {
  const started = Date.now();
  const r = await suite.lab.exec(suite.drill.t.ns.client, [process.execPath, ADMIN, '--json', 'fleet', 'status', '--cluster', labExample('keepalived')], { allowFailure: true, timeoutMs: 60_000 });
  let view: FleetView;
  try {
    view = JSON.parse(r.stdout) as FleetView;
  } catch {
    throw new Error(`ober fleet status printed no JSON (exit ${r.exitCode}): ${r.stderr.trim()}`);
  }
  return { code: r.exitCode, view, ms: Date.now() - started };
}

/**
 * Ask until `ok(view)`, for at most `giveUpMs`. `afterMs` is when the matching view was made
 * (its `at`) counted from `since`: on a loaded host the CLI's own start-up is not the detection.
 */
async function fleetUntil(what: string, ok: (v: FleetView) => boolean, giveUpMs: number, since = Date.now()): Promise<{ code: number; view: FleetView; ms: number; afterMs: number }> {
  let last: FleetView | undefined;
  while (Date.now() - since < giveUpMs) {
    const r = await fleet();
    last = r.view;
    if (ok(r.view)) return { ...r, afterMs: Date.parse(r.view.at) - since };
    await new Promise((res) => setTimeout(res, 250));
  }
  throw new Error(`${what}: not seen within ${giveUpMs} ms; last view: ${JSON.stringify({ flags: last?.flags, vips: last?.vips }, null, 1)}`);
}

/** nftables in a node's namespace: drop VRRP from the given peers (both directions are set by calling it on both). */
const dropVrrp = (n: LabNode, from: string) =>
  suite.lab.exec(n.ns, ['nft', '-f', '-'], { input: `table inet fleettest {\n  chain in {\n    type filter hook input priority -10; policy accept;\n    ip saddr ${from} ip protocol vrrp drop\n  }\n}\n` });
const allowVrrp = (n: LabNode) => suite.lab.exec(n.ns, ['nft', 'delete', 'table', 'inet', 'fleettest']);

/** `ober doctor --json` inside a node: check id → status (the VM-only checks, watchdog and clock, fail in a namespace). */
async function doctor(n: LabNode): Promise<Record<string, string>> {
  const r = await suite.lab.exec(n.ns, [n.layout.oberBin, '--json', 'doctor'], { allowFailure: true });
  const doc = JSON.parse(r.stdout) as { checks: { id: string; status: string }[] };
  return Object.fromEntries(doc.checks.map((c) => [c.id, c.status]));
}
const VRRP_CHECKS = ['interface', 'vrrp-firewall', 'vrrp-traffic', 'vrrp-priorities', 'health-result'];

// ---- the dashboard and the browser, in the client namespace (the dashboard's loopback is there)
const DASHBOARD = 'http://127.0.0.1:8405/';
const ARTIFACTS = path.join(REPO, 'test', 'artifacts');
let browser: BrowserContext | undefined;
let page: Page | undefined;
let profile: string | undefined;
/** Requests the page made to anything but the dashboard: must stay empty (no external assets). */
const foreign: string[] = [];

async function openDashboard(): Promise<Page> {
  const ns = suite.drill.t.ns.client;
  suite.lab.spawn(ns, 'dashboard', [process.execPath, ADMIN, 'dashboard', '--cluster', labExample('keepalived'), '--listen', '127.0.0.1:8405']);
  for (let i = 0; ; i++) {
    const r = await suite.lab.exec(ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `${DASHBOARD}api/fleet`], { allowFailure: true });
    if (r.stdout === '200') break;
    if (i > 100) throw new Error('ober dashboard did not answer');
    await new Promise((res) => setTimeout(res, 200));
  }
  // Chromium inside the namespace: Playwright talks to it over a pipe, which `ip netns exec` keeps.
  const wrapper = path.join(suite.lab.dir, 'chromium-in-client');
  await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
  profile = await mkdtemp(path.join(suite.lab.dir, 'chromium-profile-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: wrapper,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const p = browser.pages()[0] ?? (await browser.newPage());
  p.on('request', (r) => {
    if (!r.url().startsWith(DASHBOARD)) foreign.push(r.url());
  });
  await p.goto(DASHBOARD);
  // Set once; still there later means the page was never reloaded.
  await p.evaluate(() => ((window as unknown as { oberMark: number }).oberMark = 42));
  return p;
}

const stillSamePage = async (p: Page) => expect(await p.evaluate(() => (window as unknown as { oberMark?: number }).oberMark)).toBe(42);

/** What the view took to see each fault (its own `at` from the fault), for test/bench/results/fleet.json. */
const seen: { splitBrainFlaggedMs?: number; splitBrainClearedMs?: number; unreachableFlaggedMs?: number } = {};

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  if (profile) await rm(profile, { recursive: true, force: true });
  if (seen.splitBrainFlaggedMs !== undefined && seen.unreachableFlaggedMs !== undefined) {
    await mergeBench(path.join(REPO, 'test/bench/results/fleet.json'), { keepalived: { at: new Date().toISOString(), daemons: suite.drill.t.daemonsDescription, ...seen } });
  }
});

describe('ober fleet status on a keepalived lab', () => {
  it('healthy: every node answers, every VIP on exactly one node, nothing flagged, exit 0', async () => {
    const { code, view } = await fleetUntil('a healthy fleet', (v) => v.ok, 90_000);
    expect(code).toBe(0);
    expect(view.nodes.map((n) => [n.node, n.reachable, n.healthy, n.haproxy, n.firstboot])).toEqual(suite.drill.t.nodes.map((n) => [n.name, true, true, 'up', 'rendered']));
    for (const n of view.nodes) expect(n.backendsUp).toBe(n.backendsTotal);
    for (const v of view.vips) {
      expect(v.holders, v.name).toHaveLength(1);
      expect(v.masters).toEqual(v.holders);
    }
    // The first boot of every node is in the event timeline, and each VIP's VRRP transitions.
    expect(new Set(view.events.filter((e) => e.kind === 'firstboot').map((e) => e.node))).toEqual(new Set(suite.drill.t.nodes.map((n) => n.name)));
    expect(view.events.some((e) => e.kind === 'vrrp' && e.state === 'MASTER')).toBe(true);
    // ober doctor on a node: the VRRP troubleshooting checks pass on a healthy node.
    const first = suite.drill.t.nodes[0];
    if (first) expect(Object.fromEntries(Object.entries(await doctor(first)).filter(([k]) => VRRP_CHECKS.includes(k)))).toEqual(Object.fromEntries(VRRP_CHECKS.map((k) => [k, 'ok'])));
  });

  it('ober dashboard in headless Chromium: every node shown, nothing red, no external asset', async () => {
    page = await openDashboard();
    // One evaluation: VRRP on a loaded host may churn between two separate looks.
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'OK' && !document.body.classList.contains('split-brain'), undefined, { timeout: 60_000 });
    const rows = await page.$$eval('#nodes tbody tr', (trs) => trs.map((t) => (t as HTMLElement).dataset.node));
    expect(rows).toEqual(suite.drill.t.nodes.map((n) => n.name));
    expect(await page.$$eval('#events li', (x) => x.length)).toBeGreaterThan(0);
    expect(foreign).toEqual([]);
  });

  it('VRRP dropped between two nodes: split brain flagged within seconds, exit 1; cleared once VRRP flows again', async () => {
    const [a, b] = suite.drill.t.nodes;
    if (!a || !b) throw new Error('the lab needs two nodes');
    const theirs = new Set(suite.drill.t.nodes.filter((n) => n === a || n === b).flatMap((n) => n.config.vips.filter((v) => v.vrrp?.owner === n.name).map((v) => v.name)));
    const droppedAt = new Date().toISOString();
    const dropped = Date.now();
    await dropVrrp(a, b.address);
    await dropVrrp(b, a.address);
    let cleared = false;
    try {
      const split = await fleetUntil('split brain', (v) => v.splitBrain, GIVE_UP_MS, dropped);
      console.log(`fleet: split brain flagged ${split.afterMs} ms after VRRP was dropped between ${a.name} and ${b.name}`);
      seen.splitBrainFlaggedMs = split.afterMs;
      expect(split.afterMs).toBeLessThan(FLAG_WITHIN_MS);
      expect(split.code).toBe(1);
      const kinds = new Set(split.view.flags.map((f) => f.kind));
      expect(kinds.has('vip-on-two') || kinds.has('two-masters')).toBe(true);
      // Only VIPs that a or b owns can split (the third node still hears both), and the two are the ones named.
      for (const f of split.view.flags.filter((x) => x.splitBrain)) {
        expect(theirs.has(f.vip ?? ''), f.message).toBe(true);
        expect(new Set(f.nodes)).toEqual(new Set([a.name, b.name]));
      }
      // The dashboard turns red by itself (no reload): banner, the split VIPs' rows, the flags.
      if (page) {
        await page.waitForFunction(() => document.body.classList.contains('split-brain'), undefined, { timeout: GIVE_UP_MS });
        await stillSamePage(page);
        expect(await page.textContent('#state')).toBe('SPLIT BRAIN');
        const red = await page.$eval('#state', (e) => getComputedStyle(e).backgroundColor);
        expect(red).toBe('rgb(198, 40, 40)');
        expect(await page.$$eval('#vips tbody tr.split', (x) => x.length)).toBeGreaterThan(0);
        expect(await page.$$eval('#flags li.split-brain', (x) => x.length)).toBeGreaterThan(0);
        await mkdir(ARTIFACTS, { recursive: true });
        const shot = path.join(ARTIFACTS, 'dashboard-split-brain.png');
        await page.screenshot({ path: shot, fullPage: true });
        console.log(`fleet: dashboard screenshot of the split brain: ${shot}`);
      }
      const allowed = Date.now();
      await allowVrrp(a);
      await allowVrrp(b);
      cleared = true;
      const ok = await fleetUntil('split brain cleared', (v) => v.ok, GIVE_UP_MS, allowed);
      console.log(`fleet: cleared ${ok.afterMs} ms after VRRP flowed again`);
      seen.splitBrainClearedMs = ok.afterMs;
      expect(ok.afterMs).toBeLessThan(FLAG_WITHIN_MS);
      expect(ok.code).toBe(0);
      if (page) {
        await page.waitForFunction(() => document.getElementById('state')?.textContent === 'OK', undefined, { timeout: GIVE_UP_MS });
        await stillSamePage(page);
      }
      // The timeline shows the intruder's MASTER and its return to BACKUP.
      expect(ok.view.events.some((e) => e.kind === 'vrrp' && e.state === 'BACKUP' && (e.node === a.name || e.node === b.name) && e.at > droppedAt)).toBe(true);
    } finally {
      if (!cleared) {
        await allowVrrp(a).catch(() => undefined);
        await allowVrrp(b).catch(() => undefined);
      }
    }
  });

  it('a node taken off the network is flagged unreachable, exit 1; its VIPs are held by the others', async () => {
    const gone = suite.drill.t.nodes.at(-1);
    if (!gone) throw new Error('no node');
    const down = Date.now();
    await suite.lab.exec(gone.ns, ['ip', 'link', 'set', gone.lanIf, 'down']);
    const r = await fleetUntil(`${gone.name} unreachable`, (v) => v.flags.some((f) => f.kind === 'unreachable' && f.nodes.includes(gone.name)), GIVE_UP_MS, down);
    seen.unreachableFlaggedMs = r.afterMs;
    expect(r.code).toBe(1);
    expect(r.view.nodes.find((n) => n.node === gone.name)?.reachable).toBe(false);
    // A bounded round: one unreachable node costs its 2 s timeout (plus the CLI's start on a loaded host), not retries.
    expect(r.ms).toBeLessThan(20_000);
    // Once VRRP moved them, every VIP is on exactly one of the remaining nodes.
    const moved = await fleetUntil('VIPs moved', (v) => v.vips.every((x) => x.holders.length === 1 && !x.holders.includes(gone.name)), GIVE_UP_MS);
    expect(moved.view.flags.map((f) => f.kind)).toEqual(['unreachable']);
    // On the node itself, ober doctor says why: no carrier, and no VRRP advert arrives.
    const d = await doctor(gone);
    expect([d.interface, d['vrrp-traffic']]).toEqual(['fail', 'fail']);
    if (page) {
      await page.waitForSelector(`#nodes tr[data-node="${gone.name}"].unreachable`, { timeout: GIVE_UP_MS });
      await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-unreachable.png'), fullPage: true });
      expect(foreign).toEqual([]);
    }
  });
});
