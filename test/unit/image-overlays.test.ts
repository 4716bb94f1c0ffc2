// The overlay files checked by their real consumers: sshd -t/-T, nft -c, systemd-analyze verify.
// sshd, nft and systemd-analyze are the IMAGE's when an image tree is built (builder/image/image-root.ts),
// else the host's, and the output says which.
import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { daemonVersions, formatVersions, resolveDaemons, type DaemonRoot } from '../../builder/image/image-root.js';
import { run } from '../../firstboot/lib/exec.js';

const overlay = path.resolve('overlays/base');
const nft = '/usr/sbin/nft';

describe('sshd hardening drop-in', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-sshd-'));
  const hostKey = path.join(tmp, 'hostkey');
  const dropIn = path.join(overlay, 'etc/ssh/sshd_config.d/10-ober-hardening.conf');
  let daemons: DaemonRoot;
  beforeAll(async () => {
    daemons = await resolveDaemons();
    const v = formatVersions(await daemonVersions(daemons));
    (daemons.kind === 'image' ? console.log : console.warn)(`sshd checks: ${daemons.kind === 'image' ? `the IMAGE's sshd, ${daemons.label}` : `the HOST's sshd (${daemons.note})`}: ${v}`);
  }, 120_000);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  // sshd -t/-T (as root) insist on the privilege separation directory the ssh service would create;
  // -h overrides the HostKey lines (the image's keys are made at first boot)
  const sshd = async (args: string[]): Promise<string> =>
    (await run(daemons.wrap(['sh', '-c', 'mkdir -p /run/sshd && exec /usr/sbin/sshd "$@"', 'sshd', ...args, '-h', hostKey], [tmp, overlay]))).stdout;
  const effective = async (): Promise<Map<string, string>> => {
    const out = await sshd(['-T', '-f', dropIn]);
    return new Map(out.split('\n').filter(Boolean).map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1)]));
  };

  it('passes sshd -t', async () => {
    await sshd(['-t', '-f', dropIn]);
  });

  it('the image’s own sshd_config, with the drop-in it includes, passes sshd -t', async () => {
    if (daemons.kind !== 'image') return; // the host's sshd_config is not the image's
    await run(daemons.wrap(['sh', '-c', 'mkdir -p /run/sshd && exec /usr/sbin/sshd -t -f /etc/ssh/sshd_config -h "$1"', 'sshd', hostKey], [tmp]));
  });

  it('allows keys only and no root', async () => {
    const c = await effective();
    expect(c.get('permitrootlogin')).toBe('no');
    expect(c.get('passwordauthentication')).toBe('no');
    expect(c.get('kbdinteractiveauthentication')).toBe('no');
    expect(c.get('authenticationmethods')).toBe('publickey');
  });

  it('offers no SHA-1, CBC or non-ETM algorithms', async () => {
    const c = await effective();
    expect(c.get('kexalgorithms')).not.toMatch(/sha1|diffie-hellman-group14-sha256/);
    expect(c.get('ciphers')).not.toMatch(/cbc|3des/);
    expect(c.get('macs')!.split(',').every((m) => m.includes('-etm@'))).toBe(true);
  });

  it('is read before cloud-init can re-enable passwords (first value wins)', async () => {
    // Debian's sshd_config includes sshd_config.d/*.conf at its top; cloud-init writes 50-cloud-init.conf
    expect(path.basename('10-ober-hardening.conf') < '50-cloud-init.conf').toBe(true);
    const withCloudInit = path.join(tmp, 'sshd_config');
    const dropins = path.join(tmp, 'd');
    mkdirSync(dropins);
    writeFileSync(path.join(dropins, '10-ober-hardening.conf'), readFileSync(dropIn));
    writeFileSync(path.join(dropins, '50-cloud-init.conf'), 'PasswordAuthentication yes\n');
    writeFileSync(withCloudInit, `Include ${dropins}/*.conf\nPasswordAuthentication yes\n`);
    expect(await sshd(['-T', '-f', withCloudInit])).toMatch(/^passwordauthentication no$/m);
  });
});

