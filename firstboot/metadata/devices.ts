// Finding the cloud-init drive without mounting anything: udev's /dev/disk/by-label link when udev
// has run, else the ISO9660 volume label read straight from each CD-ROM and whole disk. Proxmox
// attaches the drive as a CD-ROM (ide2/sata/scsi), so it is usually /dev/sr0.
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { readVolumeLabel, withFileSource } from './iso9660.js';
import { errnoCode } from './problems.js';

/** CD-ROMs and whole virtio/SCSI/Xen disks; partitions never hold Proxmox's cloud-init ISO. */
const PROBED = /^(sr\d+|vd[a-z]+|sd[a-z]+|xvd[a-z]+)$/;

/**
 * Devices carrying `label`, in the order to try them, each once. cloud-init matches the label in
 * lower and upper case (NoCloud: "cidata"/"CIDATA"); so do we. `looked` receives one line per
 * place examined, for the error when nothing is found.
 */
export async function findLabelledDevices(root: string, label: string, looked: string[]): Promise<string[]> {
  const found = new Set<string>(); // real paths: the by-label link and the probe find the same device
  const add = async (p: string) => {
    found.add(await realpath(p).catch(() => p));
  };

  for (const l of new Set([label, label.toUpperCase()])) {
    const link = path.join(root, 'dev/disk/by-label', l);
    if (await exists(link)) await add(link);
    else looked.push(`${link}: absent`);
  }

  const dev = path.join(root, 'dev');
  const names = (await readdir(dev).catch(() => [] as string[])).filter((n) => PROBED.test(n)).sort(byDeviceOrder);
  if (names.length === 0) looked.push(`${dev}: no CD-ROM or disk devices (sr*, vd*, sd*, xvd*)`);
  for (const name of names) {
    const device = path.join(dev, name);
    try {
      const volume = await withFileSource(device, readVolumeLabel);
      if (volume?.toLowerCase() === label.toLowerCase()) await add(device);
      else looked.push(`${device}: ${volume === undefined ? 'no ISO9660 volume' : `volume label "${volume}"`}`);
    } catch (e) {
      // No medium in the drive (ENOMEDIUM), no permission, a device that went away: not our drive.
      looked.push(`${device}: cannot read (${errnoCode(e) ?? (e as Error).message})`);
    }
  }
  return [...found];
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** sr0 before sr1 before sr10, CD-ROMs first (where Proxmox puts the drive). */
function byDeviceOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('sr') ? 0 : 1);
  return rank(a) - rank(b) || a.localeCompare(b, 'en', { numeric: true });
}
