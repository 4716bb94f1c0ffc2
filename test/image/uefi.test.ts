// The image booted the other way Proxmox boots VMs: OVMF (UEFI) on q35, with Secure Boot on and
// Microsoft's keys enrolled (Proxmox's EFI disk with "pre-enrolled keys"). This exercises the ESP
// (signed shim → signed GRUB, built with mtools), the signed generic kernel and its signed modules
// under lockdown, and q35's devices: the cloud-init drive on SATA (AHCI), no IDE. Same seed as
// boot.test.ts; the assertions are what differs from that boot, plus a serving node.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeBench } from '../helpers/bench-results.js';
import { benchFile, bootSeededNode, type BootedNode } from './booted-node.js';
import { healthOk, SEED_USER } from './seed.js';
import { ssh } from './vm.js';

const BENCH = benchFile('image');
// EFI_GLOBAL_VARIABLE: SecureBoot is 4 attribute bytes, then 1 (enforcing) or 0
const SECURE_BOOT_VAR = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c';

let node: BootedNode | undefined;
let key: string;
let sshPort: number;
let healthPort: number;
let bootToHealthySeconds: number | undefined;

beforeAll(async () => {
  node = await bootSeededNode({ scratchPrefix: 'ober-image-uefi-', uefi: { secureBoot: true } });
  ({ key, sshPort, healthPort, bootToHealthySeconds } = node);
}, 60 * 60_000);

afterAll(async () => {
  await node?.dispose();
  if (node) {
    await mergeBench(BENCH, {
      bootUefi: {
        at: new Date().toISOString(),
        accel: 'tcg',
        firmware: 'ovmf-secureboot',
        machine: 'q35',
        bootToSshSeconds: Number(node.bootToSshSeconds.toFixed(1)),
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
