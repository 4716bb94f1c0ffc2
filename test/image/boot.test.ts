// Builds the image (through the stage cache) and boots it under QEMU TCG with a NoCloud seed for a
// one-node keepalived cluster, then checks the node from outside: SSH, hardening, and that first
// boot turned the seed's `ober` data into a serving node (HAProxy /health through a forward,
// `ober status --json` healthy). The backend is a tiny HTTP server on the host's loopback, which
// the guest reaches as 10.0.2.2 through QEMU's user network.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, stat } from 'node:fs/promises';
import { run } from '../../firstboot/lib/exec.js';
import { UNIT_NAMES, WATCHDOG } from '../../firstboot/render/image-files.js';
import { unitSandbox } from '../../firstboot/render/sandbox.js';
import { nodeLayout } from '../../firstboot/model/layout.js';
import { NETWORKD_DROP_IN } from '../../firstboot/ops/backend-quickack.js';
import { loadImageDefinition } from '../../builder/image/definition.js';
import type { BuildReport } from '../../builder/image/build.js';
import { mergeBench } from '../helpers/bench-results.js';
import { benchFile, bootSeededNode, DEFINITION, type BootedNode } from './booted-node.js';
import { healthOk, SEED_USER } from './seed.js';
import { readBanner, ssh, sshArgv, waitFor, type Vm } from './vm.js';

const BENCH = benchFile('image');

let node: BootedNode | undefined;
let vm: Vm;
let key: string;
let sshPort: number;
let build: BuildReport;
let bootToHealthySeconds: number | undefined;
let healthPort: number;
/** This boot's id: a reset (the watchdog) shows as another one. */
let bootId: string;
let bootAnalysis: { summary: string; criticalChain: string[]; blame: string[]; firstboot: string[] } | undefined;
const user = SEED_USER;

