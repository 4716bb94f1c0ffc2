// The one-node keepalived appliance the boot tests (SeaBIOS and UEFI) start: the image built
// through the stage cache, a backend on the host's loopback, a test key, QEMU with the NoCloud
// seed; then waited for until first boot serves /health, cloud-init made the user and systemd
// says the boot is over. dispose() kills the VM by its PID and removes the scratch directory.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BuildReport } from '../../builder/image/build.js';
import { run } from '../../firstboot/lib/exec.js';
import { healthOk, keepalivedSeed, SEED_USER, startBackend } from './seed.js';
import { consoleExcerpt, readBanner, ssh, startVm, waitFor, type Vm, type VmOptions } from './vm.js';

/** The image the image tests build and boot: the default, or OBER_IMAGE_DEFINITION (e.g. image/debian-12.yaml). */
export const DEFINITION = process.env.OBER_IMAGE_DEFINITION ?? 'image/debian-13.yaml';

/** `ober build-image` for the image tests: through the stage cache (OBER_IMAGE_CACHE_DIR, else the default). */
export function buildImageArgv(): string[] {
  const cache = process.env.OBER_IMAGE_CACHE_DIR;
  return ['node', 'dist/ober.mjs', '--json', 'build-image', ...(cache ? ['--cache-dir', cache] : []), DEFINITION];
}

/** test/bench/results/<name>.json for the default image; <name>-<definition>.json for another one. */
export function benchFile(name: string): string {
  const def = path.basename(DEFINITION, '.yaml');
  return `test/bench/results/${name}${process.env.OBER_IMAGE_DEFINITION && def !== 'debian-13' ? `-${def}` : ''}.json`;
}
const BOOT_TIMEOUT_MS = 15 * 60_000; // TCG on a loaded 2-core host: 2–4 min is normal

export interface BootedNode {
  build: BuildReport;
  vm: Vm;
  key: string;
  sshPort: number;
  /** HAProxy's stats and /health (:8404) through the forward. */
  healthPort: number;
  /** From QEMU's start, on the host's clock. */
  bootToSshSeconds: number;
  /** Unset when /health never answered 200 (the tests say so). */
  bootToHealthySeconds?: number;
  /** False once QEMU exited: waits give up at once instead of at their timeout. */
  alive(): boolean;
  dispose(): Promise<void>;
}

export async function bootSeededNode(o: { scratchPrefix: string; uefi?: VmOptions['uefi'] }): Promise<BootedNode> {
  const r = await run(buildImageArgv(), { timeoutMs: 40 * 60_000 });
  const build = JSON.parse(r.stdout) as BuildReport;
  const qcow2 = build.artifacts!.find((a) => a.endsWith('.qcow2'))!;
  const backend = await startBackend();
  const dir = await mkdtemp(path.join(os.tmpdir(), o.scratchPrefix));
  const key = path.join(dir, 'id_ed25519');
  let vm: Vm | undefined;
  const dispose = async () => {
    await vm?.kill();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    vm = await startVm({
      image: qcow2, dir, forward: [22, 8404], ...(o.uefi ? { uefi: o.uefi } : {}),
      ...keepalivedSeed((await readFile(`${key}.pub`, 'utf8')).trim(), backend.port),
    });
    const sshPort = vm.ports.get(22)!;
    const healthPort = vm.ports.get(8404)!;
    let running = true;
    void vm.exited.then(() => (running = false));
    const alive = () => running;
    const started = vm.startedAt;
    // HAProxy's /health through the forward: the first sign that first boot produced a serving node.
    let bootToHealthySeconds: number | undefined;
    const healthy = waitFor('HAProxy /health 200', () => healthOk(healthPort), BOOT_TIMEOUT_MS, alive).then(() => {
      bootToHealthySeconds = (Date.now() - started) / 1000;
    }, () => undefined);
    await waitFor('the SSH banner', () => readBanner(sshPort), BOOT_TIMEOUT_MS, alive);
    const bootToSshSeconds = (Date.now() - started) / 1000;
    await healthy;
    // cloud-init creates the user shortly after sshd starts: wait for a working key login
    await waitFor('a key login', async () => ((await ssh(sshPort, key, SEED_USER, 'true', true)).exitCode === 0 ? true : undefined), 300_000, alive);
    await ssh(sshPort, key, SEED_USER, 'systemctl is-system-running --wait', true);
    return {
      build, vm, key, sshPort, healthPort, bootToSshSeconds, alive, dispose,
      ...(bootToHealthySeconds === undefined ? {} : { bootToHealthySeconds }),
    };
  } catch (e) {
    // The scratch directory goes with the VM: keep the console's tail in the error instead.
    const tail = vm ? consoleExcerpt(await readFile(vm.consoleLog, 'utf8').catch(() => '')) : '';
    await dispose();
    if (e instanceof Error && tail) e.message += `\nfrom the console:\n${tail}`;
    throw e;
  }
}
