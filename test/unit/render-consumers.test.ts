// Every file rendered for every node of both example clusters is accepted by the program that
// will read it on the node: haproxy, keepalived, exabgp, bird, systemd, nft, sysctl. The programs
// are the IMAGE's (chroot into the newest built image tree, builder/image/image-root.ts) when one
// exists and this runs as root; otherwise the host's, and the output says so.
import { parseEnvFile } from '../../firstboot/lib/env-file.js';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, type RunOptions, type RunResult } from '../../firstboot/lib/exec.js';
import { daemonVersions, formatVersions, resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import type { Cluster } from '../../firstboot/model/schema.js';
import { TEMPLATE_UNITS, UNIT_NAMES, resetUnitInstance } from '../../firstboot/render/image-files.js';
import { renderNode } from '../../firstboot/render/index.js';
import { DEBIAN_13, parseHaproxyVersion, withHaproxyVersion } from '../../firstboot/render/target.js';
import { unitSandbox } from '../../firstboot/render/sandbox.js';
import { EXAMPLES, EXTRA_CLUSTERS, loadExample, scratchDir } from '../helpers/fixtures.js';
import { materialize, type Materialized } from '../helpers/materialize.js';

const cases: { example: string; cluster: Cluster; node: string; m: Materialized; root: string }[] = [];
const cleanups: (() => Promise<void>)[] = [];
let daemons: DaemonRoot;
/** The instance a template unit is checked as: an address from TEST-NET-1, as a VIP's. */
const TEMPLATE_INSTANCE = '192.0.2.10';
/** A program of the daemon root, seeing the scratch root of the node (same path). */
const check = (c: { root: string }, argv: string[], opts: RunOptions = {}): Promise<RunResult> =>
  run(daemons.wrap(argv, [c.root]), { allowFailure: true, ...opts });

beforeAll(async () => {
  daemons = await resolveDaemons();
  const versions = formatVersions(await daemonVersions(daemons));
  if (daemons.kind === 'image') console.log(`render-consumers: the IMAGE's programs, ${daemons.label}: ${versions}`);
  else console.warn(`render-consumers: NO IMAGE TREE — checking with the HOST's programs (${daemons.note}): ${versions}`);
  for (const file of [...EXAMPLES, ...EXTRA_CLUSTERS]) {
    const cluster = await loadExample(file);
    for (const n of cluster.nodes) {
      const { dir, cleanup } = await scratchDir(`consumers-${n.name}`);
      cleanups.push(cleanup);
      cases.push({ example: path.basename(file), cluster, node: n.name, m: await materialize(cluster, n.name, dir), root: dir });
    }
  }
}, 120_000); // materializing seven nodes and asking each program its version, on a loaded host
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

const each = (mode: 'bgp' | 'keepalived' | 'any') => () => cases.filter((c) => mode === 'any' || c.cluster.mode === mode);

describe('rendered files are accepted by their real consumers', () => {
  it('haproxy -c accepts haproxy.cfg of every node', async () => {
    expect(cases.length).toBe(7);
    for (const c of each('any')()) {
      const r = await check(c, ['haproxy', '-c', '-f', c.m.layout.haproxyCfg]);
      expect(r.exitCode, `${c.example} ${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
      // A TLS frontend and the health endpoints are really there.
      const cfg = await readFile(c.m.layout.haproxyCfg, 'utf8');
      // TLS on :443 exactly when the cluster has a certificate.
      if (c.cluster.certificates.length) expect(cfg).toMatch(/bind \S+:443( transparent)? ssl crt /);
      else expect(cfg).not.toMatch(/:443/);
      // Keepalived: a node that handed its VIP over still answers what it accepted (IP_TRANSPARENT).
      const vipBinds = cfg.split('\n').filter((l) => /^\s*bind \d+\.\d+\.\d+\.\d+:(80|443)\b/.test(l));
      expect(vipBinds.length).toBeGreaterThan(0);
      for (const l of vipBinds) expect(/ transparent\b/.test(l), l).toBe(c.cluster.mode === 'keepalived');
      expect(cfg).not.toMatch(/^\s*option http-buffer-request/m);
      expect(cfg).toMatch(/^\s*balance leastconn$/m);
      // HTTP/1.1 checks carry a Host header; without one configured the check is HTTP/1.0.
      for (const line of cfg.split('\n').filter((l) => l.includes('http-check send'))) {
        expect(line).toMatch(/ver HTTP\/1\.1 hdr Host \S+$|ver HTTP\/1\.0$/);
      }
    }
  });

  // Rendering follows the HAProxy version of the target image (ober render --manifest/--haproxy-version,
  // the node's own `haproxy -v`). The Debian 12 image ships the host's HAProxy (bookworm: 2.6): what
  // is rendered for that version must pass that binary, as the image's 3.0 passes the 3.0 rendering.
  it("haproxy.cfg rendered for the host's HAProxy version (bookworm's 2.6, the Debian 12 image's) passes the host's haproxy -c", async () => {
    const v = parseHaproxyVersion((await run(['haproxy', '-v'])).stdout);
    expect(v, 'haproxy -v of the host').toBeDefined();
    const target = withHaproxyVersion(DEBIAN_13, v ?? [0, 0]);
    console.log(`render-consumers: the host's HAProxy ${target.haproxyVersion.join('.')} checks haproxy.cfg rendered for ${target.haproxyVersion.join('.')}`);
    for (const c of each('any')()) {
      const cfg = renderNode(c.m.node, { layout: c.m.layout, target }).find((f) => f.path === c.m.layout.haproxyCfg);
      expect(cfg).toBeDefined();
      const file = path.join(c.root, 'haproxy-host-version.cfg');
      await writeFile(file, cfg?.content ?? '');
      const r = await run(['haproxy', '-c', '-f', file], { allowFailure: true });
      expect(r.exitCode, `${c.example} ${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('keepalived --config-test accepts keepalived.conf (keepalived mode)', async () => {
    const ka = each('keepalived')();
    expect(ka.length).toBe(4);
    for (const c of ka) {
      const r = await check(c, ['keepalived', '--config-test', '--use-file', c.m.layout.keepalivedConf]);
      expect(r.exitCode, `${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
      // keepalived prints config errors but may still exit 0 for some of them: fail on any.
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/(unknown keyword|invalid|error|WARNING)/i);
    }
  });

  it('exabgp --test accepts exabgp.conf with the rendered environment (BGP mode)', async () => {
    const bgp = each('bgp')();
    expect(bgp.length).toBe(3);
    for (const c of bgp) {
      const env = parseEnvFile(await readFile(c.m.layout.exabgpEnv, 'utf8'));
      const r = await check(c, ['exabgp', '--test', c.m.layout.exabgpConf], { env: { ...process.env, ...env } });
      expect(r.exitCode, `${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/error|problem/i);
    }
  });

  it('bird -p accepts the BFD responder config (BGP mode)', async () => {
    for (const c of each('bgp')()) {
      const r = await check(c, ['bird', '-p', '-c', c.m.layout.birdConf]);
      expect(r.exitCode, `${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('systemd-analyze verify accepts the units and the mode drop-in', async () => {
    for (const c of each('any')()) {
      // A template is verified as an instance of it (the file itself is not a loadable unit).
      const units = c.m.imageFiles.filter((f) => /\.(service|path)$/.test(f.path)).map((f) => f.path.replace(/@\.service$/, `@${TEMPLATE_INSTANCE}.service`));
      // 10 services (firstboot, routes, http, bgp, bfd, ha, track, certs, watchdog, status), the
      // certificate path unit and the connection reset template (ober-reset@)
      expect(units.length).toBe(12);
      expect(units).toContain(`${c.m.layout.unitDir}/${resetUnitInstance(TEMPLATE_INSTANCE)}`);
      const r = await check(c, ['systemd-analyze', 'verify', '--man=no', ...units], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${c.m.layout.runtimeUnitDir}:${c.m.layout.unitDir}:` },
      });
      const out = `${r.stdout}${r.stderr}`;
      expect(r.exitCode, `${c.node}: ${out}`).toBe(0);
      expect(out, c.node).not.toMatch(/ober/);
      const dropIn = await readFile(`${c.m.layout.runtimeUnitDir}/ober-http.service.d/50-mode.conf`, 'utf8');
      expect(dropIn).toMatch(c.cluster.mode === 'bgp' ? /^Upholds=ober-bgp\.service ober-status\.service$/m : /^Upholds=ober-ha\.service ober-track\.service ober-status\.service$/m);
      // systemd must not kill a soft-stopping HAProxy before hard-stop-after (drainTimeoutSec, default 300 s).
      expect(dropIn).toMatch(/^TimeoutStopSec=330s$/m);
    }
  });

  it('systemd-analyze security: every unit sandboxed to its bound (firstboot/render/sandbox.ts)', async () => {
    const c = each('any')()[0];
    if (!c) throw new Error('no case');
    const rows: string[] = [];
    for (const unit of [...UNIT_NAMES, ...TEMPLATE_UNITS]) {
      const file = `${c.m.layout.unitDir}/${unit}${unit.endsWith('@') ? TEMPLATE_INSTANCE : ''}.service`;
      const r = await check(c, ['systemd-analyze', 'security', '--offline=true', '--no-pager', file]);
      const m = /Overall exposure level for \S+: (\d+\.\d) (\S+)/.exec(r.stdout);
      expect(m, `${unit}: ${r.stdout}${r.stderr}`).not.toBeNull();
      const exposure = Number(m?.[1]);
      const bound = unitSandbox(unit, c.m.layout);
      rows.push(`${unit} ${exposure} ${m?.[2]} (bound ${bound.maxExposure})`);
      expect(exposure, `${unit}: ${r.stdout}`).toBeLessThanOrEqual(bound.maxExposure);
      // Above MEDIUM only with a written reason.
      if (bound.maxExposure > 5) expect(bound.why, unit).toBeTruthy();
    }
    console.log(`systemd-analyze security (${daemons.kind}): ${rows.join('; ')}`);
  });

  it('nft -c accepts the nftables rules', async () => {
    for (const c of each('any')()) {
      const r = await check(c, ['nft', '-c', '-f', c.m.layout.nftablesRules]);
      expect(r.exitCode, `${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
      const rules = await readFile(c.m.layout.nftablesRules, 'utf8');
      // No placeholder source: 0.0.0.0 is an address a LAN host can send from.
      expect(rules).not.toMatch(/(?<![\d.])0\.0\.0\.0(?![\d/])/);
      // A one-node cluster hears VRRP from nobody; others only from their peers.
      if (c.cluster.mode === 'keepalived' && c.cluster.nodes.length === 1) expect(rules).not.toMatch(/vrrp/);
      if (c.cluster.mode === 'keepalived' && c.cluster.nodes.length > 1) expect(rules).toMatch(/ip saddr @vrrp_peers ip protocol vrrp accept/);
      // ober doctor's VRRP counter comes before conntrack's accept, or established adverts never reach it.
      if (c.cluster.mode === 'keepalived' && c.cluster.nodes.length > 1) expect(rules.indexOf('ip protocol vrrp counter')).toBeLessThan(rules.indexOf('ct state established'));
    }
  });

  it('sysctl --dry-run -p parses the sysctl file and knows every key', async () => {
    for (const c of each('any')()) {
      const r = await check(c, ['sysctl', '--dry-run', '-p', c.m.layout.sysctlFile]);
      expect(r.exitCode, `${c.node}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/net\.ipv4\.tcp_congestion_control = bbr/);
    }
  });

  it('the VRRP notify script is valid sh and the watchdog drop-in carries the seed values', async () => {
    const c = cases[0];
    if (!c) throw new Error('no cases');
    const r = await check(c, ['sh', '-n', c.m.layout.notifyScript]);
    expect(r.exitCode, r.stderr).toBe(0);
    const wd = c.m.imageFiles.find((f) => f.path.endsWith('50-herr-ober-watchdog.conf'));
    // The runtime bound (20 s) applies once the node booted; the boot runs under the looser bound.
    expect(wd?.content).toMatch(/^RuntimeWatchdogSec=60s$/m);
    expect(wd?.content).toMatch(/^ShutdownWatchdogSec=2min$/m);
    const tighten = c.m.imageFiles.find((f) => f.path.endsWith('/ober-watchdog.service'));
    expect(tighten?.content).toMatch(/^ExecStart=\/usr\/bin\/busctl set-property org\.freedesktop\.systemd1 \/org\/freedesktop\/systemd1 org\.freedesktop\.systemd1\.Manager RuntimeWatchdogUSec t 20000000$/m);
    expect(tighten?.content).toMatch(/^After=multi-user\.target/m);
  });
});