describe('nftables base ruleset', () => {
  const base = readFileSync(path.join(overlay, 'etc/nftables.conf'), 'utf8');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-nft-'));
  const check = (ruleset: string): void => {
    const file = path.join(tmp, `rules-${Math.random().toString(16).slice(2)}.nft`);
    writeFileSync(file, ruleset);
    execFileSync(nft, ['-c', '-f', file], { stdio: 'pipe' });
  };

  it('passes nft -c with no per-node rules yet (the include glob matches nothing)', () => {
    check(base.replace('/var/lib/ober/current/nftables', path.join(tmp, 'empty')));
  });

  it('takes per-node rules as additions to the node_input chain', () => {
    const nodeDir = path.join(tmp, 'node');
    mkdirSync(nodeDir);
    writeFileSync(path.join(nodeDir, 'ober.nft'), 'table inet ober {\n\tchain node_input {\n\t\ttcp dport 443 ip saddr 192.0.2.0/24 accept\n\t}\n}\n');
    check(base.replace('/var/lib/ober/current/nftables', nodeDir));
  });

  it('drops input by default and keeps SSH, loopback, ICMP and established traffic', () => {
    const input = /chain input \{([\s\S]*?)\n\t\}/.exec(base)![1]!;
    expect(input).toMatch(/policy drop;/);
    for (const rule of ['ct state established,related accept', 'iif "lo" accept', 'meta l4proto icmp accept', 'meta l4proto ipv6-icmp accept', 'tcp dport 22 accept']) {
      expect(input).toContain(rule);
    }
    expect(() => check(base.replace('tcp dport 22 accept', 'tcp dport 22 acept'))).toThrow();
  });
});

describe('static-links (static links online without waiting for IPv6 router advertisements)', () => {
  const script = path.join(overlay, 'usr/lib/ober/static-links');
  // what cloud-init 22.4's networkd renderer writes for Proxmox ipconfig0 variants
  const networks: Record<string, string> = {
    'ipv4 static (ip=)': '[Address]\nAddress=10.0.0.11/24\n\n[Match]\nMACAddress=52:54:00:12:34:56\nName=eth0\n\n[Network]\nDHCP=no\nDNS=10.0.0.2\n\n[Route]\nGateway=10.0.0.1\n',
    'dual static (ip=, ip6=)': '[Address]\nAddress=10.0.0.11/24\n\n[Address]\nAddress=2001:db8::11/64\n\n[Match]\nName=eth1\n\n[Network]\nDHCP=no\n',
    'ipv4 dhcp (ip=dhcp)': '[Match]\nName=eth2\n\n[Network]\nDHCP=ipv4\n',
    'dhcpv6 (ip6=dhcp)': '[Match]\nName=eth3\n\n[Network]\nDHCP=ipv6\n',
    'already set': '[Match]\nName=eth4\n\n[Network]\nDHCP=no\nConfigureWithoutCarrier=no\n',
  };

  it('marks static links only, and leaves DHCP links (ready with their lease) alone', () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-links-'));
    const etc = path.join(tmp, 'etc');
    const run = path.join(tmp, 'run');
    mkdirSync(etc);
    const names = Object.keys(networks);
    names.forEach((n, i) => writeFileSync(path.join(etc, `10-cloud-init-eth${i}.network`), networks[n]!));
    execFileSync(script, [etc, run]);
    const dropIn = (i: number): string | undefined => {
      try {
        return readFileSync(path.join(run, `10-cloud-init-eth${i}.network.d/50-ober-static.conf`), 'utf8');
      } catch {
        return undefined;
      }
    };
    expect(names.map((n, i) => [n, dropIn(i) !== undefined])).toEqual([
      ['ipv4 static (ip=)', true], ['dual static (ip=, ip6=)', true], ['ipv4 dhcp (ip=dhcp)', false], ['dhcpv6 (ip6=dhcp)', false], ['already set', false],
    ]);
    expect(dropIn(0)).toMatch(/^\[Network\]\nConfigureWithoutCarrier=yes$/m);
    execFileSync(script, [path.join(tmp, 'none'), run]); // no cloud-init files (no seed): nothing to do
    rmSync(tmp, { recursive: true, force: true });
  });
});

describe('overlay systemd units', () => {
  // Their programs live in the overlay's /usr/lib/ober: point the copies there so verify finds them.
  const unitDir = path.join(overlay, 'etc/systemd/system');
  const verify = (text: (unit: string) => string) => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'ober-units-'));
    try {
      const units = readdirSync(unitDir).filter((f) => f.endsWith('.service'));
      for (const u of units) writeFileSync(path.join(tmp, u), text(readFileSync(path.join(unitDir, u), 'utf8')).replaceAll('/usr/lib/ober/', `${path.resolve(overlay, 'usr/lib/ober')}/`));
      return { units, r: spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => path.join(tmp, u))], { encoding: 'utf8' }) };
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  };

  it('systemd-analyze verify accepts every one, without a warning', () => {
    const { units, r } = verify((t) => t);
    expect(units).toContain('ober-static-links.service');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('the check sees a broken unit', () => {
    expect(verify((t) => t.replace('[Unit]\n', '[Unit]\nAfterr=x\n')).r.stderr).toMatch(/Unknown key 'Afterr'/);
  });
});
