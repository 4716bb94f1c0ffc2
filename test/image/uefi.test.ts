// The image booted the other way Proxmox boots VMs: OVMF (UEFI) on q35, with Secure Boot on and
// Microsoft's keys enrolled (Proxmox's EFI disk with "pre-enrolled keys"). This exercises the ESP
// (signed shim → signed GRUB, built with mtools), the signed generic kernel and its signed modules
// under lockdown, and q35's devices: the cloud-init drive on SATA (AHCI), no IDE. Same seed as
// boot.test.ts; the assertions are what differs from that boot, plus a serving node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../firstboot/lib/exec.js';
import type { BuildReport } from '../../builder/image/build.js';
import { mergeBench } from './bench.js';
import { healthOk, keepalivedSeed, SEED_USER, startBackend } from './seed.js';
import { readBanner, ssh, startVm, waitFor, type Vm } from './vm.js';

const DEFINITION = 'image/debian-12.yaml';
const BENCH = 'test/bench/results/image.json';
const BOOT_TIMEOUT_MS = 15 * 60_000;
// EFI_GLOBAL_VARIABLE: SecureBoot is 4 attribute bytes, then 1 (enforcing) or 0
const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

let vm: Vm | undefined;
let key: string;
let sshPort: number;
let healthPort: number;
let backend: Awaited<ReturnType<typeof startBackend>> | undefined;
let bootToSshSeconds: number | undefined;
let bootToHealthySeconds: number | undefined;

beforeAll(async () => {
  const r = await run(['node', 'dist/ober.mjs', '--json', 'build-image', DEFINITION], { timeoutMs: 40 * 60_000 });
  const qcow2 = (JSON.parse(r.stdout) as BuildReport).artifacts!.find((a) => a.endsWith('.qcow2'))!;
  backend = await startBackend();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ober-image-uefi-'));
  key = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  vm = await startVm({
    image: qcow2, dir, forward: [22, 8404], uefi: { secureBoot: true },
    ...keepalivedSeed((await readFile(`${key}.pub`, 'utf8')).trim(), backend.port),
  });
  sshPort = vm.ports.get(22)!;
  healthPort = vm.ports.get(8404)!;
  let alive = true;
  void vm.exited.then(() => (alive = false));
  const started = vm.startedAt;
  const healthy = waitFor('HAProxy /health 200', () => healthOk(healthPort), BOOT_TIMEOUT_MS, () => alive).then(() => {
    bootToHealthySeconds = (Date.now() - started) / 1000;
  }, () => undefined);
  await waitFor('the SSH banner', () => readBanner(sshPort), BOOT_TIMEOUT_MS, () => alive);
  bootToSshSeconds = (Date.now() - started) / 1000;
  await healthy;
  await waitFor('a key login', async () => ((await ssh(sshPort, key, SEED_USER, 'true', true)).exitCode === 0 ? true : undefined), 300_000, () => alive);
  await ssh(sshPort, key, SEED_USER, 'systemctl is-system-running --wait', true);
}, 60 * 60_000);

afterAll(async () => {
  await vm?.kill();
  await backend?.close();
  if (bootToSshSeconds) {
    await mergeBench(BENCH, {
      bootUefi: {
        at: new Date().toISOString(),
        accel: 'tcg',
        firmware: 'ovmf-secureboot',
        machine: 'q35',
        bootToSshSeconds: Number(bootToSshSeconds.toFixed(1)),
        ...(bootToHealthySeconds ? { bootToHealthySeconds: Number(bootToHealthySeconds.toFixed(1)) } : {}),
      },
    });
  }
});

const sh = async (cmd: string): Promise<string> => (await ssh(sshPort, key, SEED_USER, cmd)).stdout.trim();

describe('UEFI boot with Secure Boot (OVMF, q35)', () => {
  it('HAProxy /health answers 200 through the forward', async () => {
    expect(bootToHealthySeconds, 'HAProxy /health never answered 200').toBeDefined();
    expect(await healthOk(healthPort)).toBe(true);
  });

  it('booted through UEFI with Secure Boot enforced, and the kernel is locked down', async () => {
    expect((await sh(`od -An -tu1 ${SECURE_BOOT_VAR}`)).split(/\s+/).at(-1)).toBe('1');
    expect(await sh('cat /sys/kernel/security/lockdown')).toContain('[integrity]');
    expect(await sh('sudo dmesg')).toMatch(/secureboot: Secure boot enabled/);
  });

  it('read the cloud-init drive from q35 SATA (the AHCI driver the cloud kernel lacked)', async () => {
    expect(await sh('hostname')).toBe('ober-test-1'); // cloud-init found and applied the seed
    const sr0 = await sh('readlink -f /sys/block/sr0');
    const pci = /\/(0000:00:[0-9a-f]{2}\.[0-7])\/ata\d+\//.exec(sr0)?.[1];
    expect(pci, sr0).toBeDefined();
    expect(await sh(`basename $(readlink /sys/bus/pci/devices/${pci}/driver)`)).toBe('ahci');
  });

  it('arms the i6300esb watchdog on q35 as well: no other driver took /dev/watchdog0', async () => {
    expect(await sh('cat /sys/class/watchdog/watchdog0/identity /sys/class/watchdog/watchdog0/state')).toBe('i6300ESB timer\nactive');
    expect(await sh('ls /sys/class/watchdog')).toBe('watchdog0');
  });

  it('ober status --json reports a healthy node holding its VIP', async () => {
    const r = await ssh(sshPort, key, SEED_USER, 'sudo ober status --json', true);
    const status = JSON.parse(r.stdout) as { healthy: boolean; node: string; problems: string[]; vips: { name: string; heldHere: boolean }[] };
    expect(status.problems).toEqual([]);
    expect(status).toMatchObject({ healthy: true, node: 'ober-test-1' });
    expect(status.vips).toEqual([expect.objectContaining({ name: 's3', heldHere: true })]);
    expect(r.exitCode).toBe(0);
  });

  it('has no failed units', async () => {
    await ssh(sshPort, key, SEED_USER, 'systemctl is-system-running --wait', true);
    expect(await sh('systemctl --failed --no-legend --plain')).toBe('');
  });
});
