// A throw-away appliance VM under QEMU TCG (never KVM: guests hang under KVM on these hosts) with a
// NoCloud seed, user networking and hostfwd on 127.0.0.1 only. The VM is killed by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { run, type RunResult } from '../../firstboot/lib/exec.js';

export interface VmOptions {
  image: string;
  dir: string;
  userData: string;
  metaData: string;
  networkConfig: string;
  /** cloud-init vendor-data: where the node's `ober` data travels (cicustom vendor=). */
  vendorData?: string;
  /** Guest ports to forward to random free loopback ports (user networking only). */
  forward: number[];
  /**
   * Instead of user networking: a tap device in a network namespace the test created (QEMU runs
   * inside it). The guest is then on a real L2 link with that namespace: BGP, BFD, no NAT.
   */
  tap?: { ns: string; ifname: string };
  /**
   * OVMF (UEFI) on q35 instead of SeaBIOS on i440fx, as Proxmox's `bios: ovmf` + `machine: q35`.
   * With Secure Boot: the Secure Boot firmware build with Microsoft's keys enrolled (Proxmox's EFI
   * disk with "pre-enrolled keys"); it needs SMM.
   */
  uefi?: { secureBoot: boolean };
  memoryMiB?: number;
  diskSize?: string;
}

const OVMF = '/usr/share/OVMF';

/**
 * The guest CPU: Proxmox's x86-64-v2-AES (its default for new VMs: qemu64 plus aes, popcnt, pni,
 * sse4.1, sse4.2, ssse3, per qemu-server's PVE/QemuServer/CPUConfig.pm builtin models), not TCG's
 * `max`. Under QEMU 7.2's TCG, `max` adds AVX/AVX2 (emulated since 7.2), PKU and more, and a UEFI
 * boot in CI died of a kernel oops in interrupt context 3 s in. Plus pclmulqdq, which every CPU
 * with AES-NI has: the kernel's AES-GCM (aesni_intel) uses it on AES-NI alone. Under KVM the
 * hardware runs it whatever CPUID says; TCG raises #UD (seen: cryptomgr_test oopsed at boot).
 * Nothing the appliance needs is beyond x86-64-v2 (AWS-LC and Node.js pick their code paths at
 * run time). Deployed nodes get `cpu: host` (proxmox/template.ts).
 */
export const TCG_CPU = 'qemu64,+aes,+pclmulqdq,+popcnt,+pni,+sse4.1,+sse4.2,+ssse3';