beforeAll(async () => {
  node = await bootSeededNode({ scratchPrefix: 'ober-image-test-' });
  ({ vm, key, sshPort, healthPort, build, bootToHealthySeconds } = node);
  bootId = (await ssh(sshPort, key, user, 'cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  // Where the boot's time went, for the bench file (the guest's own clock, from kernel start).
  const analyze = async (args: string) => (await ssh(sshPort, key, user, `systemd-analyze ${args} --no-pager`, true)).stdout.trim().split('\n');
  bootAnalysis = {
    summary: (await analyze('time'))[0] ?? '',
    criticalChain: (await analyze('critical-chain ober-http.service')).filter((l) => /[@+]/.test(l)).map((l) => l.replace(/^[\s└─├│]+/, '')),
    blame: (await analyze('blame')).slice(0, 12).map((l) => l.trim()),
    firstboot: (await ssh(sshPort, key, user, 'sudo journalctl -b -o short-monotonic --no-pager -u ober-firstboot', true)).stdout.trim().split('\n').slice(-12),
  };
}, 60 * 60_000);

afterAll(async () => {
  await node?.dispose();
  if (node) await recordBench(node.bootToSshSeconds);
});

const sh = async (cmd: string): Promise<string> => (await ssh(sshPort, key, user, cmd)).stdout.trim();

describe('image boot (no first-boot program needed)', () => {
  it('answers SSH with a banner', async () => {
    expect(await readBanner(sshPort)).toMatch(/^SSH-2\.0-OpenSSH_/);
  });

  it('logs in with the test key', async () => {
    expect(await sh('id -un')).toBe(user);
  });

  it('refuses password authentication', async () => {
    const r = await run([...sshArgv(sshPort, key, user, ['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive']), 'true'], { allowFailure: true });
    expect(r.exitCode).toBe(255);
    expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it('mounts / read-only, /var from its own partition and /etc as an overlay on it', async () => {
    expect((await sh('findmnt -no OPTIONS /')).split(',')[0]).toBe('ro');
    expect(await sh('findmnt -no FSTYPE,OPTIONS /var')).toMatch(/^ext4\s+rw,/);
    expect(await sh('findmnt -no FSTYPE,OPTIONS /etc')).toMatch(/^overlay\s+rw,.*upperdir=(\/root)?\/var\/lib\/ober\/etc\/upper/);
    expect((await ssh(sshPort, key, user, 'sudo touch /usr/ober-write-test', true)).stderr).toMatch(/Read-only file system/);
  });

  it('grew /var to the end of the (enlarged) disk', async () => {
    const bytes = Number(await sh('findmnt -bno SIZE /var'));
    expect(bytes).toBeGreaterThan(2 * 1024 ** 3); // the 2 GiB image booted on a 4 GiB disk
  });

  it('carries IMAGE_ID and IMAGE_VERSION in /etc/os-release', async () => {
    const def = await loadImageDefinition(DEFINITION);
    const osRelease = await sh('cat /etc/os-release');
    expect(osRelease).toContain(`IMAGE_VERSION=${def.version}`);
    expect(osRelease).toContain(`IMAGE_ID=${def.id}`);
  });

  it('has no failed units', async () => {
    const failed = (await sh('systemctl --failed --no-legend --plain')).split('\n').filter(Boolean).map((l) => l.split(' ')[0]!);
    expect(failed).toEqual([]);
  });

  it('listens beyond loopback only where it serves: sshd on 22 and HAProxy (no LLMNR, no stray daemon)', async () => {
    // ss -H -l -n -p -t -u: netid state recv send local peer process
    const sockets = (await sh('sudo ss -Hlnptu')).split('\n').filter(Boolean).map((l) => {
      const f = l.trim().split(/\s+/);
      const local = f[4] ?? '';
      const port = local.slice(local.lastIndexOf(':') + 1);
      const host = local.slice(0, local.lastIndexOf(':')).replace(/%.*$/, '').replace(/^\[|\]$/g, '');
      return { netid: f[0], host, port, process: /users:\(\("([^"]+)"/.exec(l)?.[1] ?? '?' };
    });
    const loopback = (h: string) => h.startsWith('127.') || h === '::1';
    const exposed = sockets.filter((x) => !loopback(x.host)).map((x) => `${x.netid} ${x.host}:${x.port} ${x.process}`);
    const unexpected = sockets.filter((x) => !loopback(x.host) && !(x.process === 'sshd' && x.port === '22') && x.process !== 'haproxy');
    expect(unexpected.map((x) => `${x.netid} ${x.host}:${x.port} ${x.process}`), `exposed: ${exposed.join(', ')}`).toEqual([]);
    expect(exposed.some((x) => x.endsWith(':22 sshd'))).toBe(true);
  });

  it('applies the hardening sysctls and the node sysctls first boot rendered', async () => {
    expect(await sh('cat /proc/sys/kernel/panic /proc/sys/kernel/dmesg_restrict /proc/sys/kernel/kptr_restrict')).toBe('10\n1\n2');
    expect(await sh('cat /proc/sys/net/ipv4/tcp_congestion_control /proc/sys/net/ipv4/ip_nonlocal_bind /proc/sys/net/core/somaxconn')).toBe('bbr\n1\n65535');
  });

  it('runs systemd with the runtime watchdog of renderImageFiles() once booted (the boot ran under the looser bound)', async () => {
    expect(await sh('systemctl show -p ActiveState --value ober-watchdog.service')).toBe('active');
    expect(await sh('systemctl show -p RuntimeWatchdogUSec --value')).toBe(`${watchdogSeconds()}s`);
  });

  it('loads the i6300esb driver, and systemd (PID 1) holds /dev/watchdog0 armed with its timeout', async () => {
    expect(await sh('lsmod')).toMatch(/^i6300esb\s/m);
    const wd = '/sys/class/watchdog/watchdog0';
    expect(await sh(`cat ${wd}/identity ${wd}/state ${wd}/timeout`)).toBe(`i6300ESB timer\nactive\n${watchdogSeconds()}`);
    expect(await sh('sudo find /proc/1/fd -lname /dev/watchdog0 | wc -l')).toBe('1');
  });

  it("keeps PID 1's long calls out of an unprivileged user's reach (the watchdog must not be trippable), root keeps them", async () => {
    // The admin user without sudo: the bus refuses the unit-file scans and dumps (etc/dbus-1/system.d/ober-pid1-limits.conf).
    for (const cmd of ['systemctl list-unit-files', 'systemctl is-enabled ssh.service', 'systemd-analyze dump']) {
      const r = await ssh(sshPort, key, user, `${cmd} >/dev/null`, true);
      expect(r.exitCode, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/Access denied|AccessDenied/);
    }
    // What stays open to the user, and root's scan: how long each call takes here (TCG). list-unit-files is
    // one call PID 1 serves without petting the watchdog between; status --all is many short ones.
    const timed = async (cmd: string, okCodes = [0]) => {
      const r = await ssh(sshPort, key, user, `s=$(date +%s%N); ${cmd} >/dev/null; rc=$?; echo $(( ($(date +%s%N) - s) / 1000000 )) $rc`, true);
      const [ms, rc] = r.stdout.trim().split(' ').map(Number);
      expect(okCodes, `${cmd} exited ${rc}: ${r.stderr}`).toContain(rc);
      return ms ?? 0;
    };
    const commandMs = {
      userListUnitsAll: await timed('systemctl list-units --all --no-pager'),
      // 3: some unit is not active; 4: a unit it lists is gone (systemd 252 on Debian 12: home.mount)
      userStatusAll: await timed('systemctl status --all --no-pager', [0, 3, 4]),
      rootListUnitFiles: await timed('sudo systemctl list-unit-files --no-pager'),
    };
    await mergeBench(benchFile('hardening'), { pid1: { measuredAt: new Date().toISOString(), image: DEFINITION, runtimeWatchdogSeconds: Number(watchdogSeconds()), commandMs } });
  });

  it('locks root, generates its own machine id and SSH host keys', async () => {
    expect((await sh('sudo passwd -S root')).split(' ')[1]).toBe('L');
    expect(await sh('cat /etc/machine-id')).toMatch(/^[0-9a-f]{32}$/);
    expect(await sh('ls /etc/ssh/ssh_host_ed25519_key.pub')).toBe('/etc/ssh/ssh_host_ed25519_key.pub');
  });

  it('loads the base nftables ruleset with default-drop input', async () => {
    expect(await sh('sudo nft list chain inet ober input')).toMatch(/policy drop;[\s\S]*tcp dport 22 accept/);
  });

  it('declares its static link online without waiting 12 s for IPv6 router discovery', async () => {
    expect(await sh('cat /run/systemd/network/10-cloud-init-eth0.network.d/50-ober-static.conf')).toMatch(/^ConfigureWithoutCarrier=yes$/m);
    const props = Object.fromEntries((await sh('systemctl show systemd-networkd-wait-online -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic'))
      .split('\n').map((l) => [l.slice(0, l.indexOf('=')), Number(l.slice(l.indexOf('=') + 1))]));
    const seconds = (props.ActiveEnterTimestampMonotonic! - props.InactiveExitTimestampMonotonic!) / 1e6;
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(10); // NDisc gives up only after 12 s
  });

  it('boots without the offline-update services: its /etc and /var match its /usr', async () => {
    for (const u of ['systemd-sysusers', 'ldconfig', 'systemd-journal-catalog-update']) {
      expect(await sh(`systemctl show -p ConditionResult --value ${u}.service`), u).toBe('no');
    }
  });

  it('starts the serving units without waiting for cloud-init, and sshd is never restarted by it', async () => {
    for (const u of ['ober-http', 'ober-ha', 'ober-track']) {
      const after = (await sh(`systemctl show -p After --value ${u}.service`)).split(/\s+/);
      expect(after, u).toContain('systemd-networkd-wait-online.service');
      expect(after, u).not.toContain('sysinit.target');
    }
    expect(await sh('journalctl -b -u ssh.service --no-pager -o cat | grep -c "^Stopped\\|^Stopping" || true')).toBe('0');
  });

  it('keeps the journal on /var', async () => {
    expect(await sh('ls -d /var/log/journal/$(cat /etc/machine-id)')).toMatch(/^\/var\/log\/journal\/[0-9a-f]{32}$/);
  });
});

describe('first boot: the seed became a serving node', () => {
  it('HAProxy /health answers 200 through the forward', async () => {
    expect(bootToHealthySeconds, 'HAProxy /health never answered 200').toBeDefined();
    expect(await healthOk(healthPort)).toBe(true);
  });

  it("runs the HAProxy of the definition's flavour: built against AWS-LC (awslc) or the distribution's", async () => {
    const def = await loadImageDefinition(DEFINITION);
    const vv = await sh('/usr/sbin/haproxy -vv'); // a user's PATH has no sbin
    const running = /^Running on (?:SSL library|OpenSSL version) ?: ?(.+?)\s*$/m.exec(vv)?.[1];
    const pkgs = await sh("dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' 'haproxy*'");
    if (def.haproxy.flavour === 'awslc') {
      expect(running, vv).toMatch(/^AWS-LC \d/);
      expect(pkgs).toMatch(/^haproxy-awslc \S+\+awslc\S* ii\s*$/m);
      expect(pkgs).not.toMatch(/^haproxy \S+ ii/m);
    } else {
      expect(running, vv).toMatch(/^OpenSSL \d/);
      expect(pkgs).toMatch(/^haproxy \S+ ii/m);
    }
  });

  it('ober status --json reports a healthy node holding its VIP', async () => {
    const r = await ssh(sshPort, key, user, 'sudo ober status --json', true);
    const status = JSON.parse(r.stdout) as { healthy: boolean; mode: string; node: string; problems: string[]; firstboot: { ok: boolean }; vips: { name: string; heldHere: boolean; vrrpState?: string; backendUp: boolean }[] };
    expect(status.problems).toEqual([]);
    expect(status).toMatchObject({ healthy: true, mode: 'keepalived', node: 'ober-test-1', firstboot: { ok: true } });
    expect(status.vips).toEqual([expect.objectContaining({ name: 's3', heldHere: true, vrrpState: 'MASTER', backendUp: true })]);
    expect(r.exitCode).toBe(0);
  });

  it('runs every daemon with least privilege: HAProxy workers as haproxy without capabilities, every ober unit sandboxed to its bound', async () => {
    // ps as root: ProtectProc=invisible hides a unit's processes from other users, not from root.
    const procs = (await sh('sudo ps -C haproxy,keepalived -o pid=,user=,comm=')).split('\n').map((l) => l.trim().split(/\s+/));
    const haproxy = procs.filter((p) => p[2] === 'haproxy');
    expect(haproxy.map((p) => p[1]).sort(), JSON.stringify(procs)).toEqual(['haproxy', 'root']); // master, one worker
    const caps = async (pid: string) => Object.fromEntries((await sh(`sudo grep ^Cap /proc/${pid}/status`)).split('\n').map((l) => l.split(/:\s+/) as [string, string]));
    const worker = haproxy.find((p) => p[1] === 'haproxy')?.[0] ?? '';
    expect(await caps(worker)).toMatchObject({ CapEff: '0000000000000000', CapPrm: '0000000000000000' });
    // keepalived keeps root, but not the full bounding set (cap_sys_admin, cap_dac_override, … gone).
    const keepalived = procs.find((p) => p[2] === 'keepalived')?.[0] ?? '';
    const bound = BigInt(`0x${(await caps(keepalived)).CapBnd}`);
    expect(bound & (1n << 21n), 'CAP_SYS_ADMIN in keepalived').toBe(0n);
    expect(bound & (1n << 12n), 'CAP_NET_ADMIN in keepalived').not.toBe(0n);
    // systemd-analyze security of the node's own systemd, on the installed units.
    const exposure: Record<string, number> = {};
    for (const unit of UNIT_NAMES) {
      const out = await sh(`systemd-analyze security --no-pager ${unit}.service | tail -n 1`);
      const m = /Overall exposure level for \S+: (\d+\.\d)/.exec(out);
      expect(m, `${unit}: ${out}`).not.toBeNull();
      exposure[unit] = Number(m?.[1]);
    }
    for (const unit of UNIT_NAMES) expect(exposure[unit], unit).toBeLessThanOrEqual(unitSandbox(unit, nodeLayout()).maxExposure);
    await mergeBench(benchFile('hardening'), { systemdSecurity: { measuredAt: new Date().toISOString(), image: DEFINITION, exposure } });
    // The sandboxed helpers do their work: the status publisher writes every second, the track file is 0.
    expect(await sh('systemctl is-active ober-status.service ober-track.service')).toBe('active\nactive');
    const age = Number(await sh('echo $(( $(date +%s) - $(stat -c %Y /run/ober/status.json) ))'));
    expect(age).toBeLessThan(10);
    expect(await sh('cat /run/ober/haproxy.track')).toBe('0');
  });

  it('rendered its configuration into the release tree and loaded its firewall', async () => {
    expect(await sh('readlink /var/lib/ober/current')).toMatch(/^releases\/[0-9a-f]{16}$/);
    expect(await sh('sudo nft list set inet ober vips')).toMatch(/10\.0\.2\.100/);
  });

  it('routes its backend server with quickack through networkd, which keeps the route when it configures the link again, and HAProxy keeps its server connections', async () => {
    const quickAck = async () => (JSON.parse(await sh('ip -j route get 10.0.2.2')) as { dev: string; metrics?: { quickack?: number }[] }[])[0];
    const route = await quickAck();
    // What to look at when it is missing: the routes, networkd's view, first boot's record.
    const why = async () => (await ssh(sshPort, key, user, 'ip route show; ls -R /run/systemd/network; networkctl list --no-legend; sudo journalctl -b -u ober-routes --no-pager | head -20', true)).stdout;
    expect(route?.metrics ?? [], await why()).toContainEqual({ quickack: 1 });
    const dropIns = await sh(`sudo sh -c 'cat /run/systemd/network/*.network.d/${NETWORKD_DROP_IN}'`);
    expect(dropIns).toContain('Destination=10.0.2.2/32');
    // As after a carrier loss: networkd configures the link from scratch, routes included.
    await sh(`sudo networkctl reconfigure ${route?.dev ?? 'eth0'}`);
    await waitFor('the quickack route back after networkctl reconfigure', async () => ((await quickAck())?.metrics?.some((m) => m.quickack === 1) ? true : undefined), 30_000, node!.alive);
    expect(await sh(`sudo grep -c 'http-reuse safe' ${nodeLayout().haproxyCfg}`)).toBe('1');
    // made by ober-routes.service through networkd, not by the ip route fallback
    expect(await sh('sudo journalctl -b -u ober-routes --no-pager -o cat')).toMatch(/10\.0\.2\.2 dev \S+: quickack \(networkd drop-in\)/);
  });

  it('ober stop through systemd: no peer to hand over to, so it drains and stops HAProxy, keepalived follows and the VIP goes; ober start undoes it', async () => {
    const stop = await ssh(sshPort, key, user, 'sudo ober --json stop', true);
    expect(stop.exitCode, stop.stderr).toBe(0);
    const steps = (JSON.parse(stop.stdout) as { steps: { name: string; ok: boolean; detail: string; elapsedMs: number }[] }).steps;
    expect(steps.filter((x) => !x.ok)).toEqual([]);
    expect(steps.find((x) => x.name === 'handover')?.detail).toMatch(/no other node/);
    const units = 'ober-http.service ober-ha.service';
    expect((await ssh(sshPort, key, user, `systemctl is-active ${units}`, true)).stdout.trim().split('\n')).toEqual(['inactive', 'inactive']);
    expect(await sh('ip -o -4 addr show to 10.0.2.100/32')).toBe(''); // released, also from the interface
    expect(await healthOk(healthPort)).toBeUndefined();

    const start = await ssh(sshPort, key, user, 'sudo ober start', true);
    expect(start.exitCode, start.stderr).toBe(0);
    await waitFor('HAProxy /health 200 after ober start', () => healthOk(healthPort), 120_000, node!.alive);
    await waitFor('the VIP back on the interface', async () => ((await sh('ip -o -4 addr show to 10.0.2.100/32')) !== '' ? true : undefined), 60_000, node!.alive);
    expect((await ssh(sshPort, key, user, `systemctl is-active ${units}`, true)).stdout.trim().split('\n')).toEqual(['active', 'active']);
  });
});

// The hardening audits an operator would run: ssh-audit from outside (Debian's, on this host),
// Lynis inside (Debian's package, copied in: the image does not ship it; opt-in, see below). Both recorded in
// test/bench/results/hardening.json; the node must still be alive and serving after Lynis.
describe('hardening audits of the booted node', () => {
  it('ssh-audit: no algorithm it fails', async () => {
    const r = await run(['ssh-audit', '-n', '-p', String(sshPort), '127.0.0.1'], { allowFailure: true, timeoutMs: 120_000 });
    const findings = r.stdout.split('\n').flatMap((l) => {
      const m = /^\((kex|key|enc|mac)\) (\S+)\s+-- \[(fail|warn)\] (.*)$/.exec(l.trim());
      return m ? [{ kind: m[1], algorithm: m[2], level: m[3], note: m[4] }] : [];
    });
    expect(r.stdout, r.stderr).toMatch(/\(key\) ssh-ed25519/);
    await mergeBench(benchFile('hardening'), { sshAudit: { measuredAt: new Date().toISOString(), image: DEFINITION, version: (await run(['dpkg-query', '-W', '-f', '${Version}', 'ssh-audit'])).stdout, findings } });
    expect(findings.filter((f) => f.level === 'fail')).toEqual([]);
  });

  // Opt-in (OBER_LYNIS=1, `npm run audit:image`): Lynis takes ~18 min under TCG here (1073 s on
  // 2026-12-03; its certificate scan and dpkg checks alone ~5 min), more than CI's budget allows.
  it.skipIf(!process.env.OBER_LYNIS)('Lynis: the hardening index and its findings are recorded; the node serves on after the audit', async () => {
    // Standalone layout (lynis, include/, db/, plugins/, default.prf), owned by root as Lynis demands.
    const tar = await run(['sh', '-c', 'cd /usr/share/lynis && tar -cz include db -C /usr/sbin lynis -C /etc/lynis plugins default.prf | base64 -w0']);
    const install = await run([...sshArgv(sshPort, key, user), 'sudo rm -rf /tmp/lynis && sudo mkdir -m 0700 /tmp/lynis && base64 -d | sudo tar -xz --no-same-owner -C /tmp/lynis'], { input: tar.stdout, timeoutMs: 120_000 });
    expect(install.exitCode).toBe(0);
    const t0 = Date.now();
    const audit = await run([...sshArgv(sshPort, key, user), "sudo sh -c 'cd /tmp/lynis && sh ./lynis audit system --quick --no-colors --profile ./default.prf --logfile /tmp/lynis/log --report-file /tmp/lynis/report.dat >/dev/null 2>&1; cat /tmp/lynis/report.dat'"], { allowFailure: true, timeoutMs: 30 * 60_000 });
    const seconds = Math.round((Date.now() - t0) / 1000);
    const report = audit.stdout.split('\n');
    const values = (k: string) => report.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
    const index = Number(values('hardening_index')[0]);
    expect(Number.isInteger(index), audit.stdout.slice(-2000) + audit.stderr).toBe(true);
    const finding = (l: string) => ({ id: l.split('|')[0], text: l.split('|')[1] });
    await mergeBench(benchFile('hardening'), {
      lynis: {
        measuredAt: new Date().toISOString(),
        image: DEFINITION,
        version: values('lynis_version')[0],
        hardeningIndex: index,
        testsPerformed: Number(values('lynis_tests_done')[0]),
        seconds,
        warnings: values('warning[]').map(finding),
        suggestions: values('suggestion[]').map(finding),
      },
    });
    // Lynis runs root's systemctl list-unit-files and friends: the node must not have been reset.
    expect(await sh('cat /proc/sys/kernel/random/boot_id')).toBe(bootId);
    expect(await healthOk(healthPort)).toBe(true);
  });
});

// Last, because it ends the VM: QEMU runs with -no-reboot, so the reset the watchdog triggers ends
// the process. systemd's crash handler freezes PID 1 on SIGSEGV ("Freezing execution" in the
// journal, no reboot of its own), so only the i6300esb, no longer petted, can reset the machine.
describe('the watchdog resets a hung node', () => {
  it('resets the VM once PID 1 freezes and stops petting /dev/watchdog0', async () => {
    const timeout = Number(watchdogSeconds());
    const before = (await readFile(vm.consoleLog, 'utf8')).length;
    const t0 = Date.now();
    await ssh(sshPort, key, user, 'sudo kill -SEGV 1', true);
    const exit = await Promise.race([vm.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), (2 * timeout + 60) * 1000))]);
    expect(exit, 'the VM was not reset').toBe(0);
    const console = (await readFile(vm.consoleLog, 'utf8')).slice(before);
    // the kernel reports the device left running; no panic, no orderly reboot: the reset was the watchdog's
    expect(console).toMatch(/watchdog0: watchdog did not stop!/);
    expect(console).not.toMatch(/Kernel panic|reboot: (Restarting system|Power down)/);
    expect((Date.now() - t0) / 1000).toBeGreaterThan(timeout / 2 - 1); //   not before systemd's last ping ran out
  });
});

/** The runtime bound ober-watchdog.service sets once the node booted, in seconds. */
function watchdogSeconds(): string {
  return String(Number.parseInt(WATCHDOG.runtime, 10));
}

async function recordBench(bootToSshSeconds: number): Promise<void> {
  const qcow2 = build.artifacts!.find((a) => a.endsWith('.qcow2'))!;
  const stages = build.stages!.map((s) => ({ name: s.name, cached: s.cached, seconds: Number(s.seconds.toFixed(1)) }));
  const warm = stages.every((s) => s.cached);
  await mergeBench(BENCH, {
    image: `${build.image.id}_${build.image.version}`,
    qcow2Bytes: (await stat(qcow2)).size,
    [warm ? 'buildWarm' : 'buildLastRun']: { at: new Date().toISOString(), stages },
    boot: {
      at: new Date().toISOString(),
      accel: 'tcg',
      firmware: 'seabios',
      bootToSshSeconds: Number(bootToSshSeconds.toFixed(1)),
      ...(bootToHealthySeconds ? { bootToHealthySeconds: Number(bootToHealthySeconds.toFixed(1)) } : {}),
      ...(bootAnalysis ? { guest: bootAnalysis } : {}),
    },
  });
}
