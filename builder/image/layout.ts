// The disk layout in sectors, computed once from the definition: every stage that needs an offset
// (sfdisk script, mkfs offsets, the BIOS boot patch) reads it from here.
import type { ImageDefinition, PartitionRole } from './definition.js';

export const SECTOR = 512;
const MIB = 1024 * 1024;
const SECTORS_PER_MIB = MIB / SECTOR;

/** GPT partition type GUIDs (UEFI spec; Discoverable Partitions Specification for root/var). */
export const PARTITION_TYPES: Record<PartitionRole, string> = {
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  root: '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', // Linux root (x86-64)
  var: '4D21B016-B534-45C2-A9FB-5C16E091FD2D', // Linux /var
};

export interface PartitionExtent {
  number: number;
  name: string;
  role: PartitionRole;
  startSector: number;
  sectors: number;
}

export interface DiskLayout {
  sizeBytes: number;
  partitions: PartitionExtent[];
}

export function computeLayout(def: ImageDefinition): DiskLayout {
  const total = def.disk.sizeMiB * SECTORS_PER_MIB;
  // 1 MiB at the start (protective MBR, primary GPT, alignment) and 1 MiB at the end (backup GPT).
  let next = SECTORS_PER_MIB;
  const partitions = def.disk.partitions.map((p, i) => {
    const sectors = p.sizeMiB !== undefined ? p.sizeMiB * SECTORS_PER_MIB : total - SECTORS_PER_MIB - next;
    const extent = { number: i + 1, name: p.name, role: p.role, startSector: next, sectors };
    next += sectors;
    return extent;
  });
  return { sizeBytes: total * SECTOR, partitions };
}

export function partitionByRole(layout: DiskLayout, role: PartitionRole): PartitionExtent {
  const p = layout.partitions.find((x) => x.role === role);
  if (!p) throw new Error(`layout has no ${role} partition`); // the schema guarantees one
  return p;
}