export interface Vm {
  pid: number;
  ports: Map<number, number>;
  consoleLog: string;
  startedAt: number;
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function startVm(o: VmOptions): Promise<Vm> {
  await mkdir(o.dir, { recursive: true });
  const seed = path.join(o.dir, 'seed');
  await mkdir(seed, { recursive: true });
  await writeFile(path.join(seed, 'user-data'), o.userData);
  await writeFile(path.join(seed, 'meta-data'), o.metaData);
  await writeFile(path.join(seed, 'network-config'), o.networkConfig);
  const files = ['user-data', 'meta-data', 'network-config'];
  if (o.vendorData !== undefined) {
    await writeFile(path.join(seed, 'vendor-data'), o.vendorData);
    files.push('vendor-data');
  }
  const iso = path.join(o.dir, 'seed.iso');
  await run(['genisoimage', '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...files.map((f) => path.join(seed, f))]);
  // a throw-away overlay: every boot is a first boot, and a bigger disk exercises growing /var
  const disk = path.join(o.dir, 'disk.qcow2');
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', path.resolve(o.image), '-F', 'qcow2', disk, o.diskSize ?? '4G']);

  const ports = new Map<number, number>();
  for (const guest of o.forward) ports.set(guest, await freePort());
  const hostfwd = [...ports].map(([g, h]) => `hostfwd=tcp:127.0.0.1:${h}-:${g}`).join(',');
  // Proxmox's defaults: i440fx + SeaBIOS, virtio-scsi disk, cloud-init drive on IDE, i6300esb
  // watchdog. Under UEFI: q35, where the same ide-cd hangs off the ICH9 AHCI controller.
  const firmware: string[] = [];
  if (o.uefi) {
    const sb = o.uefi.secureBoot;
    const vars = path.join(o.dir, 'OVMF_VARS.fd'); // the VM's own copy: OVMF writes boot entries into it
    await copyFile(path.join(OVMF, sb ? 'OVMF_VARS_4M.ms.fd' : 'OVMF_VARS_4M.fd'), vars);
    firmware.push(
      ...(sb ? ['-global', 'driver=cfi.pflash01,property=secure,value=on'] : []),
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${path.join(OVMF, sb ? 'OVMF_CODE_4M.secboot.fd' : 'OVMF_CODE_4M.fd')}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
    );
  }
  const machine = o.uefi ? (o.uefi.secureBoot ? 'q35,smm=on' : 'q35') : 'pc';
  const argv = [
    '-accel', 'tcg', '-machine', machine, ...firmware, '-cpu', TCG_CPU, '-smp', '2', '-m', String(o.memoryMiB ?? 2048),
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
    '-device', 'virtio-rng-pci', '-device', 'i6300esb',
    '-netdev', o.tap ? `tap,id=n0,ifname=${o.tap.ifname},script=no,downscript=no` : `user,id=n0,${hostfwd}`,
    '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56',
    '-device', 'virtio-scsi-pci,id=scsi0',
    '-drive', `file=${disk},if=none,id=d0,format=qcow2,cache=unsafe`, '-device', 'scsi-hd,drive=d0,bus=scsi0.0,bootindex=0',
    '-drive', `file=${iso},if=none,id=cd0,media=cdrom,readonly=on`, '-device', 'ide-cd,drive=cd0',
  ];
  const consoleLog = path.join(o.dir, 'console.log');
  const log = createWriteStream(consoleLog);
  // `ip netns exec` execs QEMU in place: the PID stays QEMU's.
  const [cmd, ...args] = o.tap ? ['ip', 'netns', 'exec', o.tap.ns, 'qemu-system-x86_64', ...argv] : ['qemu-system-x86_64', ...argv];
  const child: ChildProcess = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (child.pid === undefined) throw new Error('qemu-system-x86_64 did not start (apt-get install qemu-system-x86)');
  const pid = child.pid;
  return {
    pid, ports, consoleLog, startedAt: Date.now(), exited,
    async kill() {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return; // already gone
      }
      const timer = setTimeout(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The SSH banner, not a TCP connect: QEMU's hostfwd accepts connections before the guest is up. */
export async function readBanner(port: number, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let data = '';
    const done = (v: string | undefined): void => { sock.destroy(); resolve(v); };
    sock.setTimeout(timeoutMs, () => done(undefined));
    sock.on('data', (d) => { data += d.toString(); if (data.includes('\n')) done(data.trim()); });
    sock.on('error', () => done(undefined));
    sock.on('close', () => done(data.startsWith('SSH-') ? data.trim() : undefined));
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, alive: () => boolean): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive()) throw new Error(`VM exited while waiting for ${what}`);
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/**
 * What a failed boot's error should carry from the serial console: its last lines, and, when the
 * kernel oopsed, the first oops from its start (the tail of a panic only shows the last one, after
 * the report that explains it has scrolled away).
 */
export function consoleExcerpt(text: string, tailLines = 15): string {
  const lines = text.trimEnd().split('\n');
  const tail = lines.slice(-tailLines);
  const first = lines.findIndex((l) => /\] (BUG:|Oops:|general protection fault|kernel BUG at|WARNING: CPU:|invalid opcode)/.test(l));
  if (first < 0 || first >= lines.length - tailLines) return tail.join('\n');
  return [...lines.slice(first, Math.min(first + 30, lines.length - tailLines)), '…', ...tail].join('\n');
}

export function sshArgv(port: number, key: string, user: string, extra: string[] = []): string[] {
  return ['ssh', '-p', String(port), '-i', key, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=20', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...extra, `${user}@127.0.0.1`];
}

export async function ssh(port: number, key: string, user: string, command: string, allowFailure = false): Promise<RunResult> {
  return run([...sshArgv(port, key, user), command], { allowFailure, timeoutMs: 120_000 });
}
